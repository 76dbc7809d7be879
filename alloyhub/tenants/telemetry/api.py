"""/api/v1/telemetry: history (raw or rollup) and latest values."""
from __future__ import annotations

from flask.views import MethodView

from alloyhub.platform.api import Blueprint
from alloyhub.platform.auth import requires

from . import schemas as s
from . import services
from .permissions import TELEMETRY_READ

blp = Blueprint("telemetry_api", __name__, url_prefix="/api/v1/telemetry", description="Telemetry history and live values")


@blp.route("/history")
class History(MethodView):
    @requires(TELEMETRY_READ)
    @blp.arguments(s.HistoryArgs, location="query")
    @blp.response(200, s.HistorySchema)
    def get(self, args):
        """Values of some tags of an agent over a range, bucketed by step;
        from raw points or a minute/hour rollup, whichever fits the step"""
        return services.history(services.HistoryQuery(
            agent_id=args["agent_id"], tags=args["tags"], start=args["from_"], end=args["to"],
            step=args["step"], agg=args["agg"]))


@blp.route("/latest")
class Latest(MethodView):
    @requires(TELEMETRY_READ)
    @blp.arguments(s.LatestArgs, location="query")
    @blp.response(200, s.LatestSchema)
    def get(self, args):
        """The latest value of every tag of an agent (the live view)"""
        return services.latest(args["agent_id"])
