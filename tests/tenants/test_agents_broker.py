"""Broker access control end to end, against a Mosquitto of our own with the
dynamic-security plugin (tests/tenants/conftest.py): enrolment creates the
agent's broker client; the agent reaches its own topics only; the platform's
service client reads up-links and writes down-links; config and commands go
down through the outbox; revoking cuts the agent off."""
from __future__ import annotations

import json
import queue
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from alloyhub.platform import outbox
from alloyhub.tenants.agents import broker, services
from tests.factories import ApiClient
from tests.tenants.test_agents_api import SIM_CONFIG, _audit_actions

WAIT = 15  # seconds to wait for something that must happen (never an assertion on time)
NOT_AUTHORIZED = 135


class Peer:
    """An MQTT 5 client that records what it receives and its SUBACK codes."""

    def __init__(self, port: int, username: str | None, password: str | None, client_id: str,
                 protocol: int = mqtt.MQTTv5):
        self.messages: queue.Queue = queue.Queue()
        self.subacks: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_result = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload, msg.retain))
        self.client.on_subscribe = lambda _c, _u, _mid, codes, _p: self.subacks.put([c.value for c in codes])
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties):
        self.connect_result = reason_code
        if not reason_code.is_failure:
            self.connected.set()
        else:
            self.disconnected.set()

    def wait_connected(self) -> bool:
        """True once connected; False as soon as the broker refuses (or after WAIT)."""
        deadline = time.monotonic() + WAIT
        while not (self.connected.is_set() or self.disconnected.is_set()) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.connected.is_set()

    def subscribe(self, topic: str) -> list[int]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT)

    def publish(self, topic: str, payload: dict) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(WAIT)

    def next_message(self):
        return self.messages.get(timeout=WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peers():
    made = []
    yield made
    for peer in made:
        peer.close()


@pytest.fixture
def setup(dynsec_app, tenant_factory):
    made = tenant_factory()
    owner = ApiClient(dynsec_app.test_client()).sign_in(made.owner_email)
    return dynsec_app, made, owner


def _enroll(app, owner) -> dict:
    token = owner.post("/api/v1/agents", json={"name": "Mill agent"}).get_json()["enrollment_token"]
    response = app.test_client().post("/api/v1/agents/enroll", json={"token": token, "hostname": "pc"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _agent(peers, port, answer) -> Peer:
    mqtt_ = answer["mqtt"]
    peer = Peer(port, mqtt_["username"], mqtt_["password"], mqtt_["client_id"])
    peers.append(peer)
    assert peer.wait_connected(), peer.connect_result
    return peer


def _service(peers, app, dynsec_broker) -> Peer:
    peer = Peer(dynsec_broker.port, app.config["MQTT_SERVICE_USERNAME"], app.config["MQTT_SERVICE_PASSWORD"],
                "test-ingest")
    peers.append(peer)
    assert peer.wait_connected(), peer.connect_result
    return peer


def _relay(app) -> None:
    """Run the outbox relay until nothing is due (other tests' events included)."""
    with app.app_context():
        for _ in range(50):
            if outbox.relay_once() == 0:
                return


def test_without_admin_credentials_access_control_is_off(app):
    access = broker.access_for({"MQTT_URL": "mqtt://127.0.0.1:1883"})
    assert access.enabled is False and "MQTT_ADMIN" in access.status()["reason"]
    with_url = broker.access_for({"MQTT_URL": "mqtt://127.0.0.1:1", "MQTT_ADMIN_URL": "mqtt://admin:pw@127.0.0.1:1"})
    assert with_url.enabled is True


def test_agent_reaches_its_own_topics_only(setup, dynsec_broker, peers):
    app, _made, owner = setup
    a, b = _enroll(app, owner), _enroll(app, owner)
    ingest = _service(peers, app, dynsec_broker)
    assert ingest.subscribe("$share/ingest/ah/v1/+/telemetry") == [1]
    assert ingest.subscribe("ah/v1/+/cmd/ack") == [1]
    agent_a = _agent(peers, dynsec_broker.port, a)
    agent_b = _agent(peers, dynsec_broker.port, b)

    # Forbidden subscriptions are refused in the SUBACK.
    assert agent_a.subscribe(f"ah/v1/{b['agent_id']}/#") == [NOT_AUTHORIZED]
    assert agent_a.subscribe("ah/v1/+/telemetry") == [NOT_AUTHORIZED]
    assert agent_a.subscribe("#") == [NOT_AUTHORIZED]
    assert agent_a.subscribe(f"ah/v1/{a['agent_id']}/cmd") == [1]
    assert agent_b.subscribe(f"ah/v1/{b['agent_id']}/cmd") == [1]

    # A's forged publish to B's topics never arrives; its own batch, sent after, does.
    forged = {"agent": b["agent_id"], "seq": 1, "sent_at": "2026-01-01T00:00:00Z", "points": []}
    agent_a.publish(f"ah/v1/{b['agent_id']}/telemetry", forged)
    agent_a.publish(f"ah/v1/{b['agent_id']}/cmd", {"id": "x", "kind": "restart_source", "source": "s"})
    own = {"agent": a["agent_id"], "seq": 1, "sent_at": "2026-01-01T00:00:00Z",
           "points": [{"tag": "line1.speed", "ts": "2026-01-01T00:00:00Z", "v": 1.5, "q": "good"}]}
    agent_a.publish(f"ah/v1/{a['agent_id']}/telemetry", own)
    topic, payload, _retain = ingest.next_message()
    assert topic == f"ah/v1/{a['agent_id']}/telemetry" and json.loads(payload) == own
    assert ingest.messages.empty()
    # B publishes on its own cmd/ack after A's forged cmd: B sees only nothing of A's.
    agent_b.publish(f"ah/v1/{b['agent_id']}/cmd/ack", {"id": "marker", "ok": True})
    assert json.loads(ingest.next_message()[1]) == {"id": "marker", "ok": True}
    assert agent_b.messages.empty()


def test_config_push_arrives_retained(setup, dynsec_broker, peers):
    app, _made, owner = setup
    answer = _enroll(app, owner)
    url = f"/api/v1/agents/{answer['agent_id']}/config"
    etag = owner.get(url).headers["ETag"]
    assert owner.client.put(url, json=SIM_CONFIG, headers=owner._headers({"If-Match": etag})).status_code == 200
    _relay(app)
    agent = _agent(peers, dynsec_broker.port, answer)  # connects after the push: retained
    assert agent.subscribe(f"{answer['topic_prefix']}/config") == [1]
    topic, payload, retain = agent.next_message()
    message = json.loads(payload)
    assert retain and topic.endswith("/config")
    assert message["version"] == 1 and message["sources"][0]["name"] == "line1"
    assert message["allow_write"] == sorted(SIM_CONFIG["allow_write"])


def test_approved_command_goes_down_and_its_ack_comes_back(setup, dynsec_broker, peers, tenant_factory):
    app, made, owner = setup
    answer = _enroll(app, owner)
    agent_id = answer["agent_id"]
    url = f"/api/v1/agents/{agent_id}/config"
    owner.client.put(url, json=SIM_CONFIG, headers=owner._headers({"If-Match": owner.get(url).headers["ETag"]}))
    agent = _agent(peers, dynsec_broker.port, answer)
    assert agent.subscribe(f"ah/v1/{agent_id}/cmd") == [1]
    ingest = _service(peers, app, dynsec_broker)
    assert ingest.subscribe("ah/v1/+/cmd/ack") == [1]

    refused = owner.post(f"/api/v1/agents/{agent_id}/commands",
                         json={"kind": "write", "tag": "line1.tension", "value": 1})
    assert refused.status_code == 422
    command_id = owner.post(f"/api/v1/agents/{agent_id}/commands",
                            json={"kind": "write", "tag": "sim.fault.stoppage", "value": True}).get_json()["id"]
    assert owner.post(f"/api/v1/agent-commands/{command_id}/approve").status_code == 403
    _relay(app)
    assert agent.messages.empty()  # nothing is sent before approval
    approver = ApiClient(app.test_client()).sign_in(tenant_factory.add_member(made, "admin"))
    assert approver.post(f"/api/v1/agent-commands/{command_id}/approve").status_code == 200
    _relay(app)
    topic, payload, _ = agent.next_message()
    assert topic == f"ah/v1/{agent_id}/cmd"
    assert json.loads(payload) == {"id": command_id, "kind": "write", "tag": "sim.fault.stoppage", "value": True}
    assert owner.get(f"/api/v1/agent-commands/{command_id}").get_json()["status"] == "sent"

    agent.publish(f"ah/v1/{agent_id}/cmd/ack", {"id": command_id, "ok": False, "error": "source offline"})
    topic, payload, _ = ingest.next_message()
    with app.app_context():
        assert services.handle_ack(topic.split("/")[2], json.loads(payload))
    done = owner.get(f"/api/v1/agent-commands/{command_id}").get_json()
    assert done["status"] == "failed" and done["result"]["error"] == "source offline"
    assert _audit_actions(app, made.tenant_id, "agent.command") == [
        "agent.command_requested", "agent.command_approved", "agent.command_sent", "agent.command_failed"]


def test_revoking_disconnects_and_locks_out(setup, dynsec_broker, peers):
    app, _made, owner = setup
    answer = _enroll(app, owner)
    agent = _agent(peers, dynsec_broker.port, answer)
    assert owner.post(f"/api/v1/agents/{answer['agent_id']}/revoke").status_code == 200
    assert agent.disconnected.wait(WAIT), "the revoked agent is still connected"
    agent.client.loop_stop()
    again = Peer(dynsec_broker.port, answer["mqtt"]["username"], answer["mqtt"]["password"], "agent-retry")
    peers.append(again)
    assert again.wait_connected() is False
    assert again.connect_result is not None and again.connect_result.is_failure


def test_enrolment_changes_nothing_when_the_broker_refuses(app, tenant_factory, dynsec_broker):
    """Wrong admin credentials: 503, and the token is still usable."""
    from alloyhub import create_app

    config = {k: app.config[k] for k in ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "SECRET_KEY")}
    bad = create_app(dict(config, TESTING=True, MQTT_URL=dynsec_broker.url, MQTT_ADMIN_USERNAME="admin",
                          MQTT_ADMIN_PASSWORD="wrong", RATELIMIT_KEY_PREFIX="test-bad-broker"))
    made = tenant_factory()
    owner = ApiClient(bad.test_client()).sign_in(made.owner_email)
    created = owner.post("/api/v1/agents", json={"name": "A"}).get_json()
    refused = bad.test_client().post("/api/v1/agents/enroll", json={"token": created["enrollment_token"]})
    assert refused.status_code == 503 and refused.content_type == "application/problem+json"
    assert owner.get(f"/api/v1/agents/{created['agent']['id']}").get_json()["status"] == "pending"
    good = app.test_client().post("/api/v1/agents/enroll", json={"token": created["enrollment_token"]})
    assert good.status_code == 200
