"""Plugs the identity room into the app: its API, its pages, its navigation."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import permissions as perms
from ..api import api
from ..web import NavItem, register_nav
from . import api as identity_api
from . import views


def init_app(app) -> None:
    api.register_blueprint(identity_api.blp)
    app.register_blueprint(views.bp)
    register_nav(NavItem("members", _l("Members"), "identity.members", perms.MEMBERS_READ, section="admin", order=10))
