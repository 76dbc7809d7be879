"""Usage metering, done by the platform itself: what a company has (sites,
active users, agents, tags), what it stored (telemetry points per day,
storage), the expert-service time it used, and the daily record of all.

The billing room sits below the tenant modules and never imports them.
Tables of rooms above are counted by name (like the audit log names the
people table), and a room that knows better registers a counter:

    usage.register_counter("telemetry_points", lambda tenant_id, day: ...)

Storage is the sum of what every storing room reports in bytes for a
company: the telemetry room registers its points and rollups, a file store
registers its files the same way:

    usage.register_storage("files", lambda tenant_id: total_bytes_of(tenant_id))

Metered services that are not counted from stored data (an expert's time)
are recorded as they happen, once per reference, by the room that knows:

    usage.record_expert_hours(tenant_id, 1.5, ref=f"remote-session-{session.id}")
"""
from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Callable

from sqlalchemy import column, func, inspect, select, table
from sqlalchemy.dialects.postgresql import UUID, insert

from .. import tenancy
from ..db import db, utcnow
from ..errors import Conflict, ValidationFailed
from ..identity.models import Membership, Site
from .models import UsageDay, UsageEvent

log = logging.getLogger(__name__)

# metric -> fn(tenant_id, day) -> int. Gauges ignore the day.
Counter = Callable[[uuid.UUID, date], int]
COUNTERS: dict[str, Counter] = {}

# source -> fn(tenant_id) -> bytes the company stores there now.
StorageSource = Callable[[uuid.UUID], int]
STORAGE_SOURCES: dict[str, StorageSource] = {}

# Metrics shown to the tenant admin, in this order. storage_bytes is shown
# against the plan's storage_gb (GB of 10^9 bytes).
METRICS = ("sites", "users", "agents", "tags", "telemetry_points", "expert_minutes", "storage_bytes")
GB = 10**9


def register_counter(metric: str, fn: Counter) -> Counter:
    COUNTERS[metric] = fn
    return fn


def register_storage(source: str, fn: StorageSource) -> StorageSource:
    """A room that stores a company's data says how many bytes it holds
    (called in the company's own scope, like the counters)."""
    STORAGE_SOURCES[source] = fn
    return fn


def _count_rows(table_name: str, tenant_id, where=None) -> int:
    """Rows of a table of another room, by name; 0 while the room is absent."""
    if not inspect(db.session.connection()).has_table(table_name):
        return 0
    t = table(table_name, column("tenant_id", UUID(as_uuid=True)), column("status"))
    stmt = select(func.count()).select_from(t).where(t.c.tenant_id == tenant_id)
    if where is not None:
        stmt = stmt.where(where(t))
    return db.session.scalar(stmt) or 0


def _sites(tenant_id, day) -> int:  # noqa: ARG001 - a gauge
    return db.session.scalar(select(func.count()).select_from(Site).where(Site.tenant_id == tenant_id)
                             .execution_options(skip_tenant_filter=True)) or 0


def _users(tenant_id, day) -> int:  # noqa: ARG001
    return db.session.scalar(
        select(func.count()).select_from(Membership)
        .where(Membership.tenant_id == tenant_id, Membership.status == "active")
        .execution_options(skip_tenant_filter=True)) or 0


def _agents(tenant_id, day) -> int:  # noqa: ARG001
    # A revoked agent no longer counts against the plan.
    return _count_rows("agents", tenant_id, lambda t: t.c.status != "revoked")


def _tags(tenant_id, day) -> int:  # noqa: ARG001
    return _count_rows("agent_tags", tenant_id)


def _expert_minutes(tenant_id, day) -> int:
    """Minutes of expert service recorded on `day` (UTC)."""
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return db.session.scalar(
        select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
            UsageEvent.tenant_id == tenant_id, UsageEvent.metric == "expert_minutes",
            UsageEvent.recorded_at >= start, UsageEvent.recorded_at < start + timedelta(days=1))
        .execution_options(skip_tenant_filter=True)) or 0


def storage_breakdown(tenant_id) -> dict[str, int]:
    """Bytes per storing room (telemetry, files …) for the company. A source
    that cannot answer (the file store is down) is left out and logged: the
    pages still show, and a limit check counts what it can."""
    found = {}
    with _as_tenant(tenant_id):
        for source, fn in sorted(STORAGE_SOURCES.items()):
            try:
                found[source] = int(fn(tenant_id))
            except Exception:  # noqa: BLE001 - one store's failure must not hide the others
                log.exception("could not count the %s storage of %s", source, tenant_id)
    return found


