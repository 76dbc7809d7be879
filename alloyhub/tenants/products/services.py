"""Products, routings and set-up rules.

Routing validation (`validate_routing`), all problems reported together and
nothing saved when there is one:
- every operation has a known process and at least one eligible unit;
- every eligible unit can run the operation: it runs the process, takes
  the product's alloy family, the strip's width and gauge at that step, and
  (a furnace) a coil of the product's weight;
- flow operations have a rate, anneal operations a recipe and a cycle time;
- yields are in (0, 100] %, rolling never thickens the strip, and the last
  operation delivers the product's gauge and width.

The strip through the routing: it leaves each operation at `out_gauge_mm`
× `out_width_mm` when given; otherwise a rolling operation that is the last
rolling step delivers the product's gauge, a slitting operation the
product's width, and any other operation keeps what came in. A unit must
take the incoming strip (gauge and width up to its maxima) and deliver the
outgoing one (down to its minima).

Set-up (change-over) minutes between two jobs on a unit: see
`SetupCalculator`.
"""
from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import func, select

from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.errors import Conflict, ValidationFailed
from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.equipment.messages import msg
from alloyhub.tenants.equipment.models import ALLOY_FAMILIES, PROCESSES, Unit

from .models import RATE_UNITS, SETUP_KINDS, THRESHOLD_UNITS, EligibleUnit, Operation, Product, SetupRule

ROLLING = ("hot_roll", "cold_roll", "foil_roll", "draw", "extrude")
# t/m³ by alloy family, to turn m/min into t/h.
DENSITY = {"1xxx": 2.71, "2xxx": 2.78, "3xxx": 2.73, "4xxx": 2.69, "5xxx": 2.68, "6xxx": 2.70, "7xxx": 2.81,
           "8xxx": 2.71, "copper": 8.94, "brass": 8.50, "bronze": 8.80, "other": 7.85}
ALUMINIUM_TEMPER = re.compile(r"^(F|O|W|H[1-9]\d{1,2}|T\d{1,5})$")
ANY_TEMPER = re.compile(r"^[A-Z0-9][A-Z0-9/\-]{0,9}$")


def alloy_family(alloy: str) -> str | None:
    """The family of a designation: 1060 -> 1xxx, AA5052 -> 5xxx, T2 / C11000 ->
    copper, H65 / C26800 -> brass, QSn6.5-0.1 / C51000 -> bronze; None if unknown."""
    a = re.sub(r"\s+", "", (alloy or "").upper())
    match = re.match(r"^(?:AA|ENAW-?|AW-?)?([1-8])\d{3}[A-Z]?$", a)
    if match:
        return f"{match.group(1)}xxx"
    if re.match(r"^(T[1-4]|TU[0-3]|TP[1-2]|TAG\d.*|C1[0-5]\d{3}|CU-?(ETP|OF|DHP|PHC|HCP)|CW0\d\dA)$", a):
        return "copper"
    if re.match(r"^(H\d{2}|H[A-Z]{1,2}\d{2}(-\d+)*|C[2-4]\d{4}|CUZN\d+.*|CW[5-7]\d\d[LNR])$", a):
        return "brass"
    if re.match(r"^(Q[A-Z]{1,2}\d.*|C[5-6]\d{4}|CUSN\d.*|CUAL\d.*)$", a):
        return "bronze"
    return None


def density(family: str) -> float:
    return DENSITY.get(family, DENSITY["other"])


# ---------------------------------------------------------------- guards other rooms plug in

# product -> messages; the orders room refuses deleting a product on order.
PRODUCT_DELETE_GUARDS: list[Callable[[Product], list[str]]] = []


def register_product_delete_guard(fn):
    if fn not in PRODUCT_DELETE_GUARDS:
        PRODUCT_DELETE_GUARDS.append(fn)
    return fn


# ---------------------------------------------------------------- products

PRODUCT_FIELDS = ("code", "name", "alloy", "alloy_family", "temper", "gauge_mm", "width_mm", "coil_weight_t",
                  "gauge_tol_mm", "width_tol_mm", "weight_tol_pct", "description", "active")
