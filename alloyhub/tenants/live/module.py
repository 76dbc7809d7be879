"""Plugs the live and trend pages into the app."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.billing import entitlements
from alloyhub.platform.web import NavItem, register_nav
from alloyhub.tenants.telemetry.permissions import TELEMETRY_READ

from . import views


def init_app(app) -> None:
    app.register_blueprint(views.bp)
    register_nav(NavItem("live", _l("Live data"), "live.index", TELEMETRY_READ, order=30))
    entitlements.require_module(views.bp, "telemetry")  # the plan decides (billing/plans.py)
