"""Signing in to a tenant through its own OpenID Connect provider (the
relying-party side), with authlib's requests client.

begin() builds the redirect to the IdP (discovery, state, nonce, PKCE S256)
and returns what the browser session must remember; finish() exchanges the
code, verifies the id_token (signature against the IdP's JWKS, iss, aud,
nonce, exp) and admits the person with identity.join_by_sso."""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from .. import audit, tenancy
from ..db import db
from ..errors import AppError, NotFound, PermissionDenied
from ..identity import services as identity
from ..identity.models import Tenant, User
from . import services

HTTP_TIMEOUT = 10


class SsoFailed(AppError):
    status, slug, title = 400, "sso-failed", "Single sign-on failed"


def _redirect_uri() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/sso/callback"


def _get_json(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and current_app.config.get("ALLOW_INSECURE_OIDC")):
        raise SsoFailed(f"The identity provider must use https: {url}")
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SsoFailed("The identity provider could not be reached; try again later") from exc


def _discover(issuer: str) -> dict:
    meta = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if meta.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise SsoFailed("The identity provider's discovery document names another issuer")
    return meta


def tenant_by_slug(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == (slug or "").strip().lower(),
                                                    Tenant.status == "active"))
    if tenant is None:
        raise NotFound("No company with that short name uses single sign-on")
    return tenant


def _session_client(config, **kw) -> OAuth2Session:
    return OAuth2Session(config.client_id, services.unseal(config.client_secret_sealed),
                         scope="openid email profile", redirect_uri=_redirect_uri(),
                         code_challenge_method="S256", **kw)


def begin(slug: str) -> tuple[str, dict]:
    """Where to send the browser, and the state to keep in its session."""
    tenant = tenant_by_slug(slug)
    config = services.sso_config_for(tenant.id)
    if config is None or not config.enabled:
        raise NotFound("No company with that short name uses single sign-on")
    meta = _discover(config.issuer)
    nonce, verifier = secrets.token_urlsafe(24), generate_token(64)
    with _session_client(config) as client:
        url, state = client.create_authorization_url(meta["authorization_endpoint"], nonce=nonce,
                                                     code_verifier=verifier)
    return url, {"tenant_id": str(tenant.id), "state": state, "nonce": nonce, "verifier": verifier}


def finish(remembered: dict | None, args) -> tuple[User, Tenant]:
    """Complete the sign-in from the IdP's redirect back to us."""
    if not remembered or not args.get("state") or not secrets.compare_digest(args.get("state", ""),
                                                                              remembered.get("state", "")):
        raise SsoFailed("The sign-in attempt expired or did not start here; start again")
    if args.get("error"):
        raise SsoFailed(f"The identity provider refused: {args.get('error_description') or args['error']}")
    tenant = db.session.get(Tenant, remembered["tenant_id"])
    config = services.sso_config_for(tenant.id) if tenant else None
    if config is None or not config.enabled:
        raise SsoFailed("Single sign-on is no longer configured for this company")
    meta = _discover(config.issuer)
    try:
        with _session_client(config) as client:
            token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code",
                                       code=args.get("code", ""), code_verifier=remembered["verifier"],
                                       timeout=HTTP_TIMEOUT)
    except Exception as exc:  # authlib raises OAuthError, requests its own; both mean "no token"
        raise SsoFailed("The identity provider did not accept the sign-in; start again") from exc
    claims = verify_id_token(token.get("id_token"), meta, issuer=config.issuer, client_id=config.client_id,
                             nonce=remembered["nonce"])
    if not claims.get("email") or claims.get("email_verified") is not True:
        _audit_failure(tenant, config, "email-not-verified", claims.get("email"))
        raise PermissionDenied("The identity provider did not confirm a verified e-mail address")
    try:
        user = identity.join_by_sso(tenant, email=claims["email"], name=claims.get("name") or "")
    except PermissionDenied:
        _audit_failure(tenant, config, "not-admitted", claims.get("email"))
        raise
    with tenancy.scoped(tenant.id, user.id, session=db.session):
        audit.record("auth.sign_in", tenant_id=tenant.id, actor_user_id=user.id, actor_label=user.email,
                     method="sso", issuer=config.issuer, subject=claims.get("sub"))
        db.session.commit()
    return user, tenant


def verify_id_token(id_token: str | None, meta: dict, *, issuer: str, client_id: str, nonce: str) -> dict:
    if not id_token:
        raise SsoFailed("The identity provider returned no id_token")
    keys = KeySet.import_key_set(_get_json(meta["jwks_uri"]))
    try:
        decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": meta["issuer"]}, aud={"essential": True, "value": client_id},
            nonce={"essential": True, "value": nonce}, exp={"essential": True}, sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise SsoFailed(f"The identity provider's id_token is not valid ({exc})") from exc
    if decoded.claims["iss"].rstrip("/") != issuer.rstrip("/"):
        raise SsoFailed("The id_token names another issuer")
    return decoded.claims


def _audit_failure(tenant: Tenant, config, reason: str, email: str | None) -> None:
    with tenancy.scoped(tenant.id, None, session=db.session):
        audit.record("auth.sign_in_failed", tenant_id=tenant.id, actor_label=(email or "")[:254] or None,
                     method="sso", issuer=config.issuer, reason=reason)
        db.session.commit()