SPEC_FIELDS = ("alloy", "alloy_family", "gauge_mm", "width_mm", "coil_weight_t", "active")


def products_query(q: str | None = None, alloy_family_: str | None = None, active: bool | None = None):
    stmt = select(Product)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Product.code.ilike(like) | Product.name.ilike(like) | Product.alloy.ilike(like))
    if alloy_family_:
        stmt = stmt.where(Product.alloy_family == alloy_family_)
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    return stmt


def products(active_only: bool = False) -> list[Product]:
    return list(db.session.scalars(products_query(active=True if active_only else None).order_by(Product.code)))


def get_product(product_id) -> Product:
    return get_or_404(Product, product_id, "No such product")


def product_by_code(code: str) -> Product | None:
    return db.session.scalar(select(Product).where(Product.code == (code or "").strip().upper()))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _range(errors: dict, name: str, value, low: float, high: float, *, required=False, low_inclusive=False):
    if value is None:
        if required:
            errors.setdefault(name, []).append("Enter a number.")
        return
    if not _finite(value):
        errors.setdefault(name, []).append("Enter a number.")
    elif value < low or (value == low and not low_inclusive) or value > high:
        errors.setdefault(name, []).append(msg("Enter a value above %(low)s and at most %(high)s.",
                                               low=f"{low:g}", high=f"{high:g}")
                                           if not low_inclusive else
                                           msg("Enter %(low)s to %(high)s.", low=f"{low:g}", high=f"{high:g}"))


def _normalise_product(values: dict) -> dict:
    values["code"] = (values.get("code") or "").strip().upper()
    values["alloy"] = re.sub(r"\s+", "", values.get("alloy") or "").upper()
    values["temper"] = (values.get("temper") or "").strip().upper()
    values["name"] = (values.get("name") or "").strip()
    values["description"] = (values.get("description") or "").strip() or None
    if not values.get("alloy_family"):
        values["alloy_family"] = alloy_family(values["alloy"])
    return values


def _validate_product(values: dict, product_id=None) -> None:
    errors: dict[str, list] = {}
    code = values["code"]
    if not code:
        errors["code"] = ["Enter a product code."]
    elif not re.match(r"^[A-Z0-9][A-Z0-9_.\-/]{0,59}$", code):
        errors["code"] = ["Use letters, digits, '-', '_', '.' or '/' (at most 60)."]
    else:
        stmt = select(Product.id).where(Product.code == code)
        if product_id is not None:
            stmt = stmt.where(Product.id != product_id)
        if db.session.scalar(stmt) is not None:
            errors["code"] = ["Another product already uses this code."]
    if not values["alloy"]:
        errors["alloy"] = ["Enter the alloy (e.g. 3003, 5052, T2, H65)."]
    elif len(values["alloy"]) > 20:
        errors["alloy"] = ["At most 20 characters."]
    family = values.get("alloy_family")
    if family not in ALLOY_FAMILIES:
        errors.setdefault("alloy_family", []).append(
            msg("Unknown alloy %(alloy)s: choose its family.", alloy=values["alloy"]) if values["alloy"] and not family
            else "Choose an alloy family.")
    temper = values["temper"]
    if not temper:
        errors["temper"] = ["Enter the temper (e.g. O, H14, H24, T6)."]
    elif family in ALLOY_FAMILIES[:8] and not ALUMINIUM_TEMPER.match(temper):
        errors["temper"] = [msg("%(temper)s is not an aluminium temper (F, O, W, H14, H24, H32, T4, T6 …).",
                                temper=temper)]
    elif not ANY_TEMPER.match(temper):
        errors["temper"] = ["Write the temper as the plant does (e.g. M, Y2, H02)."]
    _range(errors, "gauge_mm", values.get("gauge_mm"), 0, 1000, required=True)
    _range(errors, "width_mm", values.get("width_mm"), 0, 5000, required=True)
    _range(errors, "coil_weight_t", values.get("coil_weight_t"), 0, 100, required=True)
    _range(errors, "gauge_tol_mm", values.get("gauge_tol_mm"), 0, 100, low_inclusive=True)
    _range(errors, "width_tol_mm", values.get("width_tol_mm"), 0, 1000, low_inclusive=True)
    _range(errors, "weight_tol_pct", values.get("weight_tol_pct"), 0, 100, low_inclusive=True)
    if len(values.get("name") or "") > 200:
        errors["name"] = ["At most 200 characters."]
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def create_product(**data) -> Product:
    values = _normalise_product({"active": True, **{k: data.get(k) for k in PRODUCT_FIELDS if k in data}})
    values.setdefault("active", True)
    _validate_product(values)
    product = Product(**{k: values.get(k) for k in PRODUCT_FIELDS})
    if not product.name:
        product.name = product.spec
    db.session.add(product)
    db.session.commit()
    return product


