"""Pages: an agent's live values (htmx polling every 2 s) and its trends
(uPlot, fed by the telemetry history API; live mode appends latest values)."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from alloyhub.platform.auth import requires
from alloyhub.tenants.telemetry.permissions import TELEMETRY_READ

from . import services

bp = Blueprint("live", __name__, template_folder="templates")


@bp.get("/live")
@requires(TELEMETRY_READ)
def index():
    return render_template("live/index.html", agents=services.agents())


@bp.get("/live/<uuid:agent_id>")
@requires(TELEMETRY_READ)
def agent(agent_id):
    agent = services.get_agent(agent_id)
    return render_template("live/agent.html", agent=agent, rows=services.live_values(agent))


@bp.get("/live/<uuid:agent_id>/values")
@requires(TELEMETRY_READ)
def values(agent_id):
    """The table alone, polled by the live page."""
    agent = services.get_agent(agent_id)
    return render_template("live/_values.html", agent=agent, rows=services.live_values(agent))


@bp.get("/live/<uuid:agent_id>/trend")
@requires(TELEMETRY_READ)
def trend(agent_id):
    agent = services.get_agent(agent_id)
    tags = services.catalogue(agent)
    names = sorted(tags) or sorted(row["tag"] for row in services.live_values(agent))
    chosen = [t for t in request.args.getlist("tag") if t in names][:8] or names[:3]
    window = request.args.get("range") if request.args.get("range") in services.RANGES else "1h"
    return render_template("live/trend.html", agent=agent, names=names, chosen=chosen, window=window,
                           ranges=services.RANGES, units={n: t.unit for n, t in tags.items()})
