"""Service requests end to end through the API: the directory, opening from a
unit or an alarm, invitation and the directory board, the outcome with its
PDF report, closing with billing, ratings, spare-part actions; bad input is
a clear 4xx that changes nothing; a third company sees nothing."""
from __future__ import annotations

from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.billing.models import UsageEvent
from alloyhub.platform.db import db
from tests.factories import ApiClient
from tests.remote_service.conftest import accepted_request, grant, open_request

API = "/api/v1/remote-service"


def test_directory_search_and_profiles(world):
    w = world
    found = [p for p in w.plant.api.get(f"{API}/directory?q=rossi&limit=200").get_json()["items"]
             if p["id"] == str(w.profile_id)]
    assert [p["name"] for p in found] == ["Maria Rossi"] and found[0]["hourly_rate"] == "900.00"
    assert w.plant.api.get(f"{API}/directory?equipment_type=cold_mill&brand=sms&language=zh").get_json()["items"]
    assert not [p for p in w.plant.api.get(f"{API}/directory?equipment_type=slitter").get_json()["items"]
                if p["id"] == str(w.profile_id)]
    hidden = w.expert.api.post(f"{API}/profiles", json={"name": "Draft expert"}).get_json()
    assert hidden["published"] is False
    assert w.plant.api.get(f"{API}/directory/{hidden['id']}").status_code == 404
    assert w.plant.api.get(f"{API}/directory/{w.profile_id}").status_code == 200
    changed = w.expert.api.patch(f"{API}/profiles/{hidden['id']}", json={"published": True, "availability": "busy"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["availability"] == "busy"
    assert w.plant.api.get(f"{API}/directory/{hidden['id']}").status_code == 200
    bad = w.expert.api.post(f"{API}/profiles", json={"name": "X", "equipment_types": ["spaceship"],
                                                     "hourly_rate": "-5"})
    assert bad.status_code == 422 and {"equipment_types", "hourly_rate"} <= set(bad.get_json()["errors"])


def test_request_from_an_alarm_names_the_unit_tag_and_range(world):
    w = world
    created = w.plant.api.post(f"{API}/requests", json={
        "alarm_id": str(w.alarm_id), "title": "Tension alarm", "symptoms": "Tension high twice a shift",
        "profile_id": str(w.profile_id)})
    # the alarm has never been raised: no default range, but the unit and tag come from it
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["unit_code"] == "CM1" and body["tags"][0]["tag"] == "line1.tension"
    assert body["state"] == "invited" and body["side"] == "plant"
    assert body["alarm_label"].startswith("Tension high")


def test_the_whole_engagement_report_billing_and_ratings(app, world):
    w = world
    req_id = accepted_request(w, time_ranges=[{"from": w.start.isoformat(), "to": w.start.replace(hour=w.start.hour)
                                               .isoformat(), "label": "bad"}]) if False else accepted_request(w)
    grant(w, req_id, may_propose_commands=False)
    base = f"{API}/requests/{req_id}"
    note = w.expert.api.post(f"{base}/annotations", json={"agent_id": str(w.agent_id), "tag": "line1.speed",
                                                          "ts_from": w.start.isoformat(), "body": "Speed dip 变速"})
    assert note.status_code == 201
    assert w.plant.api.post(f"{base}/messages", json={"body": "Roll change was at 08:00"}).status_code == 201
    first = w.plant.api.get(f"{base}/messages").get_json()
    answer = w.expert.api.post(f"{base}/messages", json={"body": "Thanks", "parent_id": first[-1]["id"]})
    assert answer.status_code == 201
    upload = w.plant.api.client.post(f"{base}/files", data={"file": (__import__("io").BytesIO(b"\x89PNG..."),
                                                                     "roll.png", "image/png")},
                                     headers=w.plant.api._headers(), content_type="multipart/form-data")
    assert upload.status_code == 201, upload.get_json()
    resolved = w.expert.api.post(f"{base}/resolve", json={
        "findings": "Bearing of the lower work roll is worn 下工作辊轴承磨损", "root_cause": "Worn bearing",
        "actions": [{"text": "Replace the bearing", "kind": "spare_part", "part_number": "6205-2RS"},
                    {"text": "Check roll alignment", "kind": "maintenance"}], "hours": "2.5"})
    assert resolved.status_code == 200, resolved.get_json()
    body = resolved.get_json()
    assert body["state"] == "resolved" and body["hours"] == "2.50"
    report = w.plant.api.get(f"{API}/files/{body['report_attachment_id']}/content")
    assert report.status_code == 200 and report.data.startswith(b"%PDF")
    files = w.expert.api.get(f"{base}/files").get_json()
    assert sorted(f["kind"] for f in files) == ["file", "report"]
    wanted = w.plant.api.post(f"{base}/spare-requests", json={"action": 0})
    assert wanted.status_code == 201, wanted.get_json()
    assert w.plant.api.post(f"{base}/spare-requests", json={"action": 0}).status_code == 409
    assert w.plant.api.post(f"{base}/spare-requests", json={"action": 1}).status_code == 409
    closed = w.plant.api.post(f"{base}/close", json={"billing": "stripe"})
    assert closed.status_code == 200 and closed.get_json()["billed_minutes"] == 150
    with app.app_context(), tenancy.scoped(w.plant.id, session=db.session):
        event = db.session.scalar(select(UsageEvent).where(UsageEvent.tenant_id == w.plant.id,
                                                           UsageEvent.metric == "expert_minutes"))
        assert event.quantity == 150 and event.ref == f"remote-request-{req_id}"
    assert w.plant.api.post(f"{base}/ratings", json={"score": 5, "comment": "Fast"}).status_code == 201
    assert w.plant.api.post(f"{base}/ratings", json={"score": 4}).status_code == 409
    assert w.expert.api.post(f"{base}/ratings", json={"score": 4}).status_code == 201
    profile = w.plant.api.get(f"{API}/directory/{w.profile_id}").get_json()
    assert profile["rating"] == 5.0 and profile["ratings"] == 1
    # closed: the conversation is read-only
    assert w.expert.api.post(f"{base}/messages", json={"body": "more"}).status_code == 409


def test_directory_posting_and_decline(world, tenant_factory, make_client):
    w = world
    req_id = open_request(w)
    base = f"{API}/requests/{req_id}"
    declined = w.expert.api.post(f"{base}/decline", json={"reason": "Fully booked"})
    assert declined.status_code == 200 and declined.get_json()["state"] == "declined"
    posted = w.plant.api.post(f"{base}/post", json={})
    assert posted.status_code == 200 and posted.get_json()["state"] == "open"
    other_firm = ApiClient(make_client()).sign_in(tenant_factory("expert").owner_email)
    board = other_firm.get(f"{API}/requests?role=directory").get_json()["items"]
    assert req_id in [r["id"] for r in board]
    # a candidate sees the request but no conversation, and cannot grant itself anything
    assert other_firm.get(base).get_json()["side"] == "candidate"
    assert other_firm.get(f"{base}/messages").status_code == 404
    taken = other_firm.post(f"{base}/accept", json={})
    assert taken.status_code == 200 and taken.get_json()["state"] == "accepted"
    # taken: off the board, and the first firm is no party any more
    assert w.expert.api.get(base).status_code == 404
    assert req_id not in [r["id"] for r in other_firm.get(f"{API}/requests?role=directory").get_json()["items"]]


def test_bad_input_is_a_clear_error_and_changes_nothing(world):
    w = world
    api = w.plant.api
    before = len(api.get(f"{API}/requests?role=plant").get_json()["items"])
    cases = [
        {"title": "x", "symptoms": "y"},  # no unit, no expert
        {"unit_id": str(w.cm1), "title": "", "symptoms": "y", "profile_id": str(w.profile_id)},
        {"unit_id": str(w.cm1), "title": "x", "symptoms": "y", "urgency": "yesterday", "audience": "directory"},
        {"unit_id": str(w.cm1), "title": "x", "symptoms": "y", "audience": "directory",
         "time_ranges": [{"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"}]},
        {"unit_id": str(w.cm1), "title": "x", "symptoms": "y", "audience": "directory",
         "tags": [{"agent_id": "00000000-0000-0000-0000-000000000000", "tag": "t"}]},
        {"unit_id": str(w.cm2), "title": "x", "symptoms": "y", "profile_id": "00000000-0000-0000-0000-000000000000"},
    ]
    for body in cases:
        response = api.post(f"{API}/requests", json=body)
        assert response.status_code == 422, (body, response.get_json())
        assert response.mimetype == "application/problem+json"
    assert api.post(f"{API}/requests", data="not json", headers={"Content-Type": "text/plain"}).status_code == 415
    assert len(api.get(f"{API}/requests?role=plant").get_json()["items"]) == before
    req_id = accepted_request(w)
    base = f"{API}/requests/{req_id}"
    for body in ({"unit_ids": [], "tags": []}, {"unit_ids": [str(w.cm1)], "tags": [], "hours": 1},
                 {"unit_ids": [str(w.cm1)], "tags": [{"agent_id": str(w.agent_id), "tag": "line1.speed"}],
                  "hours": 0},
                 {"unit_ids": [str(w.cm1)], "tags": [{"agent_id": str(w.agent_id), "tag": "line1.speed"}],
                  "hours": 100000}):
        assert api.post(f"{base}/grants", json=body).status_code == 422
    assert api.get(f"{base}/grants").get_json() == []
    assert w.expert.api.post(f"{base}/resolve", json={"findings": ""}).status_code == 422
    assert w.expert.api.post(f"{base}/resolve", json={"findings": "x", "hours": "-1"}).status_code == 422
    assert w.expert.api.post(f"{base}/resolve", json={"findings": "x", "actions": [{"text": "buy",
                                                                                    "kind": "spare_part"}]}) \
        .status_code == 422
    assert api.post(f"{base}/ratings", json={"score": 6}).status_code == 422
    assert api.post(f"{base}/ratings", json={"score": 5}).status_code == 409  # before the outcome
    assert api.post(f"{base}/close", json={"billing": "cash"}).status_code == 422
    assert w.expert.api.post(f"{base}/cancel", json={}).status_code == 404  # only the plant cancels
    assert w.expert.api.get(f"{base}/history?agent_id={w.agent_id}&tags=line1.speed&from=x&to=y").status_code == 422
    assert api.get(f"{base}").get_json()["state"] == "accepted"


def test_a_viewer_cannot_grant_or_approve(world, tenant_factory, make_client):
    w = world
    req_id = accepted_request(w)
    viewer = ApiClient(make_client()).sign_in(tenant_factory.add_member(w.plant.made, "viewer"))
    body = {"unit_ids": [str(w.cm1)], "tags": [{"agent_id": str(w.agent_id), "tag": "line1.speed"}]}
    assert viewer.post(f"{API}/requests/{req_id}/grants", json=body).status_code == 403
    maintenance = ApiClient(make_client()).sign_in(tenant_factory.add_member(w.plant.made, "maintenance"))
    assert maintenance.post(f"{API}/requests/{req_id}/grants", json=body).status_code == 403  # owners/admins grant
    assert maintenance.get(f"{API}/requests/{req_id}").status_code == 200
