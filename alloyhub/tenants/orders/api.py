"""/api/v1: customers, orders and lines with their lifecycle and history, the
import, the promised-date check, and the customer's tracking resource."""
from __future__ import annotations

from flask import current_app, url_for
from flask.views import MethodView

from alloyhub.platform import permissions as perms
from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import importing, promising
from . import schemas as s
from . import services
from .models import Customer, HistoryEntry, Order
from .permissions import ORDERS_READ, ORDERS_WRITE

blp = Blueprint("orders_api", __name__, url_prefix="/api/v1",
                description="Customers, customer orders, their lifecycle, history and promised dates")
# Not gated by the plan of whoever calls: the customer holding the link has
# no AlloyHub plan; the owning plant's plan is checked by the service.
tracking_blp = Blueprint("tracking_api", __name__, url_prefix="/api/v1",
                         description="The customer's view of an order, by its signed link")


# ---------------------------------------------------------------- customers

@blp.route("/customers")
class Customers(MethodView):
    @requires(ORDERS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.CustomerFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.CustomerSchema))
    def get(self, args, q=None, active=None):
        """Customers (search code or name)"""
        return paginate(services.customers_query(q, active), args, (Customer.code, Customer.id))

    @requires(ORDERS_WRITE)
    @blp.arguments(s.CustomerSchema)
    @blp.response(201, s.CustomerSchema)
    def post(self, data):
        """Add a customer"""
        return services.create_customer(**data)


@blp.route("/customers/<uuid:customer_id>")
class CustomerItem(MethodView):
    @requires(ORDERS_READ)
    @blp.etag
    @blp.response(200, s.CustomerSchema)
    def get(self, customer_id):
        """One customer"""
        return services.get_customer(customer_id)

    @requires(ORDERS_WRITE)
    @blp.etag
    @blp.arguments(s.CustomerUpdateSchema)
    @blp.response(200, s.CustomerSchema)
    def patch(self, data, customer_id):
        """Change a customer (If-Match)"""
        customer = services.get_customer(customer_id)
        blp.check_etag(customer, s.CustomerSchema)
        return services.update_customer(customer, **data)

    @requires(ORDERS_WRITE)
    @blp.response(204)
    def delete(self, customer_id):
        """Delete a customer without orders (409 otherwise: mark it inactive)"""
        services.delete_customer(services.get_customer(customer_id))


# ---------------------------------------------------------------- orders

@blp.route("/orders")
class Orders(MethodView):
    @requires(ORDERS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.OrderFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.OrderSchema))
    def get(self, args, status=None, customer_id=None, q=None, due_from=None, due_to=None):
        """Orders, newest first (filter by status, customer, number/PO, due dates of their lines)"""
        return paginate(services.orders_query(status, customer_id, q, due_from, due_to), args,
                        (Order.created_at, Order.id), descending=True)

    @requires(ORDERS_WRITE)
    @blp.arguments(s.OrderSchema)
    @blp.response(201, s.OrderSchema)
    def post(self, data):
        """Enter an order (a draft) with its lines"""
        return services.create_order(**data)


@blp.route("/orders/<uuid:order_id>")
class OrderItem(MethodView):
    @requires(ORDERS_READ)
    @blp.etag
    @blp.response(200, s.OrderSchema)
    def get(self, order_id):
        """One order with its lines"""
        return services.get_order(order_id)

    @requires(ORDERS_WRITE)
    @blp.etag
    @blp.arguments(s.OrderUpdateSchema)
    @blp.response(200, s.OrderSchema)
    def patch(self, data, order_id):
        """Change an order's header (If-Match with the order's ETag); recorded in its history"""
        order = services.get_order(order_id)
        blp.check_etag(order, s.OrderSchema)
        return services.update_order(order, **data)

    @requires(ORDERS_WRITE)
    @blp.response(204)
    def delete(self, order_id):
        """Delete a draft order (409 otherwise: cancel it)"""
        services.delete_order(services.get_order(order_id))


@blp.route("/orders/<uuid:order_id>/lines")
class OrderLines(MethodView):
    @requires(ORDERS_WRITE)
    @blp.arguments(s.OrderLineSchema)
    @blp.response(201, s.OrderLineOutSchema)
    def post(self, data, order_id):
        """Add a line to a draft or confirmed order"""
        return services.add_line(services.get_order(order_id), **data)


@blp.route("/order-lines/<uuid:order_line_id>")
class LineItem(MethodView):
    @requires(ORDERS_READ)
    @blp.etag
    @blp.response(200, s.OrderLineOutSchema)
    def get(self, order_line_id):
        """One order line"""
        return services.get_line(order_line_id)

    @requires(ORDERS_WRITE)
    @blp.etag
    @blp.arguments(s.OrderLineUpdateSchema)
    @blp.response(200, s.OrderLineOutSchema)
    def patch(self, data, order_line_id):
        """Change a line (If-Match): product and quantity while draft or confirmed,
        due date and priority until finished (409 otherwise)"""
        line = services.get_line(order_line_id)
        blp.check_etag(line, s.OrderLineOutSchema)
        return services.update_line(line, **data)

    @requires(ORDERS_WRITE)
    @blp.response(204)
    def delete(self, order_line_id):
        """Remove a draft line (409 otherwise: cancel it)"""
        services.remove_line(services.get_line(order_line_id))


