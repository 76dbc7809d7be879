"""The authorization server: authlib's grants, endpoints and resource
protector in one module (as in authlib's example-oauth2-server
website/oauth2.py). Storage and rules live in services.py.

Tokens: access tokens `aho_…` (1 h), refresh tokens `ahr_…` (30 days,
rotated on every use), both stored as hashes. Client credentials act as the
client's tenant; the code flow acts as the consenting person in the tenant
they had selected, whichever tenant registered the client."""
from __future__ import annotations

import time

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app

from ..auth import current_principal
from ..db import db
from ..identity.models import User
from . import keys, services

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def issuer() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def _tenant_of(request) -> object:
    """Which tenant a token being issued belongs to."""
    if getattr(request, "authorization_code", None) is not None:
        return request.authorization_code.tenant_id
    if getattr(request, "refresh_token", None) is not None:
        return request.refresh_token.tenant_id
    return request.client.tenant_id


def _save_token(token: dict, request) -> None:
    user = request.user
    previous = getattr(request, "refresh_token", None)
    services.save_token(token, client=request.client, user_id=user.id if user else None,
                        tenant_id=_tenant_of(request), family_id=previous.family_id if previous else None)


authorization = AuthorizationServer(query_client=services.client_by_client_id, save_token=_save_token)
require_oauth = ResourceProtector()


# ---------------------------------------------------------------- grants

class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class S256Challenge(CodeChallenge):
    """PKCE with S256 only; `plain` protects nothing."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_authorization_request(self):
        redirect_uri = super().validate_authorization_request()
        data = self.request.payload.data
        if self.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (code_challenge with S256)",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256", redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code, request):
        data = request.payload.data
        services.save_authorization_code(
            code, client=request.client, user_id=request.user.id, tenant_id=current_principal().tenant_id,
            redirect_uri=request.payload.redirect_uri, scope=request.scope or "", nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"), code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code, client):
        return services.find_authorization_code(code, client)

    def delete_authorization_code(self, authorization_code):
        services.delete_authorization_code(authorization_code)

    def authenticate_user(self, authorization_code):
        return db.session.get(User, authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh gives a new refresh token

    def authenticate_refresh_token(self, refresh_token):
        return services.find_refresh_token(refresh_token)

    def authenticate_user(self, refresh_token):
        if refresh_token.user_id is None:
            return None
        return db.session.get(User, refresh_token.user_id)

    def revoke_old_credential(self, refresh_token):
        services.revoke_token(refresh_token, reason="rotated")


def user_info(user: User, scope: str) -> UserInfo:
    info = UserInfo(sub=str(user.id))
    scopes = set((scope or "").split())
    if "profile" in scopes:
        info["name"] = user.name
        if user.locale:
            info["locale"] = user.locale
    if "email" in scopes:
        info["email"] = user.email
        info["email_verified"] = user.email_verified_at is not None
    return info


class AlloyHubOpenIDCode(OpenIDCode):
    def resolve_client_private_key(self, client):
        return keys.signing_key()

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": keys.signing_key().kid, "typ": "JWT"}

    def get_client_claims(self, client):
        now = int(time.time())
        return {"iss": issuer(), "aud": client.client_id, "iat": now, "exp": now + 3600}

    def exists_nonce(self, nonce, request):
        return services.nonce_used(request.payload.client_id, nonce)

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


# ---------------------------------------------------------------- revocation, introspection

class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return services.find_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        services.revoke_token(token)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return services.find_token(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        # A client may introspect the tokens issued to it, and a tenant's
        # integrations may introspect any token of that tenant.
        return token.check_client(client) or token.tenant_id == client.tenant_id

    def introspect_token(self, token):
        return services.introspection(token)


# ---------------------------------------------------------------- resource protection (userinfo)

class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        if not (token_string or "").startswith(services.ACCESS_PREFIX):
            return None
        return services.find_token(token_string)


def _access_token(client, grant_type, user, scope):  # noqa: ARG001 - authlib's generator signature
    return services.new_secret(services.ACCESS_PREFIX)


def _refresh_token(client, grant_type, user, scope):  # noqa: ARG001
    return services.new_secret(services.REFRESH_PREFIX)


def _expires_in(client, grant_type):  # noqa: ARG001
    return int(services.ACCESS_TTL.total_seconds())


_registered = False


def init_app(app) -> None:
    """The server object is shared; grants and endpoints are registered once
    even when several apps are created (tests)."""
    global _registered
    authorization.init_app(app)
    authorization.register_token_generator("default", BearerTokenGenerator(_access_token, _refresh_token,
                                                                           _expires_in))
    if _registered:
        return
    _registered = True
    authorization.register_grant(ClientCredentialsGrant)
    authorization.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True),
                                                          AlloyHubOpenIDCode(require_nonce=False)])
    authorization.register_grant(RefreshTokenGrant)
    authorization.register_endpoint(Revocation)
    authorization.register_endpoint(Introspection)
    require_oauth.register_token_validator(TokenValidator())
