"""Bad input gets a clear 4xx problem+json (or, for pages, a 4xx page) and
changes nothing. Each case runs as a signed-in browser (session cookie + CSRF
header) and, when the OAuth room provides tokens, with a bearer token."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from tests.factories import ApiClient, TenantFactory, csrf_token
from tests.platform.test_cross_tenant_probe import bearer_token

PROBLEM = "application/problem+json"
TENANT_TABLES = ["sites", "roles", "memberships", "membership_roles", "invitations", "audit_log", "outbox"]


class Caller:
    """The same calls with a session or with a bearer token."""

    def __init__(self, client, headers):
        self.client = client
        self.headers = headers

    def open(self, url, method="GET", headers=None, **kw):
        return self.client.open(url, method=method, headers={**self.headers, **(headers or {})}, **kw)


@pytest.fixture(scope="module")
def callers(app):
    """One company per kind of caller for the module (these tests change
    nothing, which is the point), with rate limits lifted so that the many
    calls are answered on their merits."""
    saved = {k: app.config[k] for k in ("RATE_LIMIT_PER_TENANT", "RATE_LIMIT_PER_TOKEN")}
    app.config.update(RATE_LIMIT_PER_TENANT="100000 per minute", RATE_LIMIT_PER_TOKEN="100000 per minute")
    factory = TenantFactory(app)
    made = factory()
    client = app.test_client()
    api = ApiClient(client).sign_in(made.owner_email)
    found = {"session": (made, Caller(client, {"X-CSRFToken": api.token}))}
    made = factory()
    token = bearer_token(app, made)
    if token is not None:
        found["bearer"] = (made, Caller(app.test_client(), {"Authorization": f"Bearer {token}"}))
    yield found
    app.config.update(saved)


@pytest.fixture(params=["session", "bearer"])
def caller(request, callers):
    assert request.param in callers, "the OAuth room issued no bearer token"
    return callers[request.param]


@pytest.fixture
def snapshot(owner_engine):
    """Row counts of everything a tenant owns, plus the global tables."""

    def take(tenant_id):
        with owner_engine.connect() as conn:
            counts = {t: conn.execute(text(f"select count(*) from {t} where tenant_id = :t"), {"t": tenant_id}).scalar()
                      for t in TENANT_TABLES}
            counts["users"] = conn.execute(text("select count(*) from users")).scalar()
            counts["tenants"] = conn.execute(text("select count(*) from tenants")).scalar()
            counts["site_names"] = sorted(conn.execute(
                text("select name || '/' || code from sites where tenant_id = :t"), {"t": tenant_id}).scalars())
            counts["tenant_name"] = conn.execute(text("select name from tenants where id = :t"), {"t": tenant_id}).scalar()
        return counts

    return take


def assert_problem(response, status: int):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def _site(caller) -> dict:
    return caller.open("/api/v1/sites").get_json()["items"][0]


BAD_BODIES = {
    "malformed JSON": ('{"name": "Hot mill", "code": ', 400),
    "truncated JSON string": ('{"name": "Hot', 400),
    "a JSON list": ('[{"name": "Hot mill", "code": "HM"}]', 422),
    "a JSON string": ('"Hot mill"', 422),
    "a JSON number": ("42", 422),
    "JSON null": ("null", 422),
    "wrong types": (json.dumps({"name": 123, "code": ["HM"], "address": {"street": 1}}), 422),
    "unknown fields": (json.dumps({"name": "Hot mill", "code": "HM", "tenant_id": str(uuid.uuid4())}), 422),
    "overlong name": (json.dumps({"name": "x" * 161, "code": "HM"}), 422),
    "overlong address": (json.dumps({"name": "Hot mill", "code": "HM", "address": "x" * 1001}), 422),
    "missing fields": ("{}", 422),
}


@pytest.mark.parametrize("case", list(BAD_BODIES), ids=list(BAD_BODIES))
def test_bad_bodies_on_create(caller, snapshot, case):
    made, call = caller
    raw, status = BAD_BODIES[case]
    before = snapshot(made.tenant_id)
    response = call.open("/api/v1/sites", "POST", data=raw, content_type="application/json")
    body = assert_problem(response, status)
    if status == 422:
        assert body.get("errors"), body
    assert snapshot(made.tenant_id) == before


@pytest.mark.parametrize("case", ["malformed JSON", "a JSON list", "wrong types", "unknown fields", "overlong name"])
def test_bad_bodies_on_update(caller, snapshot, case):
    made, call = caller
    site = _site(call)
    raw, status = BAD_BODIES[case]
    before = snapshot(made.tenant_id)
    response = call.open(f"/api/v1/sites/{site['id']}", "PATCH", data=raw, content_type="application/json",
                         headers={"If-Match": "*"})
    assert_problem(response, status)
    assert snapshot(made.tenant_id) == before


def test_wrong_types_are_reported_per_field(caller):
    _, call = caller
    response = call.open("/api/v1/sites", "POST", json={"name": 123, "code": ["HM"], "bogus": 1})
    errors = assert_problem(response, 422)["errors"]
    assert {"name", "code", "bogus"} <= set(errors)


def test_oversize_body_is_413(app, caller, snapshot):
    made, call = caller
    before = snapshot(made.tenant_id)
    huge = json.dumps({"name": "Hot mill", "code": "HM", "address": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    response = call.open("/api/v1/sites", "POST", data=huge, content_type="application/json")
    assert_problem(response, 413)
    assert snapshot(made.tenant_id) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_body_that_is_not_json_is_415(caller, snapshot, content_type):
    made, call = caller
    before = snapshot(made.tenant_id)
    body = "name=Hot+mill&code=HM" if "form" in content_type else '{"name": "Hot mill", "code": "HM"}'
    response = call.open("/api/v1/sites", "POST", data=body, content_type=content_type)
    assert_problem(response, 415)
    assert snapshot(made.tenant_id) == before


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%00", "..%2f"])
def test_bad_ids_in_the_path_are_404(caller, bad_id):
    _, call = caller
    for url in (f"/api/v1/sites/{bad_id}", f"/api/v1/roles/{bad_id}", f"/api/v1/members/{bad_id}"):
        assert_problem(call.open(url), 404)


def test_unknown_but_well_formed_id_is_404(caller, snapshot):
    made, call = caller
    before = snapshot(made.tenant_id)
    missing = uuid.uuid4()
    assert_problem(call.open(f"/api/v1/sites/{missing}"), 404)
    assert_problem(call.open(f"/api/v1/sites/{missing}", "PATCH", json={"name": "x"}, headers={"If-Match": "*"}), 404)
    assert_problem(call.open(f"/api/v1/invitations/{missing}", "DELETE"), 404)
    assert snapshot(made.tenant_id) == before


@pytest.mark.parametrize("cursor", ["garbage", "bnVsbA", "WzFd", "W10", "!!!", "WyJ4IiwgInkiXQ", "x" * 201])
def test_bad_cursor_is_400(caller, cursor):
    _, call = caller
    response = call.open(f"/api/v1/sites?cursor={cursor}")
    assert response.status_code in (400, 422), response.status_code
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "limit=-1"])
def test_bad_page_size_is_422(caller, query):
    _, call = caller
    assert_problem(call.open(f"/api/v1/sites?{query}"), 422)


def test_bad_filters_are_422(caller):
    _, call = caller
    assert_problem(call.open("/api/v1/members?status=bogus"), 422)
    assert_problem(call.open("/api/v1/audit?since=yesterday"), 422)


def test_bad_idempotency_key_is_400(caller, snapshot):
    made, call = caller
    before = snapshot(made.tenant_id)
    response = call.open("/api/v1/sites", "POST", json={"name": "Hot mill", "code": "HM"},
                         headers={"Idempotency-Key": "k" * 256})
    assert_problem(response, 400)
    assert snapshot(made.tenant_id) == before


def test_wrong_method_is_405_problem(caller):
    _, call = caller
    response = call.open("/api/v1/sites", "DELETE")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


# ------------------------------------------------------------------ credentials

def test_forged_session_cookie_is_signed_out(client, tenant_factory):
    made = tenant_factory()
    forged = "eyJ1aWQiOiIxIn0.forged.signature"
    client.set_cookie("session", forged)
    assert_problem(client.get("/api/v1/me"), 401)
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and made.owner_email not in page.get_data(as_text=True)
    # A cookie signed with another key, claiming a real user, is no better.
    from flask.sessions import SecureCookieSessionInterface
    from flask import Flask

    other = Flask("forger")
    other.secret_key = "not-the-real-key"
    serializer = SecureCookieSessionInterface().get_signing_serializer(other)
    client.set_cookie("session", serializer.dumps({"uid": str(made.owner_id), "tid": str(made.tenant_id), "epoch": 0}))
    assert_problem(client.get("/api/v1/me"), 401)
    assert_problem(client.get("/api/v1/sites"), 401)


def test_invalid_bearer_token_is_401(client, tenant_factory, snapshot):
    made = tenant_factory()
    before = snapshot(made.tenant_id)
    for token in ("garbage", "ah_pat_" + "0" * 40, "", "x" * 5000):
        headers = {"Authorization": f"Bearer {token}"}
        body = assert_problem(client.get("/api/v1/me", headers=headers), 401)
        assert "invalid" in body["detail"].lower() or body["detail"]
        assert_problem(client.post("/api/v1/sites", json={"name": "X", "code": "X"}, headers=headers), 401)
    assert snapshot(made.tenant_id) == before


@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_expired_or_revoked_token_is_401(app, tenant_factory, client, owner_engine, snapshot, how):
    made = tenant_factory()
    token = bearer_token(app, made)
    assert token is not None, "the OAuth room issued no bearer token"
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # the control
    change = "expires_at = now() - interval '1 minute'" if how == "expired" else "revoked_at = now()"
    with owner_engine.begin() as conn:
        assert conn.execute(text(f"update personal_access_tokens set {change} where token_prefix = :p"),
                            {"p": token[:10]}).rowcount == 1
    before = snapshot(made.tenant_id)
    assert_problem(client.get("/api/v1/me", headers=headers), 401)
    assert_problem(client.post("/api/v1/sites", json={"name": "X", "code": "X"}, headers=headers), 401)
    assert snapshot(made.tenant_id) == before


def test_api_post_without_csrf_token_is_refused(client, tenant_factory, snapshot):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    before = snapshot(made.tenant_id)
    response = client.post("/api/v1/sites", json={"name": "Hot mill", "code": "HM"})
    assert_problem(response, 400)
    response = client.post("/api/v1/sites", json={"name": "Hot mill", "code": "HM"}, headers={"X-CSRFToken": "forged"})
    assert_problem(response, 400)
    assert snapshot(made.tenant_id) == before
    assert api.post("/api/v1/sites", json={"name": "Hot mill", "code": "HM"}).status_code == 201  # the control


def test_form_post_without_csrf_token_is_400_and_changes_nothing(client, tenant_factory, snapshot):
    made = tenant_factory()
    ApiClient(client).sign_in(made.owner_email)
    before = snapshot(made.tenant_id)
    response = client.post("/sites", data={"name": "Hot mill", "code": "HM"}, headers={"Accept": "text/html"})
    assert response.status_code == 400
    response = client.post("/sites", data={"name": "Hot mill", "code": "HM", "csrf_token": "forged"},
                           headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert snapshot(made.tenant_id) == before


def test_sign_up_without_csrf_token_creates_nobody(client, snapshot, tenant_factory):
    made = tenant_factory()
    before = snapshot(made.tenant_id)
    response = client.post("/signup", data={"company_name": "Forged Ltd", "name": "Mallory", "kind": "plant",
                                            "email": "mallory@example.com", "password": "Rolling-mill-42"})
    assert response.status_code == 400
    assert snapshot(made.tenant_id) == before
    # With the token the same form works (so the 400 above was the CSRF check).
    token = csrf_token(client, "/signup")
    response = client.post("/signup", data={"company_name": "Honest Ltd", "name": "Alice", "kind": "plant",
                                            "email": f"alice-{uuid.uuid4().hex[:6]}@example.com",
                                            "password": "Rolling-mill-42", "csrf_token": token})
    assert response.status_code == 302
