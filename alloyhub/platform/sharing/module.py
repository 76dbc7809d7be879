"""Plugs the consent ledger into the app: its API, the Sharing page, its
navigation and the periodic sweep. A platform room: never gated by a plan
(a company must always be able to see and revoke what it shares)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..api import api
from ..web import NavItem, register_nav
from . import api as sharing_api
from . import jobs  # noqa: F401 - registers the periodic sweep with the worker
from . import views
from .permissions import SHARING_READ


def init_app(app) -> None:
    api.register_blueprint(sharing_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("sharing", _l("Sharing"), "sharing.index", SHARING_READ, section="admin", order=55))
