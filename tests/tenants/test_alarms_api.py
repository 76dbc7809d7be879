"""/api/v1/alarm-rules, /api/v1/alarms, /api/v1/alarm-maintenance: CRUD,
ETags, permissions, bad input as problem+json."""
from __future__ import annotations

import pytest

from tests.factories import ApiClient
from tests.tenants.test_alarms_engine import Plant, make_agent


@pytest.fixture
def plant(app, tenant_factory):
    return Plant(app, tenant_factory())


@pytest.fixture
def owner(plant, make_client):
    return ApiClient(make_client()).sign_in(plant.made.owner_email)


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return response.get_json()


def test_rule_crud_with_etag(plant, owner):
    body = {"agent_id": str(plant.agent_id), "tag": "strip.tension", "name": "Tension high", "kind": "high",
            "limit": 100, "deadband": 2.5, "on_delay_s": 5, "priority": "critical"}
    created = owner.post("/api/v1/alarm-rules", json=body)
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert rule["priority"] == "critical" and rule["deadband"] == 2.5 and rule["enabled"] is True
    listed = owner.get(f"/api/v1/alarm-rules?agent_id={plant.agent_id}").get_json()["items"]
    assert [r["id"] for r in listed] == [rule["id"]]

    url = f"/api/v1/alarm-rules/{rule['id']}"
    got = owner.get(url)
    etag = got.headers["ETag"]
    _problem(owner.patch(url, json={"limit": 110}), 428)
    _problem(owner.patch(url, json={"limit": 110}, headers={"If-Match": '"stale"'}), 412)
    patched = owner.patch(url, json={"limit": 110, "priority": "low"}, headers={"If-Match": etag})
    assert patched.status_code == 200 and patched.get_json()["limit"] == 110
    assert patched.headers["ETag"] != etag
    # Its alarm exists from the start, normal.
    alarms = owner.get("/api/v1/alarms").get_json()["items"]
    assert [(a["rule_id"], a["state"], a["priority"]) for a in alarms] == [(rule["id"], "normal", "low")]

    assert owner.delete(url).status_code == 204
    _problem(owner.get(url), 404)
    assert owner.get("/api/v1/alarms").get_json()["items"] == []


def test_bad_rules_are_refused_with_every_field_named(plant, owner, app, tenant_factory):
    bad = owner.post("/api/v1/alarm-rules", json={"agent_id": str(plant.agent_id), "name": "x", "kind": "hot"})
    assert "kind" in _problem(bad, 422)["errors"]
    bad = owner.post("/api/v1/alarm-rules", json={"agent_id": str(plant.agent_id), "name": "x", "kind": "high"})
    assert set(_problem(bad, 422)["errors"]) == {"tag", "limit"}
    bad = owner.post("/api/v1/alarm-rules", json={"agent_id": str(plant.agent_id), "name": "x", "kind": "stale",
                                                  "tag": "a"})
    assert set(_problem(bad, 422)["errors"]) == {"timeout_s"}
    bad = owner.post("/api/v1/alarm-rules", json={"agent_id": str(plant.agent_id), "name": "x", "kind": "rate",
                                                  "tag": "a", "limit": 5, "deadband": 5})
    assert set(_problem(bad, 422)["errors"]) == {"deadband"}
    bad = owner.post("/api/v1/alarm-rules", json={"agent_id": "not-a-uuid", "name": "x", "kind": "offline",
                                                  "timeout_s": 60, "limit": "high"})
    assert {"agent_id", "limit"} <= set(_problem(bad, 422)["errors"])
    # Another company's agent does not exist for us.
    other = make_agent(app, tenant_factory())
    bad = owner.post("/api/v1/alarm-rules", json={"agent_id": str(other), "name": "x", "kind": "offline",
                                                  "timeout_s": 60})
    assert _problem(bad, 422)["errors"] == {"agent_id": ["No such agent."]}
    bad = owner.client.post("/api/v1/alarm-rules", data="kind=high", headers=owner._headers(
        {"Content-Type": "application/x-www-form-urlencoded"}))
    _problem(bad, 415)
    _problem(owner.get("/api/v1/alarms?state=boiling"), 422)


