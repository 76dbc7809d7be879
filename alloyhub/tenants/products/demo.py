"""Demo products, routings and set-up rules for the demo plants (after the
equipment room's demo units). Idempotent: what exists is left alone."""
from __future__ import annotations

from sqlalchemy import select

from alloyhub.platform.db import db
from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.equipment.demo import ALUMINIUM_PLANT, COPPER_PLANT

from . import services
from .models import SetupRule


def _op(process, units, **fields) -> dict:
    return {"process": process, "unit_codes": units, **fields}


CAST = dict(rate=22.0, yield_pct=95.0)
HOT = dict(rate=40.0, yield_pct=97.0)
SLIT = dict(rate=25.0, yield_pct=97.5)
PACK = dict(rate=40.0, yield_pct=100.0)

PRODUCTS = {
    ALUMINIUM_PLANT: [
        (dict(code="1060-O-1.0X1250", alloy="1060", temper="O", gauge_mm=1.0, width_mm=1250, coil_weight_t=5.0,
              gauge_tol_mm=0.03, width_tol_mm=1.0, weight_tol_pct=10, description="Deep-drawing strip 深冲带材"), [
            _op("cast", ["DC1"], out_gauge_mm=500, out_width_mm=1300, **CAST),
            _op("hot_roll", ["HM1"], out_gauge_mm=7.0, **HOT),
            _op("cold_roll", ["CM1", "CM2"], rate=14.0, yield_pct=98.0),
            _op("anneal", ["AF1", "AF2"], anneal_recipe="O-360", anneal_temp_c=360, anneal_soak_h=6,
                anneal_cycle_h=24, yield_pct=99.5),
            _op("slit", ["SL1"], **SLIT), _op("pack", ["PK1"], **PACK)]),
        (dict(code="3003-H14-0.5X1000", alloy="3003", temper="H14", gauge_mm=0.5, width_mm=1000, coil_weight_t=4.0,
              gauge_tol_mm=0.02, width_tol_mm=0.5, description="Fin stock for heat exchangers 空调箔坯"), [
            _op("cast", ["DC1"], out_gauge_mm=500, out_width_mm=1050, **CAST),
            _op("hot_roll", ["HM1"], out_gauge_mm=7.0, **HOT),
            _op("cold_roll", ["CM1"], out_gauge_mm=2.0, rate=16.0, yield_pct=98.5, name="Break-down 开坯"),
            _op("anneal", ["AF1", "AF2"], anneal_recipe="IA-380", anneal_temp_c=380, anneal_soak_h=4,
                anneal_cycle_h=20, yield_pct=99.5, name="Intermediate anneal 中间退火"),
            _op("cold_roll", ["CM1", "CM2"], rate=9.0, yield_pct=98.0, name="Finish to H14 成品轧制"),
            _op("slit", ["SL1"], **SLIT), _op("pack", ["PK1"], **PACK)]),
        (dict(code="5052-H32-1.5X1500", alloy="5052", temper="H32", gauge_mm=1.5, width_mm=1500, coil_weight_t=6.0,
              gauge_tol_mm=0.05, width_tol_mm=1.0, description="Marine and vehicle panels 船舶车辆板"), [
            _op("cast", ["DC1"], out_gauge_mm=500, out_width_mm=1540, **CAST),
            _op("hot_roll", ["HM1"], out_gauge_mm=6.0, **HOT),
            _op("cold_roll", ["CM1"], rate=12.0, yield_pct=97.5),
            _op("anneal", ["AF1", "AF2"], anneal_recipe="ST-180", anneal_temp_c=180, anneal_soak_h=3,
                anneal_cycle_h=14, yield_pct=99.8, name="Stabilising 稳定化退火"),
            _op("slit", ["SL1"], **SLIT), _op("pack", ["PK1"], **PACK)]),
        (dict(code="8011-O-0.2X1200", alloy="8011", temper="O", gauge_mm=0.2, width_mm=1200, coil_weight_t=3.0,
              gauge_tol_mm=0.008, width_tol_mm=0.5, description="Foil stock 铝箔坯料"), [
            _op("cast", ["DC1"], out_gauge_mm=500, out_width_mm=1250, **CAST),
            _op("hot_roll", ["HM1"], out_gauge_mm=6.5, **HOT),
            _op("cold_roll", ["CM2"], out_gauge_mm=0.6, rate=10.0, yield_pct=98.0),
            _op("cold_roll", ["CM2"], rate=6.0, yield_pct=97.5),
            _op("anneal", ["AF1", "AF2"], anneal_recipe="O-300", anneal_temp_c=300, anneal_soak_h=8,
                anneal_cycle_h=26, yield_pct=99.5),
            _op("slit", ["SL1"], **SLIT), _op("pack", ["PK1"], **PACK)]),
    ],
    COPPER_PLANT: [
        (dict(code="T2-Y-2.6", alloy="T2", temper="Y", gauge_mm=2.6, width_mm=2.6, coil_weight_t=1.5,
              gauge_tol_mm=0.02, description="Hard copper wire Ø2.6 mm 硬铜线"), [
            _op("cast", ["UC1"], out_gauge_mm=8.0, out_width_mm=8.0, rate=3.0, yield_pct=98.0),
            _op("draw", ["DB1", "DB2"], rate=600.0, rate_unit="m_per_min", yield_pct=99.0),
            _op("pack", ["WP1"], rate=10.0, yield_pct=100.0)]),
        (dict(code="H65-M-1.0", alloy="H65", temper="M", gauge_mm=1.0, width_mm=1.0, coil_weight_t=0.5,
              description="Soft brass wire Ø1.0 mm 软黄铜线"), [
            _op("cast", ["UC1"], out_gauge_mm=8.0, out_width_mm=8.0, rate=2.5, yield_pct=97.0),
            _op("draw", ["DB1"], out_gauge_mm=3.0, out_width_mm=3.0, rate=500.0, rate_unit="m_per_min",
                yield_pct=99.0),
            _op("anneal", ["BF1"], anneal_recipe="BR-450", anneal_temp_c=450, anneal_soak_h=2, anneal_cycle_h=10,
                yield_pct=99.5),
            _op("draw", ["DB1"], rate=800.0, rate_unit="m_per_min", yield_pct=98.5),
            _op("anneal", ["BF1"], anneal_recipe="BR-450", anneal_temp_c=450, anneal_soak_h=2, anneal_cycle_h=10,
                yield_pct=99.5, name="Soft anneal 软化退火"),
            _op("pack", ["WP1"], rate=10.0, yield_pct=100.0)]),
    ],
}

