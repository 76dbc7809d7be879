"""Tenant scoping, layer one of two: the ORM.

The current tenant lives in a context variable. A session hook adds
`tenant_id = current` to every ORM query of a `TenantScoped` model and stamps
it on every insert; another sets `app.tenant_id` with `set_config(..., true)`
(the equivalent of SET LOCAL) at the start of each transaction, which is what
the PostgreSQL row-level security policies (layer two) read.

With no tenant in context, scoped queries match nothing: isolation fails
closed. Code that legitimately reads across tenants (the outbox relay, a
user's own memberships) says so explicitly with `system_context()` or the
`skip_tenant_filter` execution option.
"""
from __future__ import annotations

import contextlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import event, false, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import (
    Mapped, ORMExecuteState, Session, declared_attr, mapped_column, scoped_session, with_loader_criteria,
)


@dataclass(frozen=True)
class Scope:
    tenant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    system: bool = False


_scope: ContextVar[Scope] = ContextVar("alloyhub_scope", default=Scope())


class TenantMismatch(RuntimeError):
    """A row was about to be written into a tenant other than the current one."""


class TenantScoped:
    """Mixin for every tenant-owned model."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(
            UUID(as_uuid=True), index=True, nullable=False
        )


def current() -> Scope:
    return _scope.get()


def current_tenant_id() -> uuid.UUID | None:
    return _scope.get().tenant_id


@contextlib.contextmanager
def scoped(tenant_id=None, user_id=None, *, system: bool = False, session: Session | None = None):
    """Run a block as `tenant_id` (and `user_id`). If a session is given and
    already inside a transaction, the database settings follow at once."""
    token = _scope.set(Scope(_as_uuid(tenant_id), _as_uuid(user_id), system))
    try:
        if session is not None:
            apply_to_transaction(session)
        yield
        if session is not None:
            # Write what the block added while the database still has its scope.
            session.flush()
    finally:
        _scope.reset(token)
        if session is not None:
            apply_to_transaction(session)


def system_context(session: Session | None = None):
    """For platform jobs that work across tenants (outbox relay, sign-in lookups)."""
    return scoped(system=True, session=session)


def set_scope(tenant_id=None, user_id=None) -> None:
    """Set the scope for the rest of the current context (a request)."""
    _scope.set(Scope(_as_uuid(tenant_id), _as_uuid(user_id), False))


def _as_uuid(value):
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _settings_sql(scope: Scope):
    return text(
        "select set_config('app.tenant_id', :t, true), "
        "set_config('app.user_id', :u, true), "
        "set_config('app.system', :s, true)"
    ), {
        "t": str(scope.tenant_id) if scope.tenant_id else "",
        "u": str(scope.user_id) if scope.user_id else "",
        "s": "on" if scope.system else "off",
    }


def apply_to_transaction(session: Session) -> None:
    """Re-send the scope to the database for the transaction in progress."""
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction():
        sql, params = _settings_sql(_scope.get())
        session.connection().execute(sql, params)


def _install_session_hooks(target) -> None:
    @event.listens_for(target, "after_begin")
    def _set_local(session, transaction, connection):  # noqa: ARG001
        sql, params = _settings_sql(_scope.get())
        connection.execute(sql, params)

    @event.listens_for(target, "do_orm_execute")
    def _add_tenant_criteria(state: ORMExecuteState):
        if not (state.is_select or state.is_update or state.is_delete):
            return
        if state.execution_options.get("skip_tenant_filter"):
            return
        scope = _scope.get()
        if scope.system:
            return
        tenant_id = scope.tenant_id
        if tenant_id is None:
            state.statement = state.statement.options(
                with_loader_criteria(TenantScoped, lambda cls: false(), include_aliases=True)
            )
        else:
            state.statement = state.statement.options(
                with_loader_criteria(
                    TenantScoped, lambda cls: cls.tenant_id == tenant_id, include_aliases=True
                )
            )

    @event.listens_for(target, "transient_to_pending")
    def _stamp_tenant(session, obj):  # noqa: ARG001
        # Stamped when added, not at flush: the flush may happen after the
        # block that chose the tenant has ended.
        if not isinstance(obj, TenantScoped):
            return
        scope = _scope.get()
        if obj.tenant_id is None:
            if scope.tenant_id is None:
                raise TenantMismatch(f"{type(obj).__name__} created with no current tenant")
            obj.tenant_id = scope.tenant_id
        elif scope.tenant_id is not None and obj.tenant_id != scope.tenant_id and not scope.system:
            raise TenantMismatch(f"{type(obj).__name__} belongs to another tenant")


_installed = False


def ensure_hooks() -> None:
    global _installed
    if not _installed:
        _install_session_hooks(Session)
        _installed = True
