"""The one entitlement mechanism.

A room declares once which module it is, for its API and its page blueprints:

    entitlements.require_module(blp, "telemetry")

Every request to those blueprints is then checked against the company's plan
(403 problem+json `plan-required`, or an upgrade page for people) and its
subscription status (read-only: writes refused, reads and exports allowed).
Services call `check_limit(tenant_id, "agents", adding=1)` before adding
something a plan counts, and a file store calls
`check_storage(tenant_id, adding_bytes)` before it keeps an upload; both
raise before anything is written. The API rate of a company is its plan's
`api_rate_per_minute` (`api_rate`, read by platform/ratelimit.py).

Platform rooms (identity, oauth, exports, billing) are never gated: a company
must always be able to sign in, pay and take its data away.
"""
from __future__ import annotations

from flask import render_template, request

from .. import tenancy
from ..auth import current_principal
from ..db import db
from ..errors import AppError, NotFound, PlanRequired, wants_problem
from . import plans, services, usage

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# blueprint name -> module key
GATED: dict[str, str] = {}


class SubscriptionReadOnly(AppError):
    status, slug, title = 403, "subscription-read-only", "The subscription is read-only"


def require_module(blueprint, module: str) -> None:
    """Declare that every endpoint of `blueprint` belongs to `module`."""
    if module not in plans.MODULES:
        raise ValueError(f"unknown module {module!r}; add it to billing/plans.py MODULES")
    GATED[blueprint.name] = module


def gate_request():
    """before_request (after authentication): enforce the declarations above."""
    module = next((GATED[name] for name in request.blueprints if name in GATED), None)
    principal = current_principal()
    if module is None or principal is None or principal.tenant_id is None:
        return None  # not gated, or requires() answers 401 / "choose a company"
    state = services.state(principal.tenant_id)
    if not state.plan.includes(module):
        cheapest = plans.cheapest_with_module(module, state.kind)
        exc = PlanRequired(
            f"The {state.plan.name} plan does not include the {module} module"
            + (f"; the {cheapest.name} plan does." if cheapest else "."),
            module=module, plan=state.plan.key, cheapest_plan=cheapest.key if cheapest else None)
        if wants_problem():
            raise exc
        return render_template("billing/upgrade.html", module=module, state=state, cheapest=cheapest), 403
    if request.method not in SAFE_METHODS and not state.writable:
        raise SubscriptionReadOnly(
            "The subscription is read-only until the bill is paid: you can read and export data, "
            "but not change it", status_value=state.status)
    return None


def check_limit(tenant_id, limit: str, adding: int = 1) -> None:
    """Refuse (PlanRequired, 403) adding `adding` more of `limit` beyond the plan."""
    scope = tenancy.current()
    if scope.system or scope.tenant_id == tenant_id:
        _check(tenant_id, limit, adding)
    else:  # e.g. accepting an invitation: count in the inviting company's scope
        with tenancy.scoped(tenant_id, scope.user_id, session=db.session):
            _check(tenant_id, limit, adding)


def _check(tenant_id, limit: str, adding: int) -> None:
    state = services.state(tenant_id)
    allowed = state.plan.limit(limit)
    if allowed is None:
        return
    current = usage.count(tenant_id, limit)
    if current + adding <= allowed:
        return
    cheapest = plans.cheapest_with_room(limit, current + adding, state.kind)
    raise PlanRequired(
        f"The {state.plan.name} plan allows {allowed} {limit.replace('_', ' ')}; the company has {current}"
        + (f". The {cheapest.name} plan allows more." if cheapest else "."),
        limit=limit, allowed=allowed, usage=current, plan=state.plan.key,
        cheapest_plan=cheapest.key if cheapest else None)


def limit_of(tenant_id, limit: str) -> int | None:
    """A limit of the company's plan (None: unlimited), e.g. for telemetry
    retention: `limit_of(tenant_id, "telemetry_retention_days")`."""
    return services.state(tenant_id).plan.limit(limit)


def check_storage(tenant_id, adding_bytes: int) -> None:
    """Refuse (PlanRequired, 403) storing `adding_bytes` more when the
    company's stored bytes (usage "storage_bytes": telemetry and files)
    would pass its plan's storage_gb. Names the cheapest plan with room."""
    scope = tenancy.current()
    if scope.system or scope.tenant_id == tenant_id:
        _check_storage(tenant_id, adding_bytes)
    else:
        with tenancy.scoped(tenant_id, scope.user_id, session=db.session):
            _check_storage(tenant_id, adding_bytes)


def storage_guard(tenant_id, adding_bytes: int) -> None:
    """The file store's quota guard (platform/storage.py): a key under no
    company's id (a tool's, a test's) has no plan to check."""
    try:
        check_storage(tenant_id, adding_bytes)
    except NotFound:
        return


def _check_storage(tenant_id, adding_bytes: int) -> None:
    state = services.state(tenant_id)
    allowed_gb = state.plan.limit("storage_gb")
    if allowed_gb is None:
        return
    stored = usage.count(tenant_id, "storage_bytes")
    needed = stored + max(0, int(adding_bytes))
    if needed <= allowed_gb * usage.GB:
        return
    cheapest = plans.cheapest_with_room("storage_gb", needed / usage.GB, state.kind)
    raise PlanRequired(
        f"The {state.plan.name} plan stores {allowed_gb} GB; the company stores {stored / usage.GB:.2f} GB "
        f"and this needs {(needed - stored) / usage.GB:.2f} GB more"
        + (f". The {cheapest.name} plan stores {cheapest.limit('storage_gb')} GB." if cheapest else "."),
        limit="storage_gb", allowed=allowed_gb, usage=round(stored / usage.GB, 3), usage_bytes=stored,
        needed_bytes=needed, plan=state.plan.key,
        cheapest_plan=cheapest.key if cheapest else None)


def api_rate(tenant_id) -> int | None:
    """API calls per minute the company's plan allows (None: the platform default)."""
    return limit_of(tenant_id, "api_rate_per_minute")


def _identity_guard(tenant_id, resource: str, adding: int) -> None:
    if resource in plans.COUNTED_LIMITS and tenant_id is not None:
        check_limit(tenant_id, resource, adding)


def init_app(app) -> None:
    from .. import ratelimit
    from ..identity import services as identity

    app.before_request(gate_request)
    ratelimit.tenant_rate_source(api_rate)
    if _identity_guard not in identity._quota_guards:
        identity.quota_guard(_identity_guard)
