"""A company's subscription, its daily usage, and the Stripe events seen."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TimestampMixin
from ..tenancy import TenantScoped

# trialing / active: full access; past_due: full access during the grace
# period, with a banner; read_only: reads and exports only; canceled: as read_only.
STATUSES = ("trialing", "active", "past_due", "read_only", "canceled")
WRITABLE_STATUSES = ("trialing", "active", "past_due")


class Subscription(IdMixin, TimestampMixin, TenantScoped, Base):
    """One per company. Read by Stripe webhooks before the tenant is known
    (system context), so its RLS policy also admits the system scope."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    plan_key: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="trialing")
    trial_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grace_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Who set the plan last: "signup", "operator", "stripe".
    source: Mapped[str] = mapped_column(String(20), nullable=False, default="signup")
    # The plan Stripe's subscription is for, as last seen (may differ from
    # plan_key while the operator pins another plan).
    stripe_plan_key: Mapped[str | None] = mapped_column(String(40))
    # An operator override pins the plan: Stripe events still move the payment
    # status, never the plan, until the operator clears the pin.
    plan_pinned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan_pinned_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    plan_pin_reason: Mapped[str | None] = mapped_column(String(500))

    @property
    def plan_pinned(self) -> bool:
        return self.plan_pinned_at is not None


class UsageDay(IdMixin, TenantScoped, Base):
    """One metric of one company on one day (UTC): a gauge (users, agents,
    sites, storage) or the day's total (telemetry points)."""

    __tablename__ = "billing_usage_days"
    __table_args__ = (UniqueConstraint("tenant_id", "day", "metric"),)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    metric: Mapped[str] = mapped_column(String(40), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                  nullable=False)
    # Set once the value went to Stripe (metered metrics only).
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageEvent(IdMixin, TenantScoped, Base):
    """One recorded use of a metered service that is not counted from stored
    data (expert-service time), once per (company, metric, ref): recording
    the same ref again changes nothing. The day's metric is the sum of the
    quantities recorded that day (UTC), so a late recording is still billed."""

    __tablename__ = "billing_usage_events"
    __table_args__ = (UniqueConstraint("tenant_id", "metric", "ref"),)
    metric: Mapped[str] = mapped_column(String(40), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ref: Mapped[str] = mapped_column(String(200), nullable=False)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                  nullable=False)


class StripeEvent(Base):
    """Each Stripe event id, stored once: a replayed delivery finds its row
    and does nothing. The platform's own record, not a company's."""

    __tablename__ = "billing_stripe_events"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(120), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                  nullable=False)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
