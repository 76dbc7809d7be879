"""Who is calling: the principal behind a request, and the permission each
endpoint declares.

A browser request is authenticated by the session cookie (user + current
tenant); everything else by a bearer token: an OAuth2 access token or a
personal access token. Token resolvers register themselves here so this
module does not depend on the OAuth room.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Callable

from flask import g, request, session

from . import permissions as perms
from . import tenancy
from .db import db
from .errors import PermissionDenied, Unauthorized


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID | None
    tenant_id: uuid.UUID | None
    permissions: frozenset[str] = field(default_factory=frozenset)
    via: str = "session"  # session | oauth | pat
    token_id: str | None = None
    client_id: str | None = None

    def can(self, permission: str) -> bool:
        return permission in (perms.AUTHENTICATED, perms.PUBLIC) or permission in self.permissions

    @property
    def rate_key(self) -> str:
        return self.token_id or (f"user:{self.user_id}" if self.user_id else "anonymous")


BearerResolver = Callable[[str], "Principal | None"]
_bearer_resolvers: list[BearerResolver] = []


def bearer_resolver(fn: BearerResolver) -> BearerResolver:
    """Register a function that turns a bearer token into a principal (or None)."""
    _bearer_resolvers.append(fn)
    return fn


def current_principal() -> Principal | None:
    return g.get("principal")


def load_principal() -> None:
    """before_request: authenticate and set the tenant scope for the request."""
    g.principal = None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        for resolve in _bearer_resolvers:
            principal = resolve(token)
            if principal is not None:
                g.principal = principal
                break
        else:
            g.invalid_token = True
    elif session.get("uid"):
        from .identity import services as identity

        g.principal = identity.principal_from_session(session)
    principal = g.principal
    tenancy.set_scope(principal.tenant_id if principal else None, principal.user_id if principal else None)
    # Looking the principal up began a transaction under the old scope.
    tenancy.apply_to_transaction(db.session)


def clear_scope(exc=None) -> None:  # noqa: ARG001 - Flask passes the exception
    """teardown_request: threads are reused by the server, scopes must not be."""
    tenancy.set_scope(None, None)


def requires(permission: str):
    """Declare (and enforce) the one permission an endpoint needs."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if permission != perms.PUBLIC:
                if principal is None:
                    detail = "The access token is invalid or expired" if g.get("invalid_token") else None
                    raise Unauthorized(detail)
                if principal.tenant_id is None and permission != perms.AUTHENTICATED:
                    raise PermissionDenied("Choose a company first")
                if not principal.can(permission):
                    raise PermissionDenied(f"This needs the permission '{permission}'", permission=permission)
            return fn(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator
