"""Inventory and logistics: warehouses and locations, heats, lots and coils,
the append-only move ledger, reservations for order lines, shipments, and
the genealogy that links heats, lots and coils through the operations that
made them.

The coil is the unit of stock: it is received, moved, reserved, issued to
production, consumed and shipped whole (its weight can be adjusted or partly
consumed). A lot groups coils (a receipt, a production batch); stock by lot
is the sum of its coils. A coil carries its own measured description (alloy,
temper, gauge, width, weight): a product's nominal values live with the
product, and a coil's actual values differ from them anyway.

Ids of other rooms' objects (`product_id`, `order_line_id`, `unit_id` of an
equipment unit, `work_order_id`) are plain nullable UUID columns: those
tables are made by other migrations; the integration adds the foreign keys.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

# A coil's status. `issued`: handed to production (at a unit), not yet consumed.
AVAILABLE, RESERVED, QUARANTINED, ISSUED, CONSUMED, SHIPPED = (
    "available", "reserved", "quarantined", "issued", "consumed", "shipped")
COIL_STATUSES = (AVAILABLE, RESERVED, QUARANTINED, ISSUED, CONSUMED, SHIPPED)
IN_STOCK = (AVAILABLE, RESERVED, QUARANTINED)

# Kinds of move in the ledger.
MOVE_KINDS = (
    "receipt",      # into stock from outside (a supplier, the caster)
    "issue",        # from stock to production (a unit)
    "return",       # from production back to stock, unconsumed
    "consume",      # weight consumed by production
    "output",       # made by production
    "transfer",     # between locations
    "shipment",     # out to a customer
    "adjustment",   # weight corrected, with a reason
    "quarantine",   # blocked by quality, with a reason
    "release",      # quarantine lifted, with a reason
)

LOCATION_KINDS = ("storage", "staging", "dock", "quarantine", "production")

RESERVATION_STATUSES = ("active", "released", "fulfilled")

SHIPMENT_STATUSES = ("draft", "shipped", "delivered", "cancelled")

NODE_KINDS = ("heat", "lot", "coil")

WEIGHT = Numeric(14, 3, asdecimal=False)   # kg, to the gram
GAUGE = Numeric(10, 4, asdecimal=False)    # mm
WIDTH = Numeric(10, 2, asdecimal=False)    # mm
LENGTH = Numeric(12, 2, asdecimal=False)   # m


class Warehouse(IdMixin, TimestampMixin, TenantScoped, Base):
    """A store at one of the company's sites."""

    __tablename__ = "inv_warehouses"
    __table_args__ = (UniqueConstraint("tenant_id", "code", name="uq_inv_warehouses_code"),)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), nullable=False,
                                               index=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    locations: Mapped[list[Location]] = relationship(back_populates="warehouse", order_by="Location.code")


class Location(IdMixin, TimestampMixin, TenantScoped, Base):
    """A place in a warehouse (a bay, a rack position, the dispatch dock).
    Capacities are optional; when set, receipts and transfers respect them."""

    __tablename__ = "inv_locations"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "code", name="uq_inv_locations_code"),
        CheckConstraint("capacity_coils IS NULL OR capacity_coils >= 0", name="capacity_coils"),
        CheckConstraint("capacity_kg IS NULL OR capacity_kg >= 0", name="capacity_kg"),
    )
    warehouse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inv_warehouses.id", ondelete="RESTRICT"),
                                                    nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str | None] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="storage")
    capacity_coils: Mapped[int | None] = mapped_column(Integer)
    capacity_kg: Mapped[float | None] = mapped_column(WEIGHT)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    warehouse: Mapped[Warehouse] = relationship(back_populates="locations", lazy="joined")

    @property
    def label(self) -> str:
        return f"{self.warehouse.code}/{self.code}"


class Heat(IdMixin, TimestampMixin, TenantScoped, Base):
    """One cast: its number, alloy, chemistry (element -> mass %) and weight."""

    __tablename__ = "inv_heats"
    __table_args__ = (UniqueConstraint("tenant_id", "heat_no", name="uq_inv_heats_heat_no"),
                      CheckConstraint("weight_kg IS NULL OR weight_kg >= 0", name="weight"))
    heat_no: Mapped[str] = mapped_column(String(60), nullable=False)
    alloy: Mapped[str] = mapped_column(String(20), nullable=False)
    chemistry: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    cast_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    weight_kg: Mapped[float | None] = mapped_column(WEIGHT)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    # The caster (an equipment unit); the integration adds the foreign key.
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    supplier: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)


