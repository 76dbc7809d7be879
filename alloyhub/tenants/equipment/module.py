"""Plugs the equipment room into the app: API, pages, navigation, demo data.

Gated by the "orders" module key: every MES module (orders, scheduling,
production, inventory) needs the equipment, so it comes with the cheapest
plan that has any of them (Starter, see billing/plans.py)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as equipment_api
from . import demo, views
from .permissions import EQUIPMENT_READ


def init_app(app) -> None:
    api.register_blueprint(equipment_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("equipment", _l("Equipment"), "equipment.index", EQUIPMENT_READ, order=50))
    entitlements.require_module(equipment_api.blp, "orders")
    entitlements.require_module(views.bp, "orders")
    register_demo_seeder(demo.seed_demo)
