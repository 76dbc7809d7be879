"""The agent's own settings file (JSON, mode 0600), written by ``enroll``.

Keys: agent_id, tenant_id, mqtt {url, username, password, client_id}, topic_prefix,
ca_file, buffer_path, max_buffer_points, heartbeat_s, batch_max_points,
flush_interval_s, compress, config (the last config received from the cloud).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

DEFAULT_PATH = os.path.join(os.path.expanduser("~"), ".config", "alloyhub-agent", "agent.json")


@dataclass
class Settings:
    agent_id: str
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    topic_prefix: str = ""
    ca_file: str | None = None
    buffer_path: str = "buffer.db"
    max_buffer_points: int = 2_000_000
    heartbeat_s: float = 10.0
    batch_max_points: int = 500
    flush_interval_s: float = 1.0
    compress: bool = True
    config: dict | None = None  # sources, allow_write, version
    path: str | None = field(default=None, repr=False)  # where it was loaded from

    def __post_init__(self):
        if not self.topic_prefix:
            self.topic_prefix = f"ah/v1/{self.agent_id}"
        if not self.client_id:
            self.client_id = f"agent-{self.agent_id}"

    def topic(self, leaf: str) -> str:
        return f"{self.topic_prefix}/{leaf}"

    @property
    def broker(self) -> tuple[str, int, bool]:
        u = urlparse(self.mqtt_url)
        if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"unsupported MQTT URL {self.mqtt_url!r} (mqtt:// or mqtts://)")
        tls = u.scheme in ("mqtts", "ssl")
        return u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), tls

    @classmethod
    def from_file(cls, path: str) -> "Settings":
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        mqtt = d.get("mqtt") or {}
        base = os.path.dirname(os.path.abspath(path))

        def rel(p):
            return None if p is None else (p if os.path.isabs(p) else os.path.join(base, p))

        return cls(
            agent_id=d["agent_id"],
            tenant_id=d.get("tenant_id"),
            mqtt_url=mqtt.get("url", "mqtt://127.0.0.1:1883"),
            username=mqtt.get("username"),
            password=mqtt.get("password"),
            client_id=mqtt.get("client_id"),
            topic_prefix=d.get("topic_prefix") or "",
            ca_file=rel(d.get("ca_file")),
            buffer_path=rel(d.get("buffer_path") or "buffer.db"),
            max_buffer_points=int(d.get("max_buffer_points", 2_000_000)),
            heartbeat_s=float(d.get("heartbeat_s", 10.0)),
            batch_max_points=int(d.get("batch_max_points", 500)),
            flush_interval_s=float(d.get("flush_interval_s", 1.0)),
            compress=bool(d.get("compress", True)),
            config=d.get("config"),
            path=path,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d["mqtt"] = {k: d.pop(k2) for k, k2 in (("url", "mqtt_url"), ("username", "username"),
                                                  ("password", "password"), ("client_id", "client_id"))}
        return d

    def save(self, path: str | None = None) -> str:
        path = path or self.path
        if not path:
            raise ValueError("no settings path")
        write_private_json(path, self.to_dict())
        self.path = path
        return path


def write_private_json(path: str, data: dict) -> None:
    """Write atomically, readable by the owner only (it holds the MQTT password)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