def update_product(product: Product, **data) -> Product:
    values = {k: getattr(product, k) for k in PRODUCT_FIELDS}
    values.update({k: v for k, v in data.items() if k in PRODUCT_FIELDS})
    if "alloy" in data and "alloy_family" not in data and data["alloy"] != product.alloy:
        values["alloy_family"] = None  # derive again from the new alloy
    values = _normalise_product(values)
    _validate_product(values, product.id)
    if product.operations and any(values[k] != getattr(product, k) for k in SPEC_FIELDS):
        _raise_routing(validate_routing(_SpecView(values), _ops_as_dicts(product)))
    for key in PRODUCT_FIELDS:
        setattr(product, key, values[key])
    if not product.name:
        product.name = product.spec
    db.session.commit()
    return product


def delete_product(product: Product) -> None:
    problems = [m for guard in PRODUCT_DELETE_GUARDS for m in guard(product)]
    if problems:
        raise Conflict(problems[0], errors={"__all__": problems})
    db.session.delete(product)
    db.session.commit()


class _SpecView:
    """A product's proposed values, for checking its routing before saving."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


# ---------------------------------------------------------------- routings

OPERATION_FIELDS = ("process", "name", "rate", "rate_unit", "yield_pct", "out_gauge_mm", "out_width_mm",
                    "anneal_recipe", "anneal_temp_c", "anneal_soak_h", "anneal_cycle_h")


def _ops_as_dicts(product: Product) -> list[dict]:
    return [{**{k: getattr(op, k) for k in OPERATION_FIELDS},
             "units": [{"unit_id": e.unit_id, "rate": e.rate} for e in op.eligible]} for op in product.operations]


def _units_by_id(ids) -> dict[uuid.UUID, Unit]:
    ids = [i for i in ids if isinstance(i, uuid.UUID)]
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(ids))).unique()}


@dataclass
class Step:
    """The strip through one operation."""

    in_gauge: float
    out_gauge: float
    in_width: float
    out_width: float


def strip_path(product, operations: list[dict]) -> list[Step]:
    """Gauge and width into and out of each operation (see the module's
    docstring). The first operation takes the strip as it leaves it (a
    caster forms it; bought-in strip is taken as stated); a size not stated
    anywhere is the product's."""
    last_rolling = max((i for i, op in enumerate(operations) if op.get("process") in ROLLING), default=None)
    gauge = width = None
    steps = []
    for i, op in enumerate(operations):
        out_gauge = op.get("out_gauge_mm")
        if out_gauge is None:
            out_gauge = product.gauge_mm if (i == last_rolling or gauge is None) else gauge
        out_width = op.get("out_width_mm")
        if out_width is None:
            # Slitting cuts to the product's width; the last drawing pass of a
            # wire or bar gives its final section too.
            finishing = op.get("process") == "slit" or (op.get("process") == "draw" and i == last_rolling)
            out_width = product.width_mm if (finishing or width is None) else width
        steps.append(Step(gauge if gauge is not None else out_gauge, out_gauge,
                          width if width is not None else out_width, out_width))
        gauge, width = out_gauge, out_width
    return steps


