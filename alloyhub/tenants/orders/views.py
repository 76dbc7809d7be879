"""Pages: customers; orders (list with filters and pagination, entry, detail
with lines, lifecycle buttons, history, promised dates and the tracking
link); the import with its error report; the what-if promise; and the
customer's tracking page (no login, by the signed link).

Views parse forms, call services and render. Edits carry the version the
person saw (`version`): if someone changed the order meanwhile, the edit
is refused (409) rather than silently overwriting theirs.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alloyhub.platform import permissions as perms
from alloyhub.platform.api import paginate
from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError, Conflict
from alloyhub.tenants.equipment.forms import FormReader
from alloyhub.tenants.equipment.messages import translate
from alloyhub.tenants.products import services as products

from . import importing, promising, services
from .api import tracking_links
from .models import FLOW, PRIORITIES, QUANTITY_UNITS, STATUSES, Order
from .permissions import ORDERS_READ, ORDERS_WRITE

bp = Blueprint("orders", __name__, template_folder="templates")
# The customer's page: no login, not gated by the visitor's plan.
public_bp = Blueprint("orders_public", __name__, template_folder="templates")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


LABELS = {
    "draft": _l("Draft"), "confirmed": _l("Confirmed"), "planned": _l("Planned"),
    "in_production": _l("In production"), "finished": _l("Finished"), "in_stock": _l("In stock"),
    "shipped": _l("Shipped"), "delivered": _l("Delivered"), "cancelled": _l("Cancelled"),
    "t": _l("t"), "coils": _l("coils"), 1: _l("Low"), 2: _l("Normal"), 3: _l("High"), 4: _l("Urgent"),
    "created": _l("Created"), "changed": _l("Changed"), "line_added": _l("Line added"),
    "line_changed": _l("Line changed"), "line_removed": _l("Line removed"), "status": _l("Status"),
    "customer_id": _l("Customer"), "customer_po": _l("Customer PO"), "notes": _l("Notes"), "number": _l("Number"),
    "product_id": _l("Product"), "quantity": _l("Quantity"), "quantity_unit": _l("Unit"),
    "due_date": _l("Due date"), "priority": _l("Priority"), "lines": _l("Lines"), "line_no": _l("Line no."),
}
# The button that moves an order on, by target status.
ACTIONS = {
    "planned": _l("Mark planned"), "in_production": _l("Start production"), "finished": _l("Mark finished"),
    "in_stock": _l("Put in stock"), "shipped": _l("Mark shipped"), "delivered": _l("Mark delivered"),
    "confirmed": _l("Back to confirmed"),
}
SERVICE_MESSAGES = (
    N_("Enter a customer code."), N_("Use letters, digits, '-', '_' or '.' (at most 40)."),
    N_("Another customer already uses this code."), N_("Enter the customer's name."),
    N_("Enter a valid e-mail address."), N_("Enter 0-90 days."),
    N_("The customer %(code)s has %(count)s orders; mark it inactive instead."),
    N_("Use letters, digits, '-', '_', '.' or '/' (at most 40)."), N_("Another order already has this number."),
    N_("No such product."), N_("No such customer."), N_("The product %(code)s is no longer made."),
    N_("Enter the quantity."), N_("The quantity must be above zero."), N_("At most 100000."),
    N_("The quantity is in tonnes (t) or coils."), N_("Coils come whole."), N_("Give the due date."),
    N_("Give a due date between 2000 and 2100."), N_("The priority is 1 (low) to 4 (urgent)."),
    N_("At most 80 characters."), N_("At most 200 lines."),
    N_("Order %(number)s is %(status)s: its customer can no longer change."),
    N_("Order %(number)s is %(status)s: its number can no longer change."),
    N_("Order %(number)s is %(status)s: cancel it instead of deleting it."),
    N_("Order %(number)s is %(status)s: add a new order instead."),
    N_("Line %(line)s of %(number)s is %(status)s: its product and quantity can no longer change."),
    N_("Line %(line)s of %(number)s is %(status)s: its due date and priority can no longer change."),
    N_("Line %(line)s of %(number)s is %(status)s: cancel it instead of removing it."),
    N_("The product %(code)s has no routing yet: it cannot be made."),
    N_("Line %(line)s of %(number)s is %(status)s; it cannot become %(to)s (it may become: %(allowed)s)."),
    N_("Order %(number)s is %(status)s; only a draft can be confirmed."),
    N_("Add at least one line before confirming."), N_("Order %(number)s cannot be confirmed yet."),
    N_("Give a reason for the cancellation."), N_("Order %(number)s is cancelled already."),
    N_("Order %(number)s has no live lines."), N_("Unknown status."),
    N_("Operation %(n)s (%(process)s) of %(code)s has no active unit."),
    N_("Load ahead: %(lines)s committed lines, %(tonnes)s t."),
    N_("%(n)s. %(process)s on %(unit)s: %(queued)s h of work ahead (free %(free)s); runs %(start)s → %(end)s, "
       "%(hours)s h plus %(setup)s min set-up."),
    N_("Bottleneck: %(unit)s (%(process)s): the line waits %(wait)s h for it."),
    N_("No unit makes the line wait; the longest operation is %(process)s on %(unit)s (%(hours)s h)."),
    N_("Finished %(finish)s; %(days)s days to the customer: delivery on %(date)s."),
    N_("On time: due %(due)s, %(days)s days to spare."), N_("Late: due %(due)s, %(days)s days late."),
    N_("The file is empty."), N_("Missing columns: %(columns)s."), N_("At most %(max)s rows per file."),
    N_("The file is larger than 2 MB."), N_("Save the sheet as .xlsx or .csv."),
    N_("The file is not text (UTF-8 or GB18030)."), N_("The file is not a CSV file."),
    N_("The CSV file cannot be read."), N_("The Excel file cannot be read."), N_("Give the customer code."),
    N_("Unknown customer %(code)s."), N_("The customer %(code)s is inactive."), N_("Give the product code."),
    N_("Unknown product %(code)s."), N_("Enter the quantity as a number."), N_("The unit is t or coils."),
    N_("Give the due date as YYYY-MM-DD."), N_("The due date %(date)s is in the past."),
    N_("Give a due date before 2100."), N_("The priority is 1-4 or low, normal, high, urgent."),
    N_("Use letters, digits, '-', '_', '.' or '/' in order numbers (at most 40)."),
    N_("Rows of order %(number)s name different customers."), N_("The order %(number)s exists already."),
    N_("The file has no order lines."), N_("Imported from %(file)s."), N_("%(column)s: %(message)s"),
    N_("%(count)s rows have errors; nothing was imported."),
    N_("No such order"), N_("No such order line"), N_("No such customer"), N_("This status change is not allowed"),
    N_("See customers, orders, their history and promised dates"),
    N_("Enter, change, import, confirm and cancel orders; edit customers"),
    N_("Someone changed this order meanwhile; here it is as it is now."),
)


@bp.app_template_filter("order_label")
def order_label(value) -> str:
    return str(LABELS.get(value, value if value is not None else ""))


def _tr(message) -> str:
    return translate(message, _)


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _errors_of(exc: AppError) -> dict:
    db.session.rollback()
    return exc.errors or {"__all__": [exc.detail]}


def _flash_error(exc: AppError) -> None:
    db.session.rollback()
    for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
        flash(_tr(message), "error")


def _check_version(order: Order) -> None:
    seen = request.form.get("version")
    if seen and seen != order.updated_at.isoformat():
        raise Conflict("Someone changed this order meanwhile; here it is as it is now.")


# ---------------------------------------------------------------- customers

def _customer_fields(reader: FormReader) -> dict:
    return {"code": reader.text("code"), "name": reader.text("name"), "contact_name": reader.text("contact_name"),
            "email": reader.text("email"), "phone": reader.text("phone"), "address": reader.text("address"),
            "transit_days": reader.integer("transit_days") if reader.text("transit_days") else 1,
            "notes": reader.text("notes")}


def _render_customers(errors=None, form=None, status=200):
    q = (request.args.get("q") or "").strip()[:100] or None
    found = list(db.session.scalars(services.customers_query(q).order_by(services.Customer.code).limit(500)))
    return render_template("orders/customers.html", customers=found, q=q, errors=errors or {}, form=form or {},
                           can_write=_can(ORDERS_WRITE)), status


@bp.get("/customers")
@requires(ORDERS_READ)
def customers():
    return _render_customers()


@bp.post("/customers")
@requires(ORDERS_WRITE)
def create_customer():
    reader = FormReader(request.form)
    fields = _customer_fields(reader)
    if reader.errors:
        return _render_customers(reader.errors, request.form, 422)
    try:
        customer = services.create_customer(**fields)
    except AppError as exc:
        return _render_customers(_errors_of(exc), request.form, 422)
    flash(_("The customer %(code)s is added.", code=customer.code), "success")
    return redirect(url_for("orders.customers"))


def _render_customer(customer, errors=None, form=None, status=200):
    recent = list(db.session.scalars(services.orders_query(customer_id=customer.id)
                                     .order_by(Order.created_at.desc()).limit(20)))
    return render_template("orders/customer.html", customer=customer, orders=recent, errors=errors or {},
                           form=form, can_write=_can(ORDERS_WRITE)), status


@bp.get("/customers/<uuid:customer_id>")
@requires(ORDERS_READ)
def customer_page(customer_id):
    return _render_customer(services.get_customer(customer_id))


@bp.post("/customers/<uuid:customer_id>")
@requires(ORDERS_WRITE)
def save_customer(customer_id):
    customer = services.get_customer(customer_id)
    reader = FormReader(request.form)
    fields = _customer_fields(reader)
    fields["active"] = reader.checked("active")
    if reader.errors:
        return _render_customer(customer, reader.errors, request.form, 422)
    try:
        services.update_customer(customer, **fields)
    except AppError as exc:
        return _render_customer(services.get_customer(customer_id), _errors_of(exc), request.form, 422)
    flash(_("The customer %(code)s is saved.", code=customer.code), "success")
    return redirect(url_for("orders.customers"))


@bp.post("/customers/<uuid:customer_id>/delete")
@requires(ORDERS_WRITE)
def delete_customer(customer_id):
    customer = services.get_customer(customer_id)
    try:
        services.delete_customer(customer)
    except AppError as exc:
        _flash_error(exc)
        return redirect(url_for("orders.customer_page", customer_id=customer_id))
    flash(_("The customer %(code)s is deleted.", code=customer.code), "success")
    return redirect(url_for("orders.customers"))


# ---------------------------------------------------------------- the order list

@bp.get("/orders")
@requires(ORDERS_READ)
def order_list():
    args = request.args
    reader = FormReader(args)
    status = args.get("status") if args.get("status") in STATUSES else None
    customer_id = reader.uuid("customer_id")
    due_from, due_to = reader.date("due_from"), reader.date("due_to")
    if reader.errors:
        abort(400)
    q = (args.get("q") or "").strip()[:100] or None
    page = paginate(services.orders_query(status, customer_id, q, due_from, due_to),
                    {"limit": 25, "cursor": args.get("cursor") or None}, (Order.created_at, Order.id),
                    descending=True)
    orders = page["items"]
    lines = {o.id: o.lines for o in orders}
    by_id = services.products_by_id(li.product_id for o in orders for li in o.lines)
    next_args = {k: v for k, v in args.items() if k != "cursor" and v}
    return render_template("orders/list.html", orders=orders, lines=lines, products=by_id,
                           next_cursor=page["next_cursor"], next_args=next_args, statuses=STATUSES,
                           customers=services.customers(), filters={
                               "status": status, "customer_id": customer_id, "q": q, "due_from": due_from,
                               "due_to": due_to, "paged": bool(args.get("cursor"))},
                           can_write=_can(ORDERS_WRITE))


# ---------------------------------------------------------------- entering an order

ENTRY_ROWS = 5


def _line_rows(reader: FormReader, prefix="line", positions: list | None = None) -> list[dict]:
    """The filled rows; `positions` gets each one's row number on the form."""
    rows = []
    for i in range(ENTRY_ROWS):
        key = f"{prefix}-{i}-"
        if not (reader.form.get(key + "product_id") or reader.form.get(key + "quantity")):
            continue
        if positions is not None:
            positions.append(i)
        rows.append({"product_id": reader.uuid(key + "product_id"), "quantity": reader.number(key + "quantity"),
                     "quantity_unit": reader.form.get(key + "quantity_unit") or "t",
                     "due_date": reader.date(key + "due_date"),
                     "priority": reader.integer(key + "priority") if reader.form.get(key + "priority") else 2,
                     "notes": reader.text(key + "notes")})
    return rows


