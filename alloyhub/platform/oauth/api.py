"""/api/v1: the caller's personal access tokens, the company's OAuth clients
and its single sign-on configuration."""
from __future__ import annotations

from flask.views import MethodView

from .. import permissions as perms
from ..api import Blueprint, PageArgs, page_of, paginate
from ..auth import current_principal, requires
from . import schemas as s
from . import services
from .models import OAuthClient, PersonalAccessToken

blp = Blueprint("oauth_api", __name__, url_prefix="/api/v1", description="Tokens, OAuth clients and single sign-on")


@blp.route("/tokens")
class Tokens(MethodView):
    @requires(perms.AUTHENTICATED)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.PatSchema))
    def get(self, args):
        """Your personal access tokens in the current company"""
        stmt = services.pats_query(current_principal().user_id)
        return paginate(stmt, args, (PersonalAccessToken.created_at, PersonalAccessToken.id), descending=True)

    @requires(perms.AUTHENTICATED)
    @blp.arguments(s.PatCreateSchema)
    @blp.response(201, s.PatCreatedSchema)
    def post(self, data):
        """Create a personal access token (the value is shown once)"""
        pat, value = services.create_pat(**data)
        pat.token = value  # a plain attribute for this response only, never stored
        return pat


@blp.route("/tokens/<uuid:token_id>")
class TokenItem(MethodView):
    @requires(perms.AUTHENTICATED)
    @blp.response(200, s.PatSchema)
    def get(self, token_id):
        """One of your personal access tokens"""
        return services.get_pat(token_id, current_principal().user_id)

    @requires(perms.AUTHENTICATED)
    @blp.response(204)
    def delete(self, token_id):
        """Revoke one of your personal access tokens"""
        services.revoke_pat(services.get_pat(token_id, current_principal().user_id))


@blp.route("/oauth-clients")
class Clients(MethodView):
    @requires(perms.TOKENS_ADMIN)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.ClientSchema))
    def get(self, args):
        """OAuth clients registered by the company"""
        return paginate(services.clients_query(), args, (OAuthClient.created_at, OAuthClient.id))

    @requires(perms.TOKENS_ADMIN)
    @blp.arguments(s.ClientCreateSchema)
    @blp.response(201, s.ClientCreatedSchema)
    def post(self, data):
        """Register an OAuth client (the secret is shown once)"""
        client, secret = services.create_client(**data)
        client.client_secret = secret  # a plain attribute for this response only, never stored
        return client


@blp.route("/oauth-clients/<uuid:client_pk>")
class ClientItem(MethodView):
    @requires(perms.TOKENS_ADMIN)
    @blp.etag
    @blp.response(200, s.ClientSchema)
    def get(self, client_pk):
        """One OAuth client"""
        return services.get_client(client_pk)

    @requires(perms.TOKENS_ADMIN)
    @blp.etag
    @blp.arguments(s.ClientUpdateSchema)
    @blp.response(200, s.ClientSchema)
    def patch(self, data, client_pk):
        """Rename a client or change its scopes or redirect URIs"""
        client = services.get_client(client_pk)
        blp.check_etag(client, s.ClientSchema)
        return services.update_client(client, **data)

    @requires(perms.TOKENS_ADMIN)
    @blp.etag
    @blp.response(204)
    def delete(self, client_pk):
        """Delete a client; every token issued to it stops working"""
        client = services.get_client(client_pk)
        blp.check_etag(client, s.ClientSchema)
        services.delete_client(client)


@blp.route("/sso")
class Sso(MethodView):
    @requires(perms.TENANT_ADMIN)
    @blp.etag
    @blp.response(200, s.SsoSchema)
    def get(self):
        """The company's single sign-on (OpenID Connect) configuration"""
        return services.sso_overview()

    @requires(perms.TENANT_ADMIN)
    @blp.etag
    @blp.arguments(s.SsoUpdateSchema)
    @blp.response(200, s.SsoSchema)
    def put(self, data):
        """Set the identity provider; the client secret is write-only"""
        blp.check_etag(services.sso_overview(), s.SsoSchema)
        services.put_sso_config(**data)
        return services.sso_overview()
