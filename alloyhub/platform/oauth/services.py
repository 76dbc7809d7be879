"""Business rules for OAuth clients, tokens, personal access tokens and the
tenant's SSO configuration. The authlib glue (server.py) and the pages/API
call these; nothing else writes these tables.

Lookups by secret (a token, a code, a client id at the token endpoint) run
before the tenant is known, so they run in `tenancy.system_context()`; the
RLS policies of those tables admit the system flag (migration 0002). Every
write runs in the owning tenant's scope."""
from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import select

from .. import audit, tenancy
from .. import permissions as perms
from ..auth import Principal
from ..db import db, get_or_404, utcnow
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..identity import services as identity
from .hashing import hash_secret, secrets_equal  # noqa: F401 - re-exported for the room
from .models import OAuthAuthorizationCode, OAuthClient, OAuthToken, PersonalAccessToken, SsoConfig

OIDC_SCOPES = ("openid", "profile", "email")
GRANT_SETS = {
    # an integration acting as the tenant itself
    "client_credentials": ["client_credentials"],
    # a third-party app acting for a person who consents
    "authorization_code": ["authorization_code", "refresh_token"],
}
ACCESS_PREFIX, REFRESH_PREFIX, PAT_PREFIX = "aho_", "ahr_", "ahp_"
ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(days=30)
CODE_TTL = timedelta(minutes=10)
PAT_MAX_DAYS = 365


# ---------------------------------------------------------------- secrets

def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def _fernet() -> Fernet:
    digest = hashlib.sha256(("sso-secret:" + current_app.config["SECRET_KEY"]).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(value: str) -> str:
    """Encrypt a secret we must be able to send on (the SSO client secret).
    The key derives from SECRET_KEY: rotating it means re-entering the secret."""
    return _fernet().encrypt(value.encode()).decode()


def unseal(value: str) -> str:
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise ValidationFailed("The stored SSO client secret cannot be read; enter it again",
                               errors={"client_secret": ["Enter the client secret again."]}) from exc


def _require(errors: dict[str, list[str]]) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def _reject_nul(**values) -> None:
    """PostgreSQL text cannot hold NUL; pages post raw form values."""
    bad = {}
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in items):
            bad[name] = ["Must not contain NUL characters."]
    _require(bad)


def _scope_problems(scopes: list[str], allowed: frozenset[str], *, oidc: bool) -> list[str]:
    problems = []
    for scope in scopes:
        if oidc and scope in OIDC_SCOPES:
            continue
        if scope not in perms.REGISTRY:
            problems.append(f"Unknown scope: {scope}")
        elif scope not in allowed:
            problems.append(f"You cannot grant a permission you do not have: {scope}")
    return problems


def _current_principal() -> Principal:
    from ..auth import current_principal

    principal = current_principal()
    if principal is None or principal.tenant_id is None:
        raise PermissionDenied("Choose a company first")
    return principal


# ---------------------------------------------------------------- OAuth clients

def clients_query():
    return select(OAuthClient)


def get_client(client_pk) -> OAuthClient:
    return get_or_404(OAuthClient, client_pk, "No such OAuth client")


def _redirect_problems(uris: list[str]) -> list[str]:
    problems = []
    insecure_ok = current_app.config.get("ALLOW_INSECURE_OIDC")
    for uri in uris:
        try:
            parts = urlsplit(uri)
            local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        except ValueError:
            problems.append(f"Not a valid URL: {uri}")
            continue
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            problems.append(f"Not an absolute URL without fragment: {uri}")
        elif parts.scheme == "http" and not (local or insecure_ok):
            problems.append(f"Use https (http only for localhost): {uri}")
    return problems