def _render_new(errors=None, form=None, status=200):
    return render_template("orders/new.html", customers=services.customers(active_only=True),
                           all_products=products.products(active_only=True), rows=range(ENTRY_ROWS),
                           units=QUANTITY_UNITS, priorities=PRIORITIES, errors=errors or {}, form=form or {}), status


@bp.get("/orders/new")
@requires(ORDERS_WRITE)
def new_order():
    return _render_new()


@bp.post("/orders/new")
@requires(ORDERS_WRITE)
def create_order():
    reader = FormReader(request.form)
    customer_id = reader.uuid("customer_id")
    positions: list[int] = []
    rows = _line_rows(reader, positions=positions)
    if reader.errors:
        return _render_new({_entry_key(k): v for k, v in reader.errors.items()}, request.form, 422)
    try:
        order = services.create_order(customer_id=customer_id, customer_po=reader.text("customer_po"),
                                      notes=reader.text("notes"), number=reader.text("number"), lines=rows)
    except AppError as exc:
        errors = {}
        for key, messages in _errors_of(exc).items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(positions):
                key = f"lines.{positions[int(parts[1])]}.{parts[2]}"
            errors[key] = messages
        return _render_new(errors, request.form, 422)
    if request.form.get("confirm") == "1":
        try:
            services.confirm_order(order)
            flash(_("The order %(number)s is confirmed.", number=order.number), "success")
        except AppError as exc:
            _flash_error(exc)
    else:
        flash(_("The order %(number)s is saved as a draft.", number=order.number), "success")
    return redirect(url_for("orders.order_page", order_id=order.id))


