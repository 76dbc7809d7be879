"""Products, routings and set-up rules.

A product is a specification as the plant states it: alloy and temper,
gauge × width, nominal coil weight and tolerances ("3003-H14 0.50 × 1250,
5 t coils"). Its routing is the ordered list of operations the material
passes (cast → hot roll → cold roll passes → anneal → slit → pack); each
operation names its process, the units that may run it, its rate and its
yield. Anneal operations carry the anneal recipe: coils of the same recipe
may share a furnace load.

A set-up rule says how many minutes a change-over costs on a unit (or on
every unit) when consecutive jobs differ: another alloy family, another
temper, a wider or narrower strip, a gauge jump beyond a threshold.
"""
from __future__ import annotations

import uuid

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin
from alloyhub.platform.tenancy import TenantScoped
from alloyhub.tenants.equipment.models import Unit

RATE_UNITS = ("t_per_h", "m_per_min")
SETUP_KINDS = ("alloy_family_change", "alloy_change", "temper_change", "width_up", "width_down", "gauge_jump",
               "product_change")
THRESHOLD_UNITS = ("mm", "pct")


class Product(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    code: Mapped[str] = mapped_column(String(60), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    alloy: Mapped[str] = mapped_column(String(20), nullable=False)
    alloy_family: Mapped[str] = mapped_column(String(10), nullable=False)
    temper: Mapped[str] = mapped_column(String(10), nullable=False)
    gauge_mm: Mapped[float] = mapped_column(Float, nullable=False)
    width_mm: Mapped[float] = mapped_column(Float, nullable=False)
    coil_weight_t: Mapped[float] = mapped_column(Float, nullable=False)
    # Tolerances: ± on gauge and width, ± % on coil weight (None: not stated).
    gauge_tol_mm: Mapped[float | None] = mapped_column(Float)
    width_tol_mm: Mapped[float | None] = mapped_column(Float)
    weight_tol_pct: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    operations: Mapped[list["Operation"]] = relationship(
        back_populates="product", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Operation.seq")

    @property
    def spec(self) -> str:
        """"3003-H14 0.5 × 1250" as people write it."""
        return f"{self.alloy}-{self.temper} {_num(self.gauge_mm)} × {_num(self.width_mm)}"


def _num(value: float) -> str:
    return f"{value:g}"


class Operation(IdMixin, TimestampMixin, TenantScoped, Base):
    """One step of a product's routing, in `seq` order."""

    __tablename__ = "routing_operations"
    __table_args__ = (UniqueConstraint("product_id", "seq"),)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), nullable=False,
                                                  index=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    process: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str | None] = mapped_column(String(120))
    # Throughput of a flow operation (t/h of input, or m/min of strip); a
    # furnace runs a load in `anneal_cycle_h` instead.
    rate: Mapped[float | None] = mapped_column(Float)
    rate_unit: Mapped[str] = mapped_column(String(10), nullable=False, default="t_per_h")
    yield_pct: Mapped[float] = mapped_column(Float, nullable=False, default=100.0)
    # The strip after this operation, when it differs from the finished
    # product (a hot band of 6 mm, a mother coil of 1300 mm before slitting).
    out_gauge_mm: Mapped[float | None] = mapped_column(Float)
    out_width_mm: Mapped[float | None] = mapped_column(Float)
    # Anneal operations: the recipe (coils of one recipe share a furnace load).
    anneal_recipe: Mapped[str | None] = mapped_column(String(40))
    anneal_temp_c: Mapped[float | None] = mapped_column(Float)
    anneal_soak_h: Mapped[float | None] = mapped_column(Float)
    anneal_cycle_h: Mapped[float | None] = mapped_column(Float)

    product: Mapped[Product] = relationship(back_populates="operations")
    eligible: Mapped[list["EligibleUnit"]] = relationship(
        back_populates="operation", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True)

    @property
    def unit_ids(self) -> list[uuid.UUID]:
        return [e.unit_id for e in self.eligible]


class EligibleUnit(TenantScoped, Base):
    """A unit that may run an operation, optionally at a rate of its own."""

    __tablename__ = "routing_operation_units"
    operation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("routing_operations.id", ondelete="CASCADE"),
                                                    primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_units.id"), primary_key=True, index=True)
    rate: Mapped[float | None] = mapped_column(Float)

    operation: Mapped[Operation] = relationship(back_populates="eligible")
    unit: Mapped[Unit] = relationship(lazy="joined", innerjoin=True)

    @property
    def unit_code(self) -> str:
        return self.unit.code


class SetupRule(IdMixin, TimestampMixin, TenantScoped, Base):
    """Minutes of change-over when consecutive jobs on a unit differ.

    `unit_id` None: the rule applies to every unit (a unit's own rule of the
    same kind takes precedence). `from_value`/`to_value` narrow a change rule
    to one pair (alloy family 5xxx → 1xxx costs a flush), making a matrix;
    a matching pair rule takes precedence over the general rule of its kind.
    `threshold`: width changes and gauge jumps count only beyond it (in mm or
    % of the earlier job's value)."""

    __tablename__ = "setup_rules"
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("equipment_units.id", ondelete="CASCADE"),
                                                      index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    minutes: Mapped[float] = mapped_column(Float, nullable=False)
    threshold: Mapped[float | None] = mapped_column(Float)
    threshold_unit: Mapped[str | None] = mapped_column(String(5))
    from_value: Mapped[str | None] = mapped_column(String(20))
    to_value: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
