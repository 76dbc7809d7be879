"""Plugs the production room into the app: API, pages, navigation ("Shop
floor") and the plan's module gate. Demo work orders come from a published
schedule (the scheduling room's demo), not from here: a work order without
a schedule version would be a made-up plan."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform import outbox, tenancy
from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.db import db
from alloyhub.platform.web import NavItem, register_nav

from . import api as production_api
from . import services, views
from .permissions import PRODUCTION_READ


def init_app(app) -> None:
    api.register_blueprint(production_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("production", _l("Shop floor"), "production.floor", PRODUCTION_READ, order=56))
    entitlements.require_module(production_api.blp, "production")  # the plan decides (billing/plans.py)
    entitlements.require_module(views.bp, "production")


@outbox.subscribe("inventory.move.return")
def _coil_put_in_stock(event) -> None:
    """Coils left at the unit by the last operation and brought into stock
    later (a `return` move) put their finished order line in stock."""
    line_id = (event.payload or {}).get("order_line_id")
    if not line_id or event.payload.get("to_status") not in ("available", "reserved"):
        return
    with tenancy.scoped(event.tenant_id, session=db.session):
        services.coil_settled(line_id)
