"""The engine's Problem, built from the database.

Jobs are the committed order lines (confirmed, planned, in production): one
job per line, released now, due at the end of its due day in the plant's time
zone, weighted by priority (1, 2, 4, 8 for low … urgent). Each routing step
is an operation with the units that may run it (active units of the step's
eligible list) and its minutes on each (`products.operation_hours`, the unit's
own rate when it has one). Anneal steps on furnaces with a batch capacity
share loads: the machine's capacity is 100 (per cent of a load) and an
operation's size is its share of a load by tonnes or coils, whichever is
tighter; coils of one anneal recipe may share a load. A line too big for one
load fills the furnace on its own for all its loads.

Set-up families are the strip a step puts out (alloy, temper, width, gauge)
and each unit's change-over matrix between them comes from the products
room's set-up rules. A unit's downtime is everything outside its shift
calendar and its planned downtime (equipment `Availability`), the planner's
extra down windows, and, for a unit down now by its live state for another
reason than planned downtime (an alarm, its agent offline), the next
LIVE_DOWN_HOURS.

Work the shop floor has begun stays where it is: started and finished work
orders (production.services.execution_state) are frozen at their actual
times on their unit; a paused one is kept on its unit but may move in time.
Steps before the last begun step of a line that never began are left out
(the material is past them).

Time is whole minutes from `plan_start` (now, rounded up to 5 minutes).
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select

from alloyhub.platform.db import db, utcnow
from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.equipment.models import Calendar, Unit
from alloyhub.tenants.orders import services as orders
from alloyhub.tenants.orders.models import Order, OrderLine
from alloyhub.tenants.products import services as products
from alloyhub.tenants.products.models import Product

from .engine import analysis
from .engine.model import Frozen, Job, Machine, Operation, Option, Problem, downtime_from_availability

DEFAULT_TZ = "Asia/Shanghai"
LIVE_DOWN_HOURS = 4
PRIORITY_WEIGHT = {1: 1, 2: 2, 3: 4, 4: 8}
LOAD = 100  # a furnace load, in per cent
MIN_HORIZON, MAX_HORIZON = 7 * 24 * 60, 365 * 24 * 60
BEGUN = ("started", "finished")


class Unschedulable(Exception):
    """Nothing can be scheduled, or the problem has no schedule (reasons in `reasons`)."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class OpInfo:
    line_id: uuid.UUID
    step: int
    process: str
    label: str
    minutes: dict[str, int]          # unit id (str) -> minutes
    input_kg: float
    output_kg: float
    alloy_family: str | None
    frozen: bool = False
    recipe: str | None = None


@dataclass
class Built:
    problem: Problem
    plan_start: datetime
    horizon: int
    tz: ZoneInfo
    ops: dict[tuple[str, int], OpInfo]
    units: dict[str, Unit]
    lines: dict[str, OrderLine]
    notes: list[str] = field(default_factory=list)

    def minute(self, moment: datetime) -> int:
        return minutes_between(self.plan_start, moment)

    def at(self, minute: int) -> datetime:
        return self.plan_start + timedelta(minutes=minute)


def minutes_between(start: datetime, moment: datetime) -> int:
    return math.floor((_utc(moment) - start).total_seconds() / 60)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def plan_start_for(now: datetime | None = None) -> datetime:
    now = _utc(now or utcnow()).replace(second=0, microsecond=0)
    return now + timedelta(minutes=(-now.minute) % 5)


def plant_tz() -> ZoneInfo:
    """The plant's time zone: that of its first calendar, else China's."""
    name = db.session.scalar(select(Calendar.timezone).order_by(Calendar.created_at, Calendar.id).limit(1))
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def execution_state() -> dict:
    """The production room's work orders by (order line, step); empty while it is not installed."""
    try:
        from alloyhub.tenants.production import services as production
    except ImportError:
        return {}
    fn = getattr(production, "execution_state", None)
    return fn() if fn is not None else {}


def line_label(order: Order, line: OrderLine) -> str:
    return f"{order.number}/{line.line_no}"


def _family_key(product: Product, step) -> tuple[str, dict]:
    attrs = {"alloy": product.alloy, "alloy_family": product.alloy_family, "temper": product.temper,
             "width_mm": step.out_width, "gauge_mm": step.out_gauge}
    return f"{product.alloy}|{product.temper}|{step.out_width:g}|{step.out_gauge:g}", attrs