def validate_routing(product, operations: list[dict], *, unit_overrides: dict | None = None) -> dict[str, list]:
    """Every problem of the routing (field key -> messages); empty: possible.
    `unit_overrides` (unit id -> unit-like) checks proposed unit values."""
    errors: dict[str, list] = {}

    def add(i, name, message):
        errors.setdefault(f"operations.{i}.{name}", []).append(message)

    unit_ids = [u.get("unit_id") for op in operations for u in (op.get("units") or [])]
    units = _units_by_id(unit_ids)
    units.update({k: v for k, v in (unit_overrides or {}).items() if k in units})
    numeric_ok = True
    for i, op in enumerate(operations):
        label = i + 1
        process = op.get("process")
        if process not in PROCESSES:
            add(i, "process", msg("Operation %(n)s: choose a process.", n=label))
            continue
        for name, low, high in (("out_gauge_mm", 0, 1000), ("out_width_mm", 0, 5000)):
            value = op.get(name)
            if value is not None and (not _finite(value) or not low < value <= high):
                add(i, name, msg("Operation %(n)s: enter a size above 0.", n=label))
                numeric_ok = False
        y = op.get("yield_pct")
        if not _finite(y) or not 0 < y <= 100:
            add(i, "yield_pct", msg("Operation %(n)s: the yield is above 0 and at most 100 %%.", n=label))
        if process == "anneal":
            if not (op.get("anneal_recipe") or "").strip():
                add(i, "anneal_recipe", msg("Operation %(n)s: name the anneal recipe.", n=label))
            cycle = op.get("anneal_cycle_h")
            if not _finite(cycle) or not 0 < cycle <= 500:
                add(i, "anneal_cycle_h", msg("Operation %(n)s: give the furnace cycle in hours.", n=label))
            for name in ("anneal_temp_c", "anneal_soak_h"):
                value = op.get(name)
                if value is not None and (not _finite(value) or not 0 < value <= 2000):
                    add(i, name, msg("Operation %(n)s: enter a number above 0.", n=label))
        else:
            rate = op.get("rate")
            if not _finite(rate) or not 0 < rate <= 100000:
                add(i, "rate", msg("Operation %(n)s: give its rate (t/h or m/min).", n=label))
            if op.get("rate_unit") not in RATE_UNITS:
                add(i, "rate_unit", msg("Operation %(n)s: the rate is in t/h or m/min.", n=label))
        listed = op.get("units") or []
        if not listed:
            add(i, "units", msg("Operation %(n)s (%(process)s) has no eligible unit.", n=label, process=process))
        seen = set()
        for entry in listed:
            unit_id, rate = entry.get("unit_id"), entry.get("rate")
            unit = units.get(unit_id)
            if unit is None:
                add(i, "units", msg("Operation %(n)s: no such unit.", n=label))
                continue
            if unit_id in seen:
                add(i, "units", msg("Operation %(n)s: unit %(unit)s is listed twice.", n=label, unit=unit.code))
            seen.add(unit_id)
            if rate is not None and (not _finite(rate) or not 0 < rate <= 100000):
                add(i, "units", msg("Operation %(n)s: the rate of unit %(unit)s must be above 0.", n=label,
                                    unit=unit.code))
    if not numeric_ok or any(k.endswith(".process") for k in errors):
        return errors
    steps = strip_path(product, operations)
    for i, (op, step) in enumerate(zip(operations, steps)):
        label = i + 1
        if op["process"] in ROLLING and step.out_gauge > step.in_gauge:
            add(i, "out_gauge_mm", msg("Operation %(n)s: rolling cannot thicken the strip (%(a)s → %(b)s mm).",
                                       n=label, a=f"{step.in_gauge:g}", b=f"{step.out_gauge:g}"))
        if op["process"] == "slit" and step.out_width > step.in_width:
            add(i, "out_width_mm", msg("Operation %(n)s: slitting cannot widen the strip (%(a)s → %(b)s mm).",
                                       n=label, a=f"{step.in_width:g}", b=f"{step.out_width:g}"))
        for entry in op.get("units") or []:
            unit = units.get(entry.get("unit_id"))
            if unit is None:
                continue
            reasons = equipment.can_do(
                unit, process=op["process"], alloy_family=product.alloy_family, width_in=step.in_width,
                width_out=step.out_width, gauge_in=step.in_gauge, gauge_out=step.out_gauge,
                coil_weight_t=product.coil_weight_t if op["process"] == "anneal" else None)
            for reason in reasons:
                add(i, "units", msg("Operation %(n)s: %(reason)s", n=label, reason=reason))
    if steps:
        last = steps[-1]
        if abs(last.out_gauge - product.gauge_mm) > 1e-9:
            errors.setdefault("operations", []).append(msg(
                "The routing ends at %(a)s mm but the product is %(b)s mm thick.", a=f"{last.out_gauge:g}",
                b=f"{product.gauge_mm:g}"))
        if abs(last.out_width - product.width_mm) > 1e-9:
            errors.setdefault("operations", []).append(msg(
                "The routing ends at %(a)s mm wide but the product is %(b)s mm: add a slitting operation or "
                "correct the widths.", a=f"{last.out_width:g}", b=f"{product.width_mm:g}"))
    return errors


