"""Pages: stock (with filters), stock by lot, warehouses and locations, a
coil (its moves, genealogy, actions and label), receipts, heats,
reservations with FIFO suggestions, shipments with packing lists, the
genealogy explorer with yield, the move ledger and a production step form.

Views parse forms, call services and render; a refused action is shown as
an error message (translated) on the same page, with the service's status.
"""
from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from alloyhub.platform.api import paginate
from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError

from . import services
from .api import csv_response
from .errors import Invalid
from .models import (
    COIL_STATUSES,
    LOCATION_KINDS,
    MOVE_KINDS,
    NODE_KINDS,
    RESERVATION_STATUSES,
    SHIPMENT_STATUSES,
    Coil,
    Heat,
    Location,
    Move,
    Reservation,
    Shipment,
)
from .permissions import (
    INVENTORY_ADJUST,
    INVENTORY_CONFIGURE,
    INVENTORY_READ,
    INVENTORY_SHIP,
    INVENTORY_WRITE,
)

bp = Blueprint("inventory", __name__, template_folder="templates", url_prefix="/inventory")

PAGE_SIZE = 50
RECEIPT_ROWS = 5


def N_(message: str) -> str:
    return message


# Stored values shown to people (translated on the page by the `inv_label` filter).
LABELS = {
    "available": _l("Available"), "reserved": _l("Reserved"), "quarantined": _l("Quarantined"),
    "issued": _l("In production"), "consumed": _l("Consumed"), "shipped": _l("Shipped"), "in_stock": _l("In stock"),
    "all": _l("All"),
    "receipt": _l("Receipt"), "issue": _l("Issue to production"), "return": _l("Return from production"),
    "consume": _l("Consumed by production"), "output": _l("Production output"), "transfer": _l("Transfer"),
    "shipment": _l("Shipment"), "adjustment": _l("Adjustment"), "quarantine": _l("Quarantine"),
    "release": _l("Quarantine lifted"),
    "storage": _l("Storage"), "staging": _l("Staging"), "dock": _l("Dispatch dock"),
    "production": _l("Production"),
    "active": _l("Held"), "released": _l("Released"), "fulfilled": _l("Fulfilled"),
    "draft": _l("Draft"), "delivered": _l("Delivered"), "cancelled": _l("Cancelled"),
    "heat": _l("Heat"), "lot": _l("Lot"), "coil": _l("Coil"),
    "operation": _l("Operation"), "order_line": _l("Order line"), "product": _l("Product"), "unit": _l("Equipment unit"),
    "receipt_origin": _l("Received"), "production_origin": _l("Produced"),
}
# Messages raised by services (in English), and words put into them, for the catalogue.
SERVICE_MESSAGES = (
    N_("No such site."), N_("No such warehouse."), N_("No such location."), N_("No such heat."), N_("No such lot."),
    N_("No such coil."), N_("No such coil"), N_("No such shipment"), N_("No such reservation"),
    N_("No such warehouse"), N_("No such location"), N_("No such heat"), N_("No such lot"),
    N_("No such production step"), N_("This coil is not on the shipment"),
    N_("Enter a short warehouse code."), N_("Enter the location code."), N_("Enter the heat number."),
    N_("Enter the lot number."), N_("Enter the coil number."), N_("Enter the shipment number."),
    N_("Use at most 40 characters."), N_("Use at most 60 characters."), N_("Use letters, digits and . _ / - only."),
    N_("Another warehouse already uses this code."), N_("Enter the warehouse name."),
    N_("Another location of this warehouse already uses this code."), N_("Choose a kind of location."),
    N_("Enter a whole number of coils, or leave it empty."), N_("Enter a weight in kg, or leave it empty."),
    N_("The location %(location)s is not in use."),
    N_("%(location)s holds at most %(capacity)s coils; %(used)s are there."),
    N_("%(location)s holds at most %(capacity)s kg; %(used)s kg are there."),
    N_("Give the chemistry as element: mass %."), N_("Name the elements by their symbols (Si, Fe, Cu, …)."),
    N_("Each element's mass % must be between 0 and 100."), N_("The elements add up to more than 100 %."),
    N_("Another heat already has this number."), N_("Enter the alloy."), N_("Enter a weight above zero."),
    N_("Another lot already has this number."), N_("Enter a size above zero."),
    N_("No coil numbered %(coil_no)s."), N_("Another coil already has this number."),
    N_("The coil was booked by someone else just now; reload and try again."),
    N_("The stock changed while this was saved; reload and try again."),
    N_("Enter the gauge (above zero)."), N_("Enter the width (above zero)."), N_("Enter the weight (above zero)."),
    N_("Enter the length (above zero), or leave it empty."), N_("Add at least one coil."),
    N_("This coil number appears twice."), N_("Choose where the coil goes."),
    N_("Coil %(coil_no)s is quarantined (%(reason)s): it cannot be %(action)s."),
    N_("Coil %(coil_no)s is reserved for order line %(order_line_id)s: it cannot be %(action)s."),
    N_("Coil %(coil_no)s is issued to production: it cannot be %(action)s."),
    N_("Coil %(coil_no)s is %(coil_status)s: it cannot be %(action)s."),
    N_("Coil %(coil_no)s is on shipment %(shipment_no)s: it cannot be %(action)s."),
    N_("The coil is already there."), N_("Give the reason for the adjustment."),
    N_("Give either the new weight or the change."), N_("Enter a number."),
    N_("Coil %(coil_no)s weighs %(weight)s kg: it cannot lose %(loss)s kg."), N_("The weight is unchanged."),
    N_("Coil %(coil_no)s is on shipment %(shipment_no)s: take it off first."),
    N_("Give the reason for the quarantine."), N_("Give the reason for lifting the quarantine."),
    N_("Coil %(coil_no)s is not quarantined."), N_("Choose at least one coil."), N_("Name the order line."),
    N_("Coil %(coil_no)s is already reserved for this order line."),
    N_("Coil %(coil_no)s is already reserved for order line %(order_line_id)s."),
    N_("This reservation is %(reservation_status)s already."),
    N_("The tolerance cannot be negative."), N_("Enter a number above zero, or leave it empty."),
    N_("Enter the customer."), N_("Another shipment already has this number."),
    N_("Could not number the shipment; try again."),
    N_("Shipment %(shipment_no)s is %(shipment_status)s: only a draft can be changed."),
    N_("Shipment %(shipment_no)s is %(shipment_status)s: coils can be added to a draft only."),
    N_("Shipment %(shipment_no)s is %(shipment_status)s: coils can be taken off a draft only."),
    N_("Shipment %(shipment_no)s is %(shipment_status)s already."),
    N_("Shipment %(shipment_no)s is %(shipment_status)s: only a shipped one can be delivered."),
    N_("Shipment %(shipment_no)s is %(shipment_status)s: only a draft can be cancelled."),
    N_("Choose a coil."), N_("Coil %(coil_no)s is on shipment %(shipment_no)s already."),
    N_("Coil %(coil_no)s is reserved for order line %(order_line_id)s: it cannot be %(action)s for another line."),
    N_("Coil %(coil_no)s weighs nothing."), N_("Add coils to the shipment first."),
    N_("The delivery cannot be before the shipment left."),
    N_("Choose heat, lot or coil."), N_("No such %(kind)s."), N_("Name the operation."),
    N_("Enter a weight above zero, or leave it empty."), N_("A %(kind)s cannot be its own parent."),
    N_("This link exists already."),
    N_("%(parent)s descends from %(child)s already: the link would make a cycle."),
    N_("Group by operation, order_line, product or unit."), N_("Name what went in."),
    N_("Name what came out (coils or scrap)."), N_("Enter the weight cast from the heat."),
    N_("Name one coil or one heat."), N_("A coil appears twice among the inputs."),
    N_("Give the reason for the scrap."),
    N_("Coil %(coil_no)s weighs %(weight)s kg: %(wanted)s kg cannot be consumed."),
    N_("Outputs and scrap weigh %(out)s kg, more than the %(in_)s kg that went in."),
    N_("The inputs are of several alloys: name the output's alloy."),
    # Words put into the messages above.
    N_("moved"), N_("adjusted"), N_("quarantined"), N_("issued to production"), N_("reserved"), N_("shipped"),
    N_("consumed"), N_("available"), N_("issued"), N_("released"), N_("fulfilled"), N_("draft"),
    N_("delivered"), N_("cancelled"), N_("heat"), N_("lot"), N_("coil"),
    # Permissions.
    N_("See stock, moves, reservations, shipments and genealogy"),
    N_("Receive, move and issue coils, reserve them and record production"),
    N_("Prepare, confirm and deliver shipments"), N_("Adjust stock weights and quarantine coils, with a reason"),
    N_("Set up warehouses and locations"),
)