def test_acknowledge_shelve_and_history(plant, owner):
    alarm_id = plant.rule(limit=100.0)
    url = f"/api/v1/alarms/{alarm_id}"
    _problem(owner.post(f"{url}/ack", json={}), 409)  # normal: nothing to acknowledge
    plant.feed((0, 150.0))
    assert owner.get("/api/v1/alarms?state=open").get_json()["items"][0]["state"] == "active_unacked"
    acked = owner.post(f"{url}/ack", json={"note": "on it"})
    assert acked.status_code == 200 and acked.get_json()["state"] == "active_acked"
    assert acked.get_json()["acked_by"] == str(plant.made.owner_id)
    errors = _problem(owner.post(f"{url}/shelve", json={"reason": "", "minutes": 0}), 422)["errors"]
    assert set(errors) == {"reason", "minutes"}
    shelved = owner.post(f"{url}/shelve", json={"reason": "calibrating", "minutes": 30})
    assert shelved.get_json()["state"] == "shelved" and shelved.get_json()["shelved_reason"] == "calibrating"
    assert owner.get("/api/v1/alarms?state=open").get_json()["items"] == []
    assert owner.post(f"{url}/unshelve").get_json()["state"] == "active_unacked"
    _problem(owner.post(f"{url}/unshelve"), 409)
    events = owner.get(f"{url}/history").get_json()["items"]
    assert [e["event"] for e in events] == ["unshelve", "shelve", "ack", "activate"]
    assert events[2]["note"] == "on it" and events[2]["user_id"] == str(plant.made.owner_id)


def test_maintenance_windows(plant, owner):
    alarm_id = plant.rule(limit=100.0)
    _problem(owner.post("/api/v1/alarm-maintenance", json={"agent_id": str(plant.agent_id), "hours": -1}), 422)
    window = owner.post("/api/v1/alarm-maintenance", json={"agent_id": str(plant.agent_id), "reason": "rolls"})
    assert window.status_code == 201 and window.get_json()["ends_at"] is None
    assert owner.get(f"/api/v1/alarms/{alarm_id}").get_json()["state"] == "suppressed"
    ended = owner.post(f"/api/v1/alarm-maintenance/{window.get_json()['id']}/end")
    assert ended.status_code == 200 and ended.get_json()["ends_at"]
    assert owner.get(f"/api/v1/alarms/{alarm_id}").get_json()["state"] == "normal"
    _problem(owner.post(f"/api/v1/alarm-maintenance/{window.get_json()['id']}/end"), 409)


def test_permissions(plant, tenant_factory, make_client):
    alarm_id = plant.rule(limit=100.0)
    plant.feed((0, 150.0))
    viewer = ApiClient(make_client()).sign_in(tenant_factory.add_member(plant.made, "viewer"))
    operator = ApiClient(make_client()).sign_in(tenant_factory.add_member(plant.made, "operator"))
    body = {"agent_id": str(plant.agent_id), "name": "x", "kind": "offline", "timeout_s": 60}
    assert viewer.get("/api/v1/alarms").status_code == 200
    assert viewer.get("/api/v1/alarm-rules").status_code == 200
    _problem(viewer.post(f"/api/v1/alarms/{alarm_id}/ack", json={}), 403)
    _problem(viewer.post("/api/v1/alarm-rules", json=body), 403)
    _problem(operator.post("/api/v1/alarm-rules", json=body), 403)
    _problem(operator.post("/api/v1/alarm-maintenance", json={"agent_id": str(plant.agent_id)}), 403)
    assert operator.post(f"/api/v1/alarms/{alarm_id}/ack", json={}).status_code == 200
    anonymous = make_client()
    _problem(anonymous.get("/api/v1/alarms"), 401)
