"""The ledger through its API and its page: list, revoke in one place,
received shares, the activity feed, alliances; bad input; Chinese."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Tenant
from tests.factories import ApiClient, csrf_token, sign_in

from .conftest import KIND

ZH = {"Accept-Language": "zh-CN"}


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def _slug(app, tenant_id):
    with app.app_context():
        return db.session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))


@pytest.fixture
def pair(company, make_client):
    a, b = company(), company()
    return a, b, ApiClient(make_client()).sign_in(a.made.owner_email), ApiClient(make_client()).sign_in(b.made.owner_email)


def test_grant_list_revoke_through_the_api(pair, owner_engine):
    a, b, alice, bob = pair
    site = a.site_id()
    created = alice.post("/api/v1/shares", json={"grantee_kind": "tenant", "grantee_id": str(b.id),
                                                 "object_kind": KIND, "object_id": str(site)})
    assert created.status_code == 201, created.get_json()
    share = created.get_json()
    assert (share["state"], share["grantee_id"], share["label"]) == ("active", str(b.id), "Site MAIN")
    assert [s["id"] for s in alice.get("/api/v1/shares").get_json()["items"]] == [share["id"]]
    received = bob.get(f"/api/v1/shares/received?object_kind={KIND}").get_json()["items"]
    assert [s["id"] for s in received if s["grantor_id"] == str(a.id)] == [share["id"]]
    # B may not open, revoke or list A's share as its own.
    _problem(bob.get(f"/api/v1/shares/{share['id']}"), 404)
    _problem(bob.post(f"/api/v1/shares/{share['id']}/revoke", json={}), 404)
    assert bob.get("/api/v1/shares").get_json()["items"] == []
    revoked = alice.post(f"/api/v1/shares/{share['id']}/revoke", json={"reason": "no longer"})
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    _problem(alice.post(f"/api/v1/shares/{share['id']}/revoke", json={}), 409)
    assert [s for s in bob.get("/api/v1/shares/received").get_json()["items"] if s["grantor_id"] == str(a.id)] == []
    assert alice.get("/api/v1/shares?state=revoked").get_json()["items"][0]["revoke_reason"] == "no longer"
    with owner_engine.connect() as conn:
        actions = conn.execute(text("select action from audit_log where tenant_id = :t and action like 'share.%' "
                                    "order by at"), {"t": a.id}).scalars().all()
    assert actions == ["share.granted", "share.revoked"]


def test_bad_grants_are_problems_and_change_nothing(pair, owner_engine):
    a, b, alice, _ = pair
    site = str(a.site_id())
    cases = [
        ({"grantee_kind": "tenant", "grantee_id": str(uuid.uuid4()), "object_kind": KIND, "object_id": site},
         {"grantee_id"}),
        ({"grantee_kind": "everyone", "object_kind": KIND}, {"grantee_kind"}),
        ({"grantee_kind": "tenant", "grantee_id": str(b.id), "object_kind": "nope", "object_id": site},
         {"object_kind"}),
        ({"grantee_kind": "tenant", "grantee_id": str(b.id), "object_kind": KIND, "object_id": str(b.site_id())},
         {"object_id"}),
        ({"grantee_kind": "tenant", "grantee_id": str(b.id), "object_kind": KIND, "object_id": site,
          "valid_until": "2001-01-01T00:00:00+00:00"}, {"valid_until"}),
        ({"grantee_kind": "tenant", "grantee_id": str(b.id), "object_kind": KIND, "valid_until": "tomorrow"},
         {"valid_until"}),
    ]
    for body, fields in cases:
        errors = _problem(alice.post("/api/v1/shares", json=body), 422)["errors"]
        assert fields <= set(errors), (body, errors)
    _problem(alice.post("/api/v1/shares", data="{", content_type="application/json"), 400)
    _problem(alice.get("/api/v1/shares?state=bogus"), 422)
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from sharing_shares where tenant_id = :t"),
                            {"t": a.id}).scalar() == 0


def test_permissions(company, app, make_client, tenant_factory):
    a = company()
    email = tenant_factory.add_member(a.made, "viewer")
    viewer = ApiClient(make_client()).sign_in(email)
    _problem(viewer.get("/api/v1/shares"), 403)
    planner = ApiClient(make_client()).sign_in(tenant_factory.add_member(a.made, "planner"))
    assert planner.get("/api/v1/shares").status_code == 200
    _problem(planner.post("/api/v1/shares", json={"grantee_kind": "subscribers", "object_kind": KIND}), 403)


def test_alliance_memberships_through_the_api(company, app, make_client):
    alliance, a, outsider = company("alliance"), company(), company()
    al = ApiClient(make_client()).sign_in(alliance.made.owner_email)
    alice = ApiClient(make_client()).sign_in(a.made.owner_email)
    stranger = ApiClient(make_client()).sign_in(outsider.made.owner_email)
    invited = al.post("/api/v1/alliance-memberships", json={"company": _slug(app, a.id)})
    assert invited.status_code == 201, invited.get_json()
    row = invited.get_json()
    assert (row["state"], row["member_id"], row["alliance_id"]) == ("invited", str(a.id), str(alliance.id))
    _problem(al.post("/api/v1/alliance-memberships", json={"company": _slug(app, a.id)}), 409)
    _problem(al.post("/api/v1/alliance-memberships", json={"company": "nobody-here"}), 422)
    _problem(alice.post("/api/v1/alliance-memberships", json={"company": _slug(app, outsider.id)}), 409)
    _problem(stranger.post(f"/api/v1/alliance-memberships/{row['id']}/accept"), 404)
    assert alice.post(f"/api/v1/alliance-memberships/{row['id']}/accept").get_json()["state"] == "active"
    assert [m["id"] for m in alice.get("/api/v1/alliance-memberships?state=active").get_json()["items"]] == [row["id"]]
    assert [m["id"] for m in al.get("/api/v1/alliance-memberships").get_json()["items"]] == [row["id"]]
    assert stranger.get("/api/v1/alliance-memberships").get_json()["items"] == []
    # Now A may share with the alliance.
    created = alice.post("/api/v1/shares", json={"grantee_kind": "alliance", "grantee_id": str(alliance.id),
                                                 "object_kind": KIND, "object_id": str(a.site_id())})
    assert created.status_code == 201
    assert alice.post(f"/api/v1/alliance-memberships/{row['id']}/end").get_json()["state"] == "left"
    _problem(alice.post(f"/api/v1/alliance-memberships/{row['id']}/end"), 409)


def test_sharing_page_revoke_and_activity_in_both_languages(company, make_client):
    a, b = company(), company()
    site = a.site_id()
    with a.act():
        from alloyhub.platform.sharing import services as sharing
        share = sharing.grant(grantee_kind="tenant", grantee_id=b.id, object_kind=KIND, object_id=site)
    with b.act():
        sharing.record_read(a.id, KIND, site, "viewed")
    client = make_client()
    sign_in(client, a.made.owner_email)
    html = client.get("/sharing").get_data(as_text=True)
    assert 'data-testid="share-row"' in html and "Site MAIN" in html and b.made.name in html
    activity = client.get("/sharing?tab=activity").get_data(as_text=True)
    assert 'data-testid="read-row"' in activity and b.made.name in activity and "Viewed" in activity
    zh = client.get("/sharing?tab=activity", headers=ZH).get_data(as_text=True)
    assert "<h1>共享</h1>" in zh and "已查看" in zh
    assert "共享给我们" in client.get("/sharing?tab=received", headers=ZH).get_data(as_text=True)
    assert "联盟" in client.get("/sharing?tab=alliances", headers=ZH).get_data(as_text=True)
    assert client.get("/sharing?tab=nope").status_code == 404
    assert client.get("/sharing?tab=activity&share_id=nonsense").status_code == 400
    token = csrf_token(client, "/sharing")
    done = client.post(f"/sharing/{share.id}/revoke", data={"csrf_token": token})
    assert done.status_code == 302
    with b.act():
        assert sharing.may_see(b.id, a.id, KIND, site) is None
    html = client.get("/sharing?state=revoked").get_data(as_text=True)
    assert 'data-state="revoked"' in html
    # B's view: nothing of A's in its own list, and the page of A's share is not found.
    other = make_client()
    sign_in(other, b.made.owner_email)
    assert 'data-testid="no-shares"' in other.get("/sharing").get_data(as_text=True)
    assert other.post(f"/sharing/{share.id}/revoke", data={"csrf_token": csrf_token(other, "/sharing")}).status_code == 404


def test_alliance_page_invite_and_accept(company, app, make_client):
    alliance, a = company("alliance"), company()
    al = make_client()
    sign_in(al, alliance.made.owner_email)
    token = csrf_token(al, "/sharing?tab=alliances")
    assert 'data-testid="invite"' in al.get("/sharing?tab=alliances").get_data(as_text=True)
    al.post("/sharing/alliances", data={"csrf_token": token, "company": _slug(app, a.id)})
    member = make_client()
    sign_in(member, a.made.owner_email)
    html = member.get("/sharing?tab=alliances").get_data(as_text=True)
    assert alliance.made.name in html and 'data-testid="accept"' in html
    import re
    membership_id = re.search(r"/sharing/alliances/([0-9a-f-]{36})/accept", html).group(1)
    member.post(f"/sharing/alliances/{membership_id}/accept", data={"csrf_token": csrf_token(member, "/sharing")})
    assert 'data-state="active"' in member.get("/sharing?tab=alliances").get_data(as_text=True)
    assert 'data-state="active"' in al.get("/sharing?tab=alliances").get_data(as_text=True)
