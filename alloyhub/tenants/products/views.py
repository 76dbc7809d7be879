"""Pages: products (list, spec), the routing editor (operations in order with
their eligible units, rates, yields and anneal recipes) and the set-up
rules with a change-over calculator.

Views parse forms, call services and render; a service error re-renders
the form with every problem (422) and changes nothing.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError
from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.equipment.forms import FormReader
from alloyhub.tenants.equipment.models import ALLOY_FAMILIES, PROCESSES

from . import services
from .models import RATE_UNITS, SETUP_KINDS, THRESHOLD_UNITS
from .permissions import PRODUCTS_READ, PRODUCTS_WRITE

bp = Blueprint("products", __name__, template_folder="templates", url_prefix="/products")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


LABELS = {
    "alloy_family_change": _l("Alloy family changes"), "alloy_change": _l("Alloy changes"),
    "temper_change": _l("Temper changes"), "width_up": _l("Width goes up"), "width_down": _l("Width goes down"),
    "gauge_jump": _l("Gauge jumps"), "product_change": _l("Any product change"),
    "t_per_h": _l("t/h"), "m_per_min": _l("m/min"), "mm": _l("mm"), "pct": _l("%"),
}
SERVICE_MESSAGES = (
    N_("Enter a product code."), N_("Use letters, digits, '-', '_', '.' or '/' (at most 60)."),
    N_("Another product already uses this code."), N_("Enter the alloy (e.g. 3003, 5052, T2, H65)."),
    N_("At most 20 characters."), N_("Unknown alloy %(alloy)s: choose its family."), N_("Choose an alloy family."),
    N_("Enter the temper (e.g. O, H14, H24, T6)."),
    N_("%(temper)s is not an aluminium temper (F, O, W, H14, H24, H32, T4, T6 …)."),
    N_("Write the temper as the plant does (e.g. M, Y2, H02)."),
    N_("Enter a value above %(low)s and at most %(high)s."), N_("Enter %(low)s to %(high)s."),
    N_("At most 200 characters."), N_("Operation %(n)s: choose a process."),
    N_("Operation %(n)s: enter a size above 0."), N_("Operation %(n)s: the yield is above 0 and at most 100 %%."),
    N_("Operation %(n)s: name the anneal recipe."), N_("Operation %(n)s: give the furnace cycle in hours."),
    N_("Operation %(n)s: enter a number above 0."), N_("Operation %(n)s: give its rate (t/h or m/min)."),
    N_("Operation %(n)s: the rate is in t/h or m/min."), N_("Operation %(n)s (%(process)s) has no eligible unit."),
    N_("Operation %(n)s: no such unit."), N_("Operation %(n)s: unit %(unit)s is listed twice."),
    N_("Operation %(n)s: the rate of unit %(unit)s must be above 0."),
    N_("Operation %(n)s: rolling cannot thicken the strip (%(a)s → %(b)s mm)."),
    N_("Operation %(n)s: slitting cannot widen the strip (%(a)s → %(b)s mm)."),
    N_("Operation %(n)s: %(reason)s"),
    N_("The routing ends at %(a)s mm but the product is %(b)s mm thick."),
    N_("The routing ends at %(a)s mm wide but the product is %(b)s mm: add a slitting operation or correct the "
       "widths."),
    N_("At most 50 operations."), N_("Product %(product)s: %(problem)s"),
    N_("Unit %(unit)s is in the routing of %(product)s; take it out first."),
    N_("Choose what changes."), N_("No such unit."), N_("Enter 0-10080 minutes."),
    N_("Only width changes and gauge jumps have a threshold."), N_("Enter a threshold of 0 or more."),
    N_("The threshold is in mm or %."), N_("Only alloy, alloy family and temper changes name values."),
    N_("A change needs two different values."), N_("No such product"), N_("No such set-up rule"),
    N_("See products, routings and set-up rules"), N_("Edit products, routings and set-up rules"),
)


@bp.app_template_filter("product_label")
def product_label(value) -> str:
    return str(LABELS.get(value, value or ""))


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _errors_of(exc: AppError) -> dict:
    db.session.rollback()
    return exc.errors or {"__all__": [exc.detail]}


# ---------------------------------------------------------------- products

def _product_fields(reader: FormReader) -> dict:
    return {"code": reader.text("code"), "name": reader.text("name"), "alloy": reader.text("alloy"),
            "alloy_family": reader.text("alloy_family"), "temper": reader.text("temper"),
            "gauge_mm": reader.number("gauge_mm"), "width_mm": reader.number("width_mm"),
            "coil_weight_t": reader.number("coil_weight_t"), "gauge_tol_mm": reader.number("gauge_tol_mm"),
            "width_tol_mm": reader.number("width_tol_mm"), "weight_tol_pct": reader.number("weight_tol_pct"),
            "description": reader.text("description")}


def _render_list(errors=None, form=None, status=200):
    args = request.args
    family = args.get("family") if args.get("family") in ALLOY_FAMILIES else None
    q = (args.get("q") or "").strip()[:100] or None
    show = args.get("show", "active")
    active = None if show == "all" else True
    found = list(db.session.scalars(services.products_query(q, family, active).order_by(
        services.Product.code).limit(500)))
    return render_template("products/list.html", products=found, families=ALLOY_FAMILIES,
                           filters={"q": q, "family": family, "show": show}, errors=errors or {}, form=form or {},
                           can_write=_can(PRODUCTS_WRITE)), status


@bp.get("")
@requires(PRODUCTS_READ)
def product_list():
    return _render_list()


@bp.post("")
@requires(PRODUCTS_WRITE)
def create_product():
    reader = FormReader(request.form)
    fields = _product_fields(reader)
    if reader.errors:
        return _render_list(reader.errors, request.form, 422)
    try:
        product = services.create_product(**fields)
    except AppError as exc:
        return _render_list(_errors_of(exc), request.form, 422)
    flash(_("The product %(code)s is added; now give it its routing.", code=product.code), "success")
    return redirect(url_for("products.product_page", product_id=product.id))


def _blank_op() -> dict:
    return {"process": "", "name": "", "rate": None, "rate_unit": "t_per_h", "yield_pct": 100.0,
            "out_gauge_mm": None, "out_width_mm": None, "anneal_recipe": "", "anneal_temp_c": None,
            "anneal_soak_h": None, "anneal_cycle_h": None, "units": []}


def _render_product(product, errors=None, form=None, status=200, rows=None, section=None):
    if rows is None:
        rows = [{**{k: getattr(op, k) for k in services.OPERATION_FIELDS}, "units": op.unit_ids}
                for op in product.operations]
    rows = rows + [_blank_op() for _ in range(2)]
    units = equipment.units()
    problems = services.routing_problems(product) if section != "routing" else {}
    op_errors: dict[int, list] = {}
    if section == "routing":
        for key, messages in (errors or {}).items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "operations" and parts[1].isdigit():
                op_errors.setdefault(int(parts[1]), []).extend(messages)
    return render_template("products/detail.html", product=product, rows=rows, units=units, op_errors=op_errors,
                           unit_codes={u.id: u.code for u in units}, processes=PROCESSES, rate_units=RATE_UNITS,
                           families=ALLOY_FAMILIES, errors=errors or {}, form=form, section=section,
                           problems=problems, steps=_steps(product),
                           can_write=_can(PRODUCTS_WRITE)), status


def _steps(product):
    if not product.operations:
        return []
    return services.strip_path(product, services._ops_as_dicts(product))


@bp.get("/<uuid:product_id>")
@requires(PRODUCTS_READ)
def product_page(product_id):
    return _render_product(services.get_product(product_id))


@bp.post("/<uuid:product_id>")
@requires(PRODUCTS_WRITE)
def save_product(product_id):
    product = services.get_product(product_id)
    reader = FormReader(request.form)
    fields = _product_fields(reader)
    fields["active"] = reader.checked("active")
    if reader.errors:
        return _render_product(product, reader.errors, request.form, 422, section="spec")
    try:
        services.update_product(product, **fields)
    except AppError as exc:
        return _render_product(services.get_product(product_id), _errors_of(exc), request.form, 422, section="spec")
    flash(_("The product %(code)s is saved.", code=product.code), "success")
    return redirect(url_for("products.product_page", product_id=product_id))


def _routing_rows(form, reader: FormReader) -> list[dict]:
    """The editor's rows in their new order, blank and removed rows left out."""
    try:
        count = min(int(form.get("rows", "0")), 60)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        key = f"op-{i}-"
        process = (form.get(key + "process") or "").strip()
        if not process or form.get(key + "remove") == "on":
            continue
        units = []
        for value in form.getlist(key + "units"):
            parsed = FormReader({"u": value}).uuid("u")
            if parsed is not None:
                units.append(parsed)
        order = reader.number(key + "order", key=f"row {i + 1}")
        rows.append((order if order is not None else i + 1, i, {
            "process": process, "name": reader.text(key + "name"), "rate": reader.number(key + "rate"),
            "rate_unit": form.get(key + "rate_unit") or "t_per_h",
            "yield_pct": reader.number(key + "yield_pct") if form.get(key + "yield_pct") else 100.0,
            "out_gauge_mm": reader.number(key + "out_gauge_mm"), "out_width_mm": reader.number(key + "out_width_mm"),
            "anneal_recipe": reader.text(key + "anneal_recipe"), "anneal_temp_c": reader.number(key + "anneal_temp_c"),
            "anneal_soak_h": reader.number(key + "anneal_soak_h"),
            "anneal_cycle_h": reader.number(key + "anneal_cycle_h"), "units": units}))
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


