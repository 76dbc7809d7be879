"""What the live and trend pages show: the agent's tags with their units
(the agents room's catalogue) and their latest values (the telemetry room's
Redis hash `ah:latest:{tenant}:{agent}`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from alloyhub.platform.db import db, get_or_404
from alloyhub.tenants.agents.models import Agent, AgentTag
from alloyhub.tenants.telemetry import services as telemetry

# A trend range -> (seconds, bucket seconds): at most a few thousand points per
# series, so the telemetry room answers from raw points (1 h at 1 s), minute
# rollups (1 d, 7 d) or hour rollups (30 d, 1 y). Zooming in fetches again
# with a finer step (see trend.html).
RANGES = {
    "1h": (3600, 1),
    "1d": (86400, 60),
    "7d": (7 * 86400, 600),
    "30d": (30 * 86400, 3600),
    "1y": (365 * 86400, 6 * 3600),
}


def agents() -> list[Agent]:
    return list(db.session.scalars(select(Agent).where(Agent.status != "revoked").order_by(Agent.name)))


def get_agent(agent_id) -> Agent:
    return get_or_404(Agent, agent_id, "No such agent")


def catalogue(agent: Agent) -> dict[str, AgentTag]:
    return {t.tag: t for t in db.session.scalars(
        select(AgentTag).where(AgentTag.agent_id == agent.id, AgentTag.status != "ignored"))}


def live_values(agent: Agent) -> list[dict]:
    """One row per tag, catalogued or seen: tag, unit, description, value, time, quality."""
    tags = catalogue(agent)
    latest = telemetry.latest(agent.id)["values"]
    rows = []
    for name in sorted(set(tags) | set(latest)):
        tag, value = tags.get(name), latest.get(name) or {}
        ts = value.get("ts")
        try:
            ts = datetime.fromisoformat(ts) if isinstance(ts, str) else None
        except ValueError:
            ts = None
        rows.append({"tag": name, "unit": tag.unit if tag else None, "description": tag.description if tag else None,
                     "v": value.get("v"), "ts": ts, "q": value.get("q")})
    return rows
