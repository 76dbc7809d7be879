"""The equipment hierarchy after ISA-95 (enterprise = the tenant, site = the
platform's `Site`, then area, line or work centre, and unit), what each unit
can do (its capabilities), when it works (shift calendars, planned
downtime) and which agent tags tell its live state.

Codes (area, line, unit) are unique within a company: routings, imports and
people refer to units by code ("CM1", "AF2").
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alloyhub.platform.db import Base, IdMixin, TimestampMixin
from alloyhub.platform.tenancy import TenantScoped

# What a unit is. The kind suggests its processes; the processes decide.
UNIT_KINDS = (
    "caster", "hot_mill", "cold_mill", "foil_mill", "annealing_furnace", "slitter", "cut_to_length",
    "tension_leveller", "extrusion_press", "drawing_bench", "packing", "inspection", "other",
)
# The process kinds of routing operations (products room) and unit capabilities.
PROCESSES = (
    "cast", "hot_roll", "cold_roll", "foil_roll", "anneal", "slit", "cut", "level", "extrude", "draw",
    "inspect", "pack",
)
KIND_PROCESSES = {
    "caster": ("cast",), "hot_mill": ("hot_roll",), "cold_mill": ("cold_roll",), "foil_mill": ("foil_roll",),
    "annealing_furnace": ("anneal",), "slitter": ("slit",), "cut_to_length": ("cut",),
    "tension_leveller": ("level",), "extrusion_press": ("extrude",), "drawing_bench": ("draw",),
    "packing": ("pack",), "inspection": ("inspect",), "other": (),
}
# Processes that run a furnace load (a batch of coils) rather than a flow.
BATCH_PROCESSES = ("anneal",)
# Alloy families: the aluminium series and the copper groups (products room
# derives a product's family from its alloy designation).
ALLOY_FAMILIES = ("1xxx", "2xxx", "3xxx", "4xxx", "5xxx", "6xxx", "7xxx", "8xxx", "copper", "brass", "bronze",
                  "other")
LINE_KINDS = ("line", "work_centre")
UNIT_STATUSES = ("active", "retired")
DOWNTIME_KINDS = ("maintenance", "holiday", "trial", "other")
TAG_ROLES = ("speed", "current", "power", "temperature", "status", "other")
LIVE_STATES = ("running", "idle", "down", "unknown")
SETUP_COMBINE = ("max", "sum")


class Area(IdMixin, TimestampMixin, TenantScoped, Base):
    """A part of a site: a casting shop, a cold-rolling hall, a finishing shop."""

    __tablename__ = "equipment_areas"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), nullable=False,
                                               index=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)


class Line(IdMixin, TimestampMixin, TenantScoped, Base):
    """A production line or a work centre of an area; its calendar applies to
    its units unless a unit has one of its own."""

    __tablename__ = "equipment_lines"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    area_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_areas.id"), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="line")
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment_calendars.id", ondelete="SET NULL"), index=True)
    description: Mapped[str | None] = mapped_column(Text)


class Unit(IdMixin, TimestampMixin, TenantScoped, Base):
    """One piece of equipment that runs operations: a mill, a furnace, a slitter."""

    __tablename__ = "equipment_units"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_lines.id"), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    description: Mapped[str | None] = mapped_column(Text)
    # ---- capabilities (empty list / None = no limit)
    processes: Mapped[list[str]] = mapped_column(ARRAY(String(20)), nullable=False, default=list)
    alloy_families: Mapped[list[str]] = mapped_column(ARRAY(String(10)), nullable=False, default=list)
    min_width_mm: Mapped[float | None] = mapped_column(Float)
    max_width_mm: Mapped[float | None] = mapped_column(Float)
    min_gauge_mm: Mapped[float | None] = mapped_column(Float)
    max_gauge_mm: Mapped[float | None] = mapped_column(Float)
    # Furnaces: one load holds at most this many tonnes and/or coils.
    batch_capacity_t: Mapped[float | None] = mapped_column(Float)
    batch_capacity_coils: Mapped[int | None] = mapped_column(Integer)
    # ---- time
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment_calendars.id", ondelete="SET NULL"), index=True)
    # How the set-up rules that match one change-over add up (products room).
    setup_combine: Mapped[str] = mapped_column(String(10), nullable=False, default="max")
    # ---- the live-state rule (see services.live_state)
    down_when_agent_offline: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # An active alarm of this priority or a more urgent one on a linked tag
    # (or the linked agent's offline alarm) means down; None: alarms do not count.
    down_on_alarm_priority: Mapped[str | None] = mapped_column(String(20), default="high")
    # A tag value older than this does not say the unit is running.
    stale_after_s: Mapped[int] = mapped_column(Integer, nullable=False, default=300)

    line: Mapped[Line] = relationship(lazy="joined")

    @property
    def is_batch(self) -> bool:
        return any(p in BATCH_PROCESSES for p in self.processes or ())


class Calendar(IdMixin, TimestampMixin, TenantScoped, Base):
    """A weekly shift pattern, in the calendar's own time zone."""

    __tablename__ = "equipment_calendars"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    timezone: Mapped[str] = mapped_column(String(60), nullable=False, default="Asia/Shanghai")
    description: Mapped[str | None] = mapped_column(Text)

    shifts: Mapped[list["Shift"]] = relationship(
        back_populates="calendar", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True,
        order_by="(Shift.weekday, Shift.start_minute)")


class Shift(IdMixin, TenantScoped, Base):
    """One shift of the week: it starts on `weekday` (0 = Monday) at
    `start_minute` after local midnight and lasts `duration_minutes` (it may
    run past midnight into the next day)."""

    __tablename__ = "equipment_shifts"
    calendar_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_calendars.id", ondelete="CASCADE"),
                                                   nullable=False, index=True)
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)
    start_minute: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str | None] = mapped_column(String(60))

    calendar: Mapped[Calendar] = relationship(back_populates="shifts")


class Downtime(IdMixin, TimestampMixin, TenantScoped, Base):
    """A planned stop of one unit (maintenance, a holiday, a trial)."""

    __tablename__ = "equipment_downtimes"
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_units.id", ondelete="CASCADE"),
                                               nullable=False, index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="maintenance")
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class UnitTag(IdMixin, TimestampMixin, TenantScoped, Base):
    """A tag of an agent that says something about the unit. With
    `running_above`, a fresh value above it means the unit is running."""

    __tablename__ = "equipment_unit_tags"
    __table_args__ = (UniqueConstraint("unit_id", "agent_id", "tag"),)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("equipment_units.id", ondelete="CASCADE"),
                                               nullable=False, index=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False,
                                                index=True)
    tag: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="speed")
    running_above: Mapped[float | None] = mapped_column(Float)
