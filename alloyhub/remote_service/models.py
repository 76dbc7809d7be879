"""The remote-service room's tables.

An expert firm's `ExpertProfile` is its own (TenantScoped); the published
ones form the directory every company may read.

A service request is one record both parties read and act on (like a spare
request): `tenant_id` is the plant that opened it, `expert_tenant_id` the
expert firm engaged (or invited). Its conversation, files, chart
annotations, proposed commands and ratings carry both ids too, so one
row-level security condition ("either party") guards them all.

Access grants are not kept here: a grant is a share of the consent ledger
(kind GRANT_KIND, object = the request) whose `filters` hold the scope:
the units, the (agent, tag) pairs, how far back history may be read and
whether commands may be proposed. Revocation and the time window are the
ledger's, checked at every read.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

GRANT_KIND = "remote_service.grant"  # the ledger's kind of object: a request's data, under a grant
MODULE = "remote_service"

URGENCIES = ("low", "normal", "high", "critical")
AUDIENCES = ("invite", "directory")
AVAILABILITY = ("available", "busy", "away")
BILLING_MODES = ("stripe", "offline")
ACTION_KINDS = ("maintenance", "spare_part", "setting", "other")

# open: posted to the directory; invited: waiting for the invited firm;
# accepted: the expert works on it; resolved: the outcome and report are in;
# closed: the plant closed it (grants end, time is billed); declined by the
# invited firm (the plant may invite another or post it); cancelled by the plant.
OPEN, INVITED, ACCEPTED, RESOLVED, CLOSED = "open", "invited", "accepted", "resolved", "closed"
DECLINED, CANCELLED = "declined", "cancelled"
STATES = (OPEN, INVITED, ACCEPTED, RESOLVED, CLOSED, DECLINED, CANCELLED)
ENDED_STATES = (CLOSED, CANCELLED)
MONEY = Numeric(14, 2)


class ExpertProfile(IdMixin, TimestampMixin, TenantScoped, Base):
    """One expert of a firm, as the directory shows them."""

    __tablename__ = "remote_expert_profiles"
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    headline: Mapped[str | None] = mapped_column(String(300))
    bio: Mapped[str | None] = mapped_column(Text)
    equipment_types: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False, default=list)
    processes: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False, default=list)
    brands: Mapped[list[str]] = mapped_column(ARRAY(String(80)), nullable=False, default=list)
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(10)), nullable=False, default=list)
    hourly_rate: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    availability: Mapped[str] = mapped_column(String(20), nullable=False, default="available")
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ServiceRequest(IdMixin, TimestampMixin, Base):
    __tablename__ = "remote_requests"
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)  # the plant
    expert_tenant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("remote_expert_profiles.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    symptoms: Mapped[str] = mapped_column(Text, nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # A snapshot of the unit for the expert, who cannot read the plant's registry.
    unit_code: Mapped[str] = mapped_column(String(40), nullable=False)
    unit_name: Mapped[str] = mapped_column(String(160), nullable=False)
    unit_kind: Mapped[str] = mapped_column(String(30), nullable=False)
    alarm_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    alarm_label: Mapped[str | None] = mapped_column(String(300))
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)  # [{agent_id, tag}]
    time_ranges: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    urgency: Mapped[str] = mapped_column(String(20), nullable=False, default="normal")
    audience: Mapped[str] = mapped_column(String(20), nullable=False, default="invite")
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=INVITED)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # ---- outcome (the expert's)
    findings: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_attachment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # ---- closing (the plant's)
    billing: Mapped[str | None] = mapped_column(String(20))
    billed_minutes: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class _Party:
    """Columns of a request's child rows: both parties' ids and the request."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, index=True)
    expert_tenant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)


class RequestMessage(IdMixin, _Party, Base):
    """The threaded conversation; `parent_id` answers an earlier message."""

    __tablename__ = "remote_messages"
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remote_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("remote_messages.id", ondelete="CASCADE"))
    author_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class RequestFile(IdMixin, _Party, Base):
    """A file either side attached (photos, videos, logs, the report)."""

    __tablename__ = "remote_files"
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remote_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="file")  # file | report
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(120), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    storage_key: Mapped[str] = mapped_column(String(400), nullable=False)
    uploaded_by_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class Annotation(IdMixin, _Party, Base):
    """A note on a chart: a moment or a span of one tag."""

    __tablename__ = "remote_annotations"
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remote_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    tag: Mapped[str] = mapped_column(String(200), nullable=False)
    ts_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ts_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    author_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())


class RemoteCommand(IdMixin, TimestampMixin, _Party, Base):
    """A command the expert proposed; the agent room's command (four eyes,
    allow-list, outbox, ack) carries it once the plant approves. `status`
    follows the agent command's."""

    __tablename__ = "remote_commands"
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remote_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    share_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    agent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    agent_command_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(30), nullable=False, default="pending_approval")
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Rating(IdMixin, _Party, Base):
    """Each side rates the engagement once."""

    __tablename__ = "remote_ratings"
    __table_args__ = (UniqueConstraint("request_id", "rater_tenant_id"),)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remote_requests.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    rater_tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow,
                                         server_default=func.now())