def _summary(errors: dict) -> str:
    messages = [m for msgs in errors.values() for m in msgs]
    text = "The routing is impossible: " + "; ".join(str(m) for m in messages[:3])
    return text + (f" (and {len(messages) - 3} more)" if len(messages) > 3 else "")


def _raise_routing(errors: dict) -> None:
    if errors:
        raise ValidationFailed(_summary(errors), errors=errors)


def _clean_operation(raw: dict) -> dict:
    op = {k: raw.get(k) for k in OPERATION_FIELDS}
    op["rate_unit"] = op.get("rate_unit") or "t_per_h"
    op["yield_pct"] = 100.0 if op.get("yield_pct") is None else op["yield_pct"]
    op["name"] = (op.get("name") or "").strip() or None
    op["anneal_recipe"] = (op.get("anneal_recipe") or "").strip().upper() or None
    units = raw.get("units")
    if units is None and raw.get("unit_ids") is not None:
        units = [{"unit_id": u} for u in raw["unit_ids"]]
    op["units"] = [{"unit_id": u.get("unit_id"), "rate": u.get("rate")} for u in (units or [])]
    if op["process"] != "anneal":
        for key in ("anneal_recipe", "anneal_temp_c", "anneal_soak_h", "anneal_cycle_h"):
            op[key] = None
    return op


def set_routing(product: Product, operations: list[dict]) -> Product:
    """Replace the product's routing with `operations` (in order), or refuse
    (422, every problem listed) and change nothing."""
    ops = [_clean_operation(raw) for raw in operations or []]
    if len(ops) > 50:
        raise ValidationFailed(errors={"operations": ["At most 50 operations."]})
    _raise_routing(validate_routing(product, ops))
    product.operations.clear()
    db.session.flush()
    for i, op in enumerate(ops):
        units = op.pop("units")
        operation = Operation(seq=(i + 1) * 10, **op)
        operation.eligible = [EligibleUnit(unit_id=u["unit_id"], rate=u.get("rate")) for u in units]
        product.operations.append(operation)
    product.updated_at = utcnow()
    db.session.commit()
    return product


def routing_problems(product: Product) -> dict[str, list]:
    """What is wrong with the saved routing now (e.g. after a unit was retired elsewhere)."""
    return validate_routing(product, _ops_as_dicts(product)) if product.operations else {}


# ---- guards for the equipment room

def _products_using(unit_id) -> list[Product]:
    ids = select(Operation.product_id).join(EligibleUnit, EligibleUnit.operation_id == Operation.id) \
        .where(EligibleUnit.unit_id == unit_id)
    return list(db.session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.code)))


@equipment.register_unit_guard
def _unit_change_guard(unit: Unit, values: dict) -> list:
    """A unit's capabilities may not change so that a routing becomes impossible."""
    proposed = equipment.UnitView(unit, values)
    problems = []
    for product in _products_using(unit.id):
        ops = _ops_as_dicts(product)
        errors = validate_routing(product, ops)
        before = {str(m) for msgs in errors.values() for m in msgs}
        # Check again with the proposed unit in place of the saved one.
        errors_after = validate_routing(product, ops, unit_overrides={unit.id: proposed})
        for messages in errors_after.values():
            for message in messages:
                if str(message) not in before:
                    problems.append(msg("Product %(product)s: %(problem)s", product=product.code, problem=message))
    return problems