@bp.app_template_filter("inv_label")
def inv_label(value) -> str:
    return str(LABELS.get(value, value or ""))


@bp.app_template_filter("inv_num")
def num(value, digits: int = 3) -> str:
    """A number for people: thousands separated, no trailing zeros."""
    if value is None:
        return "—"
    text = f"{float(value):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@bp.app_template_filter("inv_when")
def when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


@bp.app_template_filter("inv_unit")
def unit_label(unit_id) -> str:
    """An equipment unit's code and name (looked up once per request), or its short id."""
    if not unit_id:
        return "—"
    labels = g.get("_inventory_units")
    if labels is None:
        labels = g._inventory_units = services.unit_labels()
    return labels.get(unit_id) or str(unit_id)[:8]


@bp.app_template_filter("inv_short")
def short_id(value) -> str:
    return str(value)[:8] if value else "—"


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _perms() -> dict:
    return {"can_write": _can(INVENTORY_WRITE), "can_ship": _can(INVENTORY_SHIP),
            "can_adjust": _can(INVENTORY_ADJUST), "can_configure": _can(INVENTORY_CONFIGURE)}


def _messages(exc: AppError) -> list[str]:
    """The error's messages, translated (with their parameters)."""
    if hasattr(exc, "translated"):
        return [exc.translated(_)]
    messages = [m for msgs in (exc.errors or {}).values() for m in (msgs if isinstance(msgs, list) else [msgs])]
    return [_(str(m)) for m in messages] or [_(str(exc.detail))]


def _form_errors(exc: AppError) -> dict:
    """Field errors for a form (translated), or the message above the form."""
    db.session.rollback()
    if hasattr(exc, "translated"):
        field = next(iter(exc.errors or {}), "__all__")
        return {field.split(".")[-1]: [exc.translated(_)]}
    if exc.errors:
        return {k.split(".")[-1] if k.count(".") < 2 else k: [_(str(m)) for m in v] for k, v in exc.errors.items()}
    return {"__all__": [_(str(exc.detail))]}


def _fail(exc: AppError) -> None:
    db.session.rollback()
    for message in _messages(exc):
        flash(message, "error")


# ---------------------------------------------------------------- parsing forms

def _text(form, name) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def _float(form, name, errors, key=None):
    raw = (form.get(name) or "").strip().replace(",", "")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > 1e9:
        errors.setdefault(key or name, []).append(_("Enter a number."))
        return None
    return value


def _int(form, name, errors):
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.setdefault(name, []).append(_("Enter a whole number of coils, or leave it empty."))
        return None
    if not 0 <= value <= 1_000_000:
        errors.setdefault(name, []).append(_("Enter a whole number of coils, or leave it empty."))
        return None
    return value


def _uuid(value, errors=None, name=None):
    if not value:
        return None
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        if errors is None:
            abort(400)
        errors.setdefault(name, []).append(_("Choose from the list."))
        return None


def _arg_uuid(name):
    return _uuid(request.args.get(name))


def _arg_float(name):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        abort(400)
    if not math.isfinite(value) or value < 0 or value > 1e9:
        abort(400)
    return value


def _datetime(form, name, errors):
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors.setdefault(name, []).append(_("Enter a date and time."))
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _back(default: str):
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = default
    return redirect(target, code=303)


