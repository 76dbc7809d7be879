"""The cross-tenant probe's registries (tests/platform/test_cross_tenant_probe.py).

Rooms add to them from tests/<room>/probe_factories.py, so a new room covers
its routes without editing the probe itself:

    from tests.probe import BODIES, as_owner, factory, pop

    @factory("order_id")
    def make_order(app, made):
        ctx = as_owner(app, made)
        try:
            return services.create_order(...).id
        finally:
            pop(ctx)
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from flask import g

from alloyhub.platform import auth, tenancy

Factory = Callable[[object, object], object]
FACTORIES: dict[str, Factory] = {}
# Route arguments that are not ids of tenant-owned objects, and why.
NOT_OBJECT_IDS: dict[str, str] = {}
# Request bodies that pass argument parsing, so the answer reflects the lookup
# (keyed by endpoint and method; the default is an empty object).
BODIES: dict[tuple[str, str], dict] = {}


def factory(*arg_names: str):
    def register(fn: Factory) -> Factory:
        for name in arg_names:
            FACTORIES[name] = fn
        return fn

    return register


def as_owner(app, made):
    """An app and request context acting as the owner of `made`, with every permission."""
    from alloyhub.platform import permissions as perms

    ctx = app.test_request_context()
    ctx.push()
    g.principal = auth.Principal(user_id=made.owner_id, tenant_id=made.tenant_id,
                                 permissions=frozenset(perms.REGISTRY), via="session")
    tenancy.set_scope(made.tenant_id, made.owner_id)
    return ctx


def pop(ctx) -> None:
    tenancy.set_scope(None, None)
    ctx.pop()


def load_room_factories() -> None:
    tests_dir = Path(__file__).parent
    for path in sorted(tests_dir.glob("**/probe_factories.py")):
        module = ".".join(path.relative_to(tests_dir.parent).with_suffix("").parts)
        importlib.import_module(module)
