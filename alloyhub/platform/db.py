"""Database engine, session and declarative base.

The web and worker processes connect as the unprivileged application role
(`DATABASE_APP_URL`), so PostgreSQL row-level security applies to them;
migrations run with the owner URL (`DATABASE_URL`).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import DateTime, MetaData, create_engine, func
from sqlalchemy.dialects.postgresql import UUID
from flask import current_app, has_app_context
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, scoped_session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now(), nullable=False
    )


class _AppBoundSession(Session):
    """Binds to the engine of the app in context, so several apps in one
    process (tests, the embedded runner) never share a connection pool."""

    def get_bind(self, mapper=None, clause=None, **kwargs):
        if self.bind is None and has_app_context():
            return current_app.extensions["alloyhub_db_engine"]
        return super().get_bind(mapper=mapper, clause=clause, **kwargs)


def get_or_404(model, object_id, detail: str):
    """The object of the current tenant with this id, or NotFound. A query,
    not Session.get: an identity-map hit would skip the tenant criteria."""
    from sqlalchemy import select

    from .errors import NotFound

    obj = db.session.scalar(select(model).where(model.id == object_id))
    if obj is None:
        raise NotFound(detail)
    return obj


class Database:
    """One engine per app, one scoped session per app context."""

    def __init__(self) -> None:
        self.session = scoped_session(sessionmaker(class_=_AppBoundSession, expire_on_commit=False))

    @property
    def engine(self):
        return current_app.extensions["alloyhub_db_engine"]

    def init_app(self, app) -> None:
        from . import tenancy

        app.extensions["alloyhub_db_engine"] = create_engine(
            app.config["DATABASE_APP_URL"],
            pool_pre_ping=True,
            pool_size=int(app.config.get("DB_POOL_SIZE", 10)),
            max_overflow=20,
        )
        tenancy.ensure_hooks()
        app.teardown_appcontext(self._remove_session)

    @staticmethod
    def dispose(app) -> None:
        """Close the app's pooled connections (before forking children)."""
        app.extensions["alloyhub_db_engine"].dispose()

    def _remove_session(self, exc=None) -> None:  # noqa: ARG002 - Flask passes the exception
        self.session.remove()


db = Database()
