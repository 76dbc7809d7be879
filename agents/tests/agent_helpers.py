"""Helpers for the agent tests: real Mosquitto brokers on free ports with their own config,
a subscriber that collects what an agent publishes, the agent command."""
from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

import paho.mqtt.client as mqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
AGENT_CMD = [sys.executable, "-m", "alloyhub_agent"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


class Broker:
    """A Mosquitto process of the test's own: anonymous, persistence saved every second,
    no queue limits, so a SIGKILL loses at most the last second of broker state (the
    collector's persistent session survives the kills)."""

    def __init__(self, tmp_path, extra: str = ""):
        self.dir = tmp_path / f"mosquitto-{free_port()}"
        self.dir.mkdir()
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"  # run as root, mosquitto would switch to its own user
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "log_dest none\n" + extra
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


def decode_batch(msg) -> dict:
    payload = msg.payload
    ct = getattr(msg.properties, "ContentType", None) if msg.properties else None
    if ct == "application/json+zlib":
        payload = zlib.decompress(payload)
    return json.loads(payload)


class Collector:
    """A subscriber on every topic of one agent; a persistent session (clean_start off,
    long expiry) so that messages published while it reconnects are kept by the broker."""

    def __init__(self, port: int, agent_id: str, client_id: str = "test-collector"):
        self.agent_id = agent_id
        self.batches: list[dict] = []
        self.states: list[dict] = []
        self.acks: list[dict] = []
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._props = props
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10), "collector could not subscribe"

    def _on_connect(self, client, userdata, flags, rc, props):
        client.subscribe(f"ah/v1/{self.agent_id}/#", qos=1)

    def _on_message(self, client, userdata, msg):
        leaf = msg.topic.split("/", 3)[3]
        with self.lock:
            if leaf == "telemetry":
                self.batches.append(decode_batch(msg))
            elif leaf == "state":
                self.states.append(json.loads(msg.payload))
            elif leaf == "cmd/ack":
                self.acks.append(json.loads(msg.payload))
            elif leaf == "events":
                self.events.append(json.loads(msg.payload))

    def publish(self, leaf: str, obj, retain: bool = False) -> None:
        self.client.publish(f"ah/v1/{self.agent_id}/{leaf}", json.dumps(obj), qos=1,
                            retain=retain).wait_for_publish(5)

    def wait_for(self, predicate, timeout: float = 15.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = predicate(self)
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def agent_env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