def _qr_svg(data: str, scale: int = 4) -> Markup:
    # segno writes a self-contained SVG: no image request, no third party.
    return Markup(segno.make(data, error="m").svg_inline(scale=scale, dark="#000000", light="#ffffff"))


def _absolute(path: str) -> str:
    # From configuration, never from the Host header.
    return current_app.config.get("BASE_URL", "").rstrip("/") + path


def label_url(coil: Coil) -> str:
    """What a coil's QR code carries: a link that opens the coil (the coil
    number is its last part, so a scanner at a work station reads it too)."""
    return _absolute(url_for("inventory.scan", coil_no=coil.coil_no))


# ---------------------------------------------------------------- stock

STOCK_FILTERS = ("status", "alloy", "temper", "warehouse_id", "location_id", "lot_id", "heat_id", "q",
                 "gauge_min", "gauge_max", "width_min", "width_max")


@bp.get("")
@requires(INVENTORY_READ)
def stock():
    args = request.args
    status = args.get("status") or "in_stock"
    if status not in ("in_stock", "all", *COIL_STATUSES):
        abort(400)
    filters = {
        "status": status if status in COIL_STATUSES else None, "in_stock": status == "in_stock",
        "alloy": (args.get("alloy") or "").strip()[:20] or None, "temper": (args.get("temper") or "").strip()[:20] or None,
        "warehouse_id": _arg_uuid("warehouse_id"), "location_id": _arg_uuid("location_id"),
        "lot_id": _arg_uuid("lot_id"), "heat_id": _arg_uuid("heat_id"), "q": (args.get("q") or "").strip()[:60] or None,
        "gauge_min": _arg_float("gauge_min"), "gauge_max": _arg_float("gauge_max"),
        "width_min": _arg_float("width_min"), "width_max": _arg_float("width_max"),
    }
    page = paginate(services.coils_query(**filters), {"limit": PAGE_SIZE, "cursor": args.get("cursor")},
                    (Coil.fifo_at, Coil.id))
    next_args = {k: v for k, v in args.items() if k != "cursor" and v}
    return render_template("inventory/stock.html", coils=page["items"], next_cursor=page["next_cursor"],
                           next_args=next_args, status=status, filters=filters, args=args,
                           statuses=("in_stock", "all", *COIL_STATUSES), alloys=services.alloys_in_use(),
                           warehouses=services.warehouses(), locations=services.locations(active_only=False),
                           summary=services.stock_summary(), **_perms())


@bp.get("/find")
@requires(INVENTORY_READ)
def find():
    """A typed or scanned coil number: straight to the coil."""
    scanned = (request.args.get("q") or "").strip()[:500]
    coil = services.coil_by_number(services.coil_no_from_scan(scanned)) if scanned else None
    if coil is None:
        flash(_("No coil numbered %(coil_no)s.", coil_no=services.coil_no_from_scan(scanned) or "—"), "error")
        return redirect(url_for("inventory.stock", q=services.coil_no_from_scan(scanned) or None))
    return redirect(url_for("inventory.coil", coil_id=coil.id))


@bp.get("/c/<coil_no>")
@requires(INVENTORY_READ)
def scan(coil_no):
    """Where a label's QR code points: the coil's page."""
    coil = services.coil_by_number(coil_no)
    if coil is None:
        abort(404)
    return _render_coil(coil.id)


@bp.get("/lots")
@requires(INVENTORY_READ)
def lots():
    return render_template("inventory/lots.html", rows=services.stock_by_lot(), **_perms())


@bp.get("/moves")
@requires(INVENTORY_READ)
def moves():
    kind = request.args.get("kind") or None
    if kind is not None and kind not in MOVE_KINDS:
        abort(400)
    page = paginate(services.moves_query(kind=kind), {"limit": PAGE_SIZE, "cursor": request.args.get("cursor")},
                    (Move.at, Move.seq), descending=True)
    return render_template("inventory/moves.html", moves=page["items"], next_cursor=page["next_cursor"], kind=kind,
                           kinds=MOVE_KINDS, users=services.user_names(m.user_id for m in page["items"]))


# ---------------------------------------------------------------- warehouses and locations

def _render_warehouses(errors=None, form=None, status=200):
    warehouses = services.warehouses()
    usage = services.location_usage()
    totals = {}
    for warehouse in warehouses:
        ids = {loc.id for loc in warehouse.locations}
        totals[warehouse.id] = (sum(usage.get(i, (0, 0))[0] for i in ids), sum(usage.get(i, (0, 0))[1] for i in ids))
    return render_template("inventory/warehouses.html", warehouses=warehouses, totals=totals, sites=services.sites(),
                           errors=errors or {}, form=form or {}, **_perms()), status


@bp.get("/warehouses")
@requires(INVENTORY_READ)
def warehouses():
    return _render_warehouses()


@bp.post("/warehouses")
@requires(INVENTORY_CONFIGURE)
def create_warehouse():
    form = request.form
    errors: dict = {}
    site_id = _uuid(form.get("site_id"), errors, "site_id")
    if errors:
        return _render_warehouses(errors, form, 422)
    try:
        warehouse = services.create_warehouse(site_id=site_id, code=form.get("code", ""), name=form.get("name", ""),
                                              address=form.get("address"))
    except AppError as exc:
        return _render_warehouses(_form_errors(exc), form, exc.status)
    flash(_("The warehouse %(code)s is added.", code=warehouse.code), "success")
    return redirect(url_for("inventory.warehouse", warehouse_id=warehouse.id), code=303)


def _render_warehouse(warehouse, errors=None, form=None, loc_errors=None, loc_form=None, status=200):
    return render_template("inventory/warehouse.html", warehouse=warehouse,
                           locations=list(db.session.scalars(services.locations_query(warehouse.id)
                                                             .order_by(Location.code))),
                           usage=services.location_usage(), sites=services.sites(), kinds=LOCATION_KINDS,
                           errors=errors or {}, form=form, loc_errors=loc_errors or {}, loc_form=loc_form or {},
                           **_perms()), status