@equipment.register_unit_delete_guard
def _unit_delete_guard(unit: Unit) -> list:
    return [msg("Unit %(unit)s is in the routing of %(product)s; take it out first.", unit=unit.code,
                product=p.code) for p in _products_using(unit.id)]


# ---------------------------------------------------------------- quantities and times

def tonnes(product: Product, quantity: float, unit: str) -> float:
    return quantity * product.coil_weight_t if unit == "coils" else quantity


def coils(product: Product, tonnes_: float) -> int:
    return max(1, math.ceil(tonnes_ / product.coil_weight_t - 1e-9))


@dataclass
class PlannedStep:
    operation: Operation
    step: Step
    input_t: float
    output_t: float


def routing_plan(product: Product, output_t: float) -> list[PlannedStep]:
    """Tonnes into and out of each operation to deliver `output_t` of good
    product: yields are applied backwards from the last operation."""
    ops = list(product.operations)
    steps = strip_path(product, _ops_as_dicts(product))
    planned: list[PlannedStep] = []
    out = output_t
    for op, step in reversed(list(zip(ops, steps))):
        inp = out / (op.yield_pct / 100)
        planned.append(PlannedStep(op, step, inp, out))
        out = inp
    return list(reversed(planned))


def operation_hours(planned: PlannedStep, product: Product, unit: Unit | None = None) -> float:
    """Hours the operation takes on `unit` (its own rate when it has one).
    Flow: input tonnes at t/h, or strip length at m/min (length from the
    outgoing gauge and width and the alloy's density). Anneal: furnace loads
    × cycle, loads limited by the unit's tonnes and coils per load."""
    op = planned.operation
    if op.process == "anneal":
        cycle = op.anneal_cycle_h or 0.0
        cap_t = getattr(unit, "batch_capacity_t", None)
        cap_coils = getattr(unit, "batch_capacity_coils", None)
        loads = 1
        if cap_t:
            loads = max(loads, math.ceil(planned.input_t / cap_t - 1e-9))
        if cap_coils:
            loads = max(loads, math.ceil(coils(product, planned.input_t) / cap_coils - 1e-9))
        return loads * cycle
    rate = op.rate
    if unit is not None:
        own = next((e.rate for e in op.eligible if e.unit_id == unit.id and e.rate), None)
        rate = own or rate
    if not rate:
        return 0.0
    if op.rate_unit == "m_per_min":
        area_m2 = (planned.step.out_gauge / 1000) * (planned.step.out_width / 1000)
        length_m = planned.input_t / (density(product.alloy_family) * area_m2)
        return length_m / rate / 60
    return planned.input_t / rate


# ---------------------------------------------------------------- set-up rules

SETUP_FIELDS = ("unit_id", "kind", "minutes", "threshold", "threshold_unit", "from_value", "to_value",
                "description", "enabled")
PAIR_KINDS = ("alloy_family_change", "alloy_change", "temper_change")
THRESHOLD_KINDS = ("width_up", "width_down", "gauge_jump")


def setup_rules_query(unit_id=None, kind=None):
    stmt = select(SetupRule)
    if unit_id:
        stmt = stmt.where(SetupRule.unit_id == unit_id)
    if kind:
        stmt = stmt.where(SetupRule.kind == kind)
    return stmt


def setup_rules() -> list[SetupRule]:
    return list(db.session.scalars(select(SetupRule).order_by(SetupRule.kind, SetupRule.created_at, SetupRule.id)))


def get_setup_rule(setup_rule_id) -> SetupRule:
    return get_or_404(SetupRule, setup_rule_id, "No such set-up rule")


