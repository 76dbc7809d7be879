"""Rate limits per tenant and per token, counted in Redis (flask-limiter).
Over the limit: 429 problem+json with Retry-After.

The limiter's before_request hook is registered after authentication, so the
key functions see the principal."""
from __future__ import annotations

from flask import current_app, g, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.errors import RateLimitExceeded

from . import errors


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
        ApplicationLimit(lambda: current_app.config["RATE_LIMIT_PER_TENANT"], key_function=_tenant_key,
                         scope="tenant", exempt_when=_not_api),
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
