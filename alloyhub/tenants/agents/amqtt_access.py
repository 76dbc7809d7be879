"""Broker access control for the in-process amqtt broker (`alloyhub up` on a
machine without Mosquitto), the same rule the dynamic-security plugin keeps
for Mosquitto (broker.py): an agent logs in as `agent-{id}` with the password
it got at enrolment, and may publish and subscribe only under `ah/v1/{id}/`.

Anonymous clients keep the open loopback demo broker's rights, as with the
embedded Mosquitto: the platform's own processes and test probes connect
without credentials there. A revoked agent is refused at its next CONNECT
and every publish or subscription it still attempts is dropped, because the
agent's status is read again at most `status_cache_s` after the last look.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

USERNAME_PREFIX = "agent-"


def _agent_id(username: str | None) -> uuid.UUID | None:
    if not username or not username.startswith(USERNAME_PREFIX):
        return None
    try:
        return uuid.UUID(username[len(USERNAME_PREFIX):])
    except ValueError:
        return None


def _libpq_url() -> str:
    from sqlalchemy.engine import make_url

    from alloyhub.platform import config

    return make_url(config.load()["DATABASE_URL"]).set(drivername="postgresql").render_as_string(
        hide_password=False)


def _lookup(agent_id: uuid.UUID) -> tuple[str, str | None] | None:
    """(status, password hash) of the agent, read across tenants (system scope)."""
    import psycopg

    with psycopg.connect(_libpq_url(), connect_timeout=5) as conn, conn.transaction():
        conn.execute("select set_config('app.system', 'on', true)")
        return conn.execute("select status, mqtt_password_hash from agents where id = %s", (agent_id,)).fetchone()


class _AgentDirectory:
    """Agent rows, cached briefly; the lookups run off the broker's event loop."""

    def __init__(self, cache_s: float):
        self.cache_s = cache_s
        self._rows: dict[uuid.UUID, tuple[float, tuple[str, str | None] | None]] = {}

    async def get(self, agent_id: uuid.UUID, *, fresh: bool = False):
        hit = self._rows.get(agent_id)
        if hit and not fresh and time.monotonic() - hit[0] < self.cache_s:
            return hit[1]
        row = await asyncio.to_thread(_lookup, agent_id)
        self._rows[agent_id] = (time.monotonic(), row)
        return row


_DIRECTORY = _AgentDirectory(cache_s=1.0)


class AgentAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        allow_anonymous: bool = True

    async def authenticate(self, *, session) -> bool | None:
        if session.username is None:
            return bool(self.context.config.allow_anonymous)
        agent_id = _agent_id(session.username)
        if agent_id is None:
            return False
        row = await _DIRECTORY.get(agent_id, fresh=True)
        if row is None or row[0] != "active" or not row[1]:
            return False
        given = hashlib.sha256((session.password or "").encode()).hexdigest()
        return hmac.compare_digest(given, row[1])


def allowed(agent_id: uuid.UUID, topic: str) -> bool:
    """Publish, subscribe (wildcards included) and receive only inside
    ah/v1/{its id}/, like the role broker.py gives each agent in Mosquitto."""
    return topic.startswith(f"ah/v1/{agent_id}/")


class AgentTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        pass

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool | None:
        username = session.username if session else None
        if username is None:
            return True  # anonymous loopback clients: the open demo broker
        agent_id = _agent_id(username)
        if agent_id is None or not topic:
            return False
        row = await _DIRECTORY.get(agent_id)
        if row is None or row[0] != "active":
            return False  # revoked since it connected: cut off
        return allowed(agent_id, topic)
