"""Work orders: made by a published schedule, run on the shop floor.

The scheduling room calls `publish_plan` when a planner publishes a schedule
version, and reads `execution_state` to show actual against planned (the
contract between the two rooms). Everything else is the shop floor's:

    released → started ⇄ paused → finished;  released → cancelled (by a later publication)

Rules, each refused with a 409 problem that changes nothing:
- a unit runs at most one started work order at a time (checked here, backed
  by a partial unique index);
- the operations of an order line run in routing order: step k+1 cannot
  start before step k has started;
- a pause names a reason from `PAUSE_REASONS` ("other" with words of its own).

Output is reported through the inventory room (`record_production_output`,
with the work order, order line, product and unit), so the consumed inputs,
the new coils, their genealogy, the scrap and the yields are kept there; the
work order keeps the totals for actual against planned.

The order line follows: in production on the first start of one of its work
orders, finished when the work order of its last routing step finishes, in
stock when that step's coils are in stock.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import IntegrityError

from alloyhub.platform import audit, outbox, tenancy
from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import ValidationFailed
from alloyhub.tenants.equipment.models import Unit
from alloyhub.tenants.inventory import services as inventory
from alloyhub.tenants.inventory.models import IN_STOCK, Coil, ProductionEvent
from alloyhub.tenants.orders import services as orders
from alloyhub.tenants.orders.models import (
    CANCELLED as LINE_CANCELLED,
)
from alloyhub.tenants.orders.models import (
    CONFIRMED,
    FINISHED as LINE_FINISHED,
)
from alloyhub.tenants.orders.models import (
    IN_PRODUCTION,
    IN_STOCK as LINE_IN_STOCK,
)
from alloyhub.tenants.orders.models import (
    PLANNED,
    OrderLine,
)
from alloyhub.tenants.products.models import Product

from .errors import Invalid, LineClosed, Missing, RoutingOrder, UnitBusy, WrongState
from .models import (
    BEGUN,
    CANCELLED,
    FINISHED,
    PAUSE_REASONS,
    PAUSED,
    QUEUED,
    RELEASED,
    STARTED,
    STATUSES,
    WorkOrder,
    WorkOrderPause,
)

MAX_OPERATIONS = 5000  # one publication; far beyond a plant's week
MAX_KG = 1e9
NOTE_MAX = 500


@dataclass(frozen=True)
class ExecutionState:
    """What the shop floor has done with one planned operation."""

    work_order_id: uuid.UUID
    number: str
    status: str
    unit_id: uuid.UUID
    planned_start: datetime
    planned_end: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    output_kg: float
    schedule_id: uuid.UUID


# ---------------------------------------------------------------- small helpers

def _kg(value) -> float:
    return round(float(value or 0), 3)


def _clean(value):
    if isinstance(value, str):
        value = value.strip()
    return value if value not in ("", None) else None


def _as_uuid(value):
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _aware(value):
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return value


def _non_negative(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value <= MAX_KG)


def _require(errors: dict) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def _user_id():
    return tenancy.current().user_id


def _lock_tenant(purpose: str) -> None:
    """One publisher (and one numberer) per company at a time."""
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                       {"key": f"production:{purpose}:{tenancy.current_tenant_id()}"})


def _next_number(today) -> str:
    prefix = f"WO-{today:%Y%m%d}-"
    last = db.session.scalar(select(func.max(WorkOrder.number)).where(WorkOrder.number.like(prefix + "%")))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def _save(*fresh) -> None:
    """Commit; a rule the database caught (a race) is a conflict, not a 500."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
        if "unit_started" in name:
            raise UnitBusy("The unit started another work order just now; reload and try again.") from exc
        if "coil_no" in name:
            raise Invalid("Another coil already has this number.", field="outputs") from exc
        raise WrongState("The work order changed while this was saved; reload and try again.") from exc
    for obj in fresh:
        db.session.refresh(obj)


# ---------------------------------------------------------------- reading