def create_client(*, name: str, kind: str, scopes: list[str], redirect_uris: list[str] | None = None,
                  public: bool = False) -> tuple[OAuthClient, str | None]:
    """Register an application; returns it with its secret (shown once)."""
    principal = _current_principal()
    _reject_nul(name=name, scopes=scopes, redirect_uris=redirect_uris)
    redirect_uris = [u.strip() for u in (redirect_uris or []) if u.strip()]
    scopes = sorted(set(scopes or []))
    errors = {
        "name": [] if (name or "").strip() else ["Enter a name."],
        "kind": [] if kind in GRANT_SETS else [f"Choose one of: {', '.join(GRANT_SETS)}."],
        "scopes": _scope_problems(scopes, principal.permissions, oidc=kind == "authorization_code"),
        "redirect_uris": _redirect_problems(redirect_uris),
    }
    if kind == "authorization_code" and not redirect_uris:
        errors["redirect_uris"].append("Add at least one redirect URI.")
    if kind == "client_credentials" and public:
        errors["public"] = ["An integration using client credentials needs a secret."]
    _require(errors)
    secret = None if public else new_secret("ahs_")
    client = OAuthClient(
        client_id="ahc_" + secrets.token_hex(12), client_secret_hash=hash_secret(secret) if secret else None,
        name=name.strip(), redirect_uris=redirect_uris, scopes=scopes, grant_types=list(GRANT_SETS[kind]),
        token_endpoint_auth_method="none" if public else "client_secret_basic", created_by=principal.user_id,
    )
    db.session.add(client)
    db.session.flush()
    audit.record("oauth_client.created", target=client, client_id=client.client_id, name=client.name,
                 scopes=scopes, kind=kind)
    db.session.commit()
    return client, secret


def update_client(client: OAuthClient, *, name: str | None = None, scopes: list[str] | None = None,
                  redirect_uris: list[str] | None = None) -> OAuthClient:
    principal = _current_principal()
    _reject_nul(name=name, scopes=scopes, redirect_uris=redirect_uris)
    errors: dict[str, list[str]] = {}
    changes = {}
    if name is not None:
        if not name.strip():
            errors["name"] = ["Enter a name."]
        elif name.strip() != client.name:
            changes["name"] = [client.name, name.strip()]
    if scopes is not None:
        scopes = sorted(set(scopes))
        errors["scopes"] = _scope_problems(scopes, principal.permissions,
                                           oidc=client.kind == "authorization_code")
        if scopes != sorted(client.scopes):
            changes["scopes"] = [sorted(client.scopes), scopes]
    if redirect_uris is not None:
        redirect_uris = [u.strip() for u in redirect_uris if u.strip()]
        errors["redirect_uris"] = _redirect_problems(redirect_uris)
        if client.kind == "authorization_code" and not redirect_uris:
            errors["redirect_uris"].append("Add at least one redirect URI.")
        if redirect_uris != client.redirect_uris:
            changes["redirect_uris"] = [client.redirect_uris, redirect_uris]
    _require(errors)
    if "name" in changes:
        client.name = changes["name"][1]
    if "scopes" in changes:
        client.scopes = changes["scopes"][1]
    if "redirect_uris" in changes:
        client.redirect_uris = changes["redirect_uris"][1]
    if changes:
        audit.record("oauth_client.updated", target=client, client_id=client.client_id, changes=changes)
    db.session.commit()
    return client


def delete_client(client: OAuthClient) -> None:
    """Deleting a client ends every token issued to it (ON DELETE CASCADE)."""
    audit.record("oauth_client.deleted", target=client, client_id=client.client_id, name=client.name)
    db.session.delete(client)
    db.session.commit()


def client_by_client_id(client_id: str) -> OAuthClient | None:
    """For the authorization server: the client's tenant is not known yet."""
    if not client_id or len(client_id) > 64:
        return None
    with tenancy.system_context(db.session):
        return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


# ---------------------------------------------------------------- codes and tokens

def save_authorization_code(code: str, *, client: OAuthClient, user_id, tenant_id, redirect_uri: str | None,
                            scope: str, nonce: str | None, code_challenge: str | None,
                            code_challenge_method: str | None) -> None:
    with tenancy.scoped(tenant_id, user_id, session=db.session):
        db.session.add(OAuthAuthorizationCode(
            code_hash=hash_secret(code), client_pk=client.id, user_id=user_id, redirect_uri=redirect_uri or "",
            scope=scope or "", nonce=nonce, code_challenge=code_challenge,
            code_challenge_method=code_challenge_method, expires_at=utcnow() + CODE_TTL,
        ))
        audit.record("oauth.authorized", target=client, client_id=client.client_id, scope=scope)
        db.session.commit()


