"""Schedule versions, their scheduled operations and unit disruptions.

A version is one run of the solver over the plant's committed order lines:
the planner's objective and time limit, the locks and extra down windows it
was asked to respect (`inputs`), the solver's progress while it runs and its
KPIs and explanation when it is done. Its operations are the placements:
order line, routing step, unit, start and end. One version at a time is
published (production made work orders from it); publishing another
supersedes it.

A disruption is a unit going down (an alarm on one of its tags, or the
planner marking it down for a window): the published version's operations
on the unit inside the window are affected until a re-schedule replaces it.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin
from alloyhub.platform.tenancy import TenantScoped

DRAFT, SOLVING, SOLVED, FAILED, PUBLISHED, SUPERSEDED = (
    "draft", "solving", "solved", "failed", "published", "superseded")
STATUSES = (DRAFT, SOLVING, SOLVED, FAILED, PUBLISHED, SUPERSEDED)
OBJECTIVES = ("weighted_tardiness", "makespan", "total_setup", "mix")
DISRUPTION_STATUSES = ("open", "rescheduled", "dismissed")
DISRUPTION_SOURCES = ("alarm", "planner")


class ScheduleVersion(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "sched_versions"
    __table_args__ = (
        Index("uq_sched_versions_number", "tenant_id", "number", unique=True),
        # At most one published version per company.
        Index("uq_sched_versions_published", "tenant_id", unique=True, postgresql_where=text("status = 'published'")),
        CheckConstraint("time_limit_s >= 1 AND time_limit_s <= 600", name="time_limit"),
        CheckConstraint("status IN ('draft', 'solving', 'solved', 'failed', 'published', 'superseded')",
                        name="status"),
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    objective: Mapped[str] = mapped_column(String(30), nullable=False)
    # objective name -> integer weight (one entry unless the objective is a mix)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    time_limit_s: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DRAFT, index=True)
    # Time zero of the solver's minutes.
    plan_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # What the problem was asked to respect beyond the database: locks
    # [{order_line_id, step, unit_id, start|None}] and down windows
    # [{unit_id, start, end, reason}].
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sched_versions.id", ondelete="SET NULL"))
    kpis: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Structured facts (bottleneck, late lines) rendered in the reader's language.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Solver status, objective, bound, wall time, search statistics.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Best objective, bound and elapsed seconds while solving (and at the end).
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    failure: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    solved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    operations: Mapped[list["ScheduledOperation"]] = relationship(
        back_populates="version", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True,
        order_by="(ScheduledOperation.start, ScheduledOperation.id)")


class ScheduledOperation(IdMixin, TenantScoped, Base):
    __tablename__ = "sched_operations"
    __table_args__ = (
        Index("uq_sched_operations_line_step", "version_id", "order_line_id", "step", unique=True),
        CheckConstraint('"end" >= start', name="order"),
    )
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sched_versions.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    order_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"),
                                                     nullable=False, index=True)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    operation: Mapped[str] = mapped_column(String(60), nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_units.id", ondelete="CASCADE"),
                                               nullable=False, index=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    setup_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    batch_key: Mapped[str | None] = mapped_column(String(80))
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Started or finished on the shop floor when the version was made: kept where it ran.
    frozen: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    input_kg: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    output_kg: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    # Denormalised for the Gantt and the compare page (the line may change later).
    label: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    alloy_family: Mapped[str | None] = mapped_column(String(10))
    # Units that could run it (for the move form).
    eligible: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, default=list)

    version: Mapped[ScheduleVersion] = relationship(back_populates="operations")


class Disruption(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "sched_disruptions"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window"),
        CheckConstraint("status IN ('open', 'rescheduled', 'dismissed')", name="status"),
    )
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_units.id", ondelete="CASCADE"),
                                               nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    alarm_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alarms.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open", index=True)
    # The published version it was found against, and the version that re-scheduled it.
    version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sched_versions.id", ondelete="SET NULL"))
    resolved_by_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sched_versions.id", ondelete="SET NULL"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