def work_orders_query(*, status=None, unit_id=None, order_line_id=None, schedule_id=None, product_id=None,
                      since=None, until=None, q=None):
    stmt = select(WorkOrder)
    if status:
        stmt = stmt.where(WorkOrder.status.in_(status) if isinstance(status, (list, tuple)) else
                          WorkOrder.status == status)
    if unit_id:
        stmt = stmt.where(WorkOrder.unit_id == unit_id)
    if order_line_id:
        stmt = stmt.where(WorkOrder.order_line_id == order_line_id)
    if schedule_id:
        stmt = stmt.where(WorkOrder.schedule_id == schedule_id)
    if product_id:
        stmt = stmt.where(WorkOrder.product_id == product_id)
    if since:
        stmt = stmt.where(WorkOrder.planned_end >= since)
    if until:
        stmt = stmt.where(WorkOrder.planned_start < until)
    if q:
        stmt = stmt.where(WorkOrder.number.ilike("%" + q.replace("\\", "\\\\").replace("%", "\\%")
                                                 .replace("_", "\\_") + "%"))
    return stmt


def get_work_order(work_order_id) -> WorkOrder:
    wo_id = _as_uuid(work_order_id)
    wo = db.session.scalar(select(WorkOrder).where(WorkOrder.id == wo_id)) if wo_id else None
    if wo is None:
        raise Missing("No such work order")
    return wo


def _lock(work_order_id) -> WorkOrder:
    """The work order, locked and read fresh (two operators, one button)."""
    wo_id = _as_uuid(work_order_id)
    wo = db.session.scalar(select(WorkOrder).where(WorkOrder.id == wo_id).with_for_update(of=WorkOrder)
                           .execution_options(populate_existing=True)) if wo_id else None
    if wo is None:
        raise Missing("No such work order")
    return wo


def get_unit(unit_id) -> Unit:
    unit_uuid = _as_uuid(unit_id)
    unit = db.session.scalar(select(Unit).where(Unit.id == unit_uuid)) if unit_uuid else None
    if unit is None:
        raise Missing("No such equipment unit")
    return unit


def units() -> list[Unit]:
    return list(db.session.scalars(select(Unit).order_by(Unit.code)).unique())


def queue(unit_id) -> list[WorkOrder]:
    """What a unit has to do, in planned order: started and paused first, then released."""
    rows = db.session.scalars(work_orders_query(unit_id=unit_id, status=QUEUED)
                              .order_by(WorkOrder.planned_start, WorkOrder.number))
    return sorted(rows, key=lambda wo: (wo.status == RELEASED, wo.planned_start, wo.number))


def recently_finished(unit_id, limit: int = 5) -> list[WorkOrder]:
    """Finished work orders of a unit, newest first (output is often reported after finishing)."""
    return list(db.session.scalars(work_orders_query(unit_id=unit_id, status=FINISHED)
                                   .order_by(WorkOrder.actual_end.desc(), WorkOrder.id).limit(limit)))


def pauses(wo: WorkOrder) -> list[WorkOrderPause]:
    return list(db.session.scalars(select(WorkOrderPause).where(WorkOrderPause.work_order_id == wo.id)
                                   .order_by(WorkOrderPause.paused_at, WorkOrderPause.id)))


def events(wo: WorkOrder) -> list[ProductionEvent]:
    """The output reports of a work order (inventory production steps), oldest first."""
    return list(db.session.scalars(inventory.events_query(work_order_id=wo.id)
                                   .order_by(ProductionEvent.at, ProductionEvent.id)))


def coils_made(wo: WorkOrder) -> list[Coil]:
    return list(db.session.scalars(select(Coil).where(Coil.work_order_id == wo.id).order_by(Coil.coil_no)))


def execution_state() -> dict[tuple[uuid.UUID, int], ExecutionState]:
    """Every non-cancelled work order, keyed by (order_line_id, step)."""
    rows = db.session.scalars(select(WorkOrder).where(WorkOrder.status != CANCELLED))
    return {(wo.order_line_id, wo.step): ExecutionState(
        work_order_id=wo.id, number=wo.number, status=wo.status, unit_id=wo.unit_id,
        planned_start=wo.planned_start, planned_end=wo.planned_end, actual_start=wo.actual_start,
        actual_end=wo.actual_end, output_kg=_kg(wo.output_kg), schedule_id=wo.schedule_id) for wo in rows}


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((a - b).total_seconds() / 60, 1)