def find_authorization_code(code: str, client: OAuthClient) -> OAuthAuthorizationCode | None:
    with tenancy.system_context(db.session):
        found = db.session.scalar(select(OAuthAuthorizationCode).where(
            OAuthAuthorizationCode.code_hash == hash_secret(code), OAuthAuthorizationCode.client_pk == client.id))
    if found is None or found.is_expired():
        return None
    return found


def delete_authorization_code(code: OAuthAuthorizationCode) -> None:
    """Codes are single-use: deleted as the token is issued."""
    with tenancy.scoped(code.tenant_id, code.user_id, session=db.session):
        db.session.execute(OAuthAuthorizationCode.__table__.delete().where(OAuthAuthorizationCode.id == code.id))
        db.session.commit()


def nonce_used(client_id: str, nonce: str) -> bool:
    client = client_by_client_id(client_id)
    if client is None:
        return False
    with tenancy.system_context(db.session):
        return db.session.scalar(select(OAuthAuthorizationCode.id).where(
            OAuthAuthorizationCode.client_pk == client.id, OAuthAuthorizationCode.nonce == nonce)) is not None


def save_token(token: dict, *, client: OAuthClient, user_id, tenant_id, family_id=None) -> OAuthToken:
    now = utcnow()
    if family_id is None and token.get("refresh_token"):
        family_id = uuid.uuid4()
    row = OAuthToken(
        family_id=family_id,
        client_pk=client.id, user_id=user_id, scope=token.get("scope", ""),
        access_token_hash=hash_secret(token["access_token"]),
        refresh_token_hash=hash_secret(token["refresh_token"]) if token.get("refresh_token") else None,
        issued_at=now, expires_at=now + timedelta(seconds=int(token.get("expires_in", ACCESS_TTL.total_seconds()))),
        refresh_expires_at=now + REFRESH_TTL if token.get("refresh_token") else None,
    )
    with tenancy.scoped(tenant_id, user_id, session=db.session):
        db.session.add(row)
        db.session.commit()
    return row


def find_token(value: str, hint: str | None = None) -> OAuthToken | None:
    """An access or refresh token by its value (revocation, introspection)."""
    if not value or len(value) > 200:
        return None
    digest = hash_secret(value)
    column = OAuthToken.refresh_token_hash if value.startswith(REFRESH_PREFIX) else OAuthToken.access_token_hash
    with tenancy.system_context(db.session):
        return db.session.scalar(select(OAuthToken).where(column == digest))


def find_refresh_token(value: str) -> OAuthToken | None:
    if not (value or "").startswith(REFRESH_PREFIX):
        return None
    token = find_token(value)
    if token is None:
        return None
    if token.is_revoked():
        _revoke_family(token)
        return None
    if token.is_refresh_expired():
        return None
    return token


def _revoke_family(token: OAuthToken) -> None:
    """A spent refresh token came back: someone else holds a copy. End every
    token descending from the same authorization (RFC 9700 §4.14.2)."""
    if token.family_id is None:
        return
    with tenancy.scoped(token.tenant_id, token.user_id, session=db.session):
        result = db.session.execute(
            OAuthToken.__table__.update()
            .where(OAuthToken.family_id == token.family_id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        if result.rowcount:  # only the first replay finds anything left to end
            audit.record("oauth.refresh_token_reused", target_type="oauth_token", target_id=token.id,
                         actor_user_id=token.user_id, client_id=token.client.client_id, revoked=result.rowcount)
        db.session.commit()


def revoke_token(token: OAuthToken, reason: str = "revoked") -> None:
    """Revoking either half revokes the pair (RFC 7009 allows it; rotation needs it)."""
    with tenancy.scoped(token.tenant_id, token.user_id, session=db.session):
        db.session.execute(OAuthToken.__table__.update().where(OAuthToken.id == token.id,
                                                               OAuthToken.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))
        token.revoked_at = token.revoked_at or utcnow()
        audit.record("oauth.token_revoked", target_type="oauth_token", target_id=token.id,
                     actor_user_id=token.user_id, client_id=token.client.client_id, reason=reason)
        db.session.commit()


def token_permissions(token: OAuthToken) -> frozenset[str] | None:
    """The token's scopes ∩ the client's current scopes ∩ what the user (or,
    for client credentials, the tenant) may do now. None: no longer valid."""
    scopes = set(token.scope.split()) & set(token.client.scopes)
    if token.user_id is None:
        if token.tenant_id != token.client.tenant_id:
            return None
        granted = frozenset(perms.REGISTRY)
    else:
        granted = identity.permissions_for(token.user_id, token.tenant_id)
        if granted is None:
            return None
    return frozenset(scopes & granted)


def principal_for_access_token(value: str) -> Principal | None:
    if not value.startswith(ACCESS_PREFIX) or len(value) > 200:
        return None
    with tenancy.system_context(db.session):
        token = db.session.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == hash_secret(value)))
    if token is None or token.is_revoked() or token.is_expired():
        return None
    granted = token_permissions(token)
    if granted is None:
        return None
    return Principal(user_id=token.user_id, tenant_id=token.tenant_id, permissions=granted, via="oauth",
                     token_id=f"oauth:{token.id}", client_id=token.client.client_id)


