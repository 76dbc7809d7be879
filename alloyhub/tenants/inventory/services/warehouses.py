"""Warehouses (per site) and their locations, with optional capacities."""
from __future__ import annotations

import math
from collections import defaultdict

from sqlalchemy import func, select

from alloyhub.platform import audit
from alloyhub.platform.db import db, get_or_404
from alloyhub.platform.identity.models import Site

from ..errors import Invalid, LocationFull
from ..models import IN_STOCK, LOCATION_KINDS, Coil, Location, Warehouse
from .common import EPS, clean, code_error, kg, require

# ---------------------------------------------------------------- warehouses and locations

def sites() -> list[Site]:
    return list(db.session.scalars(select(Site).order_by(Site.code)))


def warehouses_query(site_id=None, active: bool | None = None):
    stmt = select(Warehouse)
    if site_id:
        stmt = stmt.where(Warehouse.site_id == site_id)
    if active is not None:
        stmt = stmt.where(Warehouse.active.is_(active))
    return stmt


def warehouses(active_only: bool = False) -> list[Warehouse]:
    return list(db.session.scalars(warehouses_query(active=True if active_only else None).order_by(Warehouse.code)))


def get_warehouse(warehouse_id) -> Warehouse:
    return get_or_404(Warehouse, warehouse_id, "No such warehouse")


def _warehouse_errors(values: dict, current: Warehouse | None = None) -> dict:
    errors: dict[str, list[str]] = defaultdict(list)
    code = values.get("code")
    errors["code"] += code_error(code, "Enter a short warehouse code.", 40)
    if not errors["code"]:
        clash = select(Warehouse.id).where(Warehouse.code == code)
        if current is not None:
            clash = clash.where(Warehouse.id != current.id)
        if db.session.scalar(clash):
            errors["code"].append("Another warehouse already uses this code.")
    if not values.get("name"):
        errors["name"].append("Enter the warehouse name.")
    site_id = values.get("site_id")
    if site_id is None or db.session.scalar(select(Site.id).where(Site.id == site_id)) is None:
        errors["site_id"].append("No such site.")
    return errors


def create_warehouse(*, site_id, code: str, name: str, address: str | None = None, active: bool = True) -> Warehouse:
    values = {"site_id": site_id, "code": (clean(code) or "").upper() or None, "name": clean(name),
              "address": clean(address), "active": active}
    require(_warehouse_errors(values))
    warehouse = Warehouse(**values)
    db.session.add(warehouse)
    db.session.flush()
    audit.record("inventory.warehouse_created", target=warehouse, code=warehouse.code)
    db.session.commit()
    return warehouse


def update_warehouse(warehouse: Warehouse, **fields) -> Warehouse:
    values = {k: getattr(warehouse, k) for k in ("site_id", "code", "name", "address", "active")}
    for key, value in fields.items():
        if key in values:
            values[key] = clean(value)
    if values.get("code"):
        values["code"] = values["code"].upper()
    require(_warehouse_errors(values, warehouse))
    for key, value in values.items():
        setattr(warehouse, key, value)
    db.session.commit()
    return warehouse


def locations_query(warehouse_id=None, active: bool | None = None, kind: str | None = None):
    stmt = select(Location).join(Location.warehouse)
    if warehouse_id:
        stmt = stmt.where(Location.warehouse_id == warehouse_id)
    if active is not None:
        stmt = stmt.where(Location.active.is_(active))
    if kind:
        stmt = stmt.where(Location.kind == kind)
    return stmt


def locations(active_only: bool = True) -> list[Location]:
    stmt = locations_query(active=True if active_only else None).order_by(Warehouse.code, Location.code)
    return list(db.session.scalars(stmt))


def get_location(location_id) -> Location:
    return get_or_404(Location, location_id, "No such location")