def variance(wo: WorkOrder) -> dict:
    """Actual against planned: start and end deviation (minutes, positive:
    late), durations, time paused, output against planned, yield."""
    paused_min = 0.0
    for pause in wo.pauses:
        if pause.resumed_at is not None:
            paused_min += (pause.resumed_at - pause.paused_at).total_seconds() / 60
    output, planned_out, inp = _kg(wo.output_kg), _kg(wo.planned_output_kg), _kg(wo.input_kg)
    reported = inp > 0 or output > 0
    return {
        "start_deviation_min": _minutes(wo.actual_start, wo.planned_start),
        "end_deviation_min": _minutes(wo.actual_end, wo.planned_end),
        "planned_duration_min": _minutes(wo.planned_end, wo.planned_start),
        "actual_duration_min": _minutes(wo.actual_end, wo.actual_start),
        "paused_min": round(paused_min, 1),
        "output_deviation_kg": _kg(output - planned_out) if reported else None,
        "output_vs_planned_pct": round(100.0 * output / planned_out, 1) if reported and planned_out > 0 else None,
        "yield_pct": round(100.0 * output / inp, 2) if inp > 0 else None,
        "planned_yield_pct": (round(100.0 * planned_out / _kg(wo.planned_input_kg), 2)
                              if _kg(wo.planned_input_kg) > 0 else None),
    }


def yields(group_by: str = "operation", *, since=None, until=None) -> list[dict]:
    """Yield per operation, order line, product or unit: the inventory room's
    figures (from the production steps reported), with a label for people."""
    rows = inventory.yields(group_by, since=since, until=until)
    labels = _yield_labels(group_by, [r["key"] for r in rows])
    return [{**r, "label": labels.get(r["key"], r["key"])} for r in rows]


def _yield_labels(group_by: str, keys: list[str]) -> dict:
    ids = [i for i in (_as_uuid(k) for k in keys) if i]
    if group_by == "operation" or not ids:
        return {}
    if group_by == "product":
        return {str(p.id): f"{p.code} {p.spec}" for p in db.session.scalars(select(Product).where(Product.id.in_(ids)))}
    if group_by == "unit":
        return {str(u.id): f"{u.code} {u.name}" for u in db.session.scalars(select(Unit).where(Unit.id.in_(ids)))
                .unique()}
    return {str(line.id): f"{line.order.number}/{line.line_no}"
            for line in db.session.scalars(select(OrderLine).where(OrderLine.id.in_(ids)))}


# ---------------------------------------------------------------- publishing (the scheduling room calls this)

def _routing(product: Product):
    return list(product.operations)


def _operation_matches(op, name: str) -> bool:
    wanted = name.strip().lower()
    return wanted in {v.strip().lower() for v in (op.process, op.name) if v}


