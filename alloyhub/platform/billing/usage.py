"""Usage metering, done by the platform itself: what a company has (sites,
active users, agents, tags), what it stored (telemetry points per day,
storage) and the daily record of both.

The billing room sits below the tenant modules and never imports them.
Tables of rooms above are counted by name (like the audit log names the
people table), and a room that knows better registers a counter:

    usage.register_counter("telemetry_points", lambda tenant_id, day: ...)
"""
from __future__ import annotations

import contextlib
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable

from sqlalchemy import BigInteger, DateTime, column, func, inspect, select, table
from sqlalchemy.dialects.postgresql import UUID, insert

from .. import tenancy
from ..db import db, utcnow
from ..identity.models import Membership, Site
from .models import UsageDay

# metric -> fn(tenant_id, day) -> int. Gauges ignore the day.
Counter = Callable[[uuid.UUID, date], int]
COUNTERS: dict[str, Counter] = {}

# Metrics shown to the tenant admin, in this order.
METRICS = ("sites", "users", "agents", "tags", "telemetry_points", "storage_gb")


def register_counter(metric: str, fn: Counter) -> Counter:
    COUNTERS[metric] = fn
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


def _telemetry_points(tenant_id, day) -> int:
    """Points stored on `day` (UTC), from the telemetry room's hourly rollups:
    the raw table is far too large to count, the rollups hold the counts."""
    if not inspect(db.session.connection()).has_table("telemetry_rollup_hour"):
        return 0
    t = table("telemetry_rollup_hour", column("tenant_id", UUID(as_uuid=True)),
              column("bucket", DateTime(timezone=True)), column("n", BigInteger))
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return db.session.scalar(
        select(func.coalesce(func.sum(t.c.n), 0)).where(
            t.c.tenant_id == tenant_id, t.c.bucket >= start, t.c.bucket < start + timedelta(days=1))) or 0


for _metric, _fn in (("sites", _sites), ("users", _users), ("agents", _agents), ("tags", _tags),
                     ("telemetry_points", _telemetry_points)):
    register_counter(_metric, _fn)


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