class Lot(IdMixin, TimestampMixin, TenantScoped, Base):
    """A group of coils (a receipt, a production batch) with its nominal description."""

    __tablename__ = "inv_lots"
    __table_args__ = (UniqueConstraint("tenant_id", "lot_no", name="uq_inv_lots_lot_no"),)
    lot_no: Mapped[str] = mapped_column(String(60), nullable=False)
    heat_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_heats.id", ondelete="RESTRICT"), index=True)
    alloy: Mapped[str | None] = mapped_column(String(20))
    temper: Mapped[str | None] = mapped_column(String(20))
    gauge_mm: Mapped[float | None] = mapped_column(GAUGE)
    width_mm: Mapped[float | None] = mapped_column(WIDTH)
    # Products and order lines live in other rooms; the integration adds the foreign keys.
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    notes: Mapped[str | None] = mapped_column(Text)

    heat: Mapped[Heat | None] = relationship(lazy="joined")


class Shipment(IdMixin, TimestampMixin, TenantScoped, Base):
    """Coils going to a customer: drafted, confirmed (the coils leave stock),
    then delivered."""

    __tablename__ = "inv_shipments"
    __table_args__ = (UniqueConstraint("tenant_id", "shipment_no", name="uq_inv_shipments_shipment_no"),)
    shipment_no: Mapped[str] = mapped_column(String(40), nullable=False)
    customer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    customer_ref: Mapped[str | None] = mapped_column(String(120))  # the customer's PO number
    # The order in the orders room; the integration adds the foreign key.
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    warehouse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_warehouses.id", ondelete="RESTRICT"))
    ship_to: Mapped[str | None] = mapped_column(Text)
    carrier: Mapped[str | None] = mapped_column(String(120))
    vehicle_no: Mapped[str | None] = mapped_column(String(40))
    planned_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft", index=True)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    received_by: Mapped[str | None] = mapped_column(String(200))
    delivery_note: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    items: Mapped[list[ShipmentItem]] = relationship(back_populates="shipment", cascade="all, delete-orphan",
                                                       passive_deletes=True, order_by="ShipmentItem.added_at",
                                                       lazy="selectin")
    warehouse: Mapped[Warehouse | None] = relationship(lazy="joined")


class Coil(IdMixin, TimestampMixin, TenantScoped, Base):
    """The unit of stock, with its measured description."""

    __tablename__ = "inv_coils"
    __table_args__ = (
        UniqueConstraint("tenant_id", "coil_no", name="uq_inv_coils_coil_no"),
        CheckConstraint("weight_kg >= 0", name="weight_not_negative"),
        CheckConstraint("gauge_mm > 0", name="gauge_positive"),
        CheckConstraint("width_mm > 0", name="width_positive"),
        CheckConstraint("status IN ('available', 'reserved', 'quarantined', 'issued', 'consumed', 'shipped')",
                        name="status"),
        # Stock sits somewhere; production and customers hold no location of ours.
        CheckConstraint("status NOT IN ('available', 'reserved', 'quarantined') OR location_id IS NOT NULL",
                        name="stock_has_location"),
        Index("ix_inv_coils_fifo", "tenant_id", "status", "alloy", "fifo_at"),
    )
    coil_no: Mapped[str] = mapped_column(String(60), nullable=False)
    lot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_lots.id", ondelete="RESTRICT"), index=True)
    heat_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_heats.id", ondelete="RESTRICT"), index=True)
    alloy: Mapped[str] = mapped_column(String(20), nullable=False)
    temper: Mapped[str | None] = mapped_column(String(20))
    gauge_mm: Mapped[float] = mapped_column(GAUGE, nullable=False)
    width_mm: Mapped[float] = mapped_column(WIDTH, nullable=False)
    weight_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    initial_weight_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    length_m: Mapped[float | None] = mapped_column(LENGTH)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=AVAILABLE, index=True)
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_locations.id", ondelete="RESTRICT"),
                                                          index=True)
    # The draft or confirmed shipment the coil is on.
    shipment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_shipments.id", ondelete="SET NULL"),
                                                          index=True)
    # Other rooms' objects; the integration adds the foreign keys.
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)  # produced for
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)  # produced by
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # issued to (while `issued`)
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default="receipt")  # receipt | production
    # First in, first out: when the coil came into stock (received or produced).
    fifo_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)

    location: Mapped[Location | None] = relationship(lazy="joined")
    lot: Mapped[Lot | None] = relationship(lazy="joined")
    heat: Mapped[Heat | None] = relationship(lazy="joined")
    shipment: Mapped[Shipment | None] = relationship()