def publish_plan(schedule_id: uuid.UUID, operations: list[dict]) -> list[WorkOrder]:
    """Called by the scheduling room when a planner publishes a schedule
    version, inside the caller's transaction (flush, no commit).

    Each operation: order_line_id, step (zero-based index into the product's
    routing), operation (the routing operation's process or name), unit_id,
    planned_start, planned_end (aware datetimes), planned_input_kg,
    planned_output_kg, batch_key (a furnace load shared by several work
    orders, or None).

    A publication is the whole plan: an operation without a live work order
    gets a new one (released); a released one is re-timed (unit, times,
    weights, batch) and now belongs to this publication; a started, paused
    or finished one keeps everything but its planned times. Released work
    orders that this publication no longer has are cancelled. Returns the
    work orders of this publication (new and re-timed), in the order given.
    Every problem of the input is reported at once (422) and nothing changes."""
    schedule_uuid = _as_uuid(schedule_id)
    errors: dict[str, list] = {}
    if schedule_uuid is None:
        errors["schedule_id"] = ["Name the schedule version."]
    if not isinstance(operations, (list, tuple)):
        raise ValidationFailed(errors={"operations": ["Give the operations as a list."]})
    if len(operations) > MAX_OPERATIONS:
        raise ValidationFailed(errors={"operations": [f"Publish at most {MAX_OPERATIONS} operations at once."]})
    line_ids = {_as_uuid(o.get("order_line_id")) for o in operations if isinstance(o, dict)} - {None}
    unit_ids = {_as_uuid(o.get("unit_id")) for o in operations if isinstance(o, dict)} - {None}
    lines = {line.id: line for line in db.session.scalars(select(OrderLine).where(OrderLine.id.in_(line_ids)))} \
        if line_ids else {}
    units_by_id = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(unit_ids))).unique()} \
        if unit_ids else {}
    product_ids = {line.product_id for line in lines.values()}
    products = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(product_ids)))} \
        if product_ids else {}
    begun = {(wo.order_line_id, wo.step) for wo in db.session.scalars(
        select(WorkOrder).where(WorkOrder.order_line_id.in_(line_ids), WorkOrder.status.in_(BEGUN)))} \
        if line_ids else set()

    specs, seen = [], set()
    for i, raw in enumerate(operations):
        key = f"operations.{i}"
        if not isinstance(raw, dict):
            errors[key] = ["Give each operation as an object."]
            continue
        line = lines.get(_as_uuid(raw.get("order_line_id")))
        step = raw.get("step")
        name = _clean(raw.get("operation"))
        unit = units_by_id.get(_as_uuid(raw.get("unit_id")))
        start, end = _aware(raw.get("planned_start")), _aware(raw.get("planned_end"))
        if line is None:
            errors[key + ".order_line_id"] = ["No such order line."]
        if unit is None:
            errors[key + ".unit_id"] = ["No such equipment unit."]
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            errors[key + ".step"] = ["Give the step as a whole number from 0."]
            step = None
        if not isinstance(name, str):
            errors[key + ".operation"] = ["Name the operation."]
        elif len(name) > 60:
            errors[key + ".operation"] = ["Use at most 60 characters."]
        if start is None:
            errors[key + ".planned_start"] = ["Give the planned start as a date and time with its time zone."]
        if end is None:
            errors[key + ".planned_end"] = ["Give the planned end as a date and time with its time zone."]
        if start is not None and end is not None and end < start:
            errors[key + ".planned_end"] = ["The planned end is before the planned start."]
        for field in ("planned_input_kg", "planned_output_kg"):
            if not _non_negative(raw.get(field, 0)):
                errors[f"{key}.{field}"] = ["Enter a weight in kg, zero or more."]
        batch_key = raw.get("batch_key")
        if batch_key is not None and (not isinstance(batch_key, str) or len(batch_key) > 80):
            errors[key + ".batch_key"] = ["Give the furnace load as text of at most 80 characters, or nothing."]
        if line is None or step is None:
            continue
        if (line.id, step) in seen:
            errors[key + ".step"] = ["This operation of the order line appears twice."]
            continue
        seen.add((line.id, step))
        product = products.get(line.product_id)
        ops = _routing(product) if product else []
        if step >= len(ops):
            errors[key + ".step"] = [f"The routing of this line's product has {len(ops)} operations."]
            continue
        op = ops[step]
        if isinstance(name, str) and len(name) <= 60 and not _operation_matches(op, name):
            errors[key + ".operation"] = [f"Step {step} of the routing is {op.name or op.process}, not {name}."]
        if unit is not None and op.unit_ids and unit.id not in op.unit_ids:
            errors[key + ".unit_id"] = [f"{unit.code} is not eligible for {op.name or op.process}."]
        if (line.id, step) not in begun and line.status not in (CONFIRMED, PLANNED, IN_PRODUCTION):
            errors[key + ".order_line_id"] = [f"Line {line.line_no} of {line.order.number} is {line.status}: "
                                              "it cannot be planned."]
        specs.append({"line": line, "step": step, "operation": name, "unit": unit, "start": start, "end": end,
                      "input": _kg(raw.get("planned_input_kg", 0)), "output": _kg(raw.get("planned_output_kg", 0)),
                      "batch_key": _clean(batch_key)})
    _require(errors)

    _lock_tenant("publish")
    live = {(wo.order_line_id, wo.step): wo for wo in db.session.scalars(
        select(WorkOrder).where(WorkOrder.status != CANCELLED).with_for_update(of=WorkOrder)
        .execution_options(populate_existing=True))}
    now = utcnow()
    published, created, retimed, kept, cancelled = [], 0, 0, 0, 0
    number = None
    for spec in specs:
        wo = live.get((spec["line"].id, spec["step"]))
        if wo is None:
            number = _next_number(now.date()) if number is None else _following(number)
            wo = WorkOrder(number=number, schedule_id=schedule_uuid, order_line_id=spec["line"].id,
                           product_id=spec["line"].product_id, step=spec["step"], operation=spec["operation"],
                           unit_id=spec["unit"].id, status=RELEASED, planned_start=spec["start"],
                           planned_end=spec["end"], planned_input_kg=spec["input"], planned_output_kg=spec["output"],
                           batch_key=spec["batch_key"], input_kg=0, output_kg=0, scrap_kg=0)
            db.session.add(wo)
            created += 1
            published.append(wo)
        elif wo.status == RELEASED:
            wo.schedule_id, wo.operation, wo.unit_id = schedule_uuid, spec["operation"], spec["unit"].id
            wo.planned_start, wo.planned_end = spec["start"], spec["end"]
            wo.planned_input_kg, wo.planned_output_kg, wo.batch_key = spec["input"], spec["output"], spec["batch_key"]
            retimed += 1
            published.append(wo)
        else:
            wo.planned_start, wo.planned_end = spec["start"], spec["end"]
            kept += 1
    wanted = {(spec["line"].id, spec["step"]) for spec in specs}
    for key, wo in live.items():
        if key not in wanted and wo.status == RELEASED:
            wo.status, wo.cancelled_at = CANCELLED, now
            cancelled += 1
    db.session.flush()
    outbox.publish("production.plan.published", {
        "schedule_id": str(schedule_uuid), "created": created, "retimed": retimed, "kept": kept,
        "cancelled": cancelled})
    audit.record("production.plan_published", target_type="schedule", target_id=schedule_uuid, created=created,
                 retimed=retimed, kept=kept, cancelled=cancelled)
    return published


