"""Plugs the alarms room into the app: API, pages, navigation, the telemetry
hook and the periodic check."""
from __future__ import annotations

from flask import has_app_context
from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.web import NavItem, register_nav

from . import api as alarms_api
from . import jobs  # noqa: F401 - registers the periodic check with the worker
from . import services, views
from .permissions import ALARMS_READ

_hooked = False
_app = None


def _evaluate(tenant_id, agent_id, points) -> None:
    """The ingest calls its hooks outside an app context: bring our own, but
    only for points some rule may watch (most batches stop here, cheaply)."""
    if not services.may_match(tenant_id, agent_id, points):
        return
    if has_app_context() or _app is None:
        services.evaluate_points(tenant_id, agent_id, points)
    else:
        with _app.app_context():
            services.evaluate_points(tenant_id, agent_id, points)


def _hook_into_telemetry() -> None:
    """Evaluate limit and rate rules on every committed ingest batch. The
    hook registry is process-wide, so register once however many apps exist."""
    global _hooked
    if _hooked:
        return
    try:
        from alloyhub.tenants.telemetry import hooks
    except ImportError:  # the telemetry room is not installed: nothing to evaluate
        return
    hooks.on_points(_evaluate)
    _hooked = True


def init_app(app) -> None:
    global _app
    _app = app
    api.register_blueprint(alarms_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("alarms", _l("Alarms"), "alarms.alarm_list", ALARMS_READ, order=40))
    entitlements.require_module(alarms_api.blp, "alarms")  # the plan decides (billing/plans.py)
    entitlements.require_module(views.bp, "alarms")
    _hook_into_telemetry()
