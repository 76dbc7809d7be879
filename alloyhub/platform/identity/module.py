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
    # The company's administration; each item shows only to those who may open it.
    for item in (
        NavItem("members", _l("Members"), "identity.members", perms.MEMBERS_READ, section="admin", order=10),
        NavItem("invitations", _l("Invitations"), "identity.invitations", perms.MEMBERS_READ, section="admin",
                order=20),
        NavItem("roles", _l("Roles"), "identity.roles", perms.MEMBERS_READ, section="admin", order=30),
        NavItem("sites", _l("Sites"), "identity.sites", perms.TENANT_READ, section="admin", order=40),
        NavItem("settings", _l("Company settings"), "identity.settings", perms.TENANT_ADMIN, section="admin",
                order=50),
        NavItem("audit", _l("Audit log"), "identity.audit_log", perms.AUDIT_READ, section="admin", order=60),
    ):
        register_nav(item)
