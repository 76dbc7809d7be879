"""Every endpoint declares the one permission it needs (auth.requires), so a
new endpoint cannot be reachable by accident."""
from __future__ import annotations

from alloyhub.platform import permissions as perms

# Endpoints that are not ours to decorate: static files and flask-smorest's
# own OpenAPI document and Swagger UI (public documentation).
EXEMPT_ENDPOINTS = {"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _is_exempt(endpoint: str) -> bool:
    return endpoint in EXEMPT_ENDPOINTS or endpoint.endswith(".static")


def _handlers(view):
    """(label, function) for a plain view function or each method of a MethodView."""
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        yield "", view
        return
    for method in HTTP_METHODS:
        fn = getattr(view_class, method, None)
        if fn is not None:
            yield f".{method}", fn


def _offenders(app) -> list[str]:
    known = set(perms.REGISTRY) | {perms.AUTHENTICATED, perms.PUBLIC}
    offenders = []
    for endpoint, view in sorted(app.view_functions.items()):
        if _is_exempt(endpoint):
            continue
        for label, fn in _handlers(view):
            permission = getattr(fn, "required_permission", None)
            if permission is None:
                offenders.append(f"{endpoint}{label}: no @requires(...)")
            elif permission not in known:
                offenders.append(f"{endpoint}{label}: unknown permission {permission!r}")
    return offenders


def test_every_endpoint_declares_its_permission(app):
    offenders = _offenders(app)
    assert not offenders, "endpoints without a declared permission:\n" + "\n".join(offenders)


def test_the_check_notices_an_undeclared_endpoint(app):
    """The control: an endpoint added without @requires is reported."""
    from flask import Flask

    other = Flask("probe")
    other.view_functions.update(app.view_functions)
    other.add_url_rule("/naked", "naked", lambda: "hi")
    assert _offenders(other) == ["naked: no @requires(...)"]


def test_requires_is_enforced_not_just_declared(client):
    """Declaring is not enough: a protected endpoint refuses an anonymous caller."""
    response = client.get("/api/v1/sites")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
