"""Pages: the shop floor (a station per unit, for a tablet: its queue, a coil
scan, start / pause / resume / finish, the output form), and for planners
the work-order list, a work order's detail with actual against planned,
and yields.

Views parse forms, call services and render; a refused action is shown on
the same page, translated, with the service's status.
"""
from __future__ import annotations

import math
import uuid

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from alloyhub.platform.api import paginate
from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError, NotFound
from alloyhub.tenants.inventory import services as inventory

from . import services
from .labels import LABELS, label
from .models import PAUSE_REASONS, QUEUED, STATUSES, WorkOrder
from .permissions import PRODUCTION_EXECUTE, PRODUCTION_READ

bp = Blueprint("production", __name__, template_folder="templates", url_prefix="/production")

PAGE_SIZE = 50
INPUT_ROWS, OUTPUT_ROWS, SCRAP_ROWS = 3, 4, 2
UNIT_COOKIE = "production_unit"


def N_(message: str) -> str:
    return message


def NP_(context: str, message: str) -> str:
    return message


# Messages raised by services (in English), for the catalogue.
SERVICE_MESSAGES = (
    N_("No such work order"), N_("No such equipment unit"),
    N_("Work order %(number)s is %(wo_status)s: it cannot be %(action)s."),
    N_("%(unit)s is running work order %(running)s: pause or finish it first."),
    N_("Step %(step)s of this order line (%(before)s) has not started yet: operations run in routing order."),
    N_("Line %(line_no)s of order %(order)s is cancelled: the work order cannot be %(action)s."),
    N_("The unit started another work order just now; reload and try again."),
    N_("The work order changed while this was saved; reload and try again."),
    N_("Choose a reason from the list."), N_("Say why the work stopped."), N_("Use at most 500 characters."),
    N_("Name one coil or one heat."), N_("No heat numbered %(heat_no)s."), N_("Scan or type a coil number."),
    N_("started"), N_("paused"), N_("resumed"), N_("finished"), N_("reported"),
    NP_("work order status", "released"), NP_("work order status", "started"),
    NP_("work order status", "paused"), NP_("work order status", "finished"),
    NP_("work order status", "cancelled"),
    N_("See work orders, the shop floor, pauses and yields"),
    N_("Start, pause, resume and finish work orders and report their output"),
)


@bp.app_template_filter("wo_label")
def wo_label(value) -> str:
    return label(value)


@bp.app_template_filter("wo_num")
def wo_num(value, digits: int = 1) -> str:
    """A number for people: thousands separated, no trailing zeros."""
    if value is None:
        return "—"
    text = f"{float(value):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@bp.app_template_filter("wo_when")
def wo_when(value) -> str:
    return value.strftime("%m-%d %H:%M") if value else "—"


@bp.app_template_filter("wo_signed")
def wo_signed(value, digits: int = 0) -> str:
    """A deviation: +12 (late, more) or −5."""
    if value is None:
        return "—"
    text = wo_num(abs(value), digits)
    return ("+" if value > 0 else "−" if value < 0 else "") + text


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _messages(exc: AppError) -> list[str]:
    if hasattr(exc, "translated"):
        return [exc.translated(_)]
    found = [m for msgs in (exc.errors or {}).values() for m in (msgs if isinstance(msgs, list) else [msgs])]
    return [_(str(m)) for m in found] or [_(str(exc.detail))]


def _uuid_or_404(value):
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        abort(404)


def _arg_uuid(name):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        abort(400)


def _float(raw: str | None, key: str, errors: dict):
    raw = (raw or "").strip().replace(",", "")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > 1e9:
        errors.setdefault(key, []).append(_("Enter a number."))
        return None
    return value


def _safe_next(default: str) -> str:
    target = request.form.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


def _labels(wos) -> dict:
    """Order line and product labels for a page of work orders."""
    from alloyhub.tenants.orders.models import OrderLine
    from alloyhub.tenants.products.models import Product
    from sqlalchemy import select

    line_ids = {wo.order_line_id for wo in wos}
    product_ids = {wo.product_id for wo in wos}
    lines = {line.id: f"{line.order.number}/{line.line_no}" for line in db.session.scalars(
        select(OrderLine).where(OrderLine.id.in_(line_ids)))} if line_ids else {}
    products = {p.id: f"{p.code} · {p.spec}" for p in db.session.scalars(
        select(Product).where(Product.id.in_(product_ids)))} if product_ids else {}
    units = {u.id: u for u in services.units()}
    return {"lines": lines, "products": products, "units": units}


# ---------------------------------------------------------------- the shop floor

@bp.get("/")
@requires(PRODUCTION_READ)
def index():
    return redirect(url_for("production.floor"))


@bp.get("/floor")
@requires(PRODUCTION_READ)
def floor():
    """Pick the unit this tablet stands at; a remembered one opens at once."""
    remembered = request.cookies.get(UNIT_COOKIE)
    if remembered and not request.args.get("pick"):
        try:
            unit = services.get_unit(remembered)
        except NotFound:
            unit = None
        if unit is not None:
            return redirect(url_for("production.station", unit_id=unit.id))
    units = services.units()
    waiting = {u.id: len(services.queue(u.id)) for u in units}
    return render_template("production/floor.html", units=units, waiting=waiting)


def _render_station(unit, *, wo=None, coil_no=None, matches=None, errors=None, form=None, status=200):
    queue = services.queue(unit.id)
    finished = services.recently_finished(unit.id)
    selected_id = wo.id if wo is not None else _arg_uuid("wo")
    if wo is None and selected_id:
        try:
            wo = services.get_work_order(selected_id)
        except NotFound:
            wo = None
        if wo is not None and wo.unit_id != unit.id:
            wo = None
    if wo is None and queue and not matches:
        wo = next((w for w in queue if w.status in ("started", "paused")), None)
    suggestions = services.suggested_inputs(wo) if wo is not None and wo.status != "released" else []
    context = dict(
        unit=unit, queue=queue, finished=finished, wo=wo, coil_no=coil_no or request.args.get("coil") or "",
        matches=matches or [], errors=errors or {}, form=form or {}, reasons=PAUSE_REASONS,
        suggestions=suggestions, locations=inventory.locations() if wo is not None else [],
        variance=services.variance(wo) if wo is not None else None,
        events=services.events(wo) if wo is not None else [],
        can_execute=_can(PRODUCTION_EXECUTE), input_rows=INPUT_ROWS, output_rows=OUTPUT_ROWS,
        scrap_rows=SCRAP_ROWS, labels=_labels(queue + finished + ([wo] if wo else [])))
    response = make_response(render_template("production/station.html", **context), status)
    # The tablet stays at this unit: the floor page opens it next time.
    response.set_cookie(UNIT_COOKIE, str(unit.id), max_age=365 * 24 * 3600, path="/production", samesite="Lax",
                        httponly=True, secure=request.is_secure)
    return response


@bp.get("/floor/<uuid:unit_id>")
@requires(PRODUCTION_READ)
def station(unit_id):
    return _render_station(services.get_unit(unit_id))


@bp.post("/floor/<uuid:unit_id>/scan")
@requires(PRODUCTION_READ)
def scan(unit_id):
    """A scanner typed a coil label (or the camera read one): the work order it feeds."""
    unit = services.get_unit(unit_id)
    scanned = (request.form.get("scanned") or "").strip()
    try:
        found = services.find_for_coil(unit.id, scanned)
    except AppError as exc:
        db.session.rollback()
        return _render_station(unit, errors={"scanned": _messages(exc)}, form={"scanned": scanned},
                               status=exc.status)
    coil = found["coil"]
    if found["work_order"] is not None:
        return redirect(url_for("production.station", unit_id=unit.id, wo=found["work_order"].id,
                                coil=coil.coil_no), code=303)
    return _render_station(unit, coil_no=coil.coil_no, matches=found["matches"] or found["queue"],
                           errors={"pick": [_("Coil %(coil_no)s: choose the work order it goes into.",
                                              coil_no=coil.coil_no)]} if found["queue"] else
                           {"scanned": [_("Coil %(coil_no)s is not an input of any work order of this unit.",
                                          coil_no=coil.coil_no)]})


