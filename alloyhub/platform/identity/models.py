from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, IdMixin, TimestampMixin
from ..tenancy import TenantScoped

TENANT_KINDS = ("plant", "supplier", "customer", "expert", "alliance")


class User(IdMixin, TimestampMixin, Base):
    """A person. Global: one account can belong to several tenants."""

    __tablename__ = "users"
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # Set when the person proved they read mail at this address (a link we
    # sent, an invitation, a password reset, or a verified SSO claim). Other
    # systems trusting AlloyHub as identity provider read it as email_verified.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # The last TOTP time step used, so a code cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str | None] = mapped_column(String(10))
    is_platform_staff: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Bumped on password change or sign-out everywhere; sessions and reset
    # links carry it, so older ones stop working.
    session_epoch: Mapped[int] = mapped_column(default=0, nullable=False)


class Tenant(IdMixin, TimestampMixin, Base):
    """A company. The registry of tenants is not itself tenant-owned."""

    __tablename__ = "tenants"
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    slug: Mapped[str] = mapped_column(String(60), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="plant")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    # Members may join by SSO when their e-mail ends with one of these.
    sso_domains: Mapped[list[str]] = mapped_column(ARRAY(String(253)), default=list, nullable=False)


class Site(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    code: Mapped[str] = mapped_column(String(40), nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(60), nullable=False, default="Asia/Shanghai")
    # Where the site is, roughly: a region name (province, state) and its
    # position, for "near me" in cross-company catalogues (spares).
    region: Mapped[str | None] = mapped_column(String(80))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class Role(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    key: Mapped[str] = mapped_column(String(60), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(80)), default=list, nullable=False)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class MembershipRole(TenantScoped, Base):
    __tablename__ = "membership_roles"
    membership_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class Membership(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    user: Mapped[User] = relationship(lazy="joined")
    roles: Mapped[list[Role]] = relationship(secondary="membership_roles", lazy="selectin", order_by="Role.key")


class Invitation(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "invitations"
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    role: Mapped[Role] = relationship(lazy="joined")
