"""Rate limits per tenant and per token, counted in Redis (flask-limiter).
Over the limit: 429 problem+json with Retry-After.

The per-tenant limit is the company's plan's (`api_rate_per_minute`, given
by the billing room through `tenant_rate_source`), or RATE_LIMIT_PER_TENANT
when the plan states none or cannot be read, or for everyone when
RATE_LIMIT_FROM_PLAN is off (e.g. to lift every limit for a test run). The
per-token limit is RATE_LIMIT_PER_TOKEN for everyone.

The limiter's before_request hook is registered after authentication, so the
key functions see the principal."""
from __future__ import annotations

import logging
from typing import Callable

from flask import current_app, g, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.errors import RateLimitExceeded

from . import errors
from .db import db

log = logging.getLogger(__name__)

# fn(tenant_id) -> calls per minute, or None for the configured default.
_tenant_rate: list[Callable] = []


def tenant_rate_source(fn: Callable) -> None:
    """Where the per-tenant limit comes from (the billing room: the plan)."""
    _tenant_rate[:] = [fn]


def _tenant_limit() -> str:
    default = current_app.config["RATE_LIMIT_PER_TENANT"]
    principal = g.get("principal")
    if (_not_api() or not _tenant_rate or not principal or not principal.tenant_id
            or not current_app.config.get("RATE_LIMIT_FROM_PLAN", True)):
        return default
    if "rate_limit_tenant" not in g:  # once per request, however often the limiter asks
        try:
            per_minute = _tenant_rate[0](principal.tenant_id)
        except Exception:  # noqa: BLE001 - a limit must never fail the request; the default holds
            log.exception("could not read the API rate of tenant %s", principal.tenant_id)
            db.session.rollback()
            per_minute = None
        g.rate_limit_tenant = f"{int(per_minute)} per minute" if per_minute else default
    return g.rate_limit_tenant


def _tenant_key() -> str:
    principal = g.get("principal")
    if principal and principal.tenant_id:
        return f"tenant:{principal.tenant_id}"
    return f"ip:{request.remote_addr}"


def _token_key() -> str:
    principal = g.get("principal")
    if principal:
        return f"principal:{principal.rate_key}"
    return f"ip:{request.remote_addr}"


def _not_api() -> bool:
    return not request.path.startswith("/api/v1/")


limiter = Limiter(
    key_func=_token_key,
    application_limits=[
        ApplicationLimit(_tenant_limit, key_function=_tenant_key, scope="tenant", exempt_when=_not_api),
        ApplicationLimit(lambda: current_app.config["RATE_LIMIT_PER_TOKEN"], key_function=_token_key,
                         scope="token", exempt_when=_not_api),
    ],
    headers_enabled=True,
)


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "alloyhub-rl")
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc):
        # flask-limiter's after_request hook adds Retry-After and X-RateLimit-*
        # to this response too; the default here covers a limiter without headers.
        return errors.problem(429, "rate-limited", "Too many requests",
                              f"Rate limit exceeded ({exc.description}). Try again later.",
                              headers={"Retry-After": "60"})
