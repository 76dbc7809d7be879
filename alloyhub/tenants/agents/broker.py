"""Broker access control: who may connect to the MQTT broker and which topics
each client may touch.

With Mosquitto, clients and roles live in its dynamic-security plugin and are
managed by publishing JSON commands to `$CONTROL/dynamic-security/v1` as the
dynsec admin (answers on `.../response`). Each agent gets a client
`agent-{id}` with a role of the same name that allows publish and subscribe
under `ah/v1/{id}/#` only; the platform's service client (ingest, down-link)
gets a role to read every agent's up-link and write every agent's down-link.

Without admin credentials (the anonymous broker of a laptop or of CI) access
control is off: the layer says so (`status()`, logged once) and every call is
a no-op, so the rest of the room works the same.
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
SERVICE_ROLE = "alloyhub-service"
UPLINK = ("telemetry", "state", "events", "cmd/ack")
DOWNLINK = ("cmd", "config")


class BrokerError(RuntimeError):
    """The broker could not be reached or refused a command."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_url(url: str, username: str | None = None, password: str | None = None) -> Endpoint:
    """mqtt://user:pass@host:port or mqtts://...; explicit credentials win."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"not an MQTT URL: {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return Endpoint(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=username or (unquote(parts.username) if parts.username else None),
        password=password or (unquote(parts.password) if parts.password else None),
    )


def connect(endpoint: Endpoint, client_id: str | None = None, timeout: float = 10.0) -> mqtt.Client:
    """A connected MQTT 5 client with its network loop running; raises BrokerError."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"alloyhub-{secrets.token_hex(6)}",
                         protocol=mqtt.MQTTv5)
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set()
    connected = threading.Event()
    outcome: list = []

    def on_connect(_client, _userdata, _flags, reason_code, _properties):
        outcome.append(reason_code)
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=30)
    except OSError as exc:
        raise BrokerError(f"cannot reach the MQTT broker at {endpoint.host}:{endpoint.port}: {exc}") from exc
    client.loop_start()
    if not connected.wait(timeout) or outcome[0].is_failure:
        client.loop_stop()
        client.disconnect()
        reason = outcome[0] if outcome else "timeout"
        raise BrokerError(f"the MQTT broker refused the connection: {reason}")
    return client


def agent_role_acls(agent_id) -> list[dict]:
    """Everything under the agent's own prefix, nothing else (the defaults
    deny publishing and subscribing; receiving is denied explicitly too)."""
    prefix = f"ah/v1/{agent_id}/#"
    return [
        {"acltype": "publishClientSend", "topic": prefix, "priority": 10, "allow": True},
        {"acltype": "subscribePattern", "topic": prefix, "priority": 10, "allow": True},
        {"acltype": "unsubscribePattern", "topic": prefix, "priority": 10, "allow": True},
        {"acltype": "publishClientReceive", "topic": prefix, "priority": 10, "allow": True},
        {"acltype": "publishClientSend", "topic": "#", "priority": 0, "allow": False},
        {"acltype": "subscribePattern", "topic": "#", "priority": 0, "allow": False},
        {"acltype": "publishClientReceive", "topic": "#", "priority": 0, "allow": False},
    ]


def service_role_acls() -> list[dict]:
    acls = []
    for kind in UPLINK:
        for topic in (f"ah/v1/+/{kind}", f"$share/+/ah/v1/+/{kind}"):
            acls.append({"acltype": "subscribePattern", "topic": topic, "priority": 10, "allow": True})
        acls.append({"acltype": "publishClientReceive", "topic": f"ah/v1/+/{kind}", "priority": 10, "allow": True})
    for kind in DOWNLINK:
        acls.append({"acltype": "publishClientSend", "topic": f"ah/v1/+/{kind}", "priority": 10, "allow": True})
    return acls


class DisabledAccess:
    """No admin credentials: an anonymous broker, no access control."""

    enabled = False

    def __init__(self, reason: str):
        self.reason = reason

    def status(self) -> dict:
        return {"enabled": False, "reason": self.reason}

    def ensure_service_client(self) -> None:
        return None

    def ensure_agent(self, agent_id, password: str) -> None:
        log.warning("broker access control is off (%s): agent %s is not restricted", self.reason, agent_id)

    def remove_agent(self, agent_id) -> None:
        return None


class DynsecAccess:
    """Mosquitto's dynamic-security plugin, driven as its admin."""

    enabled = True

    def __init__(self, endpoint: Endpoint, service_username: str, service_password: str | None,
                 timeout: float = 10.0):
        self.endpoint = endpoint
        self.service_username = service_username
        self.service_password = service_password
        self.timeout = timeout

    def status(self) -> dict:
        return {"enabled": True, "reason": None}

    # ------------------------------------------------------------ the protocol
    def run(self, *batches: list[dict], ignore: tuple[str, ...] = ()) -> list[dict]:
        """Send each batch of commands in one message, in order, over one
        connection, waiting for a batch's answers before the next. An answer
        with an error raises BrokerError unless its text contains one of
        `ignore` (e.g. "not found" when deleting something already gone)."""
        answers: dict[str, dict] = {}
        arrived = threading.Condition()
        subscribed = threading.Event()

        def on_message(_client, _userdata, msg):
            try:
                body = json.loads(msg.payload)
            except ValueError:
                return
            with arrived:
                for response in body.get("responses", []):
                    answers[str(response.get("correlationData", ""))] = response
                arrived.notify_all()

        client = connect(self.endpoint, timeout=self.timeout)
        results = []
        try:
            client.on_message = on_message
            client.on_subscribe = lambda *_args: subscribed.set()
            client.subscribe(RESPONSE_TOPIC, qos=1)
            if not subscribed.wait(self.timeout):
                raise BrokerError("the broker did not confirm the dynamic-security subscription")
            for commands in batches:
                ids = [uuid.uuid4().hex for _ in commands]
                for cid, command in zip(ids, commands):
                    command["correlationData"] = cid
                client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
                with arrived:
                    if not arrived.wait_for(lambda: all(i in answers for i in ids), self.timeout):
                        raise BrokerError("the broker did not answer the dynamic-security commands "
                                          "(is the plugin loaded and are these admin credentials?)")
                for cid, command in zip(ids, commands):
                    error = answers[cid].get("error")
                    if error and not any(word in error for word in ignore):
                        raise BrokerError(f"{command['command']}: {error}")
                    results.append(answers[cid])
        finally:
            client.disconnect()
            client.loop_stop()
        return results

    # ------------------------------------------------------------ clients and roles
    def ensure_service_client(self) -> None:
        """The platform's own client: reads all up-links, writes all down-links."""
        if not self.service_password:
            raise BrokerError("MQTT_SERVICE_PASSWORD is not set")
        self.run([{"command": "deleteRole", "rolename": SERVICE_ROLE}],
                 [{"command": "createRole", "rolename": SERVICE_ROLE, "acls": service_role_acls()},
                  {"command": "createClient", "username": self.service_username,
                   "password": self.service_password, "roles": [{"rolename": SERVICE_ROLE}]}],
                 # It may exist from an earlier start, with another password.
                 [{"command": "modifyClient", "username": self.service_username,
                   "password": self.service_password, "roles": [{"rolename": SERVICE_ROLE}]}],
                 ignore=("not found", "already exists"))

    def ensure_agent(self, agent_id, password: str) -> None:
        """(Re)create the agent's client with this password and its own role;
        an existing connection with the old password is kicked."""
        name = f"agent-{agent_id}"
        self.run([{"command": "deleteClient", "username": name},
                  {"command": "deleteRole", "rolename": name}],
                 [{"command": "createRole", "rolename": name, "acls": agent_role_acls(agent_id)},
                  {"command": "createClient", "username": name, "password": password, "clientid": name,
                   "roles": [{"rolename": name}]}],
                 ignore=("not found",))

    def remove_agent(self, agent_id) -> None:
        """Delete the client (Mosquitto disconnects its session at once) and its role."""
        name = f"agent-{agent_id}"
        self.run([{"command": "disableClient", "username": name},
                  {"command": "deleteClient", "username": name},
                  {"command": "deleteRole", "rolename": name}], ignore=("not found",))


def access_for(config) -> DisabledAccess | DynsecAccess:
    """The access layer for an app's configuration."""
    admin_url = config.get("MQTT_ADMIN_URL")
    username = config.get("MQTT_ADMIN_USERNAME")
    password = config.get("MQTT_ADMIN_PASSWORD")
    endpoint = parse_url(admin_url or config["MQTT_URL"], username, password)
    if not endpoint.username or not endpoint.password:
        return DisabledAccess("no MQTT admin credentials are configured (MQTT_ADMIN_URL or "
                              "MQTT_ADMIN_USERNAME/MQTT_ADMIN_PASSWORD)")
    return DynsecAccess(endpoint, config.get("MQTT_SERVICE_USERNAME") or "alloyhub-ingest",
                        config.get("MQTT_SERVICE_PASSWORD"))


def service_endpoint(config) -> Endpoint:
    """How the platform's own processes (ingest, down-link) connect: as the
    service client when it has a password (production), else as MQTT_URL
    says (the embedded demo broker lets loopback clients in anonymously)."""
    username = password = None
    if config.get("MQTT_SERVICE_PASSWORD"):
        username = config.get("MQTT_SERVICE_USERNAME") or "alloyhub-ingest"
        password = config["MQTT_SERVICE_PASSWORD"]
    return parse_url(config["MQTT_URL"], username, password)


def publish(config, topic: str, payload: dict, *, retain: bool = False, timeout: float = 10.0) -> None:
    """Publish one JSON message with QoS 1 and wait for the PUBACK; raises
    BrokerError, so an outbox handler leaves its event for a retry."""
    client = connect(service_endpoint(config), timeout=timeout)
    try:
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        info = client.publish(topic, json.dumps(payload), qos=1, retain=retain, properties=props)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise BrokerError(f"no PUBACK for {topic}")
    finally:
        client.disconnect()
        client.loop_stop()