def _following(number: str) -> str:
    prefix, seq = number.rsplit("-", 1)
    return f"{prefix}-{int(seq) + 1:04d}"


# ---------------------------------------------------------------- the order line follows

def _line(wo: WorkOrder) -> OrderLine:
    return orders.get_line(wo.order_line_id)


def _last_step(wo: WorkOrder) -> bool:
    product = db.session.scalar(select(Product).where(Product.id == wo.product_id))
    return product is not None and wo.step == len(product.operations) - 1


def _advance_line(line: OrderLine, to_status: str, note: str) -> None:
    """Move the line on to `to_status` along its lifecycle, one legal step at a
    time (a line still confirmed is planned first); never backwards."""
    path = {IN_PRODUCTION: (PLANNED, IN_PRODUCTION), LINE_FINISHED: (LINE_FINISHED,),
            LINE_IN_STOCK: (LINE_IN_STOCK,)}[to_status]
    for status in path:
        if orders.rank(line.status) < orders.rank(status) and status in orders.LINE_TRANSITIONS.get(line.status, ()):
            orders.set_line_status(line, status, note, commit=False)


def _line_may_run(line: OrderLine, action: str) -> None:
    if line.status == LINE_CANCELLED:
        raise LineClosed("Line %(line_no)s of order %(order)s is cancelled: the work order cannot be %(action)s.",
                         line_no=line.line_no, order=line.order.number, action=action)


def _settle_stock(wo: WorkOrder, line: OrderLine) -> None:
    """In stock when the last step is finished and every coil it made that is
    still the line's is in stock (none left at the unit)."""
    if line.status != LINE_FINISHED or wo.status != FINISHED or not _last_step(wo):
        return
    made = [c for c in coils_made(wo) if c.status != "consumed"]
    if made and all(c.status in IN_STOCK or c.status == "shipped" for c in made):
        _advance_line(line, LINE_IN_STOCK, f"{wo.number}: coils in stock")