@bp.get("/warehouses/<uuid:warehouse_id>")
@requires(INVENTORY_READ)
def warehouse(warehouse_id):
    return _render_warehouse(services.get_warehouse(warehouse_id))


@bp.post("/warehouses/<uuid:warehouse_id>")
@requires(INVENTORY_CONFIGURE)
def update_warehouse(warehouse_id):
    warehouse = services.get_warehouse(warehouse_id)
    form = request.form
    errors: dict = {}
    site_id = _uuid(form.get("site_id"), errors, "site_id")
    if errors:
        return _render_warehouse(warehouse, errors, form, status=422)
    try:
        services.update_warehouse(warehouse, site_id=site_id, code=form.get("code", ""), name=form.get("name", ""),
                                  address=form.get("address") or None, active=form.get("active") == "on")
    except AppError as exc:
        errors = _form_errors(exc)
        return _render_warehouse(services.get_warehouse(warehouse_id), errors, form, status=exc.status)
    flash(_("The warehouse %(code)s is saved.", code=warehouse.code), "success")
    return redirect(url_for("inventory.warehouse", warehouse_id=warehouse.id), code=303)


@bp.post("/warehouses/<uuid:warehouse_id>/locations")
@requires(INVENTORY_CONFIGURE)
def create_location(warehouse_id):
    warehouse = services.get_warehouse(warehouse_id)
    form = request.form
    errors: dict = {}
    capacity_coils = _int(form, "capacity_coils", errors)
    capacity_kg = _float(form, "capacity_kg", errors)
    if errors:
        return _render_warehouse(warehouse, loc_errors=errors, loc_form=form, status=422)
    try:
        location = services.create_location(warehouse, code=form.get("code", ""), name=form.get("name"),
                                            kind=form.get("kind") or "storage", capacity_coils=capacity_coils,
                                            capacity_kg=capacity_kg)
    except AppError as exc:
        errors = _form_errors(exc)
        return _render_warehouse(services.get_warehouse(warehouse_id), loc_errors=errors, loc_form=form,
                                 status=exc.status)
    flash(_("The location %(code)s is added.", code=location.code), "success")
    return redirect(url_for("inventory.warehouse", warehouse_id=warehouse.id), code=303)


def _render_location(location, errors=None, form=None, status=200):
    coils = list(db.session.scalars(services.coils_query(location_id=location.id, in_stock=True)
                                    .order_by(Coil.fifo_at).limit(500)))
    return render_template("inventory/location.html", location=location, coils=coils, kinds=LOCATION_KINDS,
                           errors=errors or {}, form=form, **_perms()), status


@bp.get("/locations/<uuid:stock_location_id>")
@requires(INVENTORY_READ)
def location(stock_location_id):
    return _render_location(services.get_location(stock_location_id))


@bp.post("/locations/<uuid:stock_location_id>")
@requires(INVENTORY_CONFIGURE)
def update_location(stock_location_id):
    location = services.get_location(stock_location_id)
    form = request.form
    errors: dict = {}
    capacity_coils = _int(form, "capacity_coils", errors)
    capacity_kg = _float(form, "capacity_kg", errors)
    if errors:
        return _render_location(location, errors, form, 422)
    try:
        services.update_location(location, code=form.get("code", ""), name=form.get("name"),
                                 kind=form.get("kind") or "storage", capacity_coils=capacity_coils,
                                 capacity_kg=capacity_kg, active=form.get("active") == "on")
    except AppError as exc:
        errors = _form_errors(exc)
        return _render_location(services.get_location(stock_location_id), errors, form, exc.status)
    flash(_("The location %(code)s is saved.", code=location.code), "success")
    return redirect(url_for("inventory.warehouse", warehouse_id=location.warehouse_id), code=303)


# ---------------------------------------------------------------- a coil

def _render_coil(coil_id, status=200, errors=None):
    coil = services.get_coil(coil_id)
    moves = services.coil_moves(coil)
    ancestry = services.ancestry("coil", coil.id)
    descendants = services.descendants("coil", coil.id)
    reservation = services.active_reservation(coil)
    return render_template("inventory/coil.html", coil=coil, moves=moves, reservation=reservation,
                           ancestry=ancestry, ancestry_tree=services.tree(ancestry, upward=True),
                           descendants=descendants, descendants_tree=services.tree(descendants, upward=False),
                           users=services.user_names(m.user_id for m in moves),
                           locations=services.locations(), errors=errors or {}, **_perms()), status


@bp.get("/coils/<uuid:coil_id>")
@requires(INVENTORY_READ)
def coil(coil_id):
    return _render_coil(coil_id)


def _coil_action(coil_id, action, success: str):
    coil = services.get_coil(coil_id)
    try:
        action(coil)
    except AppError as exc:
        _fail(exc)
        return _render_coil(coil_id, exc.status)
    flash(success, "success")
    return redirect(url_for("inventory.coil", coil_id=coil_id), code=303)


@bp.post("/coils/<uuid:coil_id>/transfer")
@requires(INVENTORY_WRITE)
def transfer(coil_id):
    errors: dict = {}
    location_id = _uuid(request.form.get("location_id"), errors, "location_id")
    if errors:
        flash(_("Choose where the coil goes."), "error")
        return _render_coil(coil_id, 422)
    return _coil_action(coil_id, lambda c: services.transfer(c, location_id, request.form.get("reason")),
                        _("The coil is moved."))


@bp.post("/coils/<uuid:coil_id>/adjust")
@requires(INVENTORY_ADJUST)
def adjust(coil_id):
    errors: dict = {}
    weight = _float(request.form, "weight_kg", errors)
    delta = _float(request.form, "delta_kg", errors)
    if errors:
        flash(_("Enter a number."), "error")
        return _render_coil(coil_id, 422)
    return _coil_action(coil_id, lambda c: services.adjust(c, reason=request.form.get("reason", ""), weight_kg=weight,
                                                           delta_kg=delta), _("The weight is adjusted."))


