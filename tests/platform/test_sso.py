"""Per-tenant single sign-on, end to end: tenant B signs people in through
AlloyHub's own OpenID Connect provider (a client registered in tenant A),
with the app served over real HTTP so the SSO client fetches discovery,
JWKS and tokens as it would from any IdP."""
from __future__ import annotations

import secrets
import threading
import uuid
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from tests.factories import ApiClient, TenantFactory, csrf_token, sign_in, verify_email


@pytest.fixture
def live_app(database_url, service_urls, tmp_path):
    """An app of its own, served on 127.0.0.1 in a thread; BASE_URL points at it."""
    from alloyhub import create_app
    from alloyhub.platform.config import app_database_url

    app = create_app({
        "TESTING": True,
        "DATABASE_URL": database_url,
        "DATABASE_APP_URL": app_database_url(database_url, password="alloyhub-app"),
        "REDIS_URL": service_urls["REDIS_URL"],
        "MQTT_URL": service_urls["MQTT_URL"],
        "SECRET_KEY": "test-" + secrets.token_hex(16),
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        "ALLOW_INSECURE_OIDC": True,
        "OIDC_KEY_FILE": str(tmp_path / "oidc.pem"),
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app
    server.shutdown()
    thread.join()


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def test_sso_against_alloyhub_itself_with_just_in_time_membership(live_app):
    base = live_app.config["BASE_URL"]
    factory = TenantFactory(live_app)
    idp_tenant, tenant_b = factory(), factory()

    # Tenant A registers an OpenID Connect client for B's sign-in.
    api_a = ApiClient(live_app.test_client()).sign_in(idp_tenant.owner_email)
    oidc_client = api_a.post("/api/v1/oauth-clients", json={
        "name": "Tenant B sign-in", "kind": "authorization_code", "scopes": ["openid", "email", "profile"],
        "redirect_uris": [f"{base}/sso/callback"]}).get_json()

    # B's admin points B's SSO at AlloyHub and admits A's owner's e-mail domain.
    api_b = ApiClient(live_app.test_client()).sign_in(tenant_b.owner_email)
    domain = idp_tenant.owner_email.split("@")[1]
    current = api_b.get("/api/v1/sso")
    assert current.get_json()["configured"] is False
    saved = api_b.client.put("/api/v1/sso", json={
        "issuer": base, "client_id": oidc_client["client_id"], "client_secret": oidc_client["client_secret"],
        "domains": [domain]}, headers={"X-CSRFToken": api_b.token, "If-Match": current.headers["ETag"]})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    view = saved.get_json()
    assert view["client_secret_set"] is True and oidc_client["client_secret"] not in saved.get_data(as_text=True)
    slug = api_b.get("/api/v1/tenant").get_json()["slug"]
    assert view["sign_in_url"] == f"{base}/sso/{slug}"

    # A's owner, signed in at the IdP (AlloyHub, tenant A) with a confirmed
    # address, signs in to B by SSO.
    browser = live_app.test_client()
    sign_in(browser, idp_tenant.owner_email)
    verify_email(live_app, browser, idp_tenant.owner_email)
    entry = browser.post("/sso", data={"csrf_token": csrf_token(browser, "/sso"), "company": slug})
    assert entry.status_code == 302 and entry.headers["Location"].endswith(f"/sso/{slug}")
    to_idp = browser.get(f"/sso/{slug}")
    assert to_idp.status_code == 302 and to_idp.headers["Location"].startswith(f"{base}/oauth/authorize?")
    authorize = _path(to_idp.headers["Location"])
    assert "code_challenge_method=S256" in authorize and "nonce=" in authorize
    consent = browser.get(authorize)
    assert consent.status_code == 200
    back = browser.post(authorize, data={"csrf_token": csrf_token(browser, authorize), "decision": "allow"})
    assert back.status_code == 302 and back.headers["Location"].startswith(f"{base}/sso/callback?")

    done = browser.get(_path(back.headers["Location"]))
    assert done.status_code == 302, done.get_data(as_text=True)[:1000]
    me = browser.get("/api/v1/me").get_json()
    assert me["email"] == idp_tenant.owner_email
    assert me["current_tenant_id"] == str(tenant_b.tenant_id)
    assert {t["id"] for t in me["tenants"]} == {str(idp_tenant.tenant_id), str(tenant_b.tenant_id)}

    members = api_b.get("/api/v1/members").get_json()["items"]
    joined = next(m for m in members if m["user"]["email"] == idp_tenant.owner_email)
    assert [r["key"] for r in joined["roles"]] == ["viewer"]
    actions = [e["action"] for e in api_b.get("/api/v1/audit").get_json()["items"]]
    assert "member.joined_by_sso" in actions and "sso.config_changed" in actions
    sign_ins = api_b.get("/api/v1/audit?action=auth.sign_in").get_json()["items"]
    assert any(e["actor_label"] == idp_tenant.owner_email for e in sign_ins)

    # A replayed callback (state already used) is refused and changes nothing.
    replay = browser.get(_path(back.headers["Location"]), headers={"Accept": "application/json"})
    assert replay.status_code == 400 and replay.get_json()["type"].endswith("/sso-failed")


@pytest.mark.parametrize("confirmed, admitted, reason", [
    (True, False, "not-admitted"),
    (False, True, "email-not-verified"),
])
def test_sso_refuses_unadmitted_or_unconfirmed_addresses(live_app, confirmed, admitted, reason):
    base = live_app.config["BASE_URL"]
    factory = TenantFactory(live_app)
    idp_tenant, tenant_b = factory(), factory()
    api_a = ApiClient(live_app.test_client()).sign_in(idp_tenant.owner_email)
    oidc_client = api_a.post("/api/v1/oauth-clients", json={
        "name": "B", "kind": "authorization_code", "scopes": ["openid", "email"],
        "redirect_uris": [f"{base}/sso/callback"]}).get_json()
    api_b = ApiClient(live_app.test_client()).sign_in(tenant_b.owner_email)
    etag = api_b.get("/api/v1/sso").headers["ETag"]
    domain = idp_tenant.owner_email.split("@")[1] if admitted else "elsewhere.example.org"
    assert api_b.client.put("/api/v1/sso", json={
        "issuer": base, "client_id": oidc_client["client_id"], "client_secret": oidc_client["client_secret"],
        "domains": [domain]}, headers={"X-CSRFToken": api_b.token, "If-Match": etag}).status_code == 200
    slug = api_b.get("/api/v1/tenant").get_json()["slug"]

    browser = live_app.test_client()
    sign_in(browser, idp_tenant.owner_email)
    if confirmed:
        verify_email(live_app, browser, idp_tenant.owner_email)
    authorize = _path(browser.get(f"/sso/{slug}").headers["Location"])
    back = browser.post(authorize, data={"csrf_token": csrf_token(browser, authorize), "decision": "allow"})
    refused = browser.get(_path(back.headers["Location"]), headers={"Accept": "application/json"})
    assert refused.status_code == 403
    members = api_b.get("/api/v1/members").get_json()["items"]
    assert [m["user"]["email"] for m in members] == [tenant_b.owner_email]
    failures = api_b.get("/api/v1/audit?action=auth.sign_in_failed").get_json()["items"]
    assert failures and failures[0]["details"]["reason"] == reason


def test_sso_config_api_validates_and_needs_admin(tenant_factory, client, make_client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    current = api.get("/api/v1/sso")
    assert api.client.put("/api/v1/sso", json={"issuer": "https://idp.example.com", "client_id": "x",
                                               "client_secret": "s"},
                          headers={"X-CSRFToken": api.token}).status_code == 428
    # The shared app does not allow http issuers (ALLOW_INSECURE_OIDC is off).
    insecure = api.client.put("/api/v1/sso", json={"issuer": "http://idp.example.com", "client_id": "x",
                                                   "client_secret": "s", "domains": ["not a domain"]},
                              headers={"X-CSRFToken": api.token, "If-Match": current.headers["ETag"]})
    assert insecure.status_code == 422 and insecure.mimetype == "application/problem+json"
    assert api.get("/api/v1/sso").get_json()["configured"] is False
    missing_secret = api.client.put("/api/v1/sso", json={"issuer": "https://idp.example.com", "client_id": "x"},
                                    headers={"X-CSRFToken": api.token, "If-Match": current.headers["ETag"]})
    assert missing_secret.status_code == 422 and "client_secret" in missing_secret.get_json()["errors"]
    ok = api.client.put("/api/v1/sso", json={"issuer": "https://idp.example.com/", "client_id": "x",
                                             "client_secret": "top-secret"},
                        headers={"X-CSRFToken": api.token, "If-Match": current.headers["ETag"]})
    assert ok.status_code == 200 and ok.get_json()["issuer"] == "https://idp.example.com"
    assert "top-secret" not in api.get("/api/v1/sso").get_data(as_text=True)
    # Keeping the stored secret: leave it out.
    kept = api.client.put("/api/v1/sso", json={"issuer": "https://idp.example.com", "client_id": "y"},
                          headers={"X-CSRFToken": api.token, "If-Match": ok.headers["ETag"]})
    assert kept.status_code == 200 and kept.get_json()["client_id"] == "y"
    audit = api.get("/api/v1/audit?action=sso.config_changed").get_json()["items"]
    assert len(audit) == 2 and "top-secret" not in str(audit)

    viewer = tenant_factory.add_member(made, "viewer")
    viewer_api = ApiClient(make_client()).sign_in(viewer)
    assert viewer_api.get("/api/v1/sso").status_code == 403


def test_sso_entry_page_and_unknown_company(client):
    page = client.get("/sso")
    assert page.status_code == 200 and 'name="company"' in page.get_data(as_text=True)
    unknown = client.get("/sso/no-such-company-" + secrets.token_hex(3))
    assert unknown.status_code == 404


def test_sso_settings_page_saves_without_showing_the_secret(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    sign_in(browser, made.owner_email)
    token = csrf_token(browser, "/settings/sso")
    invalid = browser.post("/settings/sso", data={"csrf_token": token, "issuer": "not a url", "client_id": ""})
    assert invalid.status_code == 422
    saved = browser.post("/settings/sso", data={"csrf_token": token, "issuer": "https://login.example.com",
                                                "client_id": "alloyhub", "client_secret": "s3cret-value",
                                                "domains": "example-steel.com, example-steel.cn",
                                                "enabled": "on"})
    assert saved.status_code == 302
    page = browser.get("/settings/sso").get_data(as_text=True)
    assert "https://login.example.com" in page and "example-steel.cn" in page
    assert "s3cret-value" not in page and "/sso/callback" in page
    api = ApiClient(browser)
    api.token = csrf_token(browser, "/")
    view = api.get("/api/v1/sso").get_json()
    assert view["domains"] == ["example-steel.cn", "example-steel.com"] and view["enabled"] is True
