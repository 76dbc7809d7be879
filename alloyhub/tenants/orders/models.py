"""Customers, customer orders, order lines and the order history.

An order's lines each have a lifecycle of their own (one line may be in
production while another is already in stock); the order's status is the
least advanced status of its live lines (see services.derive_status), so
the order is "shipped" when its last live line is. Every change is a row
of `order_history`: who, when, what changed.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

DRAFT, CONFIRMED, PLANNED, IN_PRODUCTION = "draft", "confirmed", "planned", "in_production"
FINISHED, IN_STOCK, SHIPPED, DELIVERED, CANCELLED = "finished", "in_stock", "shipped", "delivered", "cancelled"
# The lifecycle in order; cancelled is off the path.
FLOW = (DRAFT, CONFIRMED, PLANNED, IN_PRODUCTION, FINISHED, IN_STOCK, SHIPPED, DELIVERED)
STATUSES = (*FLOW, CANCELLED)
QUANTITY_UNITS = ("t", "coils")
# 1 = low … 4 = urgent; the scheduler weighs tardiness by it.
PRIORITIES = (1, 2, 3, 4)


class Customer(IdMixin, TimestampMixin, TenantScoped, Base):
    """A customer of the plant (the customer portal links its company here later)."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    contact_name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)
    # Days from the plant's gate to the customer (the promised date adds them).
    transit_days: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    notes: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class Order(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "customer_orders"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)
    number: Mapped[str] = mapped_column(String(40), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), nullable=False, index=True)
    customer_po: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DRAFT, index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Part of the signed tracking link; replacing it revokes links handed out.
    tracking_nonce: Mapped[str] = mapped_column(String(40), nullable=False)

    customer: Mapped[Customer] = relationship(lazy="joined")
    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True,
        order_by="OrderLine.line_no")


class OrderLine(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer_orders.id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), nullable=False, index=True)
    quantity: Mapped[float] = mapped_column(Float, nullable=False)
    quantity_unit: Mapped[str] = mapped_column(String(10), nullable=False, default="t")
    due_date: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DRAFT, index=True)
    notes: Mapped[str | None] = mapped_column(Text)

    order: Mapped[Order] = relationship(back_populates="lines")


class HistoryEntry(IdMixin, TenantScoped, Base):
    """Append-only: one row per change of an order or one of its lines."""

    __tablename__ = "order_history"
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer_orders.id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("order_lines.id", ondelete="SET NULL"))
    line_no: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now(),
                                         nullable=False, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # created | changed | line_added | line_changed | line_removed | status | imported
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    # field -> [old, new]
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