def _load_share(unit: Unit, product: Product, input_t: float) -> tuple[int, int]:
    """(share of one load in per cent, loads needed) on a furnace with a batch capacity."""
    shares = []
    if unit.batch_capacity_t:
        shares.append(input_t / unit.batch_capacity_t)
    if unit.batch_capacity_coils:
        shares.append(products.coils(product, input_t) / unit.batch_capacity_coils)
    worst = max(shares) if shares else 1.0
    loads = max(1, math.ceil(worst - 1e-9))
    return max(1, min(LOAD, math.ceil(worst * LOAD - 1e-9))), loads


def _batching(unit: Unit) -> bool:
    return unit.is_batch and bool(unit.batch_capacity_t or unit.batch_capacity_coils)


def build(*, plan_start: datetime | None = None, locks: list[dict] | None = None,
          down: list[dict] | None = None, now: datetime | None = None, strict_locks: bool = False,
          live_state: bool = True) -> Built:
    """The Problem for the company in scope. Raises Unschedulable with reasons a
    planner can act on (no committed lines, a routing no unit can run, a lock
    on a unit that cannot run the step, …)."""
    now = _utc(now or utcnow())
    plan_start = _utc(plan_start) if plan_start else plan_start_for(now)
    tz = plant_tz()
    reasons: list[str] = []
    lines = orders.committed_lines()
    if not lines:
        raise Unschedulable([_("There are no confirmed, planned or in-production order lines to schedule.")])
    all_units = {str(u.id): u for u in db.session.scalars(select(Unit))}
    active = {uid: u for uid, u in all_units.items() if u.status == "active"}
    product_ids = {li.product_id for li in lines}
    products_by_id = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(product_ids)))}
    orders_by_id = {o.id: o for o in db.session.scalars(
        select(Order).where(Order.id.in_({li.order_id for li in lines})))}
    state = execution_state()

    ops_info: dict[tuple[str, int], OpInfo] = {}
    families: dict[str, dict[str, dict]] = {}   # unit id -> family key -> attrs
    jobs: list[Job] = []
    used_units: set[str] = set()
    frozen_spans: dict[str, list[tuple[int, int]]] = {}
    now_min = minutes_between(plan_start, now)

    for line in lines:
        product = products_by_id.get(line.product_id)
        order = orders_by_id[line.order_id]
        label = line_label(order, line)
        if product is None or not product.operations:
            reasons.append(_("Line %(line)s: product %(product)s has no routing.", line=label,
                             product=product.code if product else "?"))
            continue
        routing = list(product.operations)
        planned = products.routing_plan(product, orders.line_tonnes(line, product))
        states = {k: state.get((line.id, k)) for k in range(len(routing))}
        begun = [k for k, st in states.items() if st is not None and st.status in BEGUN and st.actual_start]
        last_begun = max(begun, default=-1)
        job_ops: list[Operation] = []
        for k, (rop, plan) in enumerate(zip(routing, planned)):
            st = states[k]
            is_begun = k in begun
            if k < last_begun and not is_begun:
                continue
            process = rop.name or rop.process
            op_label = f"{label} {process}"
            minutes: dict[str, int] = {}
            options: list[Option] = []
            size, recipe = 1, None
            for unit_id in rop.unit_ids:
                unit = active.get(str(unit_id))
                if unit is None:
                    continue
                hours = products.operation_hours(plan, product, unit)
                duration = max(1, math.ceil(hours * 60 - 1e-9))
                if rop.process == "anneal" and _batching(unit):
                    share, loads = _load_share(unit, product, plan.input_t)
                    if loads == 1:
                        size = max(size, share)
                        recipe = rop.anneal_recipe or f"{rop.anneal_temp_c}/{rop.anneal_soak_h}/{rop.anneal_cycle_h}"
                    else:
                        size = LOAD
                minutes[str(unit.id)] = duration
                options.append(Option(str(unit.id), duration))
            if recipe is None and size == LOAD:
                # Too big for one load: alone in the furnace, no sharing.
                recipe = f"alone:{line.id}:{k}"
            info = OpInfo(line.id, k, process, op_label, minutes, plan.input_t * 1000, plan.output_t * 1000,
                          product.alloy_family, recipe=recipe)
            op = Operation(options=options, ref=k, label=op_label, size=size, recipe=recipe)
            if is_begun:
                uid = str(st.unit_id)
                if uid not in all_units:
                    reasons.append(_("Line %(line)s step %(step)s ran on a unit that no longer exists.",
                                     line=label, step=k + 1))
                    continue
                start = minutes_between(plan_start, st.actual_start)
                if st.actual_end is not None:
                    end = max(start, math.ceil((_utc(st.actual_end) - plan_start).total_seconds() / 60))
                else:
                    end = max(start + minutes.get(uid, 1), now_min + 1, 1)
                op.frozen = Frozen(uid, start, end)
                info.frozen = True
                info.minutes.setdefault(uid, end - start)
                used_units.add(uid)
                frozen_spans.setdefault(uid, []).append((start, end))
            else:
                if not options:
                    reasons.append(_("Line %(line)s step %(step)s (%(process)s): no active unit can run it.",
                                     line=label, step=k + 1, process=process))
                    continue
                if st is not None and st.status == "paused" and str(st.unit_id) in minutes:
                    op.lock_machine = str(st.unit_id)
                key, attrs = _family_key(product, plan.step)
                op.setup_family = key
                for uid in minutes:
                    families.setdefault(uid, {})[key] = attrs
                    used_units.add(uid)
            ops_info[(str(line.id), k)] = info
            job_ops.append(op)
        if job_ops:
            due_local = datetime.combine(line.due_date + timedelta(days=1), time(0), tzinfo=tz)
            jobs.append(Job(id=str(line.id), operations=job_ops, release=0,
                            due=minutes_between(plan_start, due_local),
                            weight=PRIORITY_WEIGHT.get(line.priority, 2), label=label, ref=line.id))
    if reasons:
        raise Unschedulable(reasons)
    if not any(op.frozen is None for job in jobs for op in job.operations):
        raise Unschedulable([_("Every committed order line has all its work begun: there is nothing to plan.")])

    work = sum(max(o.duration for o in op.options) for job in jobs for op in job.operations if op.frozen is None)
    horizon = min(MAX_HORIZON, max(MIN_HORIZON, work * 5 + 3 * 24 * 60))
    for lock in locks or ():
        if lock.get("start"):
            horizon = max(horizon, minutes_between(plan_start, _parse(lock["start"])) + 7 * 24 * 60)
    horizon = min(horizon, MAX_HORIZON)
    end_at = plan_start + timedelta(minutes=horizon)

    rules = products.setup_rules()
    machines: list[Machine] = []
    notes: list[str] = []
    extra_down = {}
    for window in down or ():
        extra_down.setdefault(str(window["unit_id"]), []).append(window)
    for uid in sorted(used_units, key=lambda u: all_units[u].code):
        unit = all_units[uid]
        windows = [(minutes_between(plan_start, a), math.ceil((b - plan_start).total_seconds() / 60))
                   for a, b in equipment.availability(unit, plan_start, end_at)]
        downtime = downtime_from_availability(windows, horizon)
        for window in extra_down.get(uid, ()):
            a = max(0, minutes_between(plan_start, _parse(window["start"])))
            b = min(horizon, math.ceil((_parse(window["end"]) - plan_start).total_seconds() / 60))
            if b > a:
                downtime.append((a, b))
        if live_state and unit.status == "active":
            live = equipment.live_state(unit, now)
            planned_down = any(a <= max(now_min, 0) < b for a, b in downtime)
            if live.state == "down" and not planned_down:
                downtime.append((0, LIVE_DOWN_HOURS * 60))
                notes.append(_("%(unit)s is down now (%(reason)s): taken as unavailable for the next %(hours)s h.",
                               unit=unit.code, reason=live.reason, hours=LIVE_DOWN_HOURS))
        downtime = _trim(_merge(downtime), frozen_spans.get(uid, []))
        batching = _batching(unit)
        setups, fams = {}, families.get(uid, {})
        if not batching and len(fams) > 1:
            calc = products.SetupCalculator(unit, rules)
            for a, attrs_a in fams.items():
                for b, attrs_b in fams.items():
                    if a != b:
                        value = int(round(calc.minutes(attrs_a, attrs_b)))
                        if value:
                            setups[(a, b)] = value
        machines.append(Machine(id=uid, name=unit.code, capacity=LOAD if batching else 1, downtime=downtime,
                                setups=setups))
    _serialise_frozen(jobs, {m.id: m for m in machines})
    problem = Problem(jobs=jobs, machines=machines, name="plant")
    built = Built(problem, plan_start, horizon, tz, ops_info, all_units,
                  {str(li.id): li for li in lines}, notes)
    _apply_locks(built, locks or (), strict_locks)
    reasons = analysis.validate(problem) + _too_long(problem, horizon)
    if reasons:
        raise Unschedulable(reasons)
    return built


