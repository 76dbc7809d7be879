"""The ledger's tables: shares, the reads made under them, and alliances.

`Share` belongs to its grantor (TenantScoped: the grantor writes it); the
grantee reads the shares addressed to it through `services`, which say so
explicitly (`skip_tenant_filter` plus the grantee clause), and through the
row-level security policy that admits the grantee's own audiences.

`ShareRead` rows belong to the grantor (it reads its feed) but are written by
the grantee as it reads; so they are not TenantScoped (the session hook would
refuse a row of another tenant) and the services filter them explicitly; RLS
admits an insert only for an object the ledger lets the reader see.

An alliance is a company of kind "alliance"; `AllianceMember` rows belong to
the alliance (it invites), and the invited company accepts or leaves.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, IdMixin, TimestampMixin, utcnow
from ..tenancy import TenantScoped

# The grantee key of a share addressed to every subscriber of the platform.
SUBSCRIBERS = uuid.UUID(int=1)

GRANTEE_KINDS = ("tenant", "alliance", "subscribers")
STATES = ("active", "revoked", "expired")
MEMBER_STATES = ("invited", "active", "declined", "left", "removed")


class Share(IdMixin, TimestampMixin, TenantScoped, Base):
    """One consent: `tenant_id` (the grantor) lets `grantee_key` see objects
    of `object_kind` (one, `object_id`, or every one when None) from
    `valid_from` until `valid_until` (open-ended when None)."""

    __tablename__ = "sharing_shares"
    __table_args__ = (
        Index("ix_sharing_shares_object", "object_kind", "object_id"),
        Index("ix_sharing_shares_grantee_key", "grantee_key"),
    )
    grantee_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    # The tenant or alliance id, or SUBSCRIBERS.
    grantee_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    object_kind: Mapped[str] = mapped_column(String(60), nullable=False)
    object_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    module: Mapped[str] = mapped_column(String(40), nullable=False)
    # What the grantor sees in its list ("SKF 6205-2RS bearing, 4 of 6").
    label: Mapped[str] = mapped_column(String(300), nullable=False)
    # Further scope the module keeps with the consent (e.g. the fields shown).
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                                 server_default=func.now())
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    # When the window opened and modules were told (a share may start later).
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class ShareRead(IdMixin, Base):
    """The activity feed: one row per read made under a share."""

    __tablename__ = "sharing_reads"
    __table_args__ = (Index("ix_sharing_reads_tenant_at", "tenant_id", "at"),)
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)  # the grantor
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_shares.id", ondelete="CASCADE"), nullable=False,
                                                index=True)
    reader_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    reader_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    object_kind: Mapped[str] = mapped_column(String(60), nullable=False)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)  # viewed, listed, downloaded, requested...
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class AllianceMember(IdMixin, TimestampMixin, TenantScoped, Base):
    """`tenant_id` is the alliance; `member_tenant_id` the member company."""

    __tablename__ = "sharing_alliance_members"
    __table_args__ = (UniqueConstraint("tenant_id", "member_tenant_id"),)
    member_tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                                        nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="invited")
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