def _announce(event: str, wo: WorkOrder, at: datetime, **extra) -> None:
    outbox.publish(f"production.work_order.{event}", {
        "work_order_id": str(wo.id), "number": wo.number, "order_line_id": str(wo.order_line_id), "step": wo.step,
        "unit_id": str(wo.unit_id), "at": at.isoformat(), **extra})
    audit.record(f"production.work_order_{event}", target_type="work_order", target_id=wo.id, number=wo.number,
                 **extra)


# ---------------------------------------------------------------- the shop floor

def _unit_free(wo: WorkOrder) -> None:
    running = db.session.scalar(select(WorkOrder).where(WorkOrder.unit_id == wo.unit_id, WorkOrder.status == STARTED,
                                                        WorkOrder.id != wo.id))
    if running is not None:
        unit = db.session.scalar(select(Unit).where(Unit.id == wo.unit_id))
        raise UnitBusy("%(unit)s is running work order %(running)s: pause or finish it first.",
                       unit=unit.code if unit else str(wo.unit_id), running=running.number,
                       running_id=running.id)


def _routing_order(wo: WorkOrder) -> None:
    if wo.step == 0:
        return
    before = db.session.scalar(select(WorkOrder).where(WorkOrder.order_line_id == wo.order_line_id,
                                                       WorkOrder.step == wo.step - 1,
                                                       WorkOrder.status != CANCELLED))
    if before is None or before.actual_start is None:
        raise RoutingOrder("Step %(step)s of this order line (%(before)s) has not started yet: operations run in "
                           "routing order.", step=wo.step, before=before.number if before else wo.step - 1)


def start(work_order_id) -> WorkOrder:
    wo = _lock(work_order_id)
    if wo.status != RELEASED:
        raise WrongState("Work order %(number)s is %(wo_status)s: it cannot be %(action)s.", number=wo.number,
                         wo_status=wo.status, action="started")
    line = _line(wo)
    _line_may_run(line, "started")
    _unit_free(wo)
    _routing_order(wo)
    now = utcnow()
    wo.status, wo.actual_start, wo.started_by = STARTED, now, _user_id()
    _advance_line(line, IN_PRODUCTION, f"{wo.number} started")
    _announce("started", wo, now)
    _save(wo)
    return wo


def pause(work_order_id, reason: str | None, note: str | None = None) -> WorkOrder:
    reason, note = _clean(reason), _clean(note)
    errors: dict[str, list] = {}
    if reason not in PAUSE_REASONS:
        errors["reason"] = ["Choose a reason from the list."]
    elif reason == "other" and not note:
        errors["note"] = ["Say why the work stopped."]
    if note is not None and len(note) > NOTE_MAX:
        errors["note"] = [f"Use at most {NOTE_MAX} characters."]
    _require(errors)
    wo = _lock(work_order_id)
    if wo.status != STARTED:
        raise WrongState("Work order %(number)s is %(wo_status)s: it cannot be %(action)s.", number=wo.number,
                         wo_status=wo.status, action="paused")
    now = utcnow()
    db.session.add(WorkOrderPause(work_order_id=wo.id, reason=reason, note=note, paused_at=now,
                                  paused_by=_user_id()))
    wo.status = PAUSED
    _announce("paused", wo, now, reason=reason, note=note)
    _save(wo)
    return wo


def _close_pause(wo: WorkOrder, now: datetime) -> None:
    for pause_ in wo.pauses:
        if pause_.resumed_at is None:
            pause_.resumed_at, pause_.resumed_by = max(now, pause_.paused_at), _user_id()


def resume(work_order_id) -> WorkOrder:
    wo = _lock(work_order_id)
    if wo.status != PAUSED:
        raise WrongState("Work order %(number)s is %(wo_status)s: it cannot be %(action)s.", number=wo.number,
                         wo_status=wo.status, action="resumed")
    _line_may_run(_line(wo), "resumed")
    _unit_free(wo)
    now = utcnow()
    _close_pause(wo, now)
    wo.status = STARTED
    _announce("resumed", wo, now)
    _save(wo)
    return wo


