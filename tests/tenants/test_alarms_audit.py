"""Every change to alarm rules and maintenance windows, and every
acknowledge, shelve and unshelve, is in the audit log with who did it and
the before/after of the fields it changed; refused actions leave no entry."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.audit import AuditEntry
from alloyhub.platform.db import db, utcnow
from tests.factories import ApiClient, csrf_token, sign_in
from tests.tenants.test_alarms_engine import Plant


@pytest.fixture
def plant(app, tenant_factory):
    return Plant(app, tenant_factory())


@pytest.fixture
def owner(plant, make_client):
    return ApiClient(make_client()).sign_in(plant.made.owner_email)


def _entries(app, plant, prefix="alarm."):
    with app.app_context(), tenancy.scoped(plant.made.tenant_id, session=db.session):
        rows = db.session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == plant.made.tenant_id,
                                                           AuditEntry.action.startswith(prefix))
                                  .order_by(AuditEntry.at, AuditEntry.id)).all()
        db.session.expunge_all()
        return rows


def _last(app, plant, action):
    found = [e for e in _entries(app, plant) if e.action == action]
    assert found, f"no {action} in {[e.action for e in _entries(app, plant)]}"
    return found[-1]


def test_rule_create_update_delete_are_audited_with_before_and_after(app, plant, owner):
    body = {"agent_id": str(plant.agent_id), "tag": "strip.tension", "name": "Tension high", "kind": "high",
            "limit": 100, "deadband": 2.5, "priority": "critical"}
    rule = owner.post("/api/v1/alarm-rules", json=body).get_json()
    created = _last(app, plant, "alarm.rule_created")
    assert (created.target_type, created.target_id) == ("alarm_rule", rule["id"])
    assert created.actor_user_id == plant.made.owner_id and created.details["name"] == "Tension high"
    changes = created.details["changes"]
    assert changes["limit"] == {"before": None, "after": 100.0}
    assert changes["agent_id"] == {"before": None, "after": str(plant.agent_id)}
    assert changes["priority"] == {"before": None, "after": "critical"} and "description" not in changes

    url = f"/api/v1/alarm-rules/{rule['id']}"
    etag = owner.get(url).headers["ETag"]
    patched = owner.patch(url, json={"limit": 110, "priority": "low", "deadband": 2.5}, headers={"If-Match": etag})
    assert patched.status_code == 200
    updated = _last(app, plant, "alarm.rule_updated")
    assert updated.target_id == rule["id"] and updated.actor_user_id == plant.made.owner_id
    assert updated.details["changes"] == {"limit": {"before": 100.0, "after": 110.0},
                                          "priority": {"before": "critical", "after": "low"}}
    # Saving without a change, or a refused change, adds no entry.
    count = len(_entries(app, plant))
    etag = owner.get(url).headers["ETag"]
    assert owner.patch(url, json={"limit": 110}, headers={"If-Match": etag}).status_code == 200
    assert owner.patch(url, json={"deadband": -1}, headers={"If-Match": etag}).status_code == 422
    assert len(_entries(app, plant)) == count

    assert owner.delete(url).status_code == 204
    deleted = _last(app, plant, "alarm.rule_deleted")
    assert deleted.target_id == rule["id"] and deleted.details["name"] == "Tension high"
    assert deleted.details["changes"]["limit"] == {"before": 110.0, "after": None}
    assert deleted.details["changes"]["kind"] == {"before": "high", "after": None}
    assert [e.action for e in _entries(app, plant)] == ["alarm.rule_created", "alarm.rule_updated",
                                                        "alarm.rule_deleted"]


def test_rule_changes_from_the_pages_are_audited_too(app, plant, make_client):
    plant.rule(limit=100.0, name="Bearing hot")
    client = make_client()
    sign_in(client, plant.made.owner_email)
    token = csrf_token(client, "/alarms/rules")
    form = {"csrf_token": token, "agent_id": str(plant.agent_id), "tag": "strip.tension", "name": "Bearing hot",
            "kind": "high", "priority": "high", "limit": "120", "deadband": "", "on_delay_s": "", "timeout_s": "",
            "enabled": "on"}
    assert client.post(f"/alarms/rules/{plant.rule_id}", data=form).status_code == 302
    updated = _last(app, plant, "alarm.rule_updated")
    assert updated.details["changes"] == {"limit": {"before": 100.0, "after": 120.0}}
    form.pop("enabled")  # disabling
    assert client.post(f"/alarms/rules/{plant.rule_id}", data=form).status_code == 302
    assert _last(app, plant, "alarm.rule_updated").details["changes"] == {"enabled": {"before": True,
                                                                                      "after": False}}
    assert client.post(f"/alarms/rules/{plant.rule_id}/delete", data={"csrf_token": token}).status_code == 302
    assert _last(app, plant, "alarm.rule_deleted").target_id == str(plant.rule_id)


def test_acknowledge_shelve_unshelve_are_audited(app, plant, owner):
    alarm_id = plant.rule(limit=100.0, name="Tension high")
    url = f"/api/v1/alarms/{alarm_id}"
    assert owner.post(f"{url}/ack", json={}).status_code == 409  # nothing to acknowledge: no entry
    assert not [e for e in _entries(app, plant) if e.action == "alarm.acknowledged"]
    plant.feed((0, 150.0))

    assert owner.post(f"{url}/ack", json={"note": "on it"}).status_code == 200
    acked = _last(app, plant, "alarm.acknowledged")
    assert (acked.target_type, acked.target_id) == ("alarm", str(alarm_id))
    assert acked.actor_user_id == plant.made.owner_id and acked.actor_label is None
    assert acked.details["note"] == "on it" and acked.details["rule"] == "Tension high"
    assert acked.details["rule_id"] == str(plant.rule_id) and acked.details["tag"] == "strip.tension"
    assert acked.details["changes"] == {"state": {"before": "active_unacked", "after": "active_acked"}}

    assert owner.post(f"{url}/shelve", json={"reason": "", "minutes": 30}).status_code == 422
    assert owner.post(f"{url}/shelve", json={"reason": "calibrating", "minutes": 30}).status_code == 200
    shelved = _last(app, plant, "alarm.shelved")
    changes = shelved.details["changes"]
    assert changes["state"] == {"before": "active_acked", "after": "shelved"}
    assert changes["shelved_reason"] == {"before": None, "after": "calibrating"}
    assert changes["shelved_until"]["before"] is None and changes["shelved_until"]["after"]
    assert shelved.details["note"] == "calibrating" and shelved.actor_user_id == plant.made.owner_id

    assert owner.post(f"{url}/unshelve").status_code == 200
    unshelved = _last(app, plant, "alarm.unshelved")
    assert unshelved.details["changes"]["state"] == {"before": "shelved", "after": "active_unacked"}
    assert unshelved.details["changes"]["shelved_reason"] == {"before": "calibrating", "after": None}
    assert unshelved.actor_user_id == plant.made.owner_id
    assert owner.post(f"{url}/unshelve").status_code == 409
    assert [e.action for e in _entries(app, plant)] == [
        "alarm.rule_created", "alarm.acknowledged", "alarm.shelved", "alarm.unshelved"]


def test_an_expired_shelve_is_audited_as_the_system(app, plant, owner):
    alarm_id = plant.rule(limit=100.0)
    plant.feed((0, 150.0))
    assert owner.post(f"/api/v1/alarms/{alarm_id}/shelve", json={"reason": "swap", "minutes": 5}).status_code == 200
    plant.check(utcnow() + timedelta(minutes=10))
    assert plant.state() == "active_unacked"
    expired = _last(app, plant, "alarm.unshelved")
    assert expired.actor_user_id is None and expired.actor_label == "system"
    assert expired.details["note"] == "shelve expired"
    assert expired.details["changes"]["state"] == {"before": "shelved", "after": "active_unacked"}


def test_maintenance_windows_are_audited(app, plant, owner, make_client):
    plant.rule(limit=100.0)
    window = owner.post("/api/v1/alarm-maintenance", json={"agent_id": str(plant.agent_id), "hours": 4,
                                                           "reason": "roll change"}).get_json()
    started = _last(app, plant, "alarm.maintenance_started")
    assert (started.target_type, started.target_id) == ("alarm_maintenance_window", window["id"])
    assert started.actor_user_id == plant.made.owner_id and started.details["agent_id"] == str(plant.agent_id)
    changes = started.details["changes"]
    assert changes["reason"] == {"before": None, "after": "roll change"}
    assert changes["agent_id"] == {"before": None, "after": str(plant.agent_id)}
    assert changes["starts_at"]["after"] and changes["ends_at"]["after"]

    assert owner.post(f"/api/v1/alarm-maintenance/{window['id']}/end").status_code == 200
    ended = _last(app, plant, "alarm.maintenance_ended")
    assert ended.target_id == window["id"]
    assert list(ended.details["changes"]) == ["ends_at"]
    assert ended.details["changes"]["ends_at"]["before"] == changes["ends_at"]["after"]
    assert owner.post(f"/api/v1/alarm-maintenance/{window['id']}/end").status_code == 409
    assert len([e for e in _entries(app, plant) if e.action == "alarm.maintenance_ended"]) == 1

    # From the rules page as well, and the entries show on the audit log page.
    client = make_client()
    sign_in(client, plant.made.owner_email)
    token = csrf_token(client, "/alarms/rules")
    assert client.post("/alarms/maintenance", data={"csrf_token": token, "agent_id": str(plant.agent_id),
                                                    "hours": "", "reason": "open-ended"}).status_code == 302
    assert _last(app, plant, "alarm.maintenance_started").details["changes"]["reason"]["after"] == "open-ended"
    page = client.get("/audit?action=alarm.").get_data(as_text=True)
    assert "alarm.maintenance_started" in page and "alarm.maintenance_ended" in page
