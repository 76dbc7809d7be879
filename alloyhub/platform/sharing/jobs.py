"""The ledger's periodic work (thin: the rules are in services)."""
from __future__ import annotations

from ..jobs import every
from . import services

SWEEP_INTERVAL_S = 30


@every(SWEEP_INTERVAL_S)
def sweep_shares() -> int:
    """Record expired shares and announce windows that opened."""
    return services.sweep()