@blp.route("/order-lines/<uuid:order_line_id>/cancel")
class LineCancel(MethodView):
    @requires(ORDERS_WRITE)
    @blp.arguments(s.CancelReasonSchema)
    @blp.response(200, s.OrderLineOutSchema)
    def post(self, data, order_line_id):
        """Cancel one line (draft, confirmed or planned), with a reason"""
        return services.cancel_line(services.get_line(order_line_id), data["reason"])


@blp.route("/order-lines/<uuid:order_line_id>/promised-date")
class LinePromise(MethodView):
    @requires(ORDERS_READ)
    @blp.response(200, s.PromiseSchema)
    def get(self, order_line_id):
        """The earliest delivery of this line given the current load (explained)"""
        return promising.promise_line(services.get_line(order_line_id))


@blp.route("/orders/<uuid:order_id>/confirm")
class OrderConfirm(MethodView):
    @requires(ORDERS_WRITE)
    @blp.arguments(s.OrderNoteSchema)
    @blp.response(200, s.OrderSchema)
    def post(self, data, order_id):
        """Confirm a draft order (409 if it is not a draft; 422 if a product has no routing)"""
        return services.confirm_order(services.get_order(order_id), data.get("note"))


@blp.route("/orders/<uuid:order_id>/cancel")
class OrderCancel(MethodView):
    @requires(ORDERS_WRITE)
    @blp.arguments(s.CancelReasonSchema)
    @blp.response(200, s.OrderSchema)
    def post(self, data, order_id):
        """Cancel an order whose lines are at most planned (409 otherwise), with a reason"""
        return services.cancel_order(services.get_order(order_id), data["reason"])


@blp.route("/orders/<uuid:order_id>/transition")
class OrderTransition(MethodView):
    @requires(ORDERS_WRITE)
    @blp.arguments(s.OrderTransitionSchema)
    @blp.response(200, s.OrderSchema)
    def post(self, data, order_id):
        """Move every live line of the order to `status`; an illegal move is a 409
        naming the line and what it may become, and changes nothing"""
        return services.advance_order(services.get_order(order_id), data["status"], data.get("note"))


@blp.route("/orders/<uuid:order_id>/history")
class OrderHistory(MethodView):
    @requires(ORDERS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.OrderHistorySchema))
    def get(self, args, order_id):
        """Every change of the order and its lines, newest first: who, when, what"""
        order = services.get_order(order_id)
        return paginate(services.history_query(order), args, (HistoryEntry.at, HistoryEntry.id), descending=True)


def tracking_links(order) -> dict:
    token = services.tracking_token(order)
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    return {"token": token, "url": base + url_for("orders_public.track", token=token),
            "api_url": base + url_for("tracking_api.Tracking", token=token)}


@blp.route("/orders/<uuid:order_id>/tracking-link")
class OrderTrackingLink(MethodView):
    @requires(ORDERS_READ)
    @blp.response(200, s.TrackingLinkSchema)
    def get(self, order_id):
        """The signed link a customer follows to track the order (no login)"""
        return tracking_links(services.get_order(order_id))

    @requires(ORDERS_WRITE)
    @blp.response(200, s.TrackingLinkSchema)
    def post(self, order_id):
        """Make a new link; links handed out before stop working"""
        return tracking_links(services.rotate_tracking(services.get_order(order_id)))


@blp.route("/orders/import")
class OrderImport(MethodView):
    @requires(ORDERS_WRITE)
    @blp.arguments(s.OrderImportArgs, location="query")
    @blp.arguments(s.OrderImportUploadSchema, location="files")
    @blp.response(201, s.OrderImportResultSchema)
    def post(self, args, files):
        """Import orders from a .csv or .xlsx file (multipart field `file`). Every row
        is checked; with any error the answer is 422 listing the rows (`rows`) and
        nothing is imported."""
        upload = files["file"]
        result = importing.import_file(upload.filename or "", upload.read(importing.MAX_BYTES + 1),
                                       confirm=args["confirm"])
        return {"orders": [o.number for o in result.orders], "lines": result.lines}


@blp.route("/promised-date")
class Quote(MethodView):
    @requires(ORDERS_READ)
    @blp.arguments(s.QuoteSchema)
    @blp.response(200, s.PromiseSchema)
    def post(self, data):
        """What if: when could this quantity of a product be delivered, behind all committed work?"""
        return promising.promise_quote(data["product_id"], data["quantity"], data["quantity_unit"],
                                       customer_id=data.get("customer_id"), due_date=data.get("due_date"))


@tracking_blp.route("/track/<token>")
class Tracking(MethodView):
    @requires(perms.PUBLIC)
    @tracking_blp.response(200, s.TrackingSchema)
    def get(self, token):
        """An order as its customer sees it (lines, status, where the coils are), by
        the signed link token; no login. A wrong or renewed token is a 404."""
        return services.tracking_view(token)