@bp.post("/coils/<uuid:coil_id>/quarantine")
@requires(INVENTORY_ADJUST)
def quarantine(coil_id):
    return _coil_action(coil_id, lambda c: services.quarantine(c, request.form.get("reason", "")),
                        _("The coil is quarantined."))


@bp.post("/coils/<uuid:coil_id>/release-quarantine")
@requires(INVENTORY_ADJUST)
def release_quarantine(coil_id):
    return _coil_action(coil_id, lambda c: services.release_quarantine(c, request.form.get("reason", "")),
                        _("The quarantine is lifted."))


@bp.post("/coils/<uuid:coil_id>/reserve")
@requires(INVENTORY_WRITE)
def reserve_coil(coil_id):
    errors: dict = {}
    line = _uuid(request.form.get("order_line_id"), errors, "order_line_id")
    if errors or line is None:
        flash(_("Name the order line."), "error")
        return _render_coil(coil_id, 422)
    return _coil_action(coil_id, lambda c: services.reserve([c.id], line, request.form.get("note")),
                        _("The coil is reserved."))


@bp.post("/coils/<uuid:coil_id>/issue")
@requires(INVENTORY_WRITE)
def issue(coil_id):
    errors: dict = {}
    unit_id = _uuid(request.form.get("unit_id"), errors, "unit_id")
    work_order_id = _uuid(request.form.get("work_order_id"), errors, "work_order_id")
    order_line_id = _uuid(request.form.get("order_line_id"), errors, "order_line_id")
    if errors:
        flash(_("Choose from the list."), "error")
        return _render_coil(coil_id, 422)
    return _coil_action(coil_id, lambda c: services.issue(c, unit_id=unit_id, work_order_id=work_order_id,
                                                          order_line_id=order_line_id,
                                                          reason=request.form.get("reason")),
                        _("The coil is issued to production."))


@bp.get("/coils/<uuid:coil_id>/label")
@requires(INVENTORY_READ)
def label(coil_id):
    coil = services.get_coil(coil_id)
    return render_template("inventory/labels.html", labels=[(coil, _qr_svg(label_url(coil)), label_url(coil))])


@bp.get("/labels")
@requires(INVENTORY_READ)
def labels():
    """Labels of several coils (a shipment's, a lot's, a production step's) on one page."""
    ids = [_uuid(v) for v in request.args.getlist("coil_id")][:200]
    shipment_id = _arg_uuid("shipment_id")
    lot_id = _arg_uuid("lot_id")
    coils = []
    if shipment_id:
        coils += [item.coil for item in services.get_shipment(shipment_id).items]
    if lot_id:
        coils += list(db.session.scalars(services.coils_query(lot_id=services.get_lot(lot_id).id)
                                         .order_by(Coil.coil_no).limit(200)))
    if ids:
        found = {c.id: c for c in db.session.scalars(services.coils_query().where(Coil.id.in_(ids)))}
        coils += [found[i] for i in ids if i in found]
    if not coils:
        abort(404)
    return render_template("inventory/labels.html",
                           labels=[(c, _qr_svg(label_url(c)), label_url(c)) for c in coils])


# ---------------------------------------------------------------- receipts

def _render_receipt(errors=None, form=None, status=200):
    rows = max(RECEIPT_ROWS, min(int(request.args.get("rows", RECEIPT_ROWS) or RECEIPT_ROWS)
                                 if str(request.args.get("rows", "")).isdigit() else RECEIPT_ROWS, 50))
    return render_template("inventory/receipt.html", rows=rows, locations=services.locations(),
                           errors=errors or {}, form=form or {}), status


@bp.get("/receipts/new")
@requires(INVENTORY_WRITE)
def receipt_form():
    return _render_receipt()


@bp.post("/receipts/new")
@requires(INVENTORY_WRITE)
def receipt():
    form = request.form
    errors: dict = {}
    location_id = _uuid(form.get("location_id"), errors, "location_id")
    specs = []
    for i in range(50):
        if f"coil_no-{i}" not in form:
            break
        if not any((form.get(f"{f}-{i}") or "").strip() for f in ("coil_no", "weight_kg", "gauge_mm", "width_mm")):
            continue
        spec = {"coil_no": _text(form, f"coil_no-{i}"), "alloy": _text(form, f"alloy-{i}"),
                "temper": _text(form, f"temper-{i}"), "heat_no": _text(form, f"heat_no-{i}"),
                "lot_no": _text(form, f"lot_no-{i}")}
        for key in ("gauge_mm", "width_mm", "weight_kg", "length_m"):
            spec[key] = _float(form, f"{key}-{i}", errors, key=f"{key}-{i}")
        specs.append((i, spec))
    if not specs:
        errors.setdefault("__all__", []).append(_("Add at least one coil."))
    if errors:
        return _render_receipt(errors, form, 422)
    try:
        made = services.receive([s for _, s in specs], location_id=location_id, reference=form.get("reference"))
    except AppError as exc:
        db.session.rollback()
        rows = {}
        if hasattr(exc, "translated"):
            rows = {"__all__": [exc.translated(_)]}
        else:
            for key, messages in (exc.errors or {}).items():
                parts = key.split(".")
                if len(parts) == 3:  # coils.<n>.<field> -> <field>-<form row>
                    rows[f"{parts[2]}-{specs[int(parts[1])][0]}"] = [_(str(m)) for m in messages]
                elif key in ("location_id", "coils"):
                    rows[key if key == "location_id" else "__all__"] = [_(str(m)) for m in messages]
                else:
                    rows[f"{key}-{specs[0][0]}"] = [_(str(m)) for m in messages]
        return _render_receipt(rows, form, exc.status)
    flash(_("%(n)s coils received.", n=len(made)), "success")
    if len(made) == 1:
        return redirect(url_for("inventory.coil", coil_id=made[0].id), code=303)
    return redirect(url_for("inventory.stock", q=None), code=303)


# ---------------------------------------------------------------- heats

def _parse_chemistry(raw: str | None, errors: dict):
    """"Si 0.08, Fe 0.25, Mg=2.5" -> {"Si": 0.08, …}."""
    if not raw or not raw.strip():
        return None
    chemistry = {}
    for part in raw.replace(";", ",").replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, _sep, value = part.replace("=", " ").replace(":", " ").partition(" ")
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            errors.setdefault("chemistry", []).append(_("Write the chemistry as: Si 0.08, Fe 0.25, Mg 2.5"))
            return None
        chemistry[name.strip()] = number
    return chemistry


def _render_heats(errors=None, form=None, status=200):
    page = paginate(services.heats_query(q=(request.args.get("q") or "").strip()[:60] or None),
                    {"limit": PAGE_SIZE, "cursor": request.args.get("cursor")}, (Heat.created_at, Heat.id),
                    descending=True)
    return render_template("inventory/heats.html", heats=page["items"], next_cursor=page["next_cursor"],
                           sites=services.sites(), errors=errors or {}, form=form or {}, **_perms()), status


@bp.get("/heats")
@requires(INVENTORY_READ)
def heats():
    return _render_heats()


@bp.post("/heats")
@requires(INVENTORY_WRITE)
def create_heat():
    form = request.form
    errors: dict = {}
    chemistry = _parse_chemistry(form.get("chemistry"), errors)
    weight = _float(form, "weight_kg", errors)
    cast_at = _datetime(form, "cast_at", errors)
    site_id = _uuid(form.get("site_id"), errors, "site_id")
    if errors:
        return _render_heats(errors, form, 422)
    try:
        heat = services.create_heat(heat_no=form.get("heat_no", ""), alloy=form.get("alloy", ""), chemistry=chemistry,
                                    cast_at=cast_at, weight_kg=weight, site_id=site_id,
                                    supplier=form.get("supplier"), notes=form.get("notes"))
    except AppError as exc:
        return _render_heats(_form_errors(exc), form, exc.status)
    flash(_("The heat %(heat_no)s is recorded.", heat_no=heat.heat_no), "success")
    return redirect(url_for("inventory.heat", heat_id=heat.id), code=303)


@bp.get("/heats/<uuid:heat_id>")
@requires(INVENTORY_READ)
def heat(heat_id):
    heat = services.get_heat(heat_id)
    graph = services.descendants("heat", heat.id)
    return render_template("inventory/heat.html", heat=heat, graph=graph,
                           heat_tree=services.tree(graph, upward=False))


# ---------------------------------------------------------------- reservations and FIFO

def _fifo_spec(args):
    """The FIFO form's spec, or None when no alloy is given yet."""
    alloy = (args.get("alloy") or "").strip()[:20]
    if not alloy:
        return None, {}
    errors: dict = {}
    spec = {"alloy": alloy, "temper": (args.get("temper") or "").strip()[:20] or None}
    for key in ("gauge_mm", "gauge_tol_mm", "width_mm", "width_tol_mm", "quantity_kg"):
        spec[key] = _float(args, key, errors)
    spec["gauge_tol_mm"] = spec["gauge_tol_mm"] or 0.0
    spec["width_tol_mm"] = spec["width_tol_mm"] or 0.0
    spec["warehouse_id"] = _uuid(args.get("warehouse_id"), errors, "warehouse_id")
    return spec, errors


@bp.get("/reservations")
@requires(INVENTORY_READ)
def reservations():
    args = request.args
    status = args.get("status") or "active"
    if status not in ("all", *RESERVATION_STATUSES):
        abort(400)
    line = _arg_uuid("order_line_id")
    stmt = services.reservations_query(order_line_id=line, status=None if status == "all" else status)
    page = paginate(stmt, {"limit": PAGE_SIZE, "cursor": args.get("cursor")},
                    (Reservation.created_at, Reservation.id), descending=True)
    spec, errors = _fifo_spec(args)
    suggestions, status_code = None, 200
    if spec is not None and not errors:
        try:
            suggestions = services.fifo_suggestions(**spec)
        except AppError as exc:
            errors, status_code = _form_errors(exc), exc.status
    elif errors:
        status_code = 422
    template = "inventory/_fifo.html" if request.headers.get("HX-Request") and args.get("fifo") else \
        "inventory/reservations.html"
    return render_template(template, reservations=page["items"], next_cursor=page["next_cursor"],
                           status=status, statuses=("all", *RESERVATION_STATUSES), order_line_id=line,
                           line=services.line_location(line, include_consumed=False) if line else None,
                           spec=spec, args=args, suggestions=suggestions, errors=errors,
                           warehouses=services.warehouses(), **_perms()), status_code


@bp.post("/reservations")
@requires(INVENTORY_WRITE)
def reserve():
    form = request.form
    errors: dict = {}
    line = _uuid(form.get("order_line_id"), errors, "order_line_id")
    ids = [_uuid(v, errors, "coil_ids") for v in form.getlist("coil_id")]
    if errors or line is None:
        flash(_("Name the order line."), "error")
        return redirect(url_for("inventory.reservations"), code=303)
    try:
        made = services.reserve([i for i in ids if i], line, form.get("note"))
    except AppError as exc:
        _fail(exc)
        response = redirect(url_for("inventory.reservations", order_line_id=line), code=303)
        return response
    flash(_("%(n)s coils reserved.", n=len(made)), "success")
    return redirect(url_for("inventory.reservations", order_line_id=line), code=303)


@bp.post("/reservations/<uuid:reservation_id>/release")
@requires(INVENTORY_WRITE)
def release(reservation_id):
    reservation = services.get_reservation(reservation_id)
    try:
        services.release(reservation, request.form.get("note"))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The reservation is released."), "success")
    return _back(url_for("inventory.reservations"))


# ---------------------------------------------------------------- shipments

def _render_shipments(errors=None, form=None, status=200):
    args = request.args
    state = args.get("status") or None
    if state is not None and state not in SHIPMENT_STATUSES:
        abort(400)
    page = paginate(services.shipments_query(status=state, q=(args.get("q") or "").strip()[:100] or None),
                    {"limit": PAGE_SIZE, "cursor": args.get("cursor")}, (Shipment.created_at, Shipment.id),
                    descending=True)
    return render_template("inventory/shipments.html", shipments=page["items"], next_cursor=page["next_cursor"],
                           state=state, statuses=SHIPMENT_STATUSES, warehouses=services.warehouses(),
                           errors=errors or {}, form=form or {}, **_perms()), status


def _shipment_fields(form, errors) -> dict:
    planned = (form.get("planned_date") or "").strip()
    planned_date = None
    if planned:
        try:
            planned_date = datetime.strptime(planned, "%Y-%m-%d").date()
        except ValueError:
            errors.setdefault("planned_date", []).append(_("Enter a date."))
    return {"customer_name": form.get("customer_name", ""), "customer_ref": form.get("customer_ref"),
            "order_id": _uuid(form.get("order_id"), errors, "order_id"),
            "warehouse_id": _uuid(form.get("warehouse_id"), errors, "warehouse_id"), "ship_to": form.get("ship_to"),
            "carrier": form.get("carrier"), "vehicle_no": form.get("vehicle_no"), "planned_date": planned_date,
            "notes": form.get("notes")}


@bp.get("/shipments")
@requires(INVENTORY_READ)
def shipments():
    return _render_shipments()


@bp.post("/shipments")
@requires(INVENTORY_SHIP)
def create_shipment():
    errors: dict = {}
    fields = _shipment_fields(request.form, errors)
    if errors:
        return _render_shipments(errors, request.form, 422)
    try:
        shipment = services.create_shipment(shipment_no=request.form.get("shipment_no"), **fields)
    except AppError as exc:
        return _render_shipments(_form_errors(exc), request.form, exc.status)
    flash(_("Shipment %(shipment_no)s is drafted.", shipment_no=shipment.shipment_no), "success")
    return redirect(url_for("inventory.shipment", shipment_id=shipment.id), code=303)


def _render_shipment(shipment_id, status=200):
    shipment = services.get_shipment(shipment_id)
    packing = services.packing_list(shipment)
    template = "inventory/_shipment_items.html" if request.headers.get("HX-Request") else "inventory/shipment.html"
    return render_template(template, shipment=shipment, packing=packing, warehouses=services.warehouses(),
                           **_perms()), status


@bp.get("/shipments/<uuid:shipment_id>")
@requires(INVENTORY_READ)
def shipment(shipment_id):
    return _render_shipment(shipment_id)


def _shipment_action(shipment_id, action, success: str | None):
    shipment = services.get_shipment(shipment_id)
    try:
        action(shipment)
    except AppError as exc:
        _fail(exc)
        return _render_shipment(shipment_id, exc.status)
    if success:
        flash(success, "success")
    if request.headers.get("HX-Request"):
        return _render_shipment(shipment_id)
    return redirect(url_for("inventory.shipment", shipment_id=shipment_id), code=303)


@bp.post("/shipments/<uuid:shipment_id>")
@requires(INVENTORY_SHIP)
def update_shipment(shipment_id):
    errors: dict = {}
    fields = _shipment_fields(request.form, errors)
    if errors:
        flash(next(iter(errors.values()))[0], "error")
        return _render_shipment(shipment_id, 422)
    return _shipment_action(shipment_id, lambda s: services.update_shipment(s, **fields), _("The shipment is saved."))


@bp.post("/shipments/<uuid:shipment_id>/items")
@requires(INVENTORY_SHIP)
def add_item(shipment_id):
    form = request.form
    errors: dict = {}
    line = _uuid(form.get("order_line_id"), errors, "order_line_id")
    if errors:
        flash(_("Choose from the list."), "error")
        return _render_shipment(shipment_id, 422)

    def add(shipment):
        coil = services.scanned_coil(form.get("coil_no", ""))
        services.add_to_shipment(shipment, coil.id, line)

    return _shipment_action(shipment_id, add, None)


@bp.post("/shipments/<uuid:shipment_id>/items/<uuid:coil_id>/remove")
@requires(INVENTORY_SHIP)
def remove_item(shipment_id, coil_id):
    coil = services.get_coil(coil_id)
    return _shipment_action(shipment_id, lambda s: services.remove_from_shipment(s, coil.id), None)


@bp.post("/shipments/<uuid:shipment_id>/confirm")
@requires(INVENTORY_SHIP)
def confirm(shipment_id):
    return _shipment_action(shipment_id, services.confirm_shipment, _("The shipment is confirmed: the coils have left."))


@bp.post("/shipments/<uuid:shipment_id>/deliver")
@requires(INVENTORY_SHIP)
def deliver(shipment_id):
    errors: dict = {}
    delivered_at = _datetime(request.form, "delivered_at", errors)
    if errors:
        flash(_("Enter a date and time."), "error")
        return _render_shipment(shipment_id, 422)
    return _shipment_action(shipment_id, lambda s: services.deliver_shipment(
        s, received_by=request.form.get("received_by"), note=request.form.get("note"), delivered_at=delivered_at),
        _("The delivery is confirmed."))


@bp.post("/shipments/<uuid:shipment_id>/cancel")
@requires(INVENTORY_SHIP)
def cancel(shipment_id):
    return _shipment_action(shipment_id, lambda s: services.cancel_shipment(s, request.form.get("reason")),
                            _("The shipment is cancelled."))


@bp.get("/shipments/<uuid:shipment_id>/packing-list")
@requires(INVENTORY_READ)
def packing_list(shipment_id):
    shipment = services.get_shipment(shipment_id)
    return render_template("inventory/packing_list.html", packing=services.packing_list(shipment),
                           shipment=shipment, qr=_qr_svg(_absolute(url_for("inventory.shipment",
                                                                           shipment_id=shipment.id)), scale=3))


@bp.get("/shipments/<uuid:shipment_id>/packing-list.csv")
@requires(INVENTORY_READ)
def packing_list_csv(shipment_id):
    shipment = services.get_shipment(shipment_id)
    header, rows = services.packing_list_rows(shipment)
    return csv_response(f"packing-list-{shipment.shipment_no}.csv", header, rows)


# ---------------------------------------------------------------- genealogy and production