def _location_errors(values: dict, warehouse_id, current: Location | None = None) -> dict:
    errors: dict[str, list[str]] = defaultdict(list)
    code = values.get("code")
    errors["code"] += code_error(code, "Enter the location code.", 40)
    if not errors["code"]:
        clash = select(Location.id).where(Location.warehouse_id == warehouse_id, Location.code == code)
        if current is not None:
            clash = clash.where(Location.id != current.id)
        if db.session.scalar(clash):
            errors["code"].append("Another location of this warehouse already uses this code.")
    if values.get("kind") not in LOCATION_KINDS:
        errors["kind"].append("Choose a kind of location.")
    capacity = values.get("capacity_coils")
    if capacity is not None and (not isinstance(capacity, int) or capacity < 0):
        errors["capacity_coils"].append("Enter a whole number of coils, or leave it empty.")
    capacity_kg = values.get("capacity_kg")
    if capacity_kg is not None and not (isinstance(capacity_kg, (int, float)) and math.isfinite(capacity_kg)
                                        and capacity_kg >= 0):
        errors["capacity_kg"].append("Enter a weight in kg, or leave it empty.")
    return errors


def create_location(warehouse: Warehouse, *, code: str, name: str | None = None, kind: str = "storage",
                    capacity_coils: int | None = None, capacity_kg: float | None = None,
                    active: bool = True) -> Location:
    values = {"code": (clean(code) or "").upper() or None, "name": clean(name), "kind": kind or "storage",
              "capacity_coils": capacity_coils, "capacity_kg": capacity_kg, "active": active}
    require(_location_errors(values, warehouse.id))
    location = Location(warehouse_id=warehouse.id, **values)
    db.session.add(location)
    db.session.commit()
    return location


def update_location(location: Location, **fields) -> Location:
    keys = ("code", "name", "kind", "capacity_coils", "capacity_kg", "active")
    values = {k: getattr(location, k) for k in keys}
    for key, value in fields.items():
        if key in values:
            values[key] = clean(value)
    if values.get("code"):
        values["code"] = values["code"].upper()
    require(_location_errors(values, location.warehouse_id, location))
    for key, value in values.items():
        setattr(location, key, value)
    db.session.commit()
    return location


def location_usage(location_ids=None) -> dict:
    """{location_id: (coils, kg)} of the stock (available, reserved, quarantined) there."""
    stmt = (select(Coil.location_id, func.count(), func.coalesce(func.sum(Coil.weight_kg), 0))
            .where(Coil.status.in_(IN_STOCK), Coil.location_id.is_not(None)).group_by(Coil.location_id))
    if location_ids is not None:
        stmt = stmt.where(Coil.location_id.in_(list(location_ids)))
    return {loc: (n, kg(weight)) for loc, n, weight in db.session.execute(stmt)}


def lock_location(location_id) -> Location:
    """The location, locked so that two receipts cannot both take its last place."""
    location = db.session.scalar(select(Location).where(Location.id == location_id).with_for_update(of=Location)
                                 .execution_options(populate_existing=True))
    if location is None:
        raise Invalid("No such location.", field="location_id")
    if not location.active:
        raise Invalid("The location %(location)s is not in use.", field="location_id", location=location.label)
    return location


def check_capacity(location: Location, coils: int, weight_kg: float) -> None:
    if location.capacity_coils is None and location.capacity_kg is None:
        return
    used_coils, used_kg = location_usage([location.id]).get(location.id, (0, 0.0))
    if location.capacity_coils is not None and used_coils + coils > location.capacity_coils:
        raise LocationFull("%(location)s holds at most %(capacity)s coils; %(used)s are there.",
                           location=location.label, capacity=location.capacity_coils, used=used_coils)
    if location.capacity_kg is not None and used_kg + weight_kg > location.capacity_kg + EPS:
        raise LocationFull("%(location)s holds at most %(capacity)s kg; %(used)s kg are there.",
                           location=location.label, capacity=kg(location.capacity_kg), used=kg(used_kg))
