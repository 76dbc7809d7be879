"""The promised-date check: given the plant's current load, when could this
line be delivered?

A rough-cut capacity computation (infinite-capacity loading, then finite
along the calendars):

1. The load ahead. Committed lines (confirmed, planned, in production) that
   come before the line: for a line already committed, those due earlier
   (earliest due date first, then higher priority, then older); for a draft
   or a what-if quantity, all of them. Each is expanded through its routing
   (tonnes in and out of every operation, yields applied backwards) and each
   operation is loaded on the eligible unit where it adds the least to the
   unit's queue (its hours on that unit: t/h or m/min at that unit's rate,
   furnace loads × cycle time).
2. Each unit works its queue off from now along its own working time (shift
   calendar minus planned downtime): it is free for the line when its queued
   hours are done.
3. The line walks its routing: each operation starts when the previous one
   is done and the unit is free, takes its hours plus the change-over from
   the last job queued on that unit (set-up rules), and goes to the eligible
   unit where it finishes earliest.
4. The promised date is the day the last operation finishes (in the plant's
   time zone) plus the customer's transit days.

The answer explains itself: the work ahead, every operation with its unit,
queue, start, end and set-up, and the bottleneck (where the line waits the
longest for a unit, else the longest operation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import Conflict, ValidationFailed
from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.equipment.messages import msg
from alloyhub.tenants.equipment.models import Unit
from alloyhub.tenants.products import services as products
from alloyhub.tenants.products.models import Product

from . import services
from .models import OrderLine

DEFAULT_TZ = "Asia/Shanghai"


@dataclass
class PromiseStep:
    seq: int
    process: str
    unit_id: object
    unit_code: str
    queued_hours: float       # work already loaded on the unit ahead of the line
    free_at: datetime         # when the unit has worked its queue off
    ready_at: datetime        # when the line's material reaches the operation
    start: datetime
    end: datetime
    hours: float              # run time on the unit
    setup_minutes: float
    input_t: float

    @property
    def wait_hours(self) -> float:
        return max(0.0, (self.start - self.ready_at).total_seconds() / 3600)


@dataclass
class Promise:
    product_code: str
    tonnes: float
    computed_at: datetime
    finish: datetime
    transit_days: int
    promised_date: date
    due_date: date | None
    steps: list[PromiseStep]
    ahead_lines: int
    ahead_tonnes: float
    bottleneck: PromiseStep | None
    explanation: list = field(default_factory=list)

    @property
    def on_time(self) -> bool | None:
        return None if self.due_date is None else self.promised_date <= self.due_date

    @property
    def days_late(self) -> int | None:
        return None if self.due_date is None else (self.promised_date - self.due_date).days


def _hours_text(value: float) -> str:
    return f"{value:.1f}"


def _when(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _eligible(op, units: dict) -> list[Unit]:
    return [units[uid] for uid in op.unit_ids if uid in units and units[uid].status == "active"]


def _ahead(line: OrderLine | None) -> list[OrderLine]:
    committed = services.committed_lines()
    if line is None or line.status not in services.COMMITTED:
        return [li for li in committed if line is None or li.id != line.id]
    key = (line.due_date, -line.priority, line.created_at, str(line.id))
    return [li for li in committed
            if li.id != line.id and (li.due_date, -li.priority, li.created_at, str(li.id)) < key]


def promise(product: Product, tonnes: float, *, line: OrderLine | None = None, due_date: date | None = None,
            transit_days: int = 0, now: datetime | None = None) -> Promise:
    """The earliest delivery of `tonnes` of `product` (see the module's docstring)."""
    if not isinstance(tonnes, (int, float)) or not math.isfinite(tonnes) or tonnes <= 0:
        raise ValidationFailed(errors={"quantity": ["The quantity must be above zero."]})
    if not product.operations:
        raise Conflict(msg("The product %(code)s has no routing yet: it cannot be made.", code=product.code))
    now = now or utcnow()
    units = {u.id: u for u in equipment.units()}
    for op in product.operations:
        if not _eligible(op, units):
            raise Conflict(msg("Operation %(n)s (%(process)s) of %(code)s has no active unit.",
                               n=op.seq // 10, process=op.process, code=product.code))
    horizon = now + equipment.HORIZON
    availability: dict = {}

    def avail(unit: Unit) -> equipment.Availability:
        if unit.id not in availability:
            availability[unit.id] = equipment.Availability.of(unit, now, horizon)
        return availability[unit.id]

    # 1. The load ahead, unit by unit.
    ahead = _ahead(line)
    by_id = services.products_by_id(li.product_id for li in ahead)
    queued: dict = {}
    last_job: dict = {}
    ahead_tonnes = 0.0
    for other in ahead:
        other_product = by_id.get(other.product_id)
        if other_product is None or not other_product.operations:
            continue
        t = products.tonnes(other_product, other.quantity, other.quantity_unit)
        ahead_tonnes += t
        for planned in products.routing_plan(other_product, t):
            candidates = _eligible(planned.operation, units)
            if not candidates:
                continue
            hours = {u.id: products.operation_hours(planned, other_product, u) for u in candidates}
            best = min(candidates, key=lambda u: (queued.get(u.id, 0.0) + hours[u.id], u.code))
            queued[best.id] = queued.get(best.id, 0.0) + hours[best.id]
            last_job[best.id] = other_product
    # 2. + 3. The line through its routing.
    calculators: dict = {}
    steps: list[PromiseStep] = []
    ready = now
    for planned in products.routing_plan(product, tonnes):
        best_step = None
        for unit in _eligible(planned.operation, units):
            a = avail(unit)
            free_at = a.advance(now, queued.get(unit.id, 0.0))
            if unit.id not in calculators:
                calculators[unit.id] = products.setup_calculator(unit)
            setup = calculators[unit.id].minutes(last_job.get(unit.id), product) if unit.id in last_job else 0.0
            hours = products.operation_hours(planned, product, unit)
            start = a.next_working(max(ready, free_at))
            end = a.advance(start, hours + setup / 60)
            step = PromiseStep(planned.operation.seq // 10, planned.operation.process, unit.id, unit.code,
                               queued.get(unit.id, 0.0), free_at, ready, start, end, hours, setup, planned.input_t)
            if best_step is None or (end, unit.code) < (best_step.end, best_step.unit_code):
                best_step = step
        steps.append(best_step)
        ready = best_step.end
    finish = ready
    last_unit = units[steps[-1].unit_id]
    calendar = equipment.calendar_of(last_unit)
    tz = ZoneInfo(calendar.timezone if calendar else DEFAULT_TZ)
    promised = finish.astimezone(tz).date() + timedelta(days=transit_days)
    waits = [s for s in steps if s.wait_hours > 0.01]
    if waits:
        bottleneck = max(waits, key=lambda s: s.wait_hours)
    else:
        bottleneck = max(steps, key=lambda s: s.hours + s.setup_minutes / 60)
    result = Promise(product.code, tonnes, now, finish, transit_days, promised, due_date, steps, len(ahead),
                     ahead_tonnes, bottleneck)
    result.explanation = _explain(result, tz, waits)
    return result


def _explain(p: Promise, tz: ZoneInfo, waits) -> list:
    lines = [msg("Load ahead: %(lines)s committed lines, %(tonnes)s t.", lines=p.ahead_lines,
                 tonnes=f"{p.ahead_tonnes:.1f}")]
    for s in p.steps:
        lines.append(msg("%(n)s. %(process)s on %(unit)s: %(queued)s h of work ahead (free %(free)s); runs "
                         "%(start)s → %(end)s, %(hours)s h plus %(setup)s min set-up.",
                         n=s.seq, process=s.process, unit=s.unit_code, queued=_hours_text(s.queued_hours),
                         free=_when(s.free_at, tz), start=_when(s.start, tz), end=_when(s.end, tz),
                         hours=_hours_text(s.hours), setup=f"{s.setup_minutes:.0f}"))
    b = p.bottleneck
    if b is not None and waits:
        lines.append(msg("Bottleneck: %(unit)s (%(process)s): the line waits %(wait)s h for it.", unit=b.unit_code,
                         process=b.process, wait=_hours_text(b.wait_hours)))
    elif b is not None:
        lines.append(msg("No unit makes the line wait; the longest operation is %(process)s on %(unit)s "
                         "(%(hours)s h).", unit=b.unit_code, process=b.process, hours=_hours_text(b.hours)))
    lines.append(msg("Finished %(finish)s; %(days)s days to the customer: delivery on %(date)s.",
                     finish=_when(p.finish, tz), days=p.transit_days, date=p.promised_date.isoformat()))
    if p.due_date is not None:
        if p.on_time:
            lines.append(msg("On time: due %(due)s, %(days)s days to spare.", due=p.due_date.isoformat(),
                             days=-p.days_late))
        else:
            lines.append(msg("Late: due %(due)s, %(days)s days late.", due=p.due_date.isoformat(), days=p.days_late))
    return lines


def promise_line(line: OrderLine, now: datetime | None = None) -> Promise:
    product = db.session.get(Product, line.product_id)
    tonnes = products.tonnes(product, line.quantity, line.quantity_unit)
    return promise(product, tonnes, line=line, due_date=line.due_date, transit_days=line.order.customer.transit_days,
                   now=now)


def promise_quote(product_id, quantity: float, quantity_unit: str = "t", *, customer_id=None, due_date=None,
                  now: datetime | None = None) -> Promise:
    """A what-if: a line not yet on order, behind all committed work."""
    errors: dict[str, list] = {}
    product = db.session.scalar(select(Product).where(Product.id == product_id)) if product_id else None
    if product is None:
        errors["product_id"] = ["No such product."]
    if quantity_unit not in ("t", "coils"):
        errors["quantity_unit"] = ["The quantity is in tonnes (t) or coils."]
    transit = 0
    if customer_id is not None:
        customer = db.session.scalar(select(services.Customer).where(services.Customer.id == customer_id))
        if customer is None:
            errors["customer_id"] = ["No such customer."]
        else:
            transit = customer.transit_days
    if not isinstance(quantity, (int, float)) or isinstance(quantity, bool) or not math.isfinite(quantity) \
            or quantity <= 0 or quantity > 100000:
        errors["quantity"] = ["The quantity must be above zero."]
    if errors:
        raise ValidationFailed(errors=errors)
    return promise(product, products.tonnes(product, quantity, quantity_unit), due_date=due_date,
                   transit_days=transit, now=now)
