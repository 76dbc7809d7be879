"""Plugs the telemetry room into the app: its API."""
from __future__ import annotations

import os

from alloyhub.platform.api import api
from alloyhub.platform.billing import entitlements

from . import api as telemetry_api
from . import permissions  # noqa: F401 - registers telemetry.read


def init_app(app) -> None:
    app.config.setdefault("TELEMETRY_RETENTION_DAYS", int(os.environ.get("TELEMETRY_RETENTION_DAYS") or 90))
    api.register_blueprint(telemetry_api.blp)
    entitlements.require_module(telemetry_api.blp, "telemetry")  # the plan decides (billing/plans.py)
