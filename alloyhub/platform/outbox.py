"""Transactional outbox: domain events written in the same transaction as the
change they report, relayed later by the worker to whatever listens.

A handler that fails leaves the event in place with a later `next_attempt_at`
(exponential back-off), so nothing is lost when Redis, a webhook receiver or
a search backend is down.
"""
from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import DateTime, Integer, String, Text, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from . import tenancy
from .db import Base, IdMixin, db, utcnow

log = logging.getLogger(__name__)

Handler = Callable[["OutboxEvent"], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)

MAX_BACKOFF = timedelta(hours=1)


class OutboxEvent(IdMixin, Base):
    """Ids and timestamps are made client-side: an INSERT .. RETURNING would
    need the row to be readable, and outbox rows are readable only by the relay."""

    __tablename__ = "outbox"
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    topic: Mapped[str] = mapped_column(String(120), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True
    )
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)


def subscribe(topic: str) -> Callable[[Handler], Handler]:
    """Register a handler for a topic ("*" for every topic)."""

    def decorator(fn: Handler) -> Handler:
        _handlers[topic].append(fn)
        return fn

    return decorator


def publish(topic: str, payload: dict[str, Any], tenant_id=None) -> OutboxEvent:
    """Add an event to the current transaction."""
    event = OutboxEvent(
        topic=topic,
        payload=payload,
        tenant_id=tenant_id if tenant_id is not None else tenancy.current_tenant_id(),
    )
    db.session.add(event)
    return event


def relay_once(batch_size: int = 100) -> int:
    """Deliver due events to their handlers. Returns how many were delivered.

    Rows are claimed with SKIP LOCKED so several workers can relay at once.
    """
    session = db.session
    delivered = 0
    with tenancy.system_context(session):
        events = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.sent_at.is_(None), OutboxEvent.next_attempt_at <= func.now())
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        for event in events:
            try:
                # A savepoint per event: a handler's database error undoes only
                # that event's work, not the other events' in this batch.
                with session.begin_nested():
                    for handler in _handlers.get(event.topic, []) + _handlers.get("*", []):
                        handler(event)
            except Exception as exc:  # a handler's failure must not lose the event
                event.attempts += 1
                event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                backoff = min(timedelta(seconds=2 ** min(event.attempts, 12)), MAX_BACKOFF)
                event.next_attempt_at = utcnow() + backoff
                log.warning("outbox event %s (%s) failed, retry in %s: %s", event.id, event.topic, backoff, exc)
            else:
                event.sent_at = utcnow()
                delivered += 1
        session.commit()
    return delivered
