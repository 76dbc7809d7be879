"""Personal access tokens: created by a person for their current company,
bounded by their permissions, shown once, stored hashed, expiring, revocable."""
from __future__ import annotations

import hashlib

from sqlalchemy import text

from tests.factories import ApiClient, csrf_token, sign_in


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_pat_create_use_list_revoke(tenant_factory, client, make_client, owner_engine):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    created = api.post("/api/v1/tokens", json={"name": "ERP import", "scopes": ["members.read"],
                                               "expires_in_days": 90})
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    value = body["token"]
    assert value.startswith("ahp_") and body["active"] is True

    # Stored hashed only.
    with owner_engine.connect() as conn:
        stored = conn.execute(text("select token_hash from personal_access_tokens where id = :i"),
                              {"i": body["id"]}).scalar_one()
    assert stored == hashlib.sha256(value.encode()).hexdigest()

    http = make_client()
    members = http.get("/api/v1/members", headers=bearer(value))
    assert members.status_code == 200
    forbidden = http.get("/api/v1/audit", headers=bearer(value))
    assert forbidden.status_code == 403 and forbidden.mimetype == "application/problem+json"
    me = http.get("/api/v1/me", headers=bearer(value)).get_json()
    assert me["email"] == made.owner_email and me["permissions"] == ["members.read"]

    listed = api.get("/api/v1/tokens").get_json()["items"]
    assert [t["name"] for t in listed] == ["ERP import"]
    assert "token" not in listed[0] and listed[0]["token_prefix"] == value[:10]
    assert listed[0]["last_used_at"] is not None

    # A token cannot mint a wider one.
    wider = http.post("/api/v1/tokens", headers=bearer(value),
                      json={"name": "x", "scopes": ["members.admin"], "expires_in_days": 1})
    assert wider.status_code == 422

    assert api.delete(f"/api/v1/tokens/{body['id']}").status_code == 204
    revoked = http.get("/api/v1/members", headers=bearer(value))
    assert revoked.status_code == 401 and revoked.mimetype == "application/problem+json"
    actions = {e["action"] for e in api.get("/api/v1/audit?action=pat.").get_json()["items"]}
    assert actions == {"pat.created", "pat.revoked"}


def test_expired_pat_is_rejected(tenant_factory, client, make_client, owner_engine):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    body = api.post("/api/v1/tokens", json={"name": "short", "scopes": ["tenant.read"], "expires_in_days": 1}).get_json()
    http = make_client()
    assert http.get("/api/v1/tenant", headers=bearer(body["token"])).status_code == 200
    with owner_engine.begin() as conn:
        conn.execute(text("update personal_access_tokens set expires_at = now() - interval '1 second' where id = :i"),
                     {"i": body["id"]})
    response = http.get("/api/v1/tenant", headers=bearer(body["token"]))
    assert response.status_code == 401
    assert response.get_json()["type"].endswith("/unauthorized")


def test_pat_scopes_bounded_by_permissions_and_expiry(tenant_factory, make_client):
    made = tenant_factory()
    viewer = tenant_factory.add_member(made, "viewer")
    api = ApiClient(make_client()).sign_in(viewer)
    for body in ({"name": "x", "scopes": ["members.admin"]},
                 {"name": "x", "scopes": ["no.such"]},
                 {"name": "x", "scopes": ["tenant.read"], "expires_in_days": 400},
                 {"name": "x", "scopes": []},
                 {"name": "x", "scopes": ["tenant.read"], "unknown": 1}):
        response = api.post("/api/v1/tokens", json=body)
        assert response.status_code == 422, body
        assert response.mimetype == "application/problem+json"
    assert api.get("/api/v1/tokens").get_json()["items"] == []


def test_pats_are_private_to_their_holder(tenant_factory, client, make_client):
    made = tenant_factory()
    other = tenant_factory.add_member(made, "admin")
    owner_api = ApiClient(client).sign_in(made.owner_email)
    token_id = owner_api.post("/api/v1/tokens", json={"name": "mine", "scopes": ["tenant.read"]}).get_json()["id"]
    other_api = ApiClient(make_client()).sign_in(other)
    assert other_api.get("/api/v1/tokens").get_json()["items"] == []
    assert other_api.delete(f"/api/v1/tokens/{token_id}").status_code == 404
    assert owner_api.get(f"/api/v1/tokens/{token_id}").get_json()["active"] is True


def test_tokens_page_shows_the_value_once_and_revokes(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    sign_in(browser, made.owner_email)
    token = csrf_token(browser, "/settings/tokens")
    page = browser.post("/settings/tokens", data={"csrf_token": token, "name": "Script",
                                                  "scopes": ["tenant.read"], "expires_in_days": "30"})
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    assert 'data-testid="token-value">ahp_' in html
    listing = browser.get("/settings/tokens").get_data(as_text=True)
    assert "Script" in listing and 'data-testid="token-value"' not in listing
    missing_csrf = browser.post("/settings/tokens", data={"name": "x", "scopes": ["tenant.read"]})
    assert missing_csrf.status_code == 400
    invalid = browser.post("/settings/tokens", data={"csrf_token": token, "name": "", "scopes": []})
    assert invalid.status_code == 422


def test_bad_token_input_is_4xx_and_changes_nothing(tenant_factory, client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    for body in ({"name": "nul\x00byte", "scopes": ["tenant.read"]}, {"name": "x" * 121, "scopes": ["tenant.read"]},
                 {"name": "x", "scopes": "tenant.read"}, {"name": "x", "scopes": ["tenant.read"], "expires_in_days": "soon"}):
        response = api.post("/api/v1/tokens", json=body)
        assert 400 <= response.status_code < 500, body
        assert response.mimetype == "application/problem+json"
    assert api.get("/api/v1/tokens").get_json()["items"] == []


def test_a_token_cannot_consent_to_oauth_apps(tenant_factory, client, make_client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    value = api.post("/api/v1/tokens", json={"name": "x", "scopes": ["tenant.read"]}).get_json()["token"]
    response = make_client().post("/oauth/authorize?response_type=code&client_id=ahc_x", headers=bearer(value),
                                  data={"decision": "allow"})
    assert response.status_code == 403