def _entry_key(key: str) -> str:
    """line-2-quantity (a field of the form) -> lines.2.quantity (where the page shows it)."""
    parts = key.split("-")
    if len(parts) == 3 and parts[0] == "line" and parts[1].isdigit():
        return f"lines.{parts[1]}.{parts[2]}"
    return key


# ---------------------------------------------------------------- an order

def _render_order(order, errors=None, form=None, status=200, section=None):
    by_id = services.products_by_id(li.product_id for li in order.lines)
    history = services.history(order)
    locations = {li.id: services.line_location(li) for li in order.lines}
    tracking = tracking_links(order) if order.status != "draft" else None
    return render_template(
        "orders/detail.html", order=order, products=by_id, history=history, locations=locations,
        users=services.user_names({h.user_id for h in history}), all_products=products.products(active_only=True),
        customers=services.customers(), next_statuses=services.next_statuses(order), actions=ACTIONS,
        units=QUANTITY_UNITS, priorities=PRIORITIES, flow=FLOW, tracking=tracking,
        editable=services.EDITABLE, reschedulable=services.RESCHEDULABLE, errors=errors or {}, form=form,
        section=section, today=date.today(), can_write=_can(ORDERS_WRITE)), status


@bp.get("/orders/<uuid:order_id>")
@requires(ORDERS_READ)
def order_page(order_id):
    return _render_order(services.get_order(order_id))


@bp.post("/orders/<uuid:order_id>")
@requires(ORDERS_WRITE)
def save_order(order_id):
    order = services.get_order(order_id)
    reader = FormReader(request.form)
    fields = {"customer_po": reader.text("customer_po"), "notes": reader.text("notes")}
    if order.status == "draft":
        fields["customer_id"] = reader.uuid("customer_id") or order.customer_id
    if reader.errors:
        return _render_order(order, reader.errors, request.form, 422, "header")
    try:
        _check_version(order)
        services.update_order(order, **fields)
    except AppError as exc:
        return _render_order(services.get_order(order_id), _errors_of(exc), request.form, exc.status, "header")
    flash(_("The order %(number)s is saved.", number=order.number), "success")
    return redirect(url_for("orders.order_page", order_id=order_id))


@bp.post("/orders/<uuid:order_id>/delete")
@requires(ORDERS_WRITE)
def delete_order(order_id):
    order = services.get_order(order_id)
    try:
        services.delete_order(order)
    except AppError as exc:
        _flash_error(exc)
        return redirect(url_for("orders.order_page", order_id=order_id))
    flash(_("The draft %(number)s is deleted.", number=order.number), "success")
    return redirect(url_for("orders.order_list"))


@bp.post("/orders/<uuid:order_id>/lines")
@requires(ORDERS_WRITE)
def add_line(order_id):
    order = services.get_order(order_id)
    reader = FormReader(request.form)
    rows = _line_rows(reader, "add")
    if reader.errors or not rows:
        return _render_order(order, reader.errors or {"add-0-product_id": ["No such product."]}, request.form,
                             422, "add")
    try:
        _check_version(order)
        services.add_line(order, **rows[0])
    except AppError as exc:
        return _render_order(services.get_order(order_id), _errors_of(exc), request.form, exc.status, "add")
    flash(_("The line is added."), "success")
    return redirect(url_for("orders.order_page", order_id=order_id) + "#lines")


@bp.post("/orders/lines/<uuid:order_line_id>")
@requires(ORDERS_WRITE)
def save_line(order_line_id):
    line = services.get_line(order_line_id)
    order = line.order
    reader = FormReader(request.form)
    fields = {"due_date": reader.date("due_date"), "priority": reader.integer("priority"),
              "notes": reader.text("notes")}
    if line.status in services.EDITABLE:
        fields.update(product_id=reader.uuid("product_id"), quantity=reader.number("quantity"),
                      quantity_unit=request.form.get("quantity_unit") or line.quantity_unit)
    fields = {k: v for k, v in fields.items() if v is not None or k == "notes"}
    if reader.errors:
        return _render_order(order, reader.errors, request.form, 422, f"line-{line.id}")
    try:
        _check_version(order)
        services.update_line(line, **fields)
    except AppError as exc:
        return _render_order(services.get_order(order.id), _errors_of(exc), request.form, exc.status,
                             f"line-{line.id}")
    flash(_("Line %(line)s is saved.", line=line.line_no), "success")
    return redirect(url_for("orders.order_page", order_id=order.id) + "#lines")


@bp.post("/orders/lines/<uuid:order_line_id>/remove")
@requires(ORDERS_WRITE)
def remove_line(order_line_id):
    line = services.get_line(order_line_id)
    order_id = line.order_id
    try:
        services.remove_line(line)
        flash(_("The line is removed."), "success")
    except AppError as exc:
        _flash_error(exc)
    return redirect(url_for("orders.order_page", order_id=order_id) + "#lines")


@bp.post("/orders/lines/<uuid:order_line_id>/cancel")
@requires(ORDERS_WRITE)
def cancel_line(order_line_id):
    line = services.get_line(order_line_id)
    order_id = line.order_id
    try:
        services.cancel_line(line, request.form.get("reason", ""))
        flash(_("Line %(line)s is cancelled.", line=line.line_no), "success")
    except AppError as exc:
        _flash_error(exc)
    return redirect(url_for("orders.order_page", order_id=order_id) + "#lines")


@bp.get("/orders/lines/<uuid:order_line_id>/promise")
@requires(ORDERS_READ)
def line_promise(order_line_id):
    """htmx: the promised-date check for one line (a whole page without htmx)."""
    line = services.get_line(order_line_id)
    try:
        result, problem = promising.promise_line(line), None
    except AppError as exc:
        db.session.rollback()
        result, problem = None, exc.detail
    template = "orders/_promise.html" if request.headers.get("HX-Request") else "orders/promise_page.html"
    return render_template(template, result=result, problem=problem, line=line, order=line.order)


