"""Plugs the products room into the app: API, pages, navigation, demo data.

Gated by the "orders" module key (Starter): products and routings are what
orders, scheduling and production all name."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as products_api
from . import demo, views
from .permissions import PRODUCTS_READ


def init_app(app) -> None:
    api.register_blueprint(products_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("products", _l("Products"), "products.product_list", PRODUCTS_READ, order=51))
    entitlements.require_module(products_api.blp, "orders")
    entitlements.require_module(views.bp, "orders")
    register_demo_seeder(demo.seed_demo)
