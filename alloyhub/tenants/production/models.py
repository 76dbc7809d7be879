"""Work orders and their pauses.

A work order is one operation of an order line's routing (its `step`, a
zero-based index into the product's operations) planned on one unit by a
published schedule version. It is released when published, started,
paused and resumed on the shop floor, finished; or cancelled when a later
publication no longer has it. Output reported against it goes through the
inventory room (coils, genealogy, yield); the work order keeps the totals.

`schedule_id` is a plain UUID: the schedule versions' table belongs to the
scheduling room and comes in a later migration.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

RELEASED, STARTED, PAUSED, FINISHED, CANCELLED = "released", "started", "paused", "finished", "cancelled"
STATUSES = (RELEASED, STARTED, PAUSED, FINISHED, CANCELLED)
LIVE = (RELEASED, STARTED, PAUSED, FINISHED)
# On the shop floor: what a unit still has to do or is doing.
QUEUED = (RELEASED, STARTED, PAUSED)
# Begun at some point: never cancelled by a new publication.
BEGUN = (STARTED, PAUSED, FINISHED)

# Why a unit stopped; "other" needs words of its own.
PAUSE_REASONS = ("material_wait", "breakdown", "setup", "quality_check", "shift_change", "crane_wait",
                 "tooling", "other")

WEIGHT = Numeric(14, 3, asdecimal=False)  # kg, to the gram


class WorkOrder(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "production_work_orders"
    __table_args__ = (
        Index("uq_production_work_orders_number", "tenant_id", "number", unique=True),
        # One live work order per operation of a line.
        Index("uq_production_work_orders_line_step", "order_line_id", "step", unique=True,
              postgresql_where=text("status <> 'cancelled'")),
        # A unit runs one work order at a time.
        Index("uq_production_work_orders_unit_started", "unit_id", unique=True,
              postgresql_where=text("status = 'started'")),
        Index("ix_production_work_orders_unit_planned", "unit_id", "planned_start"),
        CheckConstraint("status IN ('released', 'started', 'paused', 'finished', 'cancelled')", name="status"),
        CheckConstraint("step >= 0", name="step"),
        CheckConstraint("planned_end >= planned_start", name="planned_order"),
        CheckConstraint("planned_input_kg >= 0 AND planned_output_kg >= 0", name="planned_kg"),
        CheckConstraint("input_kg >= 0 AND output_kg >= 0 AND scrap_kg >= 0", name="actual_kg"),
    )
    number: Mapped[str] = mapped_column(String(30), nullable=False)
    schedule_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    order_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_lines.id", ondelete="RESTRICT"),
                                                     nullable=False, index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), nullable=False,
                                                  index=True)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    operation: Mapped[str] = mapped_column(String(60), nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_units.id", ondelete="RESTRICT"),
                                               nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=RELEASED, index=True)
    planned_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    planned_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    planned_input_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False, default=0)
    planned_output_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False, default=0)
    # A furnace load shared by several work orders.
    batch_key: Mapped[str | None] = mapped_column(String(80))
    actual_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actual_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Totals of the output reported (each report is an inventory production step).
    input_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False, default=0)
    output_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False, default=0)
    scrap_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False, default=0)
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    finished_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    pauses: Mapped[list[WorkOrderPause]] = relationship(back_populates="work_order", order_by="WorkOrderPause.paused_at",
                                                        lazy="selectin")


class WorkOrderPause(IdMixin, TenantScoped, Base):
    """One stop of a work order: why, from when, until when (None: still paused)."""

    __tablename__ = "production_pauses"
    __table_args__ = (
        Index("uq_production_pauses_open", "work_order_id", unique=True, postgresql_where=text("resumed_at IS NULL")),
        CheckConstraint("resumed_at IS NULL OR resumed_at >= paused_at", name="order"),
    )
    work_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("production_work_orders.id", ondelete="CASCADE"),
                                                     nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(30), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resumed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    work_order: Mapped[WorkOrder] = relationship(back_populates="pauses")
