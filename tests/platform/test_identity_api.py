from tests.factories import ApiClient


def test_sign_up_creates_tenant_site_and_owner(tenant_factory, client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    me = api.get("/api/v1/me").get_json()
    assert me["email"] == made.owner_email
    assert str(made.tenant_id) == me["current_tenant_id"]
    assert "members.admin" in me["permissions"]
    sites = api.get("/api/v1/sites").get_json()
    assert [s["code"] for s in sites["items"]] == ["MAIN"]
    members = api.get("/api/v1/members").get_json()["items"]
    assert [m["user"]["email"] for m in members] == [made.owner_email]
    assert [r["key"] for r in members[0]["roles"]] == ["owner"]


def test_unauthenticated_api_call_is_problem_json(client):
    response = client.get("/api/v1/members")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/unauthorized")


def test_validation_errors_are_collected(tenant_factory, client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    response = api.post("/api/v1/sites", json={"name": "", "code": "bad code!", "extra": 1})
    assert response.status_code == 422
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert set(body["errors"]) >= {"name", "code", "extra"}
    assert [s["code"] for s in api.get("/api/v1/sites").get_json()["items"]] == ["MAIN"]


def test_etag_required_and_checked_on_update(tenant_factory, client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    site = api.get("/api/v1/sites").get_json()["items"][0]
    current = api.get(f"/api/v1/sites/{site['id']}")
    etag = current.headers["ETag"]
    assert api.patch(f"/api/v1/sites/{site['id']}", json={"name": "Cold mill"}).status_code == 428
    stale = api.patch(f"/api/v1/sites/{site['id']}", json={"name": "X"}, headers={"If-Match": '"stale"'})
    assert stale.status_code == 412
    ok = api.patch(f"/api/v1/sites/{site['id']}", json={"name": "Cold mill"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.get_json()["name"] == "Cold mill"


def test_idempotency_key_replays_post(tenant_factory, client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    body = {"name": "Hot mill", "code": "HM1"}
    first = api.post("/api/v1/sites", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/sites", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/api/v1/sites", json={"name": "Other", "code": "HM2"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    codes = sorted(s["code"] for s in api.get("/api/v1/sites").get_json()["items"])
    assert codes == ["HM1", "MAIN"]


def test_cursor_pagination_is_stable(tenant_factory, client):
    made = tenant_factory()
    api = ApiClient(client).sign_in(made.owner_email)
    for i in range(5):
        assert api.post("/api/v1/sites", json={"name": f"S{i}", "code": f"S{i}"}).status_code == 201
    seen, cursor = [], None
    while True:
        url = "/api/v1/sites?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url).get_json()
        seen += [s["code"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["MAIN", "S0", "S1", "S2", "S3", "S4"]
    assert api.get("/api/v1/sites?cursor=garbage").status_code == 400
