"""The agents room through its API and pages: CRUD and permissions,
enrolment once only, tag catalogue, configuration, commands with four eyes.
The broker here is the machine's anonymous one (access control off); the
dynsec end-to-end tests are in test_agents_broker.py."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from alloyhub.platform import tenancy
from alloyhub.platform.audit import AuditEntry
from alloyhub.platform.db import db, utcnow
from alloyhub.platform.outbox import OutboxEvent
from alloyhub.tenants.agents import services
from alloyhub.tenants.agents.models import Agent, AgentCommand, EnrollmentToken
from tests.factories import ApiClient, csrf_token, sign_in

SIM_CONFIG = {
    "sources": [{"name": "line1", "kind": "simulator", "seed": 3,
                 "tags": [{"tag": "line1.speed", "address": "1/speed", "unit": "m/min", "period_ms": 500},
                          {"tag": "line1.tension", "address": "1/tension", "unit": "kN", "deadband": 0.1}]}],
    "allow_write": ["line1.speed", "sim.fault.stoppage"],
}


def _owner(tenant_factory, make_client):
    made = tenant_factory()
    return made, ApiClient(make_client()).sign_in(made.owner_email)


def _create(api, name="Cold mill agent"):
    response = api.post("/api/v1/agents", json={"name": name})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["agent"]["id"], body["enrollment_token"]


def _enroll(client, token, hostname="plant-pc"):
    return client.post("/api/v1/agents/enroll", json={"token": token, "hostname": hostname, "agent_version": "0.1.0"})


def _audit_actions(app, tenant_id, prefix="agent."):
    with app.app_context(), tenancy.scoped(tenant_id, session=db.session):
        return [e.action for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.action.startswith(prefix))
            .order_by(AuditEntry.at))]


# ---------------------------------------------------------------- CRUD and permissions

def test_create_list_get_patch_with_etag(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id, token = _create(api)
    assert token.startswith("ahe_")
    listed = api.get("/api/v1/agents").get_json()
    assert [a["id"] for a in listed["items"]] == [agent_id]
    assert listed["items"][0]["status"] == "pending" and listed["items"][0]["online"] is False
    got = api.get(f"/api/v1/agents/{agent_id}")
    etag = got.headers["ETag"]
    assert api.patch(f"/api/v1/agents/{agent_id}", json={"name": "X"}).status_code == 428
    assert api.patch(f"/api/v1/agents/{agent_id}", json={"name": "X"}, headers={"If-Match": '"stale"'}).status_code == 412
    renamed = api.patch(f"/api/v1/agents/{agent_id}", json={"name": "Hot mill agent"}, headers={"If-Match": etag})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Hot mill agent"
    # The token is stored hashed only.
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        hashes = db.session.scalars(select(EnrollmentToken.token_hash)).all()
        assert token not in hashes and len(hashes) == 1
    assert _audit_actions(app, made.tenant_id) == ["agent.created", "agent.updated"]


def test_bad_input_is_422_and_changes_nothing(tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    for body in ({}, {"name": ""}, {"name": "x" * 121}, {"name": "A", "site_id": str(uuid.uuid4())}):
        response = api.post("/api/v1/agents", json=body)
        assert response.status_code == 422, body
        assert response.content_type == "application/problem+json"
    assert api.get("/api/v1/agents").get_json()["items"] == []


def test_pagination_is_cursor_based(tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    ids = [_create(api, f"agent {i}")[0] for i in range(3)]
    first = api.get("/api/v1/agents?limit=2").get_json()
    second = api.get(f"/api/v1/agents?limit=2&cursor={first['next_cursor']}").get_json()
    assert [a["id"] for a in first["items"] + second["items"]] == ids and second["next_cursor"] is None


def test_a_viewer_reads_nothing_and_changes_nothing(tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id, _ = _create(api)
    viewer = ApiClient(make_client()).sign_in(tenant_factory.add_member(made, "viewer"))
    assert viewer.get("/api/v1/agents").status_code == 403
    assert viewer.post("/api/v1/agents", json={"name": "A"}).status_code == 403
    assert viewer.post(f"/api/v1/agents/{agent_id}/revoke").status_code == 403
    assert viewer.get("/agents").status_code == 403


# ---------------------------------------------------------------- enrolment

def test_enrolment_answers_the_contract_once(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id, token = _create(api)
    anonymous = make_client()
    first = _enroll(anonymous, token)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["agent_id"] == agent_id and body["tenant_id"] == str(made.tenant_id)
    assert body["mqtt"]["username"] == body["mqtt"]["client_id"] == f"agent-{agent_id}"
    assert body["mqtt"]["url"] == app.config["MQTT_URL"] and len(body["mqtt"]["password"]) >= 32
    assert body["topic_prefix"] == f"ah/v1/{agent_id}" and body["ca_cert"] is None and body["config"] is None
    again = _enroll(anonymous, token)
    assert again.status_code == 410 and again.content_type == "application/problem+json"
    assert _enroll(anonymous, "ahe_not-a-token").status_code == 401
    assert _enroll(anonymous, "").status_code == 422
    agent = api.get(f"/api/v1/agents/{agent_id}").get_json()
    assert agent["status"] == "active" and agent["hostname"] == "plant-pc"
    assert "agent.enrolled" in _audit_actions(app, made.tenant_id)


def test_expired_token_is_refused(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id, token = _create(api)
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        db.session.execute(update(EnrollmentToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert _enroll(make_client(), token).status_code == 410
    assert api.get(f"/api/v1/agents/{agent_id}").get_json()["status"] == "pending"


def test_regenerated_token_replaces_the_old_one(tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    agent_id, old = _create(api)
    new = api.post(f"/api/v1/agents/{agent_id}/token").get_json()["enrollment_token"]
    assert _enroll(make_client(), old).status_code == 410
    assert _enroll(make_client(), new).status_code == 200


def test_concurrent_enrolment_exactly_one_wins(app, tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    _agent_id, token = _create(api)
    start, results = threading.Barrier(4), []

    def attempt():
        client = app.test_client()
        start.wait()
        results.append(_enroll(client, token).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 410, 410, 410]


def test_revoked_agent_cannot_enrol(tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    agent_id, token = _create(api)
    revoked = api.post(f"/api/v1/agents/{agent_id}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert _enroll(make_client(), token).status_code == 410
    assert api.post(f"/api/v1/agents/{agent_id}/token").status_code == 409


# ---------------------------------------------------------------- configuration and tags

def _enrolled(api, make_client):
    agent_id, token = _create(api)
    assert _enroll(make_client(), token).status_code == 200
    return agent_id


def test_config_is_validated_versioned_and_queued(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id = _enrolled(api, make_client)
    url = f"/api/v1/agents/{agent_id}/config"
    etag = api.get(url).headers["ETag"]
    bad = [
        {"sources": [{"name": "m", "kind": "modbus", "tags": [{"tag": "a", "address": "hr:1"}]}]},  # no host
        {"sources": [{"name": "s", "kind": "plc5"}]},
        {"sources": [{"name": "s", "kind": "simulator", "tags": [{"tag": "a", "data_type": "double"}]}]},
        {"sources": [{"name": "s", "kind": "simulator", "tags": [{"tag": "a", "period_ms": 1}]}]},
        {"sources": [], "allow_write": ["nowhere"]},
    ]
    for body in bad:
        response = api.client.put(url, json=body, headers=api._headers({"If-Match": etag}))
        assert response.status_code == 422, (body, response.get_json())
    saved = api.client.put(url, json=SIM_CONFIG, headers=api._headers({"If-Match": etag}))
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["version"] == 1 and saved.get_json()["allow_write"] == sorted(SIM_CONFIG["allow_write"])
    assert api.client.put(url, json=SIM_CONFIG, headers=api._headers({"If-Match": etag})).status_code == 412
    tags = api.get(f"/api/v1/agents/{agent_id}/tags").get_json()["items"]
    assert [(t["tag"], t["status"], t["unit"]) for t in tags] == [
        ("line1.speed", "active", "m/min"), ("line1.tension", "active", "kN")]
    with app.app_context(), tenancy.system_context(db.session):
        events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "agent.config",
                                                              OutboxEvent.tenant_id == made.tenant_id)).all()
        assert [e.payload["agent_id"] for e in events] == [agent_id]


def test_unknown_tag_is_adopted_or_ignored(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id = _enrolled(api, make_client)
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        services.note_unknown_tags(uuid.UUID(agent_id), {"line9.mystery": 5, "line9.noise": 2})
        db.session.commit()
    unknown = {t["tag"]: t for t in api.get(f"/api/v1/agents/{agent_id}/tags?status=unknown").get_json()["items"]}
    assert unknown["line9.mystery"]["unknown_points"] == 5
    adopted = api.post(f"/api/v1/agent-tags/{unknown['line9.mystery']['id']}/adopt").get_json()
    assert adopted["status"] == "active"
    assert api.post(f"/api/v1/agent-tags/{unknown['line9.noise']['id']}/ignore").get_json()["status"] == "ignored"
    tag_url = f"/api/v1/agent-tags/{adopted['id']}"
    etag = api.get(tag_url).headers["ETag"]
    edited = api.patch(tag_url, json={"unit": "°C", "description": "Bearing", "data_type": "float"},
                       headers={"If-Match": etag})
    assert edited.status_code == 200 and edited.get_json()["unit"] == "°C"
    assert api.patch(tag_url, json={"data_type": "complex"}, headers={"If-Match": "*"}).status_code == 422
    dup = api.post(f"/api/v1/agents/{agent_id}/tags", json={"tag": "line9.mystery"})
    assert dup.status_code == 422
    assert api.post(f"/api/v1/agents/{agent_id}/tags", json={"tag": "line1.new", "unit": "A"}).status_code == 201


# ---------------------------------------------------------------- commands

def _with_config(api, make_client):
    agent_id = _enrolled(api, make_client)
    url = f"/api/v1/agents/{agent_id}/config"
    etag = api.get(url).headers["ETag"]
    assert api.client.put(url, json=SIM_CONFIG, headers=api._headers({"If-Match": etag})).status_code == 200
    return agent_id


def test_write_outside_the_allow_list_is_refused(tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    agent_id = _with_config(api, make_client)
    url = f"/api/v1/agents/{agent_id}/commands"
    refused = api.post(url, json={"kind": "write", "tag": "line1.tension", "value": 3})
    assert refused.status_code == 422 and "tag" in refused.get_json()["errors"]
    assert api.post(url, json={"kind": "write", "tag": "line1.speed"}).status_code == 422
    assert api.post(url, json={"kind": "restart_source", "source": "nope"}).status_code == 422
    assert api.get(url).get_json()["items"] == []


def test_four_eyes_approval_then_ack(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id = _with_config(api, make_client)
    created = api.post(f"/api/v1/agents/{agent_id}/commands", json={"kind": "write", "tag": "line1.speed",
                                                                   "value": 120.5})
    assert created.status_code == 201 and created.get_json()["status"] == "pending_approval"
    command_id = created.get_json()["id"]
    own = api.post(f"/api/v1/agent-commands/{command_id}/approve")
    assert own.status_code == 403
    second = ApiClient(make_client()).sign_in(tenant_factory.add_member(made, "admin"))
    approved = second.post(f"/api/v1/agent-commands/{command_id}/approve")
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert second.post(f"/api/v1/agent-commands/{command_id}/approve").status_code == 409
    # The agent's ack, as the ingest process hands it over.
    with app.app_context():
        assert services.handle_ack(agent_id, {"id": "not-a-uuid", "ok": True}) is False
        assert services.handle_ack(uuid.uuid4(), {"id": command_id, "ok": True}) is False
        assert services.handle_ack(agent_id, {"id": command_id, "ok": True, "result": {"written": 120.5}})
    done = api.get(f"/api/v1/agent-commands/{command_id}").get_json()
    assert done["status"] == "acked" and done["result"]["result"] == {"written": 120.5}
    actions = _audit_actions(app, made.tenant_id, "agent.command")
    assert actions == ["agent.command_requested", "agent.command_approved", "agent.command_acked"]


def test_rejected_command_is_never_sent(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id = _with_config(api, make_client)
    command_id = api.post(f"/api/v1/agents/{agent_id}/commands",
                          json={"kind": "restart_source", "source": "line1"}).get_json()["id"]
    second = ApiClient(make_client()).sign_in(tenant_factory.add_member(made, "admin"))
    assert second.post(f"/api/v1/agent-commands/{command_id}/reject").get_json()["status"] == "rejected"
    assert second.post(f"/api/v1/agent-commands/{command_id}/approve").status_code == 409
    with app.app_context():
        assert services.handle_ack(agent_id, {"id": command_id, "ok": True}) is False


def test_state_updates_health_and_online(app, tenant_factory, make_client):
    _made, api = _owner(tenant_factory, make_client)
    agent_id = _enrolled(api, make_client)
    with app.app_context():
        assert services.handle_state(agent_id, ["not", "an", "object"]) is False
        assert services.handle_state(agent_id, {"online": True, "buffer_depth": 42, "dropped": 0})
    agent = api.get(f"/api/v1/agents/{agent_id}").get_json()
    assert agent["online"] is True and agent["health"]["buffer_depth"] == 42 and agent["last_seen_at"]
    with app.app_context():
        assert services.handle_state(agent_id, {"online": False})
    assert api.get(f"/api/v1/agents/{agent_id}").get_json()["online"] is False


# ---------------------------------------------------------------- pages

def test_pages_create_show_token_once_and_render(app, tenant_factory, make_client):
    made = tenant_factory()
    client = make_client()
    sign_in(client, made.owner_email)
    page = client.get("/agents")
    access_control = bool(app.config.get("MQTT_ADMIN_USERNAME") or app.config.get("MQTT_ADMIN_URL"))
    assert page.status_code == 200 and (b'data-testid="broker-access-off"' in page.data) is not access_control
    token = csrf_token(client, "/agents")
    created = client.post("/agents", data={"name": "Annealing agent", "csrf_token": token})
    assert created.status_code == 200 and b'data-testid="enrollment-token"' in created.data
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        agent = db.session.scalar(select(Agent))
    detail = client.get(f"/agents/{agent.id}")
    assert detail.status_code == 200 and b"Annealing agent" in detail.data
    assert b"ahe_" not in detail.data  # the token is not shown again
    empty = client.post("/agents", data={"name": "", "csrf_token": token})
    assert empty.status_code == 422
    saved = client.post(f"/agents/{agent.id}/config", data={
        "csrf_token": token, "sources-0-name": "s", "sources-0-kind": "simulator", "version": "0"})
    assert saved.status_code == 302
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        assert db.session.scalar(select(Agent.config_version)) == 1
        assert db.session.scalar(select(AgentCommand.id)) is None
        db.session.execute(update(Agent).values(status="active"))  # as if enrolled
        db.session.commit()
    with app.app_context():
        services.handle_state(agent.id, {"online": True, "buffer_depth": 7, "sources": {"s": {"ok": True}}})
    assert client.post(f"/agents/{agent.id}/commands", data={
        "csrf_token": token, "kind": "restart_source", "source": "s"}).status_code == 302
    assert client.post(f"/agents/{agent.id}/tags", data={"csrf_token": token, "tag": "s.extra"}).status_code == 302
    detail = client.get(f"/agents/{agent.id}", headers={"Accept-Language": "zh-CN"})
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and "待审批" in text and "s.extra" in text and "在线" in text
    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        assert db.session.scalar(select(AgentCommand.status)) == "pending_approval"
    listing = client.get("/agents").get_data(as_text=True)
    assert "Annealing agent" in listing


def test_nul_characters_are_refused_not_stored(app, tenant_factory, make_client):
    made, api = _owner(tenant_factory, make_client)
    agent_id = _enrolled(api, make_client)
    client = make_client()
    sign_in(client, made.owner_email)
    token = csrf_token(client, "/agents")
    sources = '[{"name": "s", "kind": "simulator", "tags": [{"tag": "line0.speed", "unit": "\\u0000"}]}]'
    refused = client.post(f"/agents/{agent_id}/config", data={"csrf_token": token, "mode": "json",
                                                               "config_json": sources})
    assert refused.status_code == 422 and b"NUL" in refused.data
    refused = client.post(f"/agents/{agent_id}/config", data={
        "csrf_token": token, "sources-0-name": "s", "sources-0-kind": "simulator",
        "sources-0-tags-0-tag": "line0.speed", "sources-0-tags-0-unit": "m\x00min"})
    assert refused.status_code == 422
    with app.app_context():
        assert services.handle_state(agent_id, {"online": True, "note": "bad\x00"}) is False
    agent = api.get(f"/api/v1/agents/{agent_id}").get_json()
    assert agent["config_version"] == 0 and agent["last_seen_at"] is None