def _parse(value) -> datetime:
    return _utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def _merge(intervals):
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _trim(downtime, spans):
    """Work that actually ran on the unit did run: no downtime under it."""
    for s, e in spans:
        pieces = []
        for a, b in downtime:
            if b <= s or a >= e:
                pieces.append((a, b))
                continue
            if a < s:
                pieces.append((a, s))
            if e < b:
                pieces.append((e, b))
        downtime = pieces
    return downtime


def _serialise_frozen(jobs: list[Job], machines: dict) -> None:
    """Begun work orders that overlap on a single-job unit (one paused while
    another ran) are laid one after the other: the unit did one at a time."""
    by_unit: dict[str, list[Operation]] = {}
    for job in jobs:
        for op in job.operations:
            if op.frozen is not None:
                by_unit.setdefault(op.frozen.machine, []).append(op)
    for uid, ops in by_unit.items():
        if machines.get(uid) is not None and machines[uid].batching:
            continue
        ops.sort(key=lambda o: (o.frozen.start, o.frozen.end))
        last_end = None
        for op in ops:
            if last_end is not None and op.frozen.start < last_end:
                length = op.frozen.end - op.frozen.start
                op.frozen.start = last_end
                op.frozen.end = last_end + length
            last_end = op.frozen.end
    for job in jobs:
        for prev, op in zip(job.operations, job.operations[1:]):
            if prev.frozen is not None and op.frozen is not None and op.frozen.start < prev.frozen.end:
                length = op.frozen.end - op.frozen.start
                op.frozen.start = prev.frozen.end
                op.frozen.end = op.frozen.start + length


