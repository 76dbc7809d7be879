"""Issue 7's proof: no access without a grant; outside the granted units,
tags or time is 404; revoking ends an open live stream; an expired grant
stops access with no job run; a command without approval never reaches the
agent (watched on the real broker); every read the expert makes is in the
plant's audit log."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import select, text

from alloyhub.platform import tenancy
from alloyhub.platform.audit import AuditEntry
from alloyhub.platform.db import db
from alloyhub.tenants.telemetry.ingest import parse_mqtt_url
from tests.remote_service.conftest import accepted_request, grant, history_url, open_request


def _reads(app, w):
    with app.app_context(), tenancy.scoped(w.plant.id, session=db.session):
        return [e.details for e in db.session.scalars(select(AuditEntry).where(
            AuditEntry.tenant_id == w.plant.id, AuditEntry.action == "remote_service.read").order_by(AuditEntry.at))]


def test_no_access_without_a_grant(app, world):
    w = world
    req_id = accepted_request(w)
    expert = w.expert.api
    base = f"/api/v1/remote-service/requests/{req_id}"
    assert expert.get(history_url(w, req_id)).status_code == 404
    assert expert.get(f"{base}/latest?agent_id={w.agent_id}&tags=line1.speed").status_code == 404
    assert expert.get(f"{base}/alarms").status_code == 404
    assert expert.get(f"{base}/units").status_code == 404
    assert expert.get(f"{base}/grants").get_json() == []
    # The telemetry room's own API answers the expert nothing of the plant's agent either.
    assert expert.get(f"/api/v1/telemetry/latest?agent_id={w.agent_id}").status_code in (403, 404)
    page = w.expert.browser().get(f"/remote/requests/{req_id}/workspace").get_data(as_text=True)
    assert 'data-testid="no-access"' in page
    assert _reads(app, w) == []


def test_inside_the_grant_the_expert_sees_the_data(app, world):
    w = world
    req_id = accepted_request(w)
    grant(w, req_id)
    body = w.expert.api.get(history_url(w, req_id, "line1.speed,line1.tension")).get_json()
    speed = next(s for s in body["series"] if s["tag"] == "line1.speed")
    # two hours at a 600 s step: 12 buckets, 13 when the start is not on a bucket boundary
    assert [s["tag"] for s in body["series"]] == ["line1.speed", "line1.tension"]
    assert len(speed["points"]) in (12, 13) and speed["points"][-1][1] > speed["points"][0][1]


def test_outside_the_granted_units_tags_or_time_is_404(app, world, tenant_factory, make_client):
    w = world
    req_id = accepted_request(w)
    grant(w, req_id, tags=("line1.speed",), history_days=1)
    expert = w.expert.api
    assert expert.get(history_url(w, req_id, "line1.speed")).status_code == 200
    # a tag not granted (of the same unit), alone or with a granted one
    assert expert.get(history_url(w, req_id, "line1.tension")).status_code == 404
    assert expert.get(history_url(w, req_id, "line1.speed,line1.tension")).status_code == 404
    # a tag of another unit
    assert expert.get(history_url(w, req_id, "line1.secret")).status_code == 404
    # another agent
    import uuid

    assert expert.get(history_url(w, req_id, agent=uuid.uuid4())).status_code == 404
    # before the history the grant allows (one day back)
    old = w.start - timedelta(days=3)
    assert expert.get(history_url(w, req_id, start=old, end=old + timedelta(hours=1))).status_code == 404
    # a unit not granted cannot be granted with tags of another unit either
    refused = w.plant.api.post(f"/api/v1/remote-service/requests/{req_id}/grants", json={
        "unit_ids": [str(w.cm1)], "tags": [{"agent_id": str(w.agent_id), "tag": "line1.secret"}], "hours": 1})
    assert refused.status_code == 422 and "tags" in refused.get_json()["errors"]
    # another company, not a party: 404 on everything
    other = make_client()
    from tests.factories import ApiClient

    stranger = ApiClient(other).sign_in(tenant_factory("expert").owner_email)
    assert stranger.get(history_url(w, req_id)).status_code == 404
    assert stranger.get(f"/api/v1/remote-service/requests/{req_id}").status_code == 404


def test_an_expired_grant_stops_access_without_any_job(app, world, owner_engine):
    w = world
    req_id = accepted_request(w)
    grant_id = grant(w, req_id)
    assert w.expert.api.get(history_url(w, req_id)).status_code == 200
    # Time passes: the window ends (moved back here; no sweep or other job runs).
    with owner_engine.begin() as conn:
        conn.execute(text("update sharing_shares set valid_from = now() - interval '3 days', "
                          "valid_until = now() - interval '1 second' where id = :id"), {"id": grant_id})
    assert w.expert.api.get(history_url(w, req_id)).status_code == 404
    assert w.expert.api.get(f"/api/v1/remote-service/requests/{req_id}/latest?agent_id={w.agent_id}"
                            f"&tags=line1.speed").status_code == 404
    with owner_engine.connect() as conn:
        assert conn.execute(text("select state from sharing_shares where id = :id"), {"id": grant_id}).scalar() \
            == "active"  # nothing recorded the expiry: the window itself closed the access
    grants = w.plant.api.get(f"/api/v1/remote-service/requests/{req_id}/grants").get_json()
    assert [g["state"] for g in grants] == ["expired"]


def test_revoking_ends_an_open_live_stream(app, world):
    w = world
    req_id = accepted_request(w)
    grant_id = grant(w, req_id)
    app.config["REMOTE_STREAM_INTERVAL_S"] = 0.05
    try:
        stream = w.expert.browser().get(f"/remote/requests/{req_id}/stream?agent_id={w.agent_id}"
                                        f"&tags=line1.speed", buffered=False)
        assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
        chunks = stream.response
        first = [next(chunks) for _ in range(3)]
        assert any(b"data: " in c for c in first)
        revoked = w.plant.api.post(f"/api/v1/remote-service/requests/{req_id}/grants/{grant_id}/revoke", json={})
        assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
        rest = b"".join(chunks)  # the generator must end by itself
        stream.close()
    finally:
        app.config.pop("REMOTE_STREAM_INTERVAL_S", None)
    assert b"event: ended" in rest and b'"reason": "grant"' in rest
    # and a new stream is refused
    again = w.expert.browser().get(f"/remote/requests/{req_id}/stream?agent_id={w.agent_id}&tags=line1.speed")
    assert again.status_code == 404


def test_closing_the_request_ends_every_grant(app, world):
    w = world
    req_id = accepted_request(w)
    grant(w, req_id)
    assert w.plant.api.post(f"/api/v1/remote-service/requests/{req_id}/close", json={"billing": "offline"}) \
        .status_code == 200
    assert w.expert.api.get(history_url(w, req_id)).status_code == 404
    states = [g["state"] for g in w.plant.api.get(f"/api/v1/remote-service/requests/{req_id}/grants").get_json()]
    assert states == ["revoked"]


class _Watcher:
    """A subscriber on the real broker to the agent's command topic."""

    def __init__(self, app, agent_id):
        host, port, _tls, user, password = parse_mqtt_url(app.config["MQTT_URL"])
        self.received: list[dict] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{agent_id}"[:23])
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(f"ah/v1/{agent_id}/cmd", qos=1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = lambda c, u, m: self.received.append(json.loads(m.payload))
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.ready.wait(10), "could not subscribe on the broker"

    def wait_for(self, n: int, seconds: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def test_a_command_without_approval_never_reaches_the_agent(app, world, relay):
    w = world
    req_id = accepted_request(w)
    base = f"/api/v1/remote-service/requests/{req_id}/commands"
    write = {"agent_id": str(w.agent_id), "kind": "write", "tag": "line1.speed", "value": 120.5,
             "reason": "Lower the speed to see whether the oscillation follows"}
    grant(w, req_id)  # read-only
    assert w.expert.api.post(base, json=write).status_code == 403
    grant(w, req_id, may_propose_commands=True)
    watcher = _Watcher(app, w.agent_id)
    try:
        proposed = w.expert.api.post(base, json=write)
        assert proposed.status_code == 201 and proposed.get_json()["status"] == "pending_approval"
        rejected_one = w.expert.api.post(base, json={**write, "value": 99.0}).get_json()["id"]
        # outside the allow-list / not a granted tag
        assert w.expert.api.post(base, json={**write, "tag": "line1.tension"}).status_code == 422
        assert w.expert.api.post(base, json={**write, "tag": "line1.secret"}).status_code == 404
        relay()
        assert watcher.wait_for(1, 1.5) == []  # proposed only: nothing is sent
        rejected = w.plant.api.post(f"{base}/{rejected_one}/reject")
        assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
        relay()
        assert watcher.wait_for(1, 1.5) == []  # rejected: never sent
        # the control: once approved, the same channel delivers it
        approved = w.plant.api.post(f"{base}/{proposed.get_json()['id']}/approve")
        assert approved.status_code == 200, approved.get_json()
        relay()
        got = watcher.wait_for(1)
        assert [(m["kind"], m["tag"], m["value"]) for m in got] == [("write", "line1.speed", 120.5)]
        assert w.plant.api.post(f"{base}/{rejected_one}/approve").status_code == 409
        # the expert cannot approve its own proposal
        assert w.expert.api.post(f"{base}/{proposed.get_json()['id']}/approve").status_code in (403, 404)
    finally:
        watcher.close()
    # the agent acknowledges (as the ingest hands the ack over): the proposal follows
    from alloyhub.tenants.agents import services as agents

    with app.app_context():
        assert agents.handle_ack(w.agent_id, {"id": got[0]["id"], "ok": True, "result": {"written": 120.5}})
    rows = w.expert.api.get(base).get_json()
    assert sorted(r["status"] for r in rows) == ["acked", "rejected"]


def test_every_expert_read_is_in_the_plants_audit_log(app, world):
    w = world
    req_id = accepted_request(w)
    share_id = grant(w, req_id)
    expert, base = w.expert.api, f"/api/v1/remote-service/requests/{req_id}"
    assert expert.get(history_url(w, req_id)).status_code == 200
    assert expert.get(f"{base}/latest?agent_id={w.agent_id}&tags=line1.speed,line1.tension").status_code == 200
    assert expert.get(f"{base}/alarms").status_code == 200
    units = expert.get(f"{base}/units")
    assert units.status_code == 200 and [u["code"] for u in units.get_json()] == ["CM1"]
    assert w.expert.browser().get(f"/remote/requests/{req_id}/workspace").status_code == 200
    reads = _reads(app, w)
    whats = [r["what"] for r in reads]
    assert whats[:4] == ["history", "latest", "alarms", "units"]
    assert {"units", "alarms"} <= set(whats[4:])  # the workspace page reads units and alarms too
    assert all(r["share_id"] == share_id for r in reads)
    assert reads[0]["tags"] == ["line1.speed"] and reads[1]["tags"] == ["line1.speed", "line1.tension"]
    # the plant sees them through the API, and the ledger's feed holds them as well
    activity = w.plant.api.get(f"{base}/activity").get_json()
    assert sum(1 for a in activity if a["action"] == "remote_service.read") == len(reads)
    feed = w.plant.api.get(f"/api/v1/sharing/shares/{share_id}/activity")
    if feed.status_code == 200:
        assert len(feed.get_json()["items"]) == len(reads)
    # a refused read records nothing
    before = len(reads)
    assert expert.get(history_url(w, req_id, "line1.secret")).status_code == 404
    assert len(_reads(app, w)) == before
    # the audit log is the plant's: the expert's own log has none of it
    with app.app_context(), tenancy.scoped(w.expert.id, session=db.session):
        assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.tenant_id == w.expert.id,
                                                             AuditEntry.action == "remote_service.read")) is None
