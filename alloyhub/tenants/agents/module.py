"""Plugs the agents room into the app: its API (with the public enrolment
endpoint), its pages and its navigation. The outbox handlers of the
down-link register when services is imported."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from alloyhub.platform import security
from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements
from alloyhub.platform.seed import register_demo_seeder
from alloyhub.platform.web import NavItem, register_nav

from . import api as agents_api
from . import demo
from . import permissions as p
from . import services  # noqa: F401 - registers the outbox handlers
from . import views


def init_app(app) -> None:
    api.register_blueprint(agents_api.blp)
    app.register_blueprint(views.bp)
    # Authenticated by the one-time token in the body, sent by a program, not a browser.
    security.CSRF_EXEMPT_ENDPOINTS.add("agents_api.Enroll")
    register_nav(NavItem("agents", _l("Agents"), "agents.list_page", p.AGENTS_READ, section="main", order=60))
    entitlements.require_module(agents_api.blp, "agents")  # the plan decides (billing/plans.py)
    entitlements.require_module(views.bp, "agents")
    register_demo_seeder(demo.seed_demo)