def _apply_locks(built: Built, locks, strict: bool) -> None:
    index = {(job.id, op.ref): op for job in built.problem.jobs for op in job.operations}
    reasons = []
    for lock in locks:
        key = (str(lock["order_line_id"]), int(lock["step"]))
        op = index.get(key)
        info = built.ops.get(key)
        if op is None or info is None:
            if strict:
                reasons.append(_("The operation is no longer part of the plan (its line is not committed)."))
            continue
        if op.frozen is not None:
            continue
        unit_id = str(lock["unit_id"]) if lock.get("unit_id") else None
        if unit_id is not None and unit_id not in info.minutes:
            unit = built.units.get(unit_id)
            if strict:
                reasons.append(_("%(unit)s cannot run %(op)s.", unit=unit.code if unit else unit_id, op=info.label))
                continue
            unit_id = None
        op.lock_machine = unit_id or op.lock_machine
        if lock.get("start"):
            start = built.minute(_parse(lock["start"]))
            if start < 0:
                if strict:
                    reasons.append(_("%(op)s cannot start in the past.", op=info.label))
                continue
            op.lock_start = start
    if reasons:
        raise Unschedulable(reasons)


def _too_long(problem: Problem, horizon: int) -> list[str]:
    """Operations run without a break: one longer than every working window
    of its units has no place (the engine would only say infeasible)."""
    reasons = []
    machines = problem.machine_index
    for job in problem.jobs:
        for op in job.operations:
            if op.frozen is not None or not op.options:
                continue
            fits = False
            for opt in op.options:
                gaps = _longest_window(machines[opt.machine].downtime, horizon)
                if opt.duration <= gaps:
                    fits = True
                    break
            if not fits:
                reasons.append(_("%(op)s takes %(hours)s h, longer than any working window of its units "
                                 "(shift calendar and downtime).", op=op.label,
                                 hours=f"{min(o.duration for o in op.options) / 60:.1f}"))
    return reasons


def _longest_window(downtime, horizon: int) -> int:
    best, t = 0, 0
    for a, b in sorted(downtime):
        best = max(best, a - t)
        t = max(t, b)
    return max(best, horizon - t)


def due_of(line: OrderLine, tz: ZoneInfo) -> datetime:
    return datetime.combine(line.due_date + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)


