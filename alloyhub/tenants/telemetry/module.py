"""Plugs the telemetry room into the app: its API, and its figures in the
usage meter (points stored per day, bytes stored). Retention comes from each
company's plan (billing/plans.py `telemetry_retention_days`)."""
from __future__ import annotations

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements, usage

from . import api as telemetry_api
from . import permissions, services  # noqa: F401 - permissions registers telemetry.read


def init_app(app) -> None:  # noqa: ARG001 - the room's hook, like every room's
    api.register_blueprint(telemetry_api.blp)
    entitlements.require_module(telemetry_api.blp, "telemetry")  # the plan decides (billing/plans.py)
    usage.register_counter("telemetry_points", services.points_stored_on)
    usage.register_storage("telemetry", services.stored_bytes)
