"""The API's shared conventions: one flask-smorest Api, problem+json errors,
cursor pagination with a stable sort, and Idempotency-Key on POST."""
from __future__ import annotations

import base64
import hashlib
import http
import json as jsonlib
import uuid
from datetime import datetime

import marshmallow as ma
from flask import Response, current_app, g, request
from flask_smorest import Api as _SmorestApi
from flask_smorest import Blueprint
from flask_smorest.utils import prepare_response
from sqlalchemy import and_, or_

from . import errors
from .db import db

__all__ = ["Api", "Blueprint", "api", "PageArgs", "page_of", "paginate"]


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details: the one error shape of the API (documentation only).
    Extension members (RFC 9457 section 3.2) may follow: the module a plan
    lacks, the coil a conflict is about."""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: extension members are allowed

    type = ma.fields.String(required=True, metadata={"description": "A stable URI naming the kind of problem"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "Field errors: field name -> messages"})


class Api(_SmorestApi):
    """flask-smorest with our error shape, documented as such."""

    ERROR_SCHEMA = ProblemSchema

    def init_app(self, app, *args, **kwargs):
        super().init_app(app, *args, **kwargs)
        app.before_request(require_json_body)

    def handle_http_exception(self, error):  # noqa: D401 - flask-smorest hook
        return errors.handle_http_exception(error)

    def _register_responses(self):
        """Error responses are application/problem+json, not flask-smorest's JSON."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
                content_type = errors.PROBLEM_MIMETYPE
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


api = Api()


# ---------------------------------------------------------------- request bodies

# API endpoints that take a body other than JSON (file uploads), by endpoint name.
NON_JSON_BODY_ENDPOINTS: set[str] = set()


def require_json_body():
    """A body sent to the API must be JSON: 415, rather than the body being
    silently ignored and the fields reported missing."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith("/api/"):
        return None
    if not request.content_length or request.is_json or request.endpoint in NON_JSON_BODY_ENDPOINTS:
        return None
    raise errors.UnsupportedMediaType(f"Send the body as application/json, not {request.mimetype or 'untyped'}")


# ---------------------------------------------------------------- pagination

class PageArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200),
                              metadata={"description": "Page size (1-200)"})
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200),
                              metadata={"description": "`next_cursor` of the previous page"})


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """A page schema `{items: [...], next_cursor}` for one item schema."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(name, (ma.Schema,), {
        "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "next_cursor": ma.fields.String(allow_none=True, required=True),
    })


def _encode_cursor(values) -> str:
    raw = jsonlib.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, columns) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = jsonlib.loads(raw)
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError
        decoded = []
        for column, value in zip(columns, values):
            python_type = column.type.python_type
            if python_type is datetime:
                decoded.append(datetime.fromisoformat(value))
            elif python_type is uuid.UUID:
                decoded.append(uuid.UUID(value))
            else:
                decoded.append(python_type(value))
        return decoded
    except (ValueError, TypeError, UnicodeDecodeError, jsonlib.JSONDecodeError) as exc:
        raise errors.BadRequest("The cursor is not valid; start again without it") from exc


def paginate(stmt, args: dict, order: tuple, *, descending: bool = False) -> dict:
    """Keyset pagination over `order` columns (the last one unique, e.g. id)."""
    limit = args.get("limit", 50)
    cursor = args.get("cursor")
    if cursor:
        values = _decode_cursor(cursor, order)
        stmt = stmt.where(_after(order, values, descending))
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in order]).limit(limit + 1)
    rows = list(db.session.scalars(stmt).unique())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor([getattr(last, c.key) for c in order])
    return {"items": rows, "next_cursor": next_cursor}


def _after(columns, values, descending: bool):
    """(a, b) > (x, y) spelled out, so each column can use its own index."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if descending else column > values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


# ---------------------------------------------------------------- idempotency

IDEMPOTENCY_TTL = 24 * 3600


def _idempotency_redis_key(key: str) -> str:
    principal = g.get("principal")
    who = principal.rate_key if principal else request.remote_addr
    tenant = principal.tenant_id if principal else None
    return f"idem:{tenant}:{who}:{request.path}:{key}"


def idempotency_before_request():
    """Replay the stored response of a POST already made with this key."""
    if request.method != "POST" or not request.path.startswith("/api/"):
        return None
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (1 <= len(key) <= 255):
        raise errors.BadRequest("Idempotency-Key must be 1-255 characters")
    redis = current_app.extensions["redis"]
    fingerprint = hashlib.sha256(request.get_data()).hexdigest()
    rkey = _idempotency_redis_key(key)
    claimed = redis.set(rkey, jsonlib.dumps({"state": "running", "fp": fingerprint}), nx=True, ex=IDEMPOTENCY_TTL)
    if claimed:
        g.idempotency_key = rkey
        g.idempotency_fp = fingerprint
        return None
    stored = jsonlib.loads(redis.get(rkey) or "{}")
    if stored.get("fp") != fingerprint:
        return errors.problem(422, "idempotency-key-reused", "Idempotency-Key reused",
                              "This Idempotency-Key was used with a different request body")
    if stored.get("state") == "running":
        return errors.problem(409, "idempotency-in-progress", "Request in progress",
                              "A request with this Idempotency-Key is still being processed",
                              headers={"Retry-After": "1"})
    response = Response(stored["body"], status=stored["status"], content_type=stored["content_type"])
    for name, value in stored.get("headers", {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotency_after_request(response: Response) -> Response:
    rkey = g.pop("idempotency_key", None)
    if rkey is None:
        return response
    redis = current_app.extensions["redis"]
    if response.status_code >= 500:
        redis.delete(rkey)  # a server failure may be retried with the same key
        return response
    keep = {k: v for k, v in response.headers.items() if k in ("Location", "ETag")}
    redis.set(rkey, jsonlib.dumps({
        "state": "done", "fp": g.pop("idempotency_fp"), "status": response.status_code,
        "content_type": response.content_type, "body": response.get_data(as_text=True), "headers": keep,
    }), ex=IDEMPOTENCY_TTL)
    return response
