"""Broker access control with the in-process amqtt broker (`alloyhub up`
without Mosquitto): the same rule as Mosquitto's dynamic security. An agent
logs in with its enrolment credentials and reaches only ah/v1/{its id}/;
wrong passwords are refused; revoking cuts it off.

amqtt 0.12 speaks MQTT 3.1.1 only, so these clients do too (the plugin does
not depend on the protocol version)."""
from __future__ import annotations

import json
import socket

import paho.mqtt.client as mqtt
import pytest

from alloyhub.platform.embedded import mqtt as embedded_mqtt
from alloyhub.tenants.agents import amqtt_access
from tests.factories import ApiClient
from tests.tenants.test_agents_broker import Peer, _enroll

WAIT = 15
SUBACK_FAILURE = 128  # MQTT 3.1.1



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def amqtt_broker(app, tmp_path, monkeypatch):
    # The plugin reads the agents of the database the platform runs on.
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    broker = embedded_mqtt.broker_for(tmp_path, _free_port, prefer_mosquitto=False)
    assert broker.kind == "amqtt"
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def peers():
    made = []
    yield made
    for peer in made:
        peer.close()


def _peer(peers, port, username, password, client_id) -> Peer:
    peer = Peer(port, username, password, client_id, protocol=mqtt.MQTTv311)
    peers.append(peer)
    return peer


def test_the_rule_is_the_agents_own_subtree():
    import uuid

    me = uuid.uuid4()
    assert amqtt_access.allowed(me, f"ah/v1/{me}/telemetry")
    assert amqtt_access.allowed(me, f"ah/v1/{me}/#")
    assert not amqtt_access.allowed(me, f"ah/v1/{uuid.uuid4()}/telemetry")
    assert not amqtt_access.allowed(me, "ah/v1/+/telemetry")
    assert not amqtt_access.allowed(me, "#")
    assert not amqtt_access.allowed(me, f"ah/v1/{me}")  # the subtree, not a sibling named like it


def test_agents_log_in_with_their_credentials_and_reach_only_their_topics(app, tenant_factory, amqtt_broker, peers):
    made = tenant_factory()
    owner = ApiClient(app.test_client()).sign_in(made.owner_email)
    a, b = _enroll(app, owner), _enroll(app, owner)
    port = amqtt_broker.port

    wrong = _peer(peers, port, a["mqtt"]["username"], "not-the-password", "wrong-pw")
    assert not wrong.wait_connected()
    stranger = _peer(peers, port, "agent-not-a-uuid", "x", "stranger")
    assert not stranger.wait_connected()

    platform = _peer(peers, port, None, None, "platform-ingest")  # anonymous loopback: the platform's processes
    assert platform.wait_connected()
    assert platform.subscribe("ah/v1/+/telemetry") == [1]
    agent_a = _peer(peers, port, a["mqtt"]["username"], a["mqtt"]["password"], a["mqtt"]["client_id"])
    agent_b = _peer(peers, port, b["mqtt"]["username"], b["mqtt"]["password"], b["mqtt"]["client_id"])
    assert agent_a.wait_connected() and agent_b.wait_connected()

    assert agent_a.subscribe(f"ah/v1/{b['agent_id']}/#") == [SUBACK_FAILURE]
    assert agent_a.subscribe("#") == [SUBACK_FAILURE]
    assert agent_a.subscribe(f"ah/v1/{a['agent_id']}/cmd") == [1]

    forged = {"agent": b["agent_id"], "seq": 1, "points": []}
    agent_a.publish(f"ah/v1/{b['agent_id']}/telemetry", forged)
    own = {"agent": a["agent_id"], "seq": 1, "points": []}
    agent_a.publish(f"ah/v1/{a['agent_id']}/telemetry", own)
    topic, payload, _ = platform.next_message()
    assert topic == f"ah/v1/{a['agent_id']}/telemetry" and json.loads(payload) == own

    # Revoked: the next publish is dropped and a new connection is refused.
    assert owner.post(f"/api/v1/agents/{a['agent_id']}/revoke").status_code == 200
    amqtt_access._DIRECTORY._rows.clear()  # the broker's one-second cache, expired now rather than waited for
    agent_a.publish(f"ah/v1/{a['agent_id']}/telemetry", {"agent": a["agent_id"], "seq": 2, "points": []})
    agent_b.publish(f"ah/v1/{b['agent_id']}/telemetry", {"agent": b["agent_id"], "seq": 1, "points": []})
    topic, _payload, _ = platform.next_message()
    assert topic == f"ah/v1/{b['agent_id']}/telemetry"  # B's arrives; A's, sent before it, never did
    again = _peer(peers, port, a["mqtt"]["username"], a["mqtt"]["password"], "a-again")
    assert not again.wait_connected()
