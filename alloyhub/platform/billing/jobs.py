"""Billing's periodic jobs (thin: they call services). The worker runs them
through `jobs.every`; each is safe to run twice or on two workers at once."""
from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from .. import tenancy
from ..db import db, utcnow
from ..jobs import every
from . import plans, services, stripe_client, usage
from .models import Subscription, UsageDay

log = logging.getLogger(__name__)


@every(600)
def enforce_deadlines() -> int:
    """Lapsed trials and grace periods become read-only."""
    return services.enforce_deadlines()


@every(3600)
def record_usage() -> int:
    """Today's usage of every company (overwritten until the day is over)."""
    return usage.record_all(utcnow().date())


# A day is reported once it has been over this long: time for the last
# transactions that began before midnight (an ingest lot, an expert's
# session) to commit and be counted on it.
SETTLE = timedelta(hours=1)


@every(3600)
def report_usage() -> int:
    """Metered usage of finished days to Stripe, once per company, metric and day."""
    if not services.stripe_enabled():
        return 0
    return report_days(before=(utcnow() - SETTLE).date())


def report_days(*, before) -> int:
    """Report every unreported metered value (telemetry points, expert
    minutes) of days before `before`. The meter event identifier (company +
    metric + day) is also the idempotency key, so a crash between Stripe's
    answer and our commit cannot count twice; a reported day is marked and
    never sent again. Values are counted by the day they were stored or
    recorded, so a late backlog lands on a day not yet reported."""
    reported = 0
    with tenancy.system_context(db.session):
        rows = db.session.execute(
            select(UsageDay, Subscription)
            .join(Subscription, Subscription.tenant_id == UsageDay.tenant_id)
            .where(UsageDay.reported_at.is_(None), UsageDay.day < before,
                   UsageDay.metric.in_(list(plans.METER_EVENTS)),
                   Subscription.stripe_customer_id.is_not(None))
            .with_for_update(of=UsageDay, skip_locked=True)).all()
        for day_row, sub in rows:
            plan = plans.get(sub.plan_key)
            if plan is None or day_row.metric not in plan.metered:
                continue
            # Counted afresh: the day is over now, the last hourly record may not have seen its end.
            day_row.value = max(day_row.value, usage.count(sub.tenant_id, day_row.metric, day_row.day))
            if day_row.value > 0:
                stamp = datetime.combine(day_row.day, time(12), tzinfo=timezone.utc)
                stripe_client.report_meter_event(
                    event_name=plans.METER_EVENTS[day_row.metric], customer=sub.stripe_customer_id,
                    value=day_row.value, timestamp=int(stamp.timestamp()),
                    identifier=f"usage-{sub.tenant_id}-{day_row.metric}-{day_row.day.isoformat()}")
            day_row.reported_at = utcnow()
            reported += 1
            db.session.commit()  # one by one: what went to Stripe is marked at once
    return reported