def introspection(token: OAuthToken) -> dict:
    granted = token_permissions(token)
    if granted is None:
        return {"active": False}
    return {
        "active": True, "client_id": token.client.client_id, "token_type": "Bearer", "scope": token.scope,
        "sub": str(token.user_id) if token.user_id else None, "tenant_id": str(token.tenant_id),
        "permissions": sorted(granted), "iat": int(token.issued_at.timestamp()),
        "exp": int(token.expires_at.timestamp()),
    }


# ---------------------------------------------------------------- personal access tokens

def pats_query(user_id):
    return select(PersonalAccessToken).where(PersonalAccessToken.user_id == user_id)


def get_pat(pat_id, user_id) -> PersonalAccessToken:
    pat = db.session.scalar(pats_query(user_id).where(PersonalAccessToken.id == pat_id))
    if pat is None:
        raise NotFound("No such token")
    return pat


def create_pat(*, name: str, scopes: list[str], expires_in_days: int) -> tuple[PersonalAccessToken, str]:
    """A token for the caller in their current company; returns it with its
    value, which is shown once and stored only as a hash. The scopes are
    bounded by what the caller may do now (a token cannot mint a wider one)."""
    principal = _current_principal()
    if principal.user_id is None:
        raise PermissionDenied("Only a person can hold a personal access token")
    _reject_nul(name=name, scopes=scopes)
    scopes = sorted(set(scopes or []))
    _require({
        "name": [] if (name or "").strip() else ["Enter a name."],
        "scopes": (_scope_problems(scopes, principal.permissions, oidc=False)
                   or ([] if scopes else ["Choose at least one permission."])),
        "expires_in_days": [] if isinstance(expires_in_days, int) and 1 <= expires_in_days <= PAT_MAX_DAYS
        else [f"Choose between 1 and {PAT_MAX_DAYS} days."],
    })
    value = new_secret(PAT_PREFIX)
    pat = PersonalAccessToken(user_id=principal.user_id, name=name.strip()[:120], token_hash=hash_secret(value),
                              token_prefix=value[:10], scopes=scopes,
                              expires_at=utcnow() + timedelta(days=expires_in_days))
    db.session.add(pat)
    db.session.flush()
    audit.record("pat.created", target_type="personal_access_token", target_id=pat.id, name=pat.name,
                 scopes=scopes, expires_at=pat.expires_at.isoformat())
    db.session.commit()
    return pat, value


def revoke_pat(pat: PersonalAccessToken) -> PersonalAccessToken:
    if pat.revoked_at is None:
        pat.revoked_at = utcnow()
        audit.record("pat.revoked", target_type="personal_access_token", target_id=pat.id, name=pat.name)
    db.session.commit()
    return pat


