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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker

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


class Database:
    """Holds the engine and a scoped session; bound to an app by `init_app`."""

    def __init__(self) -> None:
        self.engine = None
        self.session = scoped_session(sessionmaker(expire_on_commit=False))

    def init_app(self, app) -> None:
        self.engine = create_engine(
            app.config["DATABASE_APP_URL"],
            pool_pre_ping=True,
            pool_size=int(app.config.get("DB_POOL_SIZE", 10)),
            max_overflow=20,
        )
        self.session.configure(bind=self.engine)
        from . import tenancy

        tenancy.ensure_hooks()

        @app.teardown_appcontext
        def _remove_session(exc):  # noqa: ARG001 - Flask passes the exception
            self.session.remove()


db = Database()
