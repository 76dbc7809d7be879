"""Plugs the inventory room into the app: API, pages, navigation, the plan's
module gate and the demo data."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as inventory_api
from . import demo, services, views
from .permissions import INVENTORY_READ


def init_app(app) -> None:
    api.register_blueprint(inventory_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("inventory", _l("Inventory"), "inventory.stock", INVENTORY_READ, order=50))
    entitlements.require_module(inventory_api.blp, "inventory")  # the plan decides (billing/plans.py)
    entitlements.require_module(views.bp, "inventory")
    register_demo_seeder(demo.seed_demo)
    _tell_orders_where_coils_are()


def _where_the_coils_are(line):
    """For the orders room: a line's coils, or None when this room has none for it."""
    from alloyhub.tenants.orders import services as orders

    found = services.line_location(line.id)
    if not found["coils"]:
        return None
    summary = ", ".join(f"{v['coils']} × {_(status)}" for status, v in sorted(found["summary"].items()))
    coils = [{"coil": c["coil_no"], "status": c["status"],
              "location": c["shipment_no"] or c["location"] or c["warehouse"] or ""} for c in found["coils"]]
    return orders.LineLocation(True, summary, coils)


def _tell_orders_where_coils_are() -> None:
    """The orders room's pages and the customer's tracking link show where
    each line's coils are; this room knows."""
    try:
        from alloyhub.tenants.orders import services as orders
    except ImportError:  # the orders room is not installed
        return
    orders.register_line_location(_where_the_coils_are)
