"""Append-only audit log of security-relevant actions.

The application role may INSERT and SELECT this table, never UPDATE or
DELETE (see the migration). Entries without a tenant (a failed sign-in for an
unknown address) are visible to platform staff only.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy import DateTime, String, column, func, or_, select, table
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from . import tenancy
from .db import Base, IdMixin, db, utcnow


class AuditEntry(IdMixin, Base):
    __tablename__ = "audit_log"
    # Nullable, so not TenantScoped: RLS still limits rows to the current tenant.
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_label: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    target_type: Mapped[str | None] = mapped_column(String(60))
    target_id: Mapped[str | None] = mapped_column(String(80))
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, nullable=False)


# The people table, by name only: the audit log sits below the identity room.
_users = table("users", column("id", UUID(as_uuid=True)), column("email", String))


def record(action: str, *, target=None, target_type: str | None = None, target_id=None,
           tenant_id=None, actor_user_id=None, actor_label: str | None = None, **details) -> AuditEntry:
    """Add an audit entry to the current transaction (committed with the change)."""
    scope = tenancy.current()
    if target is not None:
        target_type = target_type or type(target).__tablename__.rstrip("s")
        target_id = target_id or getattr(target, "id", None)
    entry = AuditEntry(
        tenant_id=tenant_id if tenant_id is not None else scope.tenant_id,
        actor_user_id=actor_user_id if actor_user_id is not None else scope.user_id,
        actor_label=actor_label,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        details={k: _jsonable(v) for k, v in details.items()},
    )
    if has_request_context():
        entry.ip = request.remote_addr
        entry.user_agent = (request.user_agent.string or "")[:300]
    db.session.add(entry)
    return entry


def _jsonable(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def query(*, action: str | None = None, actor: str | None = None, since=None, until=None):
    """Entries of the current tenant (RLS), filtered. A trailing '.' in `action` is a prefix."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenancy.current_tenant_id())
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".") else AuditEntry.action == action)
    if actor:
        # The label holds the e-mail for sign-ins; other entries carry only the actor's id.
        email = actor.strip().lower()
        stmt = stmt.where(or_(AuditEntry.actor_label == email,
                              AuditEntry.actor_user_id.in_(select(_users.c.id).where(_users.c.email == email))))
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt
