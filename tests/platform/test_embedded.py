"""The embedded services of `alloyhub up`: each one works, keeps its data
across a restart, and a crashed run does not block the next one.

These start their own services in a temporary directory with an empty
environment, whatever DATABASE_URL / REDIS_URL / MQTT_URL the suite runs with.
"""
from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psutil
import psycopg
import pytest
import redis

from alloyhub.platform.embedded import AlreadyRunning, EmbeddedServices, mqtt as embedded_mqtt

TIMEOUT = 15


@pytest.fixture
def scratch():
    """A directory straight under /tmp rather than pytest's own: when the
    tests run as root the servers run as other users, and every new pytest
    session on the machine takes the other users' access to
    /tmp/pytest-of-root away again."""
    path = Path(tempfile.mkdtemp(prefix="alloyhub-embedded-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _pg(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


class MqttProbe:
    """A paho client that waits, with a timeout, for what it subscribed to."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.messages: queue.Queue = queue.Queue()
        self.acks: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, u, flags, rc, props: self.acks.put(("connect", rc))
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.acks.put(("subscribe", rcs))
        self.client.on_message = lambda c, u, msg: self.messages.put((msg.topic, msg.payload, msg.retain))
        self.client.connect(parts.hostname, parts.port, keepalive=10)
        self.client.loop_start()
        assert self.acks.get(timeout=TIMEOUT)[0] == "connect"

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.acks.get(timeout=TIMEOUT)[0] == "subscribe"

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(TIMEOUT)

    def next_message(self):
        return self.messages.get(timeout=TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _pids(services: EmbeddedServices) -> list[int]:
    return [s.proc.pid for s in services.started.values() if getattr(s, "proc", None) is not None]


def test_services_work_stop_cleanly_and_keep_their_data(scratch):
    var = scratch / "var"
    services = EmbeddedServices(var, env={})
    first = services.start()
    try:
        assert set(first) == {"DATABASE_URL", "REDIS_URL", "MQTT_URL"}
        assert all("127.0.0.1" in url for url in first.values())
        assert (var / "pg" / "PG_VERSION").exists()
        with _pg(first["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres") as conn:
            conn.execute("create table kept (v text)")
            conn.execute("insert into kept values ('coil 6061-T6')")
            assert conn.execute("select v from kept").fetchone() == ("coil 6061-T6",)
        r = redis.Redis.from_url(first["REDIS_URL"])
        r.set("heat", "H-2026-0417")
        assert r.get("heat") == b"H-2026-0417"
        r.close()
        probe = MqttProbe(first["MQTT_URL"])
        probe.subscribe("ah/v1/test-agent/#")
        probe.publish("ah/v1/test-agent/telemetry", b'{"seq": 1}')
        assert probe.next_message()[:2] == ("ah/v1/test-agent/telemetry", b'{"seq": 1}')
        probe.publish("ah/v1/test-agent/state", b"online", retain=True)
        probe.close()
        pids = _pids(services)
        assert len(pids) == 3  # postgres, redis and mosquitto are our children
    finally:
        services.stop()
    assert not any(_alive(pid) for pid in pids)

    again = EmbeddedServices(var, env={})
    second = again.start()
    try:
        assert second == first, "the remembered ports are reused, so the URLs stay the same"
        with _pg(second["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres") as conn:
            assert conn.execute("select v from kept").fetchone() == ("coil 6061-T6",)
        r = redis.Redis.from_url(second["REDIS_URL"])
        assert r.get("heat") == b"H-2026-0417"
        r.close()
        if again.started["mqtt"].kind == "mosquitto":  # amqtt keeps nothing across restarts
            probe = MqttProbe(second["MQTT_URL"])
            probe.subscribe("ah/v1/test-agent/state")
            assert probe.next_message() == ("ah/v1/test-agent/state", b"online", True)
            probe.close()
    finally:
        again.stop()


def test_urls_from_the_environment_replace_the_embedded_services(scratch):
    env = {"DATABASE_URL": "postgresql+psycopg://db.example.com/x", "REDIS_URL": "redis://cache.example.com/0",
           "MQTT_URL": "mqtt://broker.example.com:1883"}
    services = EmbeddedServices(scratch / "var", env=env)
    assert services.start() == env
    assert services.started == {}
    services.stop()


def test_a_second_owner_of_the_same_data_is_refused(scratch):
    env = {"DATABASE_URL": "given", "REDIS_URL": "given", "MQTT_URL": "given"}
    first = EmbeddedServices(scratch / "var", env=env)
    first.start()
    try:
        with pytest.raises(AlreadyRunning):
            EmbeddedServices(scratch / "var", env=env).start()
    finally:
        first.stop()
    third = EmbeddedServices(scratch / "var", env=env)
    third.start()  # free again once stopped
    third.stop()


CRASH = textwrap.dedent("""
    import json, os, sys
    from alloyhub.platform.embedded import EmbeddedServices, _process
    # As on a system without PR_SET_PDEATHSIG: the servers outlive us.
    _process._die_with_parent = lambda sig: (lambda: None)
    services = EmbeddedServices(sys.argv[1], env={})
    urls = services.start()
    print(json.dumps({"urls": urls, "pids": [s.proc.pid for s in services.started.values()]}), flush=True)
    os.kill(os.getpid(), 9)  # no cleanup at all, as after kill -9 or a power cut
""")


def _alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_a_crashed_run_and_a_taken_port_do_not_block_a_restart(scratch):
    var = scratch / "var"
    out = scratch / "crash.out"
    with open(out, "w") as stdout:  # a file, not a pipe: the leftovers would hold a pipe open
        crashed = subprocess.run([sys.executable, "-c", CRASH, str(var)], stdout=stdout, stderr=subprocess.STDOUT,
                                 timeout=120)
    assert crashed.returncode == -9, out.read_text()
    left = json.loads(out.read_text().strip().splitlines()[-1])
    try:
        assert all(_alive(pid) for pid in left["pids"]), "the servers of the crashed run are still running"
        services = EmbeddedServices(var, env={})
        urls = services.start()
        try:
            assert not any(_alive(pid) for pid in left["pids"]), "the leftovers were stopped"
            assert urls == left["urls"], "and their ports reused"
            with _pg(urls["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres") as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        finally:
            services.stop()
    finally:
        for pid in left["pids"]:  # if the test failed, leave nothing running
            if _alive(pid):
                psutil.Process(pid).kill()

    # Something else now holds the remembered PostgreSQL port: take another.
    old_port = urlsplit(urls["DATABASE_URL"]).port
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", old_port))
    squatter.listen()
    try:
        services = EmbeddedServices(var, env={})
        moved = services.start()
        try:
            assert urlsplit(moved["DATABASE_URL"]).port != old_port
            with _pg(moved["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres") as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        finally:
            services.stop()
    finally:
        squatter.close()


def test_a_stale_postmaster_pid_is_ignored(scratch):
    var = scratch / "var"
    services = EmbeddedServices(var, env={"REDIS_URL": "given", "MQTT_URL": "given"})
    services.start()
    services.stop()
    # A pid file naming a live process that is not our server (this test).
    (var / "pg" / "postmaster.pid").write_text(f"{psutil.Process().pid}\n{var / 'pg'}\n")
    services = EmbeddedServices(var, env={"REDIS_URL": "given", "MQTT_URL": "given"})
    urls = services.start()
    try:
        with _pg(urls["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres") as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        services.stop()


def test_the_in_process_amqtt_broker_when_mosquitto_is_missing(scratch):
    broker = embedded_mqtt.broker_for(scratch / "mqtt", lambda: _free_port(), prefer_mosquitto=False)
    assert broker.kind == "amqtt"
    url = broker.start()
    try:
        probe = MqttProbe(url)
        probe.subscribe("ah/v1/a1/cmd")
        probe.publish("ah/v1/a1/cmd", b"start")
        assert probe.next_message()[:2] == ("ah/v1/a1/cmd", b"start")
        probe.close()
    finally:
        broker.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", urlsplit(url).port), 1)  # the port is closed again


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(embedded_mqtt.mosquitto_binary() is None, reason="mosquitto is not installed")
def test_a_persistent_session_keeps_more_than_mosquittos_default_queue_while_away(scratch):
    """The ingest may be away (restarting) while agents keep publishing: its
    session must queue beyond Mosquitto's default cap of 1000 messages,
    which drops the rest silently although the agents were acknowledged."""
    broker = embedded_mqtt.broker_for(scratch / "mqtt", lambda: _free_port())
    url = broker.start()
    parts = urlsplit(url)
    try:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        received: queue.Queue = queue.Queue()
        subscribed = threading.Event()

        def session():
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ingest-away", protocol=mqtt.MQTTv5)
            c.on_message = lambda c_, u, msg: received.put(msg.payload)
            c.on_subscribe = lambda *a: subscribed.set()
            c.connect(parts.hostname, parts.port, clean_start=False, properties=props)
            c.loop_start()
            return c

        away = session()
        away.subscribe("$share/ingest/ah/v1/+/telemetry", qos=1)
        assert subscribed.wait(TIMEOUT)
        away.disconnect()
        away.loop_stop()
        sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agent", protocol=mqtt.MQTTv5)
        sender.connect(parts.hostname, parts.port)
        sender.loop_start()
        infos = [sender.publish("ah/v1/a1/telemetry", str(i).encode(), qos=1) for i in range(1500)]
        for info in infos:
            info.wait_for_publish(TIMEOUT)
        sender.disconnect()
        sender.loop_stop()
        back = session()  # the session resumes and the queue drains
        try:
            got = set()
            while len(got) < 1500:
                got.add(int(received.get(timeout=TIMEOUT)))
            assert got == set(range(1500))
        finally:
            back.disconnect()
            back.loop_stop()
    finally:
        broker.stop()
