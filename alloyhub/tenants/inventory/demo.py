"""Demo stock for the demo plants (`alloyhub up`, `alloyhub seed`).

East China Aluminium: a finished-goods warehouse at its main site with a few
bays, the dispatch dock and a quarantine bay; heat H24-0317 (5052) cast into
a slab, hot rolled, cold rolled, then slit into four coils, so its genealogy
shows a whole route; and some 3003-H14 coils of different ages for FIFO.
Jiangnan Copper: a rod store with a heat of C11000 and two rod coils.

Everything goes through the services (so the ledger, the outbox and the
genealogy are filled as in real use); what exists already is left alone,
so seeding again changes nothing.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alloyhub.platform.db import db, utcnow
from alloyhub.platform.identity.models import Site

from . import services
from .models import Warehouse

ALUMINIUM_PLANT = "华东铝业 East China Aluminium"
COPPER_PLANT = "江南铜材 Jiangnan Copper"


def _units() -> dict:
    """Equipment unit ids by code, when the equipment room has them (else none)."""
    try:
        from alloyhub.tenants.equipment import services as equipment
    except ImportError:  # the equipment room is not installed
        return {}
    return {u.code: u.id for u in equipment.units()}


def _warehouse(code: str, name: str, locations: list[dict], report) -> Warehouse | None:
    warehouse = db.session.scalar(select(Warehouse).where(Warehouse.code == code))
    if warehouse is not None:
        return warehouse
    site = db.session.scalar(select(Site).order_by(Site.created_at))
    if site is None:
        return None
    warehouse = services.create_warehouse(site_id=site.id, code=code, name=name)
    for spec in locations:
        services.create_location(warehouse, **spec)
    report.created.append(f"warehouse {code} with {len(locations)} locations")
    return warehouse


def _location(warehouse: Warehouse, code: str):
    return next(loc for loc in warehouse.locations if loc.code == code)


def _seed_aluminium(report) -> None:
    warehouse = _warehouse("FG", "Finished goods 成品库", [
        {"code": "A-01", "name": "Bay A1 A1库位", "capacity_coils": 20},
        {"code": "A-02", "name": "Bay A2 A2库位", "capacity_coils": 20},
        {"code": "B-01", "name": "Bay B1 B1库位", "capacity_coils": 12, "capacity_kg": 120000},
        {"code": "DOCK", "name": "Dispatch dock 发货区", "kind": "dock"},
        {"code": "QA", "name": "Quarantine bay 隔离区", "kind": "quarantine"},
    ], report)
    if warehouse is None or services.heat_by_number("H24-0317") is not None:
        return
    units = _units()
    now = utcnow().replace(microsecond=0)
    heat = services.create_heat(heat_no="H24-0317", alloy="5052", weight_kg=26000, cast_at=now - timedelta(days=12),
                                unit_id=units.get("DC1"),
                                chemistry={"Si": 0.08, "Fe": 0.26, "Cu": 0.03, "Mn": 0.05, "Mg": 2.45, "Cr": 0.21,
                                           "Zn": 0.02, "Ti": 0.02})
    hot = services.record_production_output(
        inputs=[{"heat_id": heat.id, "weight_kg": 8600}], operation="hot roll", unit_id=units.get("HM1"),
        outputs=[{"coil_no": "HR24-0317-1", "weight_kg": 8450, "gauge_mm": 6.0, "width_mm": 1280, "temper": "F"}],
        scrap=[{"weight_kg": 150, "reason": "head and tail crop 切头尾"}], at=now - timedelta(days=10))
    (hot_coil,) = services.event_coils(hot)
    cold = services.record_production_output(
        inputs=[{"coil_id": hot_coil.id}], operation="cold roll", unit_id=units.get("CM1"),
        location_id=_location(warehouse, "A-01").id,
        outputs=[{"coil_no": "CR24-0317-1", "weight_kg": 8380, "gauge_mm": 1.2, "width_mm": 1280, "temper": "H32",
                  "length_m": 2020}],
        scrap=[{"weight_kg": 70, "reason": "edge crack 边裂"}], at=now - timedelta(days=7))
    (mother,) = services.event_coils(cold)
    services.record_production_output(
        inputs=[{"coil_id": mother.id}], operation="slit", unit_id=units.get("SL1"),
        location_id=_location(warehouse, "A-02").id,
        outputs=[{"coil_no": f"SL24-0317-{n}", "weight_kg": 2050, "gauge_mm": 1.2, "width_mm": 310,
                  "length_m": 2020} for n in range(1, 5)],
        scrap=[{"weight_kg": 180, "reason": "edge trim 切边"}], at=now - timedelta(days=5))
    bay = _location(warehouse, "B-01")
    for n, days in enumerate((40, 25, 9), start=1):
        services.receive([{"coil_no": f"P3003-{n:03d}", "alloy": "3003", "temper": "H14", "gauge_mm": 0.8,
                           "width_mm": 1220, "weight_kg": 6200 + 150 * n, "lot_no": "L3003-2409",
                           "heat_no": "S-88213"}],
                         location_id=bay.id, reference="Supplier delivery note 供应商送货单 DN-5521",
                         received_at=now - timedelta(days=days))
    report.created.append("heat H24-0317 with hot roll, cold roll and slitting; three 3003-H14 coils")


def _seed_copper(report) -> None:
    warehouse = _warehouse("RS", "Rod store 铜杆库", [
        {"code": "R-01", "name": "Rod bay 1 铜杆1区", "capacity_coils": 30},
        {"code": "DOCK", "name": "Dispatch dock 发货区", "kind": "dock"},
    ], report)
    if warehouse is None or services.heat_by_number("CU24-118") is not None:
        return
    now = utcnow().replace(microsecond=0)
    heat = services.create_heat(heat_no="CU24-118", alloy="C11000", weight_kg=9000, cast_at=now - timedelta(days=3),
                                chemistry={"Cu": 99.95, "O": 0.03})
    services.record_production_output(
        inputs=[{"heat_id": heat.id, "weight_kg": 6100}], operation="up-cast", location_id=_location(warehouse, "R-01").id,
        outputs=[{"coil_no": f"RD24-118-{n}", "weight_kg": 3000, "gauge_mm": 8.0, "width_mm": 8.0, "temper": "O"}
                 for n in (1, 2)],
        scrap=[{"weight_kg": 60, "reason": "start-up 开机料"}], at=now - timedelta(days=2))
    report.created.append("heat CU24-118 with two rod coils")


def seed_demo(tenant, company, report) -> None:
    """Called by the platform's seed for each demo company, in its scope."""
    if tenant.kind != "plant":
        return
    if company.name == ALUMINIUM_PLANT:
        _seed_aluminium(report)
    elif company.name == COPPER_PLANT:
        _seed_copper(report)
