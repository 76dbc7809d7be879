"""Agents, enrolment tokens, the tag catalogue and commands. Telemetry
storage lives in the telemetry room."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from alloyhub.platform.db import Base, IdMixin, TimestampMixin, utcnow
from alloyhub.platform.tenancy import TenantScoped

AGENT_STATES = ("pending", "active", "revoked")
# The agent sends its state every 10 s by default; a few missed ones = offline.
ONLINE_WINDOW = timedelta(minutes=3)


class Agent(IdMixin, TimestampMixin, TenantScoped, Base):
    """An on-prem agent of a plant. Its MQTT username is `agent-{id}`; the
    broker holds the password, we keep only its hash."""

    __tablename__ = "agents"
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    mqtt_password_hash: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hostname: Mapped[str | None] = mapped_column(String(253))
    agent_version: Mapped[str | None] = mapped_column(String(40))
    # The configuration the cloud wants the agent to run (sources, tags);
    # pushed retained on ah/v1/{id}/config with this version.
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    config_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    allow_write: Mapped[list[str]] = mapped_column(ARRAY(String(200)), nullable=False, default=list)
    # The last retained state message (health, buffer depth, dropped, sources).
    health: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)

    @property
    def online(self) -> bool:
        """Its last state said online and is recent: a broker that went away
        delivers no Last Will, so a silent agent counts as offline."""
        if self.status != "active" or self.last_seen_at is None or not (self.health or {}).get("online"):
            return False
        return utcnow() - self.last_seen_at < ONLINE_WINDOW

    @property
    def mqtt_username(self) -> str:
        return f"agent-{self.id}"

    @property
    def topic_prefix(self) -> str:
        return f"ah/v1/{self.id}"


class EnrollmentToken(IdMixin, TimestampMixin, TenantScoped, Base):
    """One-time token an admin hands to the plant's IT to enrol an agent.
    Looked up by hash before the tenant is known (system context)."""

    __tablename__ = "agent_enrollment_tokens"
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentTag(IdMixin, TimestampMixin, TenantScoped, Base):
    """A tag an agent publishes. Unknown tags seen in telemetry are recorded
    with status 'unknown' and counted, for one-click adoption."""

    __tablename__ = "agent_tags"
    __table_args__ = (UniqueConstraint("agent_id", "tag"),)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    tag: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(30))
    data_type: Mapped[str] = mapped_column(String(20), nullable=False, default="float")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")  # active|unknown|ignored
    unknown_points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentCommand(IdMixin, TimestampMixin, TenantScoped, Base):
    """A command pushed down to an agent (write a tag, restart a source),
    with its approval and the agent's acknowledgement."""

    __tablename__ = "agent_commands"
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    # pending_approval -> sent -> acked | failed; or rejected / expired
    status: Mapped[str] = mapped_column(String(30), nullable=False, default="pending_approval")
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