# ---------------------------------------------------------------- actions (the station and the detail page)

def _after_action(wo: WorkOrder, coil_no: str | None = None):
    station_unit = request.form.get("station")
    if station_unit:
        return redirect(url_for("production.station", unit_id=_uuid_or_404(station_unit), wo=wo.id,
                                coil=coil_no or None), code=303)
    return redirect(_safe_next(url_for("production.detail", work_order_id=wo.id)), code=303)


def _refused(work_order_id, exc: AppError, form=None):
    """Show the refusal on the page the action came from, with its status."""
    db.session.rollback()
    wo = services.get_work_order(work_order_id)
    errors = _form_errors(exc)
    station_unit = request.form.get("station")
    if station_unit:
        unit = services.get_unit(_uuid_or_404(station_unit))
        return _render_station(unit, wo=wo if wo.unit_id == unit.id else None, errors=errors, form=form,
                               coil_no=request.form.get("coil"), status=exc.status)
    return _render_detail(wo, errors=errors, form=form, status=exc.status)


def _form_errors(exc: AppError) -> dict:
    if hasattr(exc, "translated"):
        return {"__all__": [exc.translated(_)]}
    if exc.errors:
        return {"__all__": [f"{_(str(m))}" for msgs in exc.errors.values()
                            for m in (msgs if isinstance(msgs, list) else [msgs])], **{
            k: [_(str(m)) for m in (v if isinstance(v, list) else [v])] for k, v in exc.errors.items()}}
    return {"__all__": [_(str(exc.detail))]}


@bp.post("/work-orders/<uuid:work_order_id>/start")
@requires(PRODUCTION_EXECUTE)
def start(work_order_id):
    try:
        wo = services.start(work_order_id)
    except AppError as exc:
        return _refused(work_order_id, exc)
    return _after_action(wo, request.form.get("coil"))


@bp.post("/work-orders/<uuid:work_order_id>/pause")
@requires(PRODUCTION_EXECUTE)
def pause(work_order_id):
    try:
        wo = services.pause(work_order_id, request.form.get("reason"), request.form.get("note"))
    except AppError as exc:
        return _refused(work_order_id, exc, form=request.form)
    return _after_action(wo, request.form.get("coil"))


@bp.post("/work-orders/<uuid:work_order_id>/resume")
@requires(PRODUCTION_EXECUTE)
def resume(work_order_id):
    try:
        wo = services.resume(work_order_id)
    except AppError as exc:
        return _refused(work_order_id, exc)
    return _after_action(wo, request.form.get("coil"))


@bp.post("/work-orders/<uuid:work_order_id>/finish")
@requires(PRODUCTION_EXECUTE)
def finish(work_order_id):
    try:
        wo = services.finish(work_order_id)
    except AppError as exc:
        return _refused(work_order_id, exc)
    return _after_action(wo, request.form.get("coil"))


