"""CSRF protection for browser requests. Requests that carry a bearer token
(and the OAuth endpoints, which authenticate the client) need none: no
cookie, no cross-site forgery."""
from __future__ import annotations

from flask import request
from flask_wtf.csrf import CSRFError, CSRFProtect

from . import errors

csrf = CSRFProtect()

# Endpoints authenticated by client credentials or a bearer token, not cookies.
CSRF_EXEMPT_ENDPOINTS: set[str] = set()


def init_app(app) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)

    @app.before_request
    def _csrf_for_cookie_requests():
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return
        if request.headers.get("Authorization", "")[:7].lower() == "bearer ":
            return
        if request.endpoint in CSRF_EXEMPT_ENDPOINTS:
            return
        csrf.protect()

    app.before_request(reject_nul_characters)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return errors.handle_app_error(
            errors.BadRequest(f"{exc.description} Reload the page and try again.", reason="csrf")
        )


def _nul_fields(value, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _nul_fields(v, f"{path}.{k}" if path else str(k))
                ] + ([path or "body"] if any("\x00" in str(k) for k in value) else [])
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _nul_fields(v, f"{path}.{i}" if path else str(i))]
    return []


def reject_nul_characters():
    """PostgreSQL text cannot hold NUL; refuse it at the door with the field
    names, for every page and API call, rather than fail deep in a query."""
    fields = [k for k, v in request.args.items(multi=True) if "\x00" in k or "\x00" in v]
    fields += [k for k, v in request.form.items(multi=True) if "\x00" in k or "\x00" in v]
    if request.is_json:
        fields += _nul_fields(request.get_json(silent=True))
    if fields:
        raise errors.ValidationFailed(errors={f: ["Must not contain NUL characters."] for f in fields})
