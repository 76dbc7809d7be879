"""The audit log records security-relevant actions with who and from where,
and each company's admins list (and filter) only their own entries."""
from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.factories import PASSWORD, ApiClient, csrf_token

OFFICE_IP = "203.0.113.7"


def _entries(owner_engine, tenant_id, action):
    with owner_engine.connect() as conn:
        return conn.execute(text(
            "select actor_user_id, actor_label, host(ip) as ip, details from audit_log "
            "where tenant_id is not distinct from :t and action = :a order by at"
        ), {"t": tenant_id, "a": action}).mappings().all()


def _browser(make_client, ip=OFFICE_IP):
    client = make_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def test_sign_in_success_and_failure_are_recorded(tenant_factory, make_client, owner_engine):
    made = tenant_factory()
    client = _browser(make_client)
    token = csrf_token(client)
    wrong = client.post("/signin", data={"email": made.owner_email, "password": "wrong-password-1",
                                         "csrf_token": token})
    assert wrong.status_code in (200, 401)
    (failed,) = _entries(owner_engine, made.tenant_id, "auth.sign_in_failed")
    assert failed["actor_user_id"] == made.owner_id and failed["actor_label"] == made.owner_email
    assert failed["ip"] == OFFICE_IP and failed["details"]["reason"] == "bad-password"

    ok = client.post("/signin", data={"email": made.owner_email, "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 302
    (signed_in,) = _entries(owner_engine, made.tenant_id, "auth.sign_in")
    assert signed_in["actor_user_id"] == made.owner_id and signed_in["ip"] == OFFICE_IP


def test_failed_sign_in_of_unknown_address_is_recorded_without_tenant(make_client, owner_engine):
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    client = _browser(make_client)
    client.post("/signin", data={"email": email, "password": "whatever-1", "csrf_token": csrf_token(client)})
    entries = [e for e in _entries(owner_engine, None, "auth.sign_in_failed") if e["actor_label"] == email]
    assert len(entries) == 1 and entries[0]["ip"] == OFFICE_IP


def test_role_change_and_invitation_are_recorded(tenant_factory, make_client, owner_engine):
    made = tenant_factory()
    colleague = tenant_factory.add_member(made, "viewer")
    api = ApiClient(_browser(make_client)).sign_in(made.owner_email)
    roles = {r["key"]: r["id"] for r in api.get("/api/v1/roles?limit=200").get_json()["items"]}
    member = next(m for m in api.get("/api/v1/members").get_json()["items"] if m["user"]["email"] == colleague)
    etag = api.get(f"/api/v1/members/{member['id']}").headers["ETag"]
    changed = api.patch(f"/api/v1/members/{member['id']}", json={"role_ids": [roles["planner"]]},
                        headers={"If-Match": etag})
    assert changed.status_code == 200
    invited = api.post("/api/v1/invitations", json={"email": "new-hire@example.com", "role_id": roles["operator"]})
    assert invited.status_code == 201

    (change,) = _entries(owner_engine, made.tenant_id, "member.roles_changed")
    assert change["actor_user_id"] == made.owner_id and change["ip"] == OFFICE_IP
    assert change["details"]["before"] == ["viewer"] and change["details"]["after"] == ["planner"]
    (invitation,) = _entries(owner_engine, made.tenant_id, "invitation.created")
    assert invitation["actor_user_id"] == made.owner_id and invitation["ip"] == OFFICE_IP
    assert invitation["details"] == {"email": "new-hire@example.com", "role": "operator"}


def test_audit_api_lists_only_the_current_tenant_and_filters(tenant_factory, make_client):
    a, b = tenant_factory(), tenant_factory()
    colleague = tenant_factory.add_member(a, "viewer")
    ApiClient(_browser(make_client)).sign_in(colleague)  # an auth.sign_in by someone else in A
    bob = ApiClient(_browser(make_client)).sign_in(b.owner_email)
    assert bob.post("/api/v1/sites", json={"name": "B mill", "code": "BM"}).status_code == 201
    alice = ApiClient(_browser(make_client)).sign_in(a.owner_email)
    assert alice.post("/api/v1/sites", json={"name": "A mill", "code": "AM"}).status_code == 201

    items = alice.get("/api/v1/audit?limit=200").get_json()["items"]
    actions = [e["action"] for e in items]
    assert {"tenant.created", "auth.sign_in", "site.created"} <= set(actions)
    assert all(e["actor_label"] != b.owner_email for e in items)
    assert all(e["actor_user_id"] != str(b.owner_id) for e in items)
    # Newest first.
    assert [e["at"] for e in items] == sorted((e["at"] for e in items), reverse=True)

    auth_only = alice.get("/api/v1/audit?action=auth.").get_json()["items"]
    assert auth_only and all(e["action"].startswith("auth.") for e in auth_only)
    exact = alice.get("/api/v1/audit?action=site.created").get_json()["items"]
    assert [e["details"]["code"] for e in exact] == ["AM"]
    # A '%' is a character, not a wildcard.
    assert alice.get("/api/v1/audit?action=%25.").get_json()["items"] == []

    by_colleague = alice.get("/api/v1/audit", query_string={"actor": colleague}).get_json()["items"]
    assert [e["action"] for e in by_colleague] == ["auth.sign_in"]
    by_owner = alice.get("/api/v1/audit", query_string={"actor": a.owner_email.upper()}).get_json()["items"]
    assert {"auth.sign_in", "site.created"} <= {e["action"] for e in by_owner}
    assert all(e["actor_user_id"] == str(a.owner_id) for e in by_owner)


def test_audit_needs_audit_read(tenant_factory, make_client):
    made = tenant_factory()
    viewer = ApiClient(make_client()).sign_in(tenant_factory.add_member(made, "viewer"))
    response = viewer.get("/api/v1/audit")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/forbidden")
