"""Plugs the OAuth room into the app: the authorization server, the bearer
resolvers for OAuth access tokens and personal access tokens, the API, the
pages and their navigation."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import auth, security
from .. import permissions as perms
from ..api import api
from ..web import NavItem, register_nav
from . import api as oauth_api
from . import server, services, views


@auth.bearer_resolver
def _resolve_pat(token: str):
    return services.principal_for_pat(token)


@auth.bearer_resolver
def _resolve_oauth(token: str):
    return services.principal_for_access_token(token)


def init_app(app) -> None:
    server.init_app(app)
    api.register_blueprint(oauth_api.blp)
    app.register_blueprint(views.bp)
    security.CSRF_EXEMPT_ENDPOINTS.update(views.CSRF_EXEMPT)
    register_nav(NavItem("tokens", _l("Access tokens"), "oauth.tokens_page", perms.AUTHENTICATED,
                         section="admin", order=60))
    register_nav(NavItem("oauth_clients", _l("OAuth clients"), "oauth.clients_page", perms.TOKENS_ADMIN,
                         section="admin", order=70))
    register_nav(NavItem("sso", _l("Single sign-on"), "oauth.sso_page", perms.TENANT_ADMIN,
                         section="admin", order=80))