# (unit code or None for every unit, kind, minutes, extra fields)
SETUP_RULES = {
    ALUMINIUM_PLANT: [
        (None, "alloy_family_change", 45, {"description": "Coolant and roll cleaning 换合金清辊"}),
        (None, "alloy_family_change", 120, {"from_value": "5xxx", "to_value": "1xxx",
                                            "description": "Flush magnesium before pure aluminium 镁合金换纯铝冲洗"}),
        (None, "alloy_family_change", 120, {"from_value": "5xxx", "to_value": "8xxx",
                                            "description": "Flush magnesium before foil stock 镁合金换箔坯冲洗"}),
        (None, "width_up", 60, {"threshold": 50, "threshold_unit": "mm", "description":
                                "Work-roll change: edges of the narrower strip mark the rolls 宽度增大换辊"}),
        (None, "width_down", 15, {"description": "Edge guides and shears 调整导板"}),
        (None, "gauge_jump", 30, {"threshold": 30, "threshold_unit": "pct", "description": "Mill set-up 厚度跳变"}),
        ("CM2", "width_up", 90, {"threshold": 30, "threshold_unit": "mm",
                                 "description": "Foil-stock mill: roll change and shape set-up 2号轧机换辊"}),
        ("SL1", "product_change", 25, {"description": "Knife change 换刀"}),
    ],
    COPPER_PLANT: [
        (None, "alloy_family_change", 60, {"description": "Copper ↔ brass: clean the dies 铜黄铜切换"}),
        (None, "gauge_jump", 20, {"threshold": 10, "threshold_unit": "pct", "description": "Die change 换模"}),
    ],
}


def seed_demo(tenant, company, report) -> None:
    if company.name not in PRODUCTS:
        return
    for fields, operations in PRODUCTS[company.name]:
        product = services.product_by_code(fields["code"])
        if product is None:
            product = services.create_product(**fields)
            report.created.append(f"product {product.code} for {company.name}")
        if not product.operations:
            ops = []
            for op in operations:
                op = dict(op)
                units = [equipment.unit_by_code(code) for code in op.pop("unit_codes")]
                if any(u is None for u in units):
                    return  # the equipment demo is missing: leave routings alone
                ops.append({**op, "units": [{"unit_id": u.id} for u in units]})
            services.set_routing(product, ops)
    if db.session.scalar(select(SetupRule.id).limit(1)) is None:
        for code, kind, minutes, extra in SETUP_RULES.get(company.name, []):
            unit = equipment.unit_by_code(code) if code else None
            if code and unit is None:
                continue
            services.create_setup_rule(unit_id=unit.id if unit else None, kind=kind, minutes=minutes, **extra)
        report.created.append(f"set-up rules for {company.name}")