def finish(work_order_id) -> WorkOrder:
    wo = _lock(work_order_id)
    if wo.status not in (STARTED, PAUSED):
        raise WrongState("Work order %(number)s is %(wo_status)s: it cannot be %(action)s.", number=wo.number,
                         wo_status=wo.status, action="finished")
    now = utcnow()
    _close_pause(wo, now)
    wo.status, wo.actual_end, wo.finished_by = FINISHED, max(now, wo.actual_start or now), _user_id()
    line = _line(wo)
    if _last_step(wo):
        _advance_line(line, LINE_FINISHED, f"{wo.number} finished")
        _settle_stock(wo, line)
    _announce("finished", wo, now, output_kg=_kg(wo.output_kg))
    _save(wo)
    return wo


def _resolve_inputs(inputs: list[dict]) -> list[dict]:
    """Inputs as scanned (a coil number or label, or a heat number) into the
    inventory room's terms (coil_id / heat_id, weight)."""
    resolved, errors = [], {}
    for i, spec in enumerate(inputs or []):
        key = f"inputs.{i}"
        weight = spec.get("weight_kg")
        coil_no, heat_no = _clean(spec.get("coil_no")), _clean(spec.get("heat_no"))
        coil_id, heat_id = spec.get("coil_id"), spec.get("heat_id")
        given = [v for v in (coil_no, heat_no, coil_id, heat_id) if v]
        if len(given) != 1:
            errors[key] = ["Name one coil or one heat."]
            continue
        if coil_no:
            number = inventory.coil_no_from_scan(coil_no)
            coil = inventory.coil_by_number(number)
            if coil is None:
                raise Invalid("No coil numbered %(coil_no)s.", field=key + ".coil_no", coil_no=number)
            resolved.append({"coil_id": coil.id, "weight_kg": weight})
        elif heat_no:
            heat = inventory.heat_by_number(heat_no)
            if heat is None:
                raise Invalid("No heat numbered %(heat_no)s.", field=key + ".heat_no", heat_no=heat_no)
            resolved.append({"heat_id": heat.id, "weight_kg": weight})
        elif coil_id:
            resolved.append({"coil_id": coil_id, "weight_kg": weight})
        else:
            resolved.append({"heat_id": heat_id, "weight_kg": weight})
    _require(errors)
    return resolved


def report_output(work_order_id, *, inputs: list[dict], outputs: list[dict] = (), scrap: list[dict] = (),
                  location_id=None, note: str | None = None) -> ProductionEvent:
    """Record what a work order consumed and made, in one transaction, through
    the inventory room: the inputs (coils by number or id, or a heat for
    casting) are consumed, the output coils made with their genealogy
    (operation, unit, work order), the scrap kept with its reasons. Outputs
    with a location go into stock; without one they stay at the unit for the
    next operation. Refused as a whole when anything does not add up."""
    wo = _lock(work_order_id)
    if wo.status not in BEGUN:
        raise WrongState("Work order %(number)s is %(wo_status)s: it cannot be %(action)s.", number=wo.number,
                         wo_status=wo.status, action="reported")
    line = _line(wo)
    _line_may_run(line, "reported")
    resolved = _resolve_inputs(inputs)
    product = db.session.scalar(select(Product).where(Product.id == wo.product_id))
    last = _last_step(wo)
    made = []
    for spec in outputs or []:
        spec = dict(spec)
        if last and product is not None and not _clean(spec.get("temper")):
            spec["temper"] = product.temper  # the last operation delivers the ordered temper
        spec.setdefault("order_line_id", wo.order_line_id)
        spec.setdefault("product_id", wo.product_id)
        made.append(spec)
    event = inventory.record_production_output(
        inputs=resolved, outputs=made, scrap=list(scrap or []), operation=wo.operation, unit_id=wo.unit_id,
        work_order_id=wo.id, order_line_id=wo.order_line_id, product_id=wo.product_id, location_id=location_id,
        note=note, commit=False)
    wo.input_kg = _kg(wo.input_kg + event.input_weight_kg)
    wo.output_kg = _kg(wo.output_kg + event.output_weight_kg)
    wo.scrap_kg = _kg(wo.scrap_kg + event.scrap_weight_kg)
    db.session.flush()
    _settle_stock(wo, line)
    outbox.publish("production.output.reported", {
        "work_order_id": str(wo.id), "number": wo.number, "order_line_id": str(wo.order_line_id), "step": wo.step,
        "unit_id": str(wo.unit_id), "event_id": str(event.id), "input_kg": event.input_weight_kg,
        "output_kg": event.output_weight_kg, "scrap_kg": event.scrap_weight_kg})
    audit.record("production.output_reported", target_type="work_order", target_id=wo.id, number=wo.number,
                 event_id=event.id, outputs=[o["no"] for o in event.outputs])
    _save(event)
    return event


