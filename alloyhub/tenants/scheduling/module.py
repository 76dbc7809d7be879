"""Plugs the scheduling room into the app: API, pages, navigation, the plan's
module gate ("scheduling", Professional) and the demo schedule. The alarm
subscription (a unit down → a disruption) registers when services is imported."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as scheduling_api
from . import demo, services, views  # noqa: F401 - services subscribes to alarm events
from .permissions import SCHEDULING_READ


def init_app(app) -> None:
    api.register_blueprint(scheduling_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("scheduling", _l("Scheduling"), "scheduling.versions", SCHEDULING_READ, order=54))
    entitlements.require_module(scheduling_api.blp, "scheduling")
    entitlements.require_module(views.bp, "scheduling")
    register_demo_seeder(demo.seed_demo)
