"""The authorization server: client credentials, authorization code + PKCE
with OpenID Connect, refresh rotation, revocation and introspection."""
from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import ApiClient, csrf_token, sign_in

REDIRECT = "https://app.example.com/callback"


def register_client(api: ApiClient, **body) -> dict:
    body.setdefault("name", "Integration")
    response = api.post("/api/v1/oauth-clients", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def client_credentials_token(http, client: dict, scope: str | None = None):
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    return http.post("/oauth/token", data=data, auth=(client["client_id"], client["client_secret"]))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == status


def test_client_credentials_token_acts_as_tenant_within_scopes(tenant_factory, client, make_client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    integration = register_client(api, kind="client_credentials", scopes=["members.read", "tenant.read"])
    http = make_client()
    token = client_credentials_token(http, integration)
    assert token.status_code == 200, token.get_data(as_text=True)
    body = token.get_json()
    assert body["access_token"].startswith("aho_") and "refresh_token" not in body
    members = http.get("/api/v1/members", headers=bearer(body["access_token"]))
    assert members.status_code == 200
    assert [m["user"]["email"] for m in members.get_json()["items"]] == [made.owner_email]
    assert_problem(http.get("/api/v1/audit", headers=bearer(body["access_token"])), 403)

    # A token asked for fewer scopes gets fewer permissions.
    narrow = client_credentials_token(http, integration, scope="tenant.read").get_json()
    assert narrow["scope"] == "tenant.read"
    assert_problem(http.get("/api/v1/members", headers=bearer(narrow["access_token"])), 403)
    assert http.get("/api/v1/tenant", headers=bearer(narrow["access_token"])).status_code == 200

    # A wrong secret gets no token.
    bad = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                    auth=(integration["client_id"], "ahs_wrong"))
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_client"


def test_token_of_one_tenant_sees_only_that_tenant(tenant_factory, client, make_client):
    a, b = tenant_factory(), tenant_factory()
    api_a = ApiClient(client).sign_in(a.owner_email)
    integration = register_client(api_a, kind="client_credentials", scopes=["members.read", "tokens.admin"])
    api_b = ApiClient(make_client()).sign_in(b.owner_email)
    b_client = register_client(api_b, kind="client_credentials", scopes=["members.read"])
    http = make_client()
    token = client_credentials_token(http, integration).get_json()["access_token"]
    listed = http.get("/api/v1/oauth-clients", headers=bearer(token)).get_json()["items"]
    assert [c["client_id"] for c in listed] == [integration["client_id"]]
    assert_problem(http.get(f"/api/v1/oauth-clients/{b_client['id']}", headers=bearer(token)), 404)


def test_forged_expired_and_unknown_tokens_are_401(tenant_factory, client, owner_engine):
    from sqlalchemy import text

    for value in ("aho_" + secrets.token_urlsafe(32), "ahp_" + secrets.token_urlsafe(32), "nonsense"):
        assert_problem(client.get("/api/v1/members", headers=bearer(value)), 401)
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    integration = register_client(api, kind="client_credentials", scopes=["members.read"])
    token = client_credentials_token(client, integration).get_json()["access_token"]
    assert client.get("/api/v1/members", headers=bearer(token)).status_code == 200
    with owner_engine.begin() as conn:
        conn.execute(text("update oauth_tokens set expires_at = now() - interval '1 minute' "
                          "where access_token_hash = :h"), {"h": hashlib.sha256(token.encode()).hexdigest()})
    response = client.get("/api/v1/members", headers=bearer(token))
    assert_problem(response, 401)
    assert "invalid or expired" in response.get_json()["detail"]


def _authorize_url(client_id: str, challenge: str | None, scope="openid profile email members.read",
                   nonce="n-123", method="S256") -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": "st-1", "nonce": nonce}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method=method)
    return "/oauth/authorize?" + urlencode(params)


def _consent(browser, url: str, decision: str = "allow"):
    page = browser.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    assert 'data-testid="consent"' in page.get_data(as_text=True)
    return browser.post(url, data={"csrf_token": csrf_token(browser, url), "decision": decision})


def test_authorization_code_pkce_openid_refresh_revoke_introspect(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    api = ApiClient(browser).sign_in(made.owner_email)
    app_client = register_client(api, name="Partner portal", kind="authorization_code", redirect_uris=[REDIRECT],
                                 scopes=["openid", "profile", "email", "members.read"])
    verifier, challenge = pkce()
    url = _authorize_url(app_client["client_id"], challenge)

    # Consent needs the form's CSRF token.
    assert browser.post(url, data={"decision": "allow"}).status_code == 400
    redirect = _consent(browser, url)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    code = query["code"][0]

    http = make_client()
    auth = (app_client["client_id"], app_client["client_secret"])
    # The verifier is checked.
    wrong = http.post("/oauth/token", auth=auth, data={"grant_type": "authorization_code", "code": code,
                                                       "redirect_uri": REDIRECT, "code_verifier": pkce()[0]})
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    issued = http.post("/oauth/token", auth=auth, data={"grant_type": "authorization_code", "code": code,
                                                        "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert issued.status_code == 200, issued.get_data(as_text=True)
    tokens = issued.get_json()
    # Codes are single-use.
    again = http.post("/oauth/token", auth=auth, data={"grant_type": "authorization_code", "code": code,
                                                       "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert again.status_code == 400

    # The id_token verifies against the published JWKS.
    discovery = http.get("/.well-known/openid-configuration").get_json()
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    keys = KeySet.import_key_set(http.get("/oauth/jwks").get_json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": discovery["issuer"]},
                          aud={"essential": True, "value": app_client["client_id"]},
                          nonce={"essential": True, "value": "n-123"}, exp={"essential": True}).validate(id_token.claims)
    assert id_token.claims["sub"] == str(made.owner_id)
    assert id_token.claims["email"] == made.owner_email
    assert id_token.claims["name"]

    access = tokens["access_token"]
    info = http.get("/oauth/userinfo", headers=bearer(access)).get_json()
    assert info["sub"] == str(made.owner_id) and info["email"] == made.owner_email
    members = http.get("/api/v1/members", headers=bearer(access))
    assert members.status_code == 200
    # The token carries only the consented scopes, not all of the owner's permissions.
    assert_problem(http.get("/api/v1/audit", headers=bearer(access)), 403)

    # Refresh rotates: a new pair, and the old pair stops working.
    refreshed = http.post("/oauth/token", auth=auth, data={"grant_type": "refresh_token",
                                                           "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    new = refreshed.get_json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != access
    assert_problem(http.get("/api/v1/members", headers=bearer(access)), 401)

    # Introspection, then revocation (RFC 7009) makes the token inactive and 401.
    active = http.post("/oauth/introspect", auth=auth, data={"token": new["access_token"]}).get_json()
    assert active["active"] is True and active["sub"] == str(made.owner_id)
    assert active["permissions"] == ["members.read"]
    assert http.get("/api/v1/members", headers=bearer(new["access_token"])).status_code == 200
    revoked = http.post("/oauth/revoke", auth=auth, data={"token": new["access_token"]})
    assert revoked.status_code == 200
    assert http.post("/oauth/introspect", auth=auth, data={"token": new["access_token"]}).get_json() == {"active": False}
    assert_problem(http.get("/api/v1/members", headers=bearer(new["access_token"])), 401)
    assert_problem(http.get("/oauth/userinfo", headers=bearer(new["access_token"])), 401)


def _code_flow(browser, http, app_client, scope="openid members.read") -> dict:
    verifier, challenge = pkce()
    url = _authorize_url(app_client["client_id"], challenge, scope=scope)
    code = parse_qs(urlsplit(_consent(browser, url).headers["Location"]).query)["code"][0]
    issued = http.post("/oauth/token", auth=(app_client["client_id"], app_client["client_secret"]),
                       data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                             "code_verifier": verifier})
    assert issued.status_code == 200, issued.get_data(as_text=True)
    return issued.get_json()


def test_a_reused_refresh_token_revokes_its_whole_family(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    api = ApiClient(browser).sign_in(made.owner_email)
    app_client = register_client(api, kind="authorization_code", redirect_uris=[REDIRECT],
                                 scopes=["openid", "members.read"])
    http = make_client()
    auth = (app_client["client_id"], app_client["client_secret"])
    first = _code_flow(browser, http, app_client)
    other = _code_flow(browser, http, app_client)  # another authorization, another family
    second = http.post("/oauth/token", auth=auth, data={"grant_type": "refresh_token",
                                                        "refresh_token": first["refresh_token"]}).get_json()
    assert http.get("/api/v1/members", headers=bearer(second["access_token"])).status_code == 200
    replay = http.post("/oauth/token", auth=auth, data={"grant_type": "refresh_token",
                                                        "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert_problem(http.get("/api/v1/members", headers=bearer(second["access_token"])), 401)
    after = http.post("/oauth/token", auth=auth, data={"grant_type": "refresh_token",
                                                       "refresh_token": second["refresh_token"]})
    assert after.status_code == 400
    assert http.get("/api/v1/members", headers=bearer(other["access_token"])).status_code == 200
    reused = api.get("/api/v1/audit?action=oauth.refresh_token_reused").get_json()["items"]
    assert len(reused) == 1 and reused[0]["details"]["revoked"] == 1


def test_denied_consent_redirects_with_access_denied(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    api = ApiClient(browser).sign_in(made.owner_email)
    app_client = register_client(api, kind="authorization_code", redirect_uris=[REDIRECT], scopes=["openid"])
    response = _consent(browser, _authorize_url(app_client["client_id"], pkce()[1], scope="openid"), "deny")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["error"] == ["access_denied"]


def test_public_clients_must_use_pkce_s256(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    api = ApiClient(browser).sign_in(made.owner_email)
    public = register_client(api, kind="authorization_code", redirect_uris=[REDIRECT], scopes=["openid"], public=True)
    assert public["client_secret"] is None
    assert browser.get(_authorize_url(public["client_id"], None, scope="openid")).status_code == 400
    verifier, challenge = pkce()
    assert browser.get(_authorize_url(public["client_id"], verifier, scope="openid", method="plain")).status_code == 400
    url = _authorize_url(public["client_id"], challenge, scope="openid")
    code = parse_qs(urlsplit(_consent(browser, url).headers["Location"]).query)["code"][0]
    http = make_client()
    missing = http.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT, "client_id": public["client_id"]})
    assert missing.status_code == 400
    ok = http.post("/oauth/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                         "client_id": public["client_id"], "code_verifier": verifier})
    assert ok.status_code == 200 and "id_token" in ok.get_json()


def test_authorize_sends_anonymous_visitors_to_sign_in(tenant_factory, make_client):
    browser = make_client()
    response = browser.get(_authorize_url("ahc_unknown", pkce()[1]))
    assert response.status_code == 302 and "/signin?next=" in response.headers["Location"]
    made = tenant_factory()
    sign_in(browser, made.owner_email)
    assert browser.get(_authorize_url("ahc_unknown", pkce()[1])).status_code in (400, 401)


def test_oauth_clients_api_etag_validation_and_deletion(tenant_factory, client, make_client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    bad = api.post("/api/v1/oauth-clients", json={"name": "", "kind": "client_credentials",
                                                  "scopes": ["no.such"], "extra": 1})
    assert_problem(bad, 422)
    bad = api.post("/api/v1/oauth-clients", json={"name": "X", "kind": "authorization_code", "scopes": ["no.such"],
                                                  "redirect_uris": ["ftp://x"]})
    assert_problem(bad, 422)
    assert set(bad.get_json()["errors"]) == {"scopes", "redirect_uris"}
    assert api.get("/api/v1/oauth-clients").get_json()["items"] == []

    created = register_client(api, kind="client_credentials", scopes=["members.read"])
    item = api.get(f"/api/v1/oauth-clients/{created['id']}")
    assert "client_secret" not in item.get_json()
    url = f"/api/v1/oauth-clients/{created['id']}"
    assert api.patch(url, json={"scopes": ["tenant.read"]}).status_code == 428
    changed = api.patch(url, json={"scopes": ["tenant.read"]}, headers={"If-Match": item.headers["ETag"]})
    assert changed.status_code == 200 and changed.get_json()["scopes"] == ["tenant.read"]

    http = make_client()
    token = client_credentials_token(http, created).get_json()["access_token"]
    # Narrowing the client narrows its existing tokens.
    assert_problem(http.get("/api/v1/members", headers=bearer(token)), 403)
    etag = api.get(url).headers["ETag"]
    assert api.delete(url, headers={"If-Match": etag}).status_code == 204
    assert_problem(http.get("/api/v1/tenant", headers=bearer(token)), 401)
    actions = [e["action"] for e in api.get("/api/v1/audit?action=oauth_client.").get_json()["items"]]
    assert actions == ["oauth_client.deleted", "oauth_client.updated", "oauth_client.created"]


def test_viewer_cannot_manage_clients_or_grant_what_they_lack(tenant_factory, make_client):
    made = tenant_factory()
    email = tenant_factory.add_member(made, "planner")
    api = ApiClient(make_client()).sign_in(email)
    assert_problem(api.get("/api/v1/oauth-clients"), 403)
    assert_problem(api.post("/api/v1/oauth-clients", json={"name": "X", "kind": "client_credentials",
                                                           "scopes": ["members.read"]}), 403)


def test_clients_page_shows_secret_once(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    sign_in(browser, made.owner_email)
    page = browser.post("/settings/oauth-clients", data={
        "csrf_token": csrf_token(browser, "/settings/oauth-clients"), "name": "MES bridge",
        "kind": "client_credentials", "scopes": ["members.read"]})
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    assert 'data-testid="client-secret">ahs_' in html
    again = browser.get("/settings/oauth-clients").get_data(as_text=True)
    assert "MES bridge" in again and "ahs_" not in again


def test_an_app_registered_by_one_company_acts_in_the_consenting_persons_company(tenant_factory, make_client):
    publisher, customer = tenant_factory(), tenant_factory()
    api = ApiClient(make_client()).sign_in(publisher.owner_email)
    app_client = register_client(api, kind="authorization_code", redirect_uris=[REDIRECT],
                                 scopes=["openid", "members.read"])
    browser = make_client()
    sign_in(browser, customer.owner_email)
    http = make_client()
    tokens = _code_flow(browser, http, app_client)
    members = http.get("/api/v1/members", headers=bearer(tokens["access_token"])).get_json()["items"]
    assert [m["user"]["email"] for m in members] == [customer.owner_email]
    # The app the token was issued to may introspect it; the publisher's other integrations may not.
    assert http.post("/oauth/introspect", auth=(app_client["client_id"], app_client["client_secret"]),
                     data={"token": tokens["access_token"]}).get_json()["active"] is True
    integration = register_client(api, kind="client_credentials", scopes=["members.read"])
    other = http.post("/oauth/introspect", auth=(integration["client_id"], integration["client_secret"]),
                      data={"token": tokens["access_token"]}).get_json()
    assert other == {"active": False}


def test_pages_render_in_chinese(tenant_factory, make_client):
    made = tenant_factory()
    browser = make_client()
    sign_in(browser, made.owner_email)
    chinese = {"Accept-Language": "zh-CN"}
    for path in ("/settings/tokens", "/settings/oauth-clients", "/settings/sso", "/sso"):
        response = browser.get(path, headers=chinese)
        assert response.status_code == 200, path
        assert '<html lang="zh-CN">' in response.get_data(as_text=True), path
    assert "OAuth 客户端" in browser.get("/settings/oauth-clients", headers=chinese).get_data(as_text=True)