class ShipmentItem(IdMixin, TenantScoped, Base):
    """A coil on a shipment. A coil is on at most one shipment (unique)."""

    __tablename__ = "inv_shipment_items"
    __table_args__ = (UniqueConstraint("coil_id"),)
    shipment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inv_shipments.id", ondelete="CASCADE"),
                                                   nullable=False, index=True)
    coil_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inv_coils.id", ondelete="RESTRICT"), nullable=False)
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    weight_kg: Mapped[float | None] = mapped_column(WEIGHT)  # as shipped (set on confirmation)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                               server_default=func.now())
    added_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    shipment: Mapped[Shipment] = relationship(back_populates="items")
    coil: Mapped[Coil] = relationship(lazy="joined")


class Reservation(IdMixin, TimestampMixin, TenantScoped, Base):
    """A coil held for an order line. At most one active reservation per coil
    (a partial unique index, beside the row lock the service takes)."""

    __tablename__ = "inv_reservations"
    __table_args__ = (
        Index("uq_inv_reservations_active_coil", "coil_id", unique=True, postgresql_where=text("status = 'active'")),
        CheckConstraint("status IN ('active', 'released', 'fulfilled')", name="status"),
    )
    coil_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inv_coils.id", ondelete="RESTRICT"), nullable=False,
                                               index=True)
    order_line_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    reserved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)

    coil: Mapped[Coil] = relationship(lazy="joined")


class ProductionEvent(IdMixin, TenantScoped, Base):
    """One reported production step: what went in (coils or a heat, with the
    weight consumed), what came out, and the scrap. Append-only."""

    __tablename__ = "inv_production_events"
    operation: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now(), index=True)
    input_weight_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    output_weight_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    scrap_weight_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False, default=0)
    # [{kind, id, no, weight_kg}] in, [{id, no, weight_kg}] out: the record as reported.
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)


class Scrap(IdMixin, TenantScoped, Base):
    """Scrap of a production step, with its reason. Append-only."""

    __tablename__ = "inv_scrap"
    __table_args__ = (CheckConstraint("weight_kg > 0", name="weight_positive"),)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inv_production_events.id", ondelete="RESTRICT"),
                                                nullable=False, index=True)
    weight_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class GenealogyLink(IdMixin, TenantScoped, Base):
    """Parent -> child between heats, lots and coils, with the operation,
    unit and time that made the child. Append-only; never forms a cycle (the
    service checks under a per-company lock)."""

    __tablename__ = "inv_genealogy_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "parent_kind", "parent_id", "child_kind", "child_id",
                         name="uq_inv_genealogy_links_edge"),
        CheckConstraint("parent_id <> child_id", name="not_self"),
        CheckConstraint("parent_kind IN ('heat', 'lot', 'coil') AND child_kind IN ('heat', 'lot', 'coil')",
                        name="kinds"),
        Index("ix_inv_genealogy_links_child", "tenant_id", "child_kind", "child_id"),
        Index("ix_inv_genealogy_links_parent", "tenant_id", "parent_kind", "parent_id"),
    )
    parent_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    parent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    child_kind: Mapped[str] = mapped_column(String(10), nullable=False)
    child_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    operation: Mapped[str] = mapped_column(String(60), nullable=False)
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_production_events.id", ondelete="RESTRICT"),
                                                       index=True)
    # The parent's weight that went into the child, when known.
    weight_kg: Mapped[float | None] = mapped_column(WEIGHT)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)


class Move(IdMixin, TenantScoped, Base):
    """The stock ledger: one row per thing that happened to a coil, with who,
    when and why. Append-only (the application role may not update or delete)."""

    __tablename__ = "inv_moves"
    __table_args__ = (
        CheckConstraint("weight_after_kg >= 0", name="weight_not_negative"),
        Index("ix_inv_moves_coil_at", "coil_id", "at"),
    )
    # The ledger's own order: moves recorded in one step at one time keep the order they happened in.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    coil_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inv_coils.id", ondelete="RESTRICT"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now(), index=True)
    from_location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_locations.id", ondelete="RESTRICT"))
    to_location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_locations.id", ondelete="RESTRICT"))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    weight_before_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    weight_after_kg: Mapped[float] = mapped_column(WEIGHT, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    shipment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_shipments.id", ondelete="RESTRICT"))
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inv_production_events.id", ondelete="RESTRICT"))
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    unit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    coil: Mapped[Coil] = relationship(lazy="joined")
    from_location: Mapped[Location | None] = relationship(foreign_keys=[from_location_id], lazy="joined")
    to_location: Mapped[Location | None] = relationship(foreign_keys=[to_location_id], lazy="joined")

    @property
    def weight_delta_kg(self) -> float:
        return round((self.weight_after_kg or 0) - (self.weight_before_kg or 0), 3)
