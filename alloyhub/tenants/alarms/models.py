"""Alarm rules (configuration), alarms (the ISA-18.2 state of each rule),
alarm history (every transition, with who and when) and maintenance windows
(which suppress an agent's alarms).

One `Alarm` row per rule holds the rule's live state; history rows record
each occurrence. Rules and state are separate tables so that a state change
does not change a rule's ETag while someone edits it.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

RULE_KINDS = ("high", "low", "rate", "stale", "offline")
# Kinds evaluated on incoming points, and kinds evaluated by the periodic check.
POINT_KINDS = ("high", "low", "rate")
CLOCK_KINDS = ("stale", "offline")
PRIORITIES = ("critical", "high", "medium", "low")

# ISA-18.2 states (the standard's A-F, without out-of-service).
NORMAL = "normal"
ACTIVE_UNACKED = "active_unacked"
ACTIVE_ACKED = "active_acked"
RETURNED_UNACKED = "returned_unacked"
SHELVED = "shelved"
SUPPRESSED = "suppressed"
STATES = (NORMAL, ACTIVE_UNACKED, ACTIVE_ACKED, RETURNED_UNACKED, SHELVED, SUPPRESSED)


class AlarmRule(IdMixin, TimestampMixin, TenantScoped, Base):
    """What to watch on one tag of one agent (or on the agent itself, for
    `offline`), and how urgent it is."""

    __tablename__ = "alarm_rules"
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False,
                                                index=True)
    tag: Mapped[str | None] = mapped_column(String(200))  # None for `offline`
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    priority: Mapped[str] = mapped_column(String(20), nullable=False, default="medium")
    # high/low: the limit; rate: the largest allowed change per minute (absolute).
    limit: Mapped[float | None] = mapped_column(Float)
    # How far the value must come back inside the limit before the alarm returns.
    deadband: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    # How long (by point timestamps) the condition must hold before the alarm is raised.
    on_delay_s: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # stale: no point for this long; offline: agent not seen for this long.
    timeout_s: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    description: Mapped[str | None] = mapped_column(Text)

    alarm: Mapped["Alarm"] = relationship(back_populates="rule", uselist=False, lazy="joined",
                                          cascade="all, delete-orphan", passive_deletes=True)


class Alarm(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "alarms"
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alarm_rules.id", ondelete="CASCADE"), nullable=False,
                                               unique=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False,
                                                index=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=NORMAL, index=True)
    # The process condition (after deadband and on-delay), tracked even while
    # shelved or suppressed so that unshelving knows whether to re-announce.
    condition: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Evaluation bookkeeping, all in point time (see services.evaluate_points).
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_value: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)  # the value that raised it
    raised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shelved_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shelved_reason: Mapped[str | None] = mapped_column(Text)
    shelved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    rule: Mapped[AlarmRule] = relationship(back_populates="alarm", lazy="joined")


class AlarmEvent(IdMixin, TenantScoped, Base):
    """Alarm history: append-only, one row per transition."""

    __tablename__ = "alarm_events"
    alarm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False,
                                                index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now(),
                                         nullable=False, index=True)
    # The point time behind the transition (None for a person's action).
    ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(20), nullable=False)
    from_state: Mapped[str] = mapped_column(String(20), nullable=False)
    to_state: Mapped[str] = mapped_column(String(20), nullable=False)
    value: Mapped[float | None] = mapped_column(Float)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)


class MaintenanceWindow(IdMixin, TimestampMixin, TenantScoped, Base):
    """An agent's equipment is in maintenance from `starts_at` until
    `ends_at` (open-ended when None): its alarms are suppressed meanwhile.
    Kept here, small, until the equipment registry takes it over."""

    __tablename__ = "alarm_maintenance_windows"
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False,
                                                index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