def principal_for_pat(value: str) -> Principal | None:
    if not value.startswith(PAT_PREFIX) or len(value) > 200:
        return None
    with tenancy.system_context(db.session):
        pat = db.session.scalar(select(PersonalAccessToken).where(PersonalAccessToken.token_hash == hash_secret(value)))
    if pat is None or not pat.active:
        return None
    granted = identity.permissions_for(pat.user_id, pat.tenant_id)
    if granted is None:
        return None
    now = utcnow()
    # Once a minute is precise enough, and spares a write on every API call.
    if pat.last_used_at is None or now - pat.last_used_at > timedelta(minutes=1):
        with tenancy.scoped(pat.tenant_id, pat.user_id, session=db.session):
            db.session.execute(PersonalAccessToken.__table__.update().where(PersonalAccessToken.id == pat.id)
                               .values(last_used_at=now))
            db.session.commit()
    return Principal(user_id=pat.user_id, tenant_id=pat.tenant_id, permissions=frozenset(set(pat.scopes) & granted),
                     via="pat", token_id=f"pat:{pat.id}")


# ---------------------------------------------------------------- SSO configuration

def get_sso_config() -> SsoConfig | None:
    return db.session.scalar(select(SsoConfig))


def sso_config_for(tenant_id) -> SsoConfig | None:
    with tenancy.scoped(tenant_id, None, session=db.session):
        return db.session.scalar(select(SsoConfig).where(SsoConfig.tenant_id == tenant_id))


def _issuer_problems(issuer: str) -> list[str]:
    try:
        parts = urlsplit(issuer)
        parts.hostname  # noqa: B018 - raises ValueError on a malformed host
    except ValueError:
        return ["Enter the issuer URL, e.g. https://login.example.com"]
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        return ["Enter the issuer URL, e.g. https://login.example.com"]
    if parts.scheme == "http" and not current_app.config.get("ALLOW_INSECURE_OIDC"):
        return ["The issuer must use https."]
    return []


def sso_overview() -> dict:
    """The configuration as shown to admins: never the secret itself."""
    config = get_sso_config()
    tenant = identity.current_tenant()
    base = current_app.config["BASE_URL"].rstrip("/")
    return {
        "configured": config is not None, "issuer": config.issuer if config else None,
        "client_id": config.client_id if config else None, "client_secret_set": config is not None,
        "enabled": bool(config and config.enabled), "domains": list(tenant.sso_domains),
        "sign_in_url": f"{base}/sso/{tenant.slug}" if config else None,
        "redirect_uri": f"{base}/sso/callback", "updated_at": config.updated_at if config else None,
    }


def put_sso_config(*, issuer: str, client_id: str, client_secret: str | None = None,
                   domains: list[str] | None = None, enabled: bool = True) -> SsoConfig:
    """Create or replace the tenant's IdP settings. The secret may be left
    out on an update to keep the stored one; it is never shown back."""
    _reject_nul(issuer=issuer, client_id=client_id, client_secret=client_secret, domains=domains)
    config = get_sso_config()
    issuer = (issuer or "").strip().rstrip("/")
    client_id = (client_id or "").strip()
    _require({
        "issuer": _issuer_problems(issuer),
        "client_id": [] if client_id else ["Enter the client id the identity provider gave you."],
        "client_secret": [] if (client_secret or config is not None) else ["Enter the client secret."],
    })
    changes = {}
    if config is None:
        config = SsoConfig(issuer=issuer, client_id=client_id, client_secret_sealed=seal(client_secret),
                           enabled=enabled)
        db.session.add(config)
        changes = {"issuer": [None, issuer], "client_id": [None, client_id], "client_secret": "set"}
    else:
        for field, value in (("issuer", issuer), ("client_id", client_id), ("enabled", enabled)):
            if getattr(config, field) != value:
                changes[field] = [getattr(config, field), value]
                setattr(config, field, value)
        if client_secret:
            config.client_secret_sealed = seal(client_secret)
            changes["client_secret"] = "changed"
    db.session.flush()
    if domains is not None:
        # The tenant's e-mail domains live on the tenant; identity owns the rule
        # (and audits the change itself). It commits.
        try:
            identity.update_tenant(sso_domains=domains)
        except ValidationFailed as exc:
            raise ValidationFailed(errors={"domains": (exc.errors or {}).get("sso_domains", [exc.detail])}) from exc
    if changes:
        audit.record("sso.config_changed", target=config, changes=changes)
    db.session.commit()
    return config


def delete_sso_config() -> None:
    config = get_sso_config()
    if config is None:
        raise NotFound("Single sign-on is not configured")
    audit.record("sso.config_deleted", target=config, issuer=config.issuer)
    db.session.delete(config)
    db.session.commit()