@bp.post("/orders/<uuid:order_id>/confirm")
@requires(ORDERS_WRITE)
def confirm(order_id):
    order = services.get_order(order_id)
    try:
        services.confirm_order(order)
        flash(_("The order %(number)s is confirmed.", number=order.number), "success")
    except AppError as exc:
        _flash_error(exc)
    return redirect(url_for("orders.order_page", order_id=order_id))


@bp.post("/orders/<uuid:order_id>/advance")
@requires(ORDERS_WRITE)
def advance(order_id):
    order = services.get_order(order_id)
    try:
        services.advance_order(order, request.form.get("status", ""), (request.form.get("note") or "").strip() or None)
        flash(_("The order %(number)s is now %(status)s.", number=order.number,
                status=order_label(order.status)), "success")
    except AppError as exc:
        _flash_error(exc)
    return redirect(url_for("orders.order_page", order_id=order_id))


@bp.post("/orders/<uuid:order_id>/cancel")
@requires(ORDERS_WRITE)
def cancel(order_id):
    order = services.get_order(order_id)
    try:
        services.cancel_order(order, request.form.get("reason", ""))
        flash(_("The order %(number)s is cancelled.", number=order.number), "success")
    except AppError as exc:
        _flash_error(exc)
    return redirect(url_for("orders.order_page", order_id=order_id))


@bp.post("/orders/<uuid:order_id>/tracking")
@requires(ORDERS_WRITE)
def renew_tracking(order_id):
    services.rotate_tracking(services.get_order(order_id))
    flash(_("A new tracking link is made; the old one no longer works."), "success")
    return redirect(url_for("orders.order_page", order_id=order_id) + "#tracking")


# ---------------------------------------------------------------- import

@bp.route("/orders/import", methods=["GET"])
@requires(ORDERS_WRITE)
def import_page():
    return render_template("orders/import.html", result=None, failure=None)


@bp.post("/orders/import")
@requires(ORDERS_WRITE)
def import_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("orders/import.html", result=None,
                               failure={"detail": _("Choose a .csv or .xlsx file."), "rows": []}), 422
    try:
        result = importing.import_file(upload.filename, upload.read(importing.MAX_BYTES + 1),
                                       confirm=request.form.get("confirm") == "on")
    except AppError as exc:
        db.session.rollback()
        rows = getattr(exc, "row_errors", None) or exc.extra.get("rows", [])
        return render_template("orders/import.html", result=None, failure={
            "detail": exc.detail, "rows": rows, "errors": exc.errors or {}}), 422
    return render_template("orders/import.html", result=result, failure=None), 201


# ---------------------------------------------------------------- what-if promise

@bp.get("/orders/promise")
@requires(ORDERS_READ)
def quote():
    reader = FormReader(request.args)
    result = problem = None
    if request.args.get("product_id"):
        product_id, quantity = reader.uuid("product_id"), reader.number("quantity")
        customer_id, due = reader.uuid("customer_id"), reader.date("due_date")
        if reader.errors:
            problem = "; ".join(_tr(m) for msgs in reader.errors.values() for m in msgs)
        else:
            try:
                result = promising.promise_quote(product_id, quantity if quantity is not None else 0,
                                                 request.args.get("quantity_unit") or "t", customer_id=customer_id,
                                                 due_date=due)
            except AppError as exc:
                db.session.rollback()
                problem = "; ".join(_tr(m) for msgs in (exc.errors or {}).values() for m in msgs) or _tr(exc.detail)
    return render_template("orders/quote.html", result=result, problem=problem, query=request.args,
                           products=products.products(active_only=True), customers=services.customers(),
                           units=QUANTITY_UNITS)


# ---------------------------------------------------------------- the customer's page

@public_bp.get("/track/<token>")
@requires(perms.PUBLIC)
def track(token):
    view = services.tracking_view(token)
    return render_template("orders/track.html", view=view)