def _validate_setup(values: dict) -> None:
    errors: dict[str, list] = {}
    kind = values.get("kind")
    if kind not in SETUP_KINDS:
        errors["kind"] = ["Choose what changes."]
    unit_id = values.get("unit_id")
    if unit_id is not None and db.session.scalar(select(Unit.id).where(Unit.id == unit_id)) is None:
        errors["unit_id"] = ["No such unit."]
    minutes = values.get("minutes")
    if not _finite(minutes) or not 0 <= minutes <= 10080:
        errors["minutes"] = ["Enter 0-10080 minutes."]
    threshold = values.get("threshold")
    if threshold is not None:
        if kind not in THRESHOLD_KINDS:
            errors["threshold"] = ["Only width changes and gauge jumps have a threshold."]
        elif not _finite(threshold) or not 0 <= threshold <= 10000:
            errors["threshold"] = ["Enter a threshold of 0 or more."]
        if values.get("threshold_unit") not in THRESHOLD_UNITS:
            errors["threshold_unit"] = ["The threshold is in mm or %."]
    for name in ("from_value", "to_value"):
        value = values.get(name)
        if value is None:
            continue
        if kind not in PAIR_KINDS:
            errors[name] = ["Only alloy, alloy family and temper changes name values."]
        elif kind == "alloy_family_change" and value not in ALLOY_FAMILIES:
            errors[name] = ["Choose an alloy family."]
        elif len(value) > 20:
            errors[name] = ["At most 20 characters."]
    if kind in PAIR_KINDS and values.get("from_value") is not None and values.get("from_value") == values.get(
            "to_value"):
        errors["to_value"] = ["A change needs two different values."]
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def _normalise_setup(values: dict) -> dict:
    for name in ("from_value", "to_value"):
        value = (values.get(name) or "").strip()
        if values.get("kind") == "alloy_family_change":
            value = value.lower()
        else:
            value = value.upper()
        values[name] = value or None
    values["description"] = (values.get("description") or "").strip() or None
    if values.get("threshold") is not None and not values.get("threshold_unit"):
        values["threshold_unit"] = "mm"
    if values.get("threshold") is None:
        values["threshold_unit"] = None
    return values


def create_setup_rule(**data) -> SetupRule:
    values = _normalise_setup({"enabled": True, **{k: data.get(k) for k in SETUP_FIELDS if k in data}})
    values.setdefault("enabled", True)
    _validate_setup(values)
    rule = SetupRule(**{k: values.get(k) for k in SETUP_FIELDS})
    db.session.add(rule)
    db.session.commit()
    return rule


def update_setup_rule(rule: SetupRule, **data) -> SetupRule:
    values = {k: getattr(rule, k) for k in SETUP_FIELDS}
    values.update({k: v for k, v in data.items() if k in SETUP_FIELDS})
    values = _normalise_setup(values)
    _validate_setup(values)
    for key in SETUP_FIELDS:
        setattr(rule, key, values[key])
    db.session.commit()
    return rule


def delete_setup_rule(rule: SetupRule) -> None:
    db.session.delete(rule)
    db.session.commit()


def job_attrs(job: Any) -> dict:
    """The attributes set-up rules compare, from a Product, an object with a
    `product`, or a dict (alloy, alloy_family, temper, width_mm, gauge_mm,
    product_id; alloy_family derived from alloy when missing)."""
    if job is None:
        return {}
    if isinstance(job, Product):
        source = {"product_id": job.id, "alloy": job.alloy, "alloy_family": job.alloy_family,
                  "temper": job.temper, "width_mm": job.width_mm, "gauge_mm": job.gauge_mm}
    elif isinstance(job, dict):
        source = dict(job)
    elif getattr(job, "product", None) is not None:
        return job_attrs(job.product)
    else:
        source = {k: getattr(job, k, None) for k in ("product_id", "alloy", "alloy_family", "temper", "width_mm",
                                                     "gauge_mm")}
    alloy = (source.get("alloy") or "").upper() or None
    family = source.get("alloy_family") or (alloy_family(alloy) if alloy else None)
    return {"product_id": source.get("product_id"), "alloy": alloy, "alloy_family": family,
            "temper": (source.get("temper") or "").upper() or None, "width_mm": source.get("width_mm"),
            "gauge_mm": source.get("gauge_mm")}


_PAIR_ATTR = {"alloy_family_change": "alloy_family", "alloy_change": "alloy", "temper_change": "temper"}


def _beyond(change: float, base: float | None, rule: SetupRule) -> bool:
    threshold = rule.threshold or 0.0
    if rule.threshold_unit == "pct":
        if not base:
            return change > 0
        return change / abs(base) * 100 > threshold
    return change > threshold


