"""The alarms room's periodic work (thin: the rules are in services)."""
from __future__ import annotations

from alloyhub.platform.jobs import every

from . import services

CHECK_INTERVAL_S = 5


@every(CHECK_INTERVAL_S)
def check_alarms() -> int:
    """Stale-data and agent-offline rules, shelve expiry and maintenance
    suppression, for every tenant with alarm rules."""
    return services.check_all()
