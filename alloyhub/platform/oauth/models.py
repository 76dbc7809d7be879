"""OAuth clients, authorization codes, access/refresh tokens, personal access
tokens and per-tenant SSO configurations. All tenant-owned.

Secrets are stored as SHA-256 hashes only (they are long random strings, so a
fast hash is enough); the SSO client secret, which we must send to the IdP,
is stored encrypted (see services.seal)."""
from __future__ import annotations

import time
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, IdMixin, TimestampMixin, utcnow
from ..tenancy import TenantScoped
from .hashing import hash_secret, secrets_equal

PUBLIC_CLIENT = "none"


class OAuthClient(IdMixin, TimestampMixin, TenantScoped, Base):
    """A registered application. Implements authlib's ClientMixin by hand."""

    __tablename__ = "oauth_clients"
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(80)), default=list, nullable=False)
    grant_types: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list, nullable=False)
    # client_secret_basic | client_secret_post | none (public client, PKCE)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40), nullable=False,
                                                            default="client_secret_basic")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    # ---- authlib ClientMixin
    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC_CLIENT

    @property
    def kind(self) -> str:
        return "client_credentials" if "client_credentials" in self.grant_types else "authorization_code"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            # RFC 6749 §3.3: no scope asked for means the client's default, all it may have.
            return " ".join(sorted(self.scopes))
        allowed = set(self.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret_hash) and secrets_equal(self.client_secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        # Revocation and introspection: the same credentials as for tokens.
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class OAuthAuthorizationCode(IdMixin, TenantScoped, Base):
    """A one-time code; tenant_id is the tenant the user approved for."""

    __tablename__ = "oauth_authorization_codes"
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False, default="")
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    auth_time: Mapped[int] = mapped_column(nullable=False, default=lambda: int(time.time()))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    # ---- authlib AuthorizationCodeMixin + OIDC
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()


class OAuthToken(IdMixin, TenantScoped, Base):
    """An access token and (for user grants) its refresh token."""

    __tablename__ = "oauth_tokens"
    client_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Tokens descending from one authorization by refresh rotation; a refresh
    # token used twice means it leaked, and the whole family is revoked.
    family_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    client: Mapped[OAuthClient] = relationship(lazy="joined")

    # ---- authlib TokenMixin
    def check_client(self, client) -> bool:
        return client is not None and client.id == self.client_pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_refresh_expired(self) -> bool:
        return self.refresh_expires_at is None or self.refresh_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self):
        return self.user_id

    def get_client(self):
        return self.client


class PersonalAccessToken(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "personal_access_tokens"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # The first characters, so people can tell their tokens apart.
    token_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(80)), default=list, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()


class SsoConfig(IdMixin, TimestampMixin, TenantScoped, Base):
    """One OpenID Connect identity provider per tenant."""

    __tablename__ = "sso_configs"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    issuer: Mapped[str] = mapped_column(String(500), nullable=False)
    client_id: Mapped[str] = mapped_column(String(255), nullable=False)
    client_secret_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    enabled: Mapped[bool] = mapped_column(default=True, nullable=False)
