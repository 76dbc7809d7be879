"""The solver as an RQ job (thin: the rules are in services)."""
from __future__ import annotations

import logging
import uuid

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.jobs import job

from . import services

log = logging.getLogger(__name__)


@job("default")
def solve_version(tenant_id: str, version_id: str, user_id: str | None = None) -> str:
    """Solve one schedule version as its company; returns the version's status."""
    with tenancy.scoped(tenant_id, user_id, session=db.session):
        try:
            return services.solve(uuid.UUID(version_id)).status
        except Exception as exc:  # the version must say it failed, not stay "solving"
            log.exception("solving schedule version %s failed", version_id)
            services.fail_after_crash(uuid.UUID(version_id), f"{type(exc).__name__}: {exc}")
            return "failed"