@bp.post("/<uuid:product_id>/routing")
@requires(PRODUCTS_WRITE)
def save_routing(product_id):
    product = services.get_product(product_id)
    reader = FormReader(request.form)
    rows = _routing_rows(request.form, reader)
    if reader.errors:
        return _render_product(product, reader.errors, request.form, 422, rows=rows, section="routing")
    try:
        services.set_routing(product, [{**row, "units": [{"unit_id": u} for u in row["units"]]} for row in rows])
    except AppError as exc:
        errors = _errors_of(exc)
        return _render_product(services.get_product(product_id), errors, request.form, 422, rows=rows,
                               section="routing")
    flash(_("The routing of %(code)s is saved.", code=product.code), "success")
    return redirect(url_for("products.product_page", product_id=product_id) + "#routing")


@bp.post("/<uuid:product_id>/delete")
@requires(PRODUCTS_WRITE)
def delete_product(product_id):
    product = services.get_product(product_id)
    try:
        services.delete_product(product)
    except AppError as exc:
        db.session.rollback()
        for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
            flash(equipment_tr(message), "error")
        return redirect(url_for("products.product_page", product_id=product_id))
    flash(_("The product %(code)s is deleted.", code=product.code), "success")
    return redirect(url_for("products.product_list"))


def equipment_tr(message) -> str:
    from alloyhub.tenants.equipment.messages import translate

    return translate(message, _)