class SetupCalculator:
    """Set-up minutes on one unit, with its rules loaded once (the scheduler
    asks for every pair of jobs).

    For each kind of change: the unit's own enabled rules of that kind when it
    has any, else the rules for every unit. A rule matches when the change
    happens: another alloy family / alloy / temper (a rule naming
    `from_value`/`to_value` matches only that pair, and the most specific
    matching rules win over general ones), a width up or down or a gauge
    jump beyond its threshold (mm, or % of the earlier job's value). The
    largest matching rule of each kind counts; the kinds then add up or the
    largest one counts, as the unit's `setup_combine` says. No earlier job
    (the unit's first job): no set-up."""

    def __init__(self, unit: Unit, rules: list[SetupRule]):
        self.unit = unit
        self.combine = getattr(unit, "setup_combine", "max") or "max"
        enabled = [r for r in rules if r.enabled and (r.unit_id is None or r.unit_id == unit.id)]
        self.by_kind: dict[str, list[SetupRule]] = {}
        for kind in SETUP_KINDS:
            own = [r for r in enabled if r.kind == kind and r.unit_id == unit.id]
            self.by_kind[kind] = own or [r for r in enabled if r.kind == kind and r.unit_id is None]

    def _matches(self, kind: str, a: dict, b: dict) -> list[SetupRule]:
        rules = self.by_kind.get(kind) or []
        if not rules:
            return []
        if kind in _PAIR_ATTR:
            attr = _PAIR_ATTR[kind]
            old, new = a.get(attr), b.get(attr)
            if old is None or new is None or old == new:
                return []
            ranked: dict[int, list[SetupRule]] = {}
            for rule in rules:
                if rule.from_value is not None and rule.from_value != old:
                    continue
                if rule.to_value is not None and rule.to_value != new:
                    continue
                specificity = (rule.from_value is not None) + (rule.to_value is not None)
                ranked.setdefault(specificity, []).append(rule)
            return ranked[max(ranked)] if ranked else []
        if kind == "product_change":
            same = (a.get("product_id") is not None and a.get("product_id") == b.get("product_id")) or all(
                a.get(k) == b.get(k) for k in ("alloy", "temper", "width_mm", "gauge_mm"))
            return [] if same else rules
        attr = "gauge_mm" if kind == "gauge_jump" else "width_mm"
        old, new = a.get(attr), b.get(attr)
        if old is None or new is None:
            return []
        if kind == "width_up":
            change = new - old
        elif kind == "width_down":
            change = old - new
        else:
            change = abs(new - old)
        if change <= 0:
            return []
        return [r for r in rules if _beyond(change, old, r)]

    def explain(self, from_job, to_job) -> list[tuple[SetupRule, float]]:
        """The rules that count, each with its minutes."""
        a, b = job_attrs(from_job), job_attrs(to_job)
        if not a or not b:
            return []
        counted = []
        for kind in SETUP_KINDS:
            matches = self._matches(kind, a, b)
            if matches:
                best = max(matches, key=lambda r: (r.minutes, str(r.id)))
                counted.append((best, float(best.minutes)))
        return counted

    def minutes(self, from_job, to_job) -> float:
        counted = [m for _, m in self.explain(from_job, to_job)]
        if not counted:
            return 0.0
        return float(sum(counted)) if self.combine == "sum" else float(max(counted))


def setup_calculator(unit) -> SetupCalculator:
    unit = unit if isinstance(unit, Unit) else equipment.get_unit(unit)
    rules = list(db.session.scalars(select(SetupRule).where(
        (SetupRule.unit_id == unit.id) | SetupRule.unit_id.is_(None))))
    return SetupCalculator(unit, rules)


def setup_minutes(unit, from_job_attrs, to_job_attrs) -> float:
    """Change-over minutes on `unit` (a Unit or its id) from one job to the
    next; each job is a Product, an object with `.product`, or a dict of
    alloy, alloy_family, temper, width_mm, gauge_mm (and product_id).
    Loads the unit's rules each call: for many pairs, use
    `setup_calculator(unit).minutes(a, b)`."""
    return setup_calculator(unit).minutes(from_job_attrs, to_job_attrs)


def count_products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product)) or 0
