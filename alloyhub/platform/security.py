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

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return errors.handle_app_error(
            errors.BadRequest(f"{exc.description} Reload the page and try again.", reason="csrf")
        )