# ---------------------------------------------------------------- set-up rules

def _setup_fields(reader: FormReader) -> dict:
    form = reader.form
    return {"unit_id": reader.uuid("unit_id"), "kind": form.get("kind"), "minutes": reader.number("minutes"),
            "threshold": reader.number("threshold"), "threshold_unit": form.get("threshold_unit") or None,
            "from_value": reader.text("from_value"), "to_value": reader.text("to_value"),
            "description": reader.text("description"), "enabled": reader.checked("enabled")}


def _render_rules(errors=None, form=None, status=200):
    units = equipment.units()
    products = services.products()
    answer = None
    args = request.args
    if args.get("unit_id") and args.get("from") and args.get("to"):
        answer = _evaluate(args, units, products)
    return render_template("products/setup_rules.html", rules=services.setup_rules(), units=units,
                           unit_codes={u.id: u.code for u in units}, products=products, kinds=SETUP_KINDS,
                           threshold_units=THRESHOLD_UNITS, families=ALLOY_FAMILIES, answer=answer,
                           query=args, errors=errors or {}, form=form or {}, can_write=_can(PRODUCTS_WRITE)), status


def _evaluate(args, units, products) -> dict | None:
    by_id = {str(u.id): u for u in units}
    product_by_id = {str(p.id): p for p in products}
    unit, a, b = by_id.get(args.get("unit_id")), product_by_id.get(args.get("from")), product_by_id.get(args.get("to"))
    if unit is None or a is None or b is None:
        return None
    calc = services.setup_calculator(unit)
    return {"unit": unit, "from": a, "to": b, "minutes": calc.minutes(a, b), "rules": calc.explain(a, b),
            "combine": calc.combine}


@bp.get("/setup-rules")
@requires(PRODUCTS_READ)
def setup_rules():
    return _render_rules()


@bp.post("/setup-rules")
@requires(PRODUCTS_WRITE)
def create_setup_rule():
    reader = FormReader(request.form)
    fields = _setup_fields(reader)
    fields["enabled"] = True
    if reader.errors:
        return _render_rules(reader.errors, request.form, 422)
    try:
        services.create_setup_rule(**fields)
    except AppError as exc:
        return _render_rules(_errors_of(exc), request.form, 422)
    flash(_("The set-up rule is added."), "success")
    return redirect(url_for("products.setup_rules"))


def _render_rule(rule, errors=None, form=None, status=200):
    return render_template("products/setup_rule_edit.html", rule=rule, units=equipment.units(), kinds=SETUP_KINDS,
                           threshold_units=THRESHOLD_UNITS, errors=errors or {}, form=form,
                           can_write=_can(PRODUCTS_WRITE)), status


@bp.get("/setup-rules/<uuid:setup_rule_id>")
@requires(PRODUCTS_READ)
def setup_rule_page(setup_rule_id):
    return _render_rule(services.get_setup_rule(setup_rule_id))


@bp.post("/setup-rules/<uuid:setup_rule_id>")
@requires(PRODUCTS_WRITE)
def save_setup_rule(setup_rule_id):
    rule = services.get_setup_rule(setup_rule_id)
    reader = FormReader(request.form)
    fields = _setup_fields(reader)
    if reader.errors:
        return _render_rule(rule, reader.errors, request.form, 422)
    try:
        services.update_setup_rule(rule, **fields)
    except AppError as exc:
        return _render_rule(services.get_setup_rule(setup_rule_id), _errors_of(exc), request.form, 422)
    flash(_("The set-up rule is saved."), "success")
    return redirect(url_for("products.setup_rules"))


@bp.post("/setup-rules/<uuid:setup_rule_id>/delete")
@requires(PRODUCTS_WRITE)
def delete_setup_rule(setup_rule_id):
    services.delete_setup_rule(services.get_setup_rule(setup_rule_id))
    flash(_("The set-up rule is deleted."), "success")
    return redirect(url_for("products.setup_rules"))