@bp.get("/genealogy")
@requires(INVENTORY_READ)
def genealogy():
    args = request.args
    coil_no = (args.get("coil") or "").strip()[:500]
    heat_no = (args.get("heat") or "").strip()[:60]
    group_by = args.get("group_by") or "operation"
    if group_by not in services.YIELD_KEYS:
        abort(400)
    ancestry = descendants = None
    found_coil = found_heat = None
    status = 200
    if coil_no:
        found_coil = services.coil_by_number(services.coil_no_from_scan(coil_no))
        if found_coil is None:
            flash(_("No coil numbered %(coil_no)s.", coil_no=services.coil_no_from_scan(coil_no)), "error")
            status = 404
        else:
            graph = services.ancestry("coil", found_coil.id)
            ancestry = (graph, services.tree(graph, upward=True))
    if heat_no:
        found_heat = services.heat_by_number(heat_no)
        if found_heat is None:
            flash(_("No heat numbered %(heat_no)s.", heat_no=heat_no), "error")
            status = 404
        else:
            graph = services.descendants("heat", found_heat.id)
            descendants = (graph, services.tree(graph, upward=False))
    return render_template("inventory/genealogy.html", args=args, coil=found_coil, heat=found_heat,
                           ancestry=ancestry, descendants=descendants, group_by=group_by,
                           yields=services.yields(group_by), kinds=NODE_KINDS, errors={}, **_perms()), status


def _node_by_label(kind: str, label: str, field: str):
    label = (label or "").strip()
    obj = None
    if kind == "coil":
        obj = services.coil_by_number(services.coil_no_from_scan(label))
    elif kind == "heat":
        obj = services.heat_by_number(label)
    elif kind == "lot":
        obj = services.lot_by_number(label)
    if obj is None:
        raise Invalid("No such %(kind)s.", field=field, kind=kind if kind in NODE_KINDS else "coil")
    return obj


@bp.post("/genealogy/links")
@requires(INVENTORY_WRITE)
def add_link():
    form = request.form
    errors: dict = {}
    at = _datetime(form, "at", errors)
    unit_id = _uuid(form.get("unit_id"), errors, "unit_id")
    if errors:
        flash(next(iter(errors.values()))[0], "error")
        return redirect(url_for("inventory.genealogy"), code=303)
    try:
        parent_kind, child_kind = form.get("parent_kind", ""), form.get("child_kind", "")
        parent = _node_by_label(parent_kind, form.get("parent", ""), "parent_id")
        child = _node_by_label(child_kind, form.get("child", ""), "child_id")
        services.add_link(parent_kind=parent_kind, parent_id=parent.id, child_kind=child_kind, child_id=child.id,
                          operation=form.get("operation", ""), unit_id=unit_id, at=at, note=form.get("note"))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("inventory.genealogy"), code=303)
    flash(_("The link is recorded."), "success")
    target = {"coil": child.coil_no} if child_kind == "coil" else {}
    return redirect(url_for("inventory.genealogy", coil=target.get("coil")), code=303)


PRODUCTION_ROWS = 6


def _render_production(errors=None, form=None, status=200):
    return render_template("inventory/production.html", rows=PRODUCTION_ROWS, locations=services.locations(),
                           errors=errors or {}, form=form or {}), status


@bp.get("/production/new")
@requires(INVENTORY_WRITE)
def production_form():
    return _render_production()


@bp.post("/production/new")
@requires(INVENTORY_WRITE)
def production():
    form = request.form
    errors: dict = {}
    inputs, outputs, scrap = [], [], []
    for i in range(PRODUCTION_ROWS):
        number = _text(form, f"in_coil-{i}")
        if number:
            coil = services.coil_by_number(services.coil_no_from_scan(number))
            if coil is None:
                errors[f"in_coil-{i}"] = [_("No coil numbered %(coil_no)s.", coil_no=number)]
            else:
                inputs.append({"coil_id": coil.id, "weight_kg": _float(form, f"in_weight-{i}", errors)})
        if _text(form, f"out_coil-{i}"):
            outputs.append({"coil_no": _text(form, f"out_coil-{i}"),
                            "weight_kg": _float(form, f"out_weight-{i}", errors),
                            "gauge_mm": _float(form, f"out_gauge-{i}", errors),
                            "width_mm": _float(form, f"out_width-{i}", errors),
                            "temper": _text(form, f"out_temper-{i}")})
    for k in range(2):
        weight = _float(form, f"scrap_weight-{k}", errors)
        if weight is not None or _text(form, f"scrap_reason-{k}"):
            scrap.append({"weight_kg": weight, "reason": _text(form, f"scrap_reason-{k}")})
    location_id = _uuid(form.get("location_id"), errors, "location_id")
    unit_id = _uuid(form.get("unit_id"), errors, "unit_id")
    order_line_id = _uuid(form.get("order_line_id"), errors, "order_line_id")
    if errors:
        return _render_production(errors, form, 422)
    try:
        event = services.record_production_output(
            inputs=inputs, outputs=outputs, scrap=scrap, operation=form.get("operation", ""), unit_id=unit_id,
            order_line_id=order_line_id, location_id=location_id, note=form.get("note"))
    except AppError as exc:
        db.session.rollback()
        if hasattr(exc, "translated"):
            rows = {"__all__": [exc.translated(_)]}
        else:
            rows = {}
            for key, messages in (exc.errors or {}).items():
                parts = key.split(".")
                if len(parts) == 3 and parts[0] in ("inputs", "outputs", "scrap"):
                    rows[f"{parts[0]}.{parts[1]}.{parts[2]}"] = [_(str(m)) for m in messages]
                rows.setdefault("__all__", []).extend(_(str(m)) for m in messages)
        return _render_production(rows, form, exc.status)
    flash(_("The production step is recorded: %(n)s coils made.", n=len(event.outputs)), "success")
    made = services.event_coils(event)
    if made:
        return redirect(url_for("inventory.coil", coil_id=made[0].id), code=303)
    return redirect(url_for("inventory.genealogy"), code=303)