def coil_settled(order_line_id) -> None:
    """The inventory room moved a coil of this line into stock: a finished
    line whose last step's coils are now all in stock is in stock."""
    line = db.session.scalar(select(OrderLine).where(OrderLine.id == order_line_id))
    if line is None or line.status != LINE_FINISHED:
        return
    last = db.session.scalar(select(WorkOrder).where(WorkOrder.order_line_id == line.id,
                                                     WorkOrder.status == FINISHED)
                             .order_by(WorkOrder.step.desc()).limit(1))
    if last is not None:
        _settle_stock(last, line)


# ---------------------------------------------------------------- scanning on the shop floor

def find_for_coil(unit_id, scanned: str) -> dict:
    """A scanned coil label on a unit's station: the coil, and the work orders
    of the unit's queue it is an input of (the next step of the work order
    that made it, or its order line's). One match: that one; none or several:
    the operator picks."""
    unit = get_unit(unit_id)
    coil_no = inventory.coil_no_from_scan(scanned or "")
    if not coil_no:
        raise Invalid("Scan or type a coil number.", field="scanned")
    coil = inventory.coil_by_number(coil_no)
    if coil is None:
        raise Invalid("No coil numbered %(coil_no)s.", field="scanned", coil_no=coil_no)
    waiting = queue(unit.id)
    matches = []
    if coil.work_order_id is not None:
        maker = db.session.scalar(select(WorkOrder).where(WorkOrder.id == coil.work_order_id))
        if maker is not None:
            matches = [wo for wo in waiting if wo.order_line_id == maker.order_line_id and wo.step == maker.step + 1]
    if not matches:
        lines = {coil.order_line_id} if coil.order_line_id else set()
        reservation = inventory.active_reservation(coil)
        if reservation is not None:
            lines.add(reservation.order_line_id)
        matches = [wo for wo in waiting if wo.order_line_id in lines]
        if matches:
            first = min(wo.step for wo in matches)
            matches = [wo for wo in matches if wo.step == first]
    return {"unit": unit, "coil": coil, "matches": matches, "queue": waiting,
            "work_order": matches[0] if len(matches) == 1 else None}


def suggested_inputs(wo: WorkOrder) -> list[Coil]:
    """Coils a work order may take: what the previous step made for the line
    and left at a unit, or coils reserved for the line."""
    stmt = select(Coil).where(Coil.status.in_(("issued", "available", "reserved")))
    if wo.step > 0:
        before = db.session.scalar(select(WorkOrder.id).where(WorkOrder.order_line_id == wo.order_line_id,
                                                              WorkOrder.step == wo.step - 1,
                                                              WorkOrder.status != CANCELLED))
        if before is None:
            return []
        stmt = stmt.where(Coil.work_order_id == before)
    else:
        reserved = select(inventory.reservations_query(order_line_id=wo.order_line_id, status="active")
                          .subquery().c.coil_id)
        stmt = stmt.where(or_(Coil.id.in_(reserved), Coil.order_line_id == wo.order_line_id))
    return list(db.session.scalars(stmt.order_by(Coil.coil_no).limit(50)))