def _storage_bytes(tenant_id, day) -> int:  # noqa: ARG001 - a gauge
    return sum(storage_breakdown(tenant_id).values())


# telemetry_points is registered by the telemetry room (it keeps the counts).
for _metric, _fn in (("sites", _sites), ("users", _users), ("agents", _agents), ("tags", _tags),
                     ("expert_minutes", _expert_minutes), ("storage_bytes", _storage_bytes)):
    register_counter(_metric, _fn)


def record_expert_hours(tenant_id, hours, ref: str, *, occurred_at: datetime | None = None) -> UsageEvent:
    """Record `hours` of expert service used by the company, once per `ref`
    (the session, visit or ticket it was for): calling again with the same
    ref and hours returns the first record and counts nothing more; the same
    ref with other hours is a Conflict (a correction needs its own ref).
    Stored in whole minutes, rounded to the nearest; billed by the usage
    jobs on the day it is recorded. Part of the caller's transaction: it
    counts once the caller commits. Works from any scope: the record
    belongs to `tenant_id`, the company that used the service."""
    errors = {}
    try:
        amount = Decimal(str(hours))
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    minutes = int((amount * 60).to_integral_value(rounding=ROUND_HALF_UP)) if amount.is_finite() else 0
    if minutes <= 0:
        errors["hours"] = ["A number of hours above zero (whole minutes are counted)."]
    ref = str(ref or "").strip()
    if not ref or len(ref) > 200:
        errors["ref"] = ["A reference of 1 to 200 characters."]
    if errors:
        raise ValidationFailed(errors=errors)
    tenant_id = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    with _as_tenant(tenant_id):
        stmt = insert(UsageEvent.__table__).values(
            id=uuid.uuid4(), tenant_id=tenant_id, metric="expert_minutes", quantity=minutes, ref=ref,
            occurred_at=occurred_at, recorded_at=utcnow())
        db.session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "metric", "ref"]))
        event = db.session.scalar(select(UsageEvent).where(
            UsageEvent.tenant_id == tenant_id, UsageEvent.metric == "expert_minutes", UsageEvent.ref == ref)
            .execution_options(skip_tenant_filter=True))
    if event.quantity != minutes:
        raise Conflict(f"Expert time for {ref} was recorded already as {event.quantity} minutes",
                       recorded_minutes=event.quantity)
    return event


def _as_tenant(tenant_id):
    """Counting happens in the company's own scope, whatever the caller's (a
    job or the operator runs in the system scope, which most rooms' RLS
    policies do not admit): the counts see exactly what the company sees."""
    scope = tenancy.current()
    if scope.tenant_id == tenant_id and not scope.system:
        return contextlib.nullcontext()
    return tenancy.scoped(tenant_id, scope.user_id, session=db.session)


def count(tenant_id, metric: str, day: date | None = None) -> int:
    """The current value of one metric."""
    fn = COUNTERS.get(metric)
    if fn is None:
        return 0
    with _as_tenant(tenant_id):
        return int(fn(tenant_id, day or utcnow().date()))


def snapshot(tenant_id, day: date | None = None) -> dict[str, int]:
    with _as_tenant(tenant_id):
        return {metric: count(tenant_id, metric, day) for metric in METRICS}


def record_day(tenant_id, day: date) -> dict[str, int]:
    """Store the day's values (again: a later run of the same day overwrites,
    except a value already reported to Stripe, which stays as reported)."""
    values = snapshot(tenant_id, day)
    for metric, value in values.items():
        stmt = insert(UsageDay.__table__).values(
            id=uuid.uuid4(), tenant_id=tenant_id, day=day, metric=metric, value=value, recorded_at=utcnow())
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "day", "metric"],
            set_={"value": stmt.excluded.value, "recorded_at": stmt.excluded.recorded_at},
            where=UsageDay.__table__.c.reported_at.is_(None),
        ))
    return values


def history(tenant_id, days: int = 30) -> list[UsageDay]:
    return list(db.session.scalars(
        select(UsageDay).where(UsageDay.tenant_id == tenant_id).order_by(UsageDay.day.desc(), UsageDay.metric)
        .limit(days * len(METRICS))))


def record_all(day: date) -> int:
    """The usage job: every company's values for `day`, in the system scope."""
    from ..identity.models import Tenant

    with tenancy.system_context(db.session):
        tenant_ids = list(db.session.scalars(select(Tenant.id).where(Tenant.status != "deleted")))
        for tenant_id in tenant_ids:
            record_day(tenant_id, day)
        db.session.commit()
    return len(tenant_ids)