def _parse_output(form) -> tuple[dict, dict]:
    errors: dict[str, list] = {}
    inputs, outputs, scrap = [], [], []
    for i in range(INPUT_ROWS):
        coil_no = (form.get(f"in_coil-{i}") or "").strip()
        weight = _float(form.get(f"in_weight-{i}"), f"in_weight-{i}", errors)
        if coil_no:
            inputs.append({"coil_no": coil_no, "weight_kg": weight})
    heat_no = (form.get("heat_no") or "").strip()
    heat_weight = _float(form.get("heat_weight"), "heat_weight", errors)
    if heat_no:
        inputs.append({"heat_no": heat_no, "weight_kg": heat_weight})
    for j in range(OUTPUT_ROWS):
        values = {name: (form.get(f"out_{name}-{j}") or "").strip() for name in ("coil", "weight", "gauge", "width")}
        if not any(values.values()):
            continue
        outputs.append({"coil_no": values["coil"],
                        "weight_kg": _float(values["weight"], f"out_weight-{j}", errors),
                        "gauge_mm": _float(values["gauge"], f"out_gauge-{j}", errors),
                        "width_mm": _float(values["width"], f"out_width-{j}", errors)})
    for k in range(SCRAP_ROWS):
        weight = _float(form.get(f"scrap_weight-{k}"), f"scrap_weight-{k}", errors)
        reason = (form.get(f"scrap_reason-{k}") or "").strip()
        if weight is not None or reason:
            scrap.append({"weight_kg": weight, "reason": reason})
    location = (form.get("location_id") or "").strip()
    location_id = None
    if location:
        try:
            location_id = uuid.UUID(location)
        except ValueError:
            errors.setdefault("location_id", []).append(_("Choose from the list."))
    return {"inputs": inputs, "outputs": outputs, "scrap": scrap, "location_id": location_id,
            "note": (form.get("note") or "").strip() or None}, errors


@bp.post("/work-orders/<uuid:work_order_id>/output")
@requires(PRODUCTION_EXECUTE)
def output(work_order_id):
    data, errors = _parse_output(request.form)
    if errors:
        exc = AppError(_("Some values are not numbers."), errors=errors)
        exc.status = 422
        return _refused(work_order_id, exc, form=request.form)
    try:
        event = services.report_output(work_order_id, **data)
    except AppError as exc:
        return _refused(work_order_id, exc, form=request.form)
    wo = services.get_work_order(work_order_id)
    return _after_action(wo, (event.outputs or [{}])[0].get("no"))


# ---------------------------------------------------------------- planners' pages

@bp.get("/work-orders")
@requires(PRODUCTION_READ)
def work_orders():
    status = request.args.get("status") or None
    if status and status not in STATUSES and status != "open":
        abort(400)
    unit_id = _arg_uuid("unit_id")
    q = (request.args.get("q") or "").strip()[:40] or None
    args = {"limit": PAGE_SIZE, "cursor": request.args.get("cursor") or None}
    stmt = services.work_orders_query(status=QUEUED if status == "open" else status, unit_id=unit_id, q=q)
    page = paginate(stmt, args, (WorkOrder.planned_start, WorkOrder.id))
    return render_template("production/list.html", page=page, status=status, unit_id=unit_id, q=q or "",
                           statuses=STATUSES, units=services.units(), labels=_labels(page["items"]),
                           variances={wo.id: services.variance(wo) for wo in page["items"]})


def _render_detail(wo: WorkOrder, *, errors=None, form=None, status=200):
    return render_template("production/detail.html", wo=wo, variance=services.variance(wo),
                           pauses=services.pauses(wo), events=services.events(wo), coils=services.coils_made(wo),
                           labels=_labels([wo]), errors=errors or {}, form=form or {},
                           can_execute=_can(PRODUCTION_EXECUTE), reasons=PAUSE_REASONS, coil_no="",
                           suggestions=services.suggested_inputs(wo) if wo.status != "released" else [],
                           locations=inventory.locations(), input_rows=INPUT_ROWS, output_rows=OUTPUT_ROWS,
                           scrap_rows=SCRAP_ROWS), status


@bp.get("/work-orders/<uuid:work_order_id>")
@requires(PRODUCTION_READ)
def detail(work_order_id):
    return _render_detail(services.get_work_order(work_order_id))


@bp.get("/yields")
@requires(PRODUCTION_READ)
def yields():
    group_by = request.args.get("group_by") or "operation"
    if group_by not in ("operation", "order_line", "product", "unit"):
        abort(400)
    return render_template("production/yields.html", group_by=group_by, rows=services.yields(group_by),
                           groups=("operation", "order_line", "product", "unit"), labels=LABELS)
