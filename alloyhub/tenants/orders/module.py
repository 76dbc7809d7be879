"""Plugs the orders room into the app: API (with the import's file upload
and the public tracking resource), pages (with the public tracking page),
navigation and demo data. Gated by the "orders" module key (Starter)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import NON_JSON_BODY_ENDPOINTS, api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as orders_api
from . import demo, views
from .permissions import ORDERS_READ


def init_app(app) -> None:
    api.register_blueprint(orders_api.blp)
    api.register_blueprint(orders_api.tracking_blp)
    app.register_blueprint(views.bp)
    app.register_blueprint(views.public_bp)
    NON_JSON_BODY_ENDPOINTS.add("orders_api.OrderImport")  # multipart: the file
    register_nav(NavItem("orders", _l("Orders"), "orders.order_list", ORDERS_READ, order=52))
    register_nav(NavItem("customers", _l("Customers"), "orders.customers", ORDERS_READ, order=53))
    # The customer's tracking link is not gated by the visitor's plan (they
    # have none); the service checks the owning plant's plan instead.
    entitlements.require_module(orders_api.blp, "orders")
    entitlements.require_module(views.bp, "orders")
    register_demo_seeder(demo.seed_demo)
