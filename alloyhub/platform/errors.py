"""Domain exceptions and their one rendering: RFC 9457 problem+json for API
clients, an HTML page for people. Services raise these; only this module turns
them into HTTP statuses."""
from __future__ import annotations

import logging

from flask import Response, json, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://alloyhub.io/errors/"
PROBLEM_MIMETYPE = "application/problem+json"


class AppError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, errors: dict | None = None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class PermissionDenied(AppError):
    status, slug, title = 403, "forbidden", "You do not have permission to do this"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PlanRequired(AppError):
    """The company's plan does not include a module, or a limit is reached.
    Raised with extras `module` (or `limit`) and `cheapest_plan`."""

    status, slug, title = 403, "plan-required", "Your plan does not include this"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(AppError):
    """Collected field errors, reported together."""

    status, slug, title = 422, "validation", "The request has invalid fields"


_HTTP_SLUGS = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "conflict", 412: "precondition-failed", 413: "payload-too-large",
    415: "unsupported-media-type", 422: "validation", 428: "precondition-required", 429: "rate-limited",
}


def problem(status: int, slug: str, title: str, detail: str | None = None, *,
            errors: dict | None = None, headers: dict | None = None, **extra) -> Response:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_problem() -> bool:
    """API clients get problem+json; people in a browser get a page."""
    path = request.path
    if path.startswith(("/api/", "/oauth/", "/.well-known/")):
        return True
    if request.headers.get("HX-Request"):
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_MIMETYPE])
    return best != "text/html"


def _render(status: int, slug: str, title: str, detail: str | None, errors=None, headers=None, **extra):
    if wants_problem():
        return problem(status, slug, title, detail, errors=errors, headers=headers, **extra)
    html = render_template("errors/error.html", status=status, title=title, detail=detail, errors=errors)
    response = Response(html, status=status, mimetype="text/html")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_app_error(exc: AppError):
    return _render(exc.status, exc.slug, exc.title, exc.detail, errors=exc.errors, **exc.extra)


def handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    slug = _HTTP_SLUGS.get(status, "error")
    data = getattr(exc, "data", None) or {}
    errors = None
    detail = exc.description
    # webargs / flask-smorest put parsing errors in data["messages"].
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        errors = _flatten_locations(messages)
        detail = data.get("message") or "The request has invalid fields"
    elif isinstance(data, dict) and data.get("message"):
        detail = data["message"]
    headers = dict(exc.get_headers()) if status in (405, 429) else {}
    headers.pop("Content-Type", None)
    if status == 422 and errors is not None:
        return _render(422, "validation", "The request has invalid fields", detail, errors=errors)
    title = exc.name if hasattr(exc, "name") else "Error"
    return _render(status, slug, title, detail, errors=errors, headers=headers)


def _flatten_locations(messages: dict) -> dict:
    # {"json": {"name": [...]}} -> {"name": [...]}; keep the location when ambiguous.
    if len(messages) == 1:
        (only,) = messages.values()
        if isinstance(only, dict):
            return only
    return messages


def handle_unexpected(exc: Exception):
    log.exception("unhandled error", exc_info=exc)
    return _render(500, "internal", "Internal error", "Something went wrong on our side; it has been logged.")


def init_app(app) -> None:
    app.register_error_handler(AppError, handle_app_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
