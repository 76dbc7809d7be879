"""The plan catalogue, as data: which modules each plan includes, its limits
and its price. Everything else (entitlement checks, the pages, the Stripe
products and prices made by `alloyhub billing sync`) reads this one table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Module keys a room names in `entitlements.require_module(blueprint, key)`.
MODULES = (
    "agents", "telemetry", "alarms", "orders", "quality", "inventory", "scheduling", "production",
    "maintenance", "energy", "hse", "cockpit", "spares", "remote_service", "supply_chain", "marketplace",
)

# Limits every plan states; None means unlimited.
# - telemetry_retention_days: days of raw points and minute rollups kept (0: the
#   company stores no telemetry); the hourly trend is kept longer, see
#   alloyhub/tenants/telemetry/services.py `hour_retention_days`.
# - api_rate_per_minute: API calls per minute of the whole company (every
#   member and token together); None: the platform's RATE_LIMIT_PER_TENANT.
# - storage_gb: telemetry plus files, in GB of 10^9 bytes (usage.storage_bytes).
LIMITS = ("sites", "users", "agents", "tags", "telemetry_retention_days", "api_rate_per_minute", "storage_gb")

# Limits that count things a company adds (checked before adding one more).
COUNTED_LIMITS = ("sites", "users", "agents", "tags")

UNLIMITED = None


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    rank: int                      # order from cheapest to dearest: "cheapest plan that unlocks X"
    monthly_price: int | None      # minor units (fen) per month; None: not sold by self-service
    modules: frozenset[str]
    limits: dict[str, int | None]
    tenant_kinds: tuple[str, ...]  # who may hold the plan
    trial_days: int = 0
    self_service: bool = True      # may be bought through Stripe Checkout
    # Metered prices reported by the usage job: metric -> price per unit (minor units).
    # telemetry_points: per point stored; expert_minutes: per minute of expert service.
    metered: dict[str, int] = field(default_factory=dict)

    @property
    def lookup_key(self) -> str:
        """Stripe price lookup key; `billing sync` finds or makes the price by it."""
        return f"alloyhub_{self.key}_monthly"

    def limit(self, name: str) -> int | None:
        return self.limits.get(name)

    def includes(self, module: str) -> bool:
        return module in self.modules


PLANT_KINDS = ("plant",)
PARTNER_KINDS = ("supplier", "customer", "expert", "alliance")

_STARTER_MODULES = frozenset({"agents", "telemetry", "alarms", "orders", "quality", "inventory"})
_PROFESSIONAL_MODULES = _STARTER_MODULES | {
    "scheduling", "production", "maintenance", "energy", "hse", "cockpit", "spares", "remote_service",
}
_ENTERPRISE_MODULES = frozenset(MODULES)
# Suppliers, customers and experts work in the collaboration portals only.
_PARTNER_MODULES = frozenset({"spares", "remote_service", "supply_chain", "marketplace"})
# What paying plans are charged by use: a fen per telemetry point stored and
# 10 CNY per minute of expert service (600 CNY an hour), in whole minutes
# because Stripe meters sum whole numbers.
_METERED = {"telemetry_points": 1, "expert_minutes": 1_000}

PLANS: dict[str, Plan] = {p.key: p for p in (
    Plan("partner", "Partner", 0, 0, _PARTNER_MODULES,
         {"sites": UNLIMITED, "users": 25, "agents": 0, "tags": 0, "telemetry_retention_days": 0,
          "api_rate_per_minute": 120, "storage_gb": 5},
         PARTNER_KINDS, self_service=False),
    # A trial is limited in time and modules (Starter's), not in size: a plant
    # tries AlloyHub at its real scale, with all its sites and people.
    Plan("trial", "Trial", 1, None, _STARTER_MODULES,
         {"sites": UNLIMITED, "users": UNLIMITED, "agents": UNLIMITED, "tags": UNLIMITED,
          "telemetry_retention_days": 30, "api_rate_per_minute": 300, "storage_gb": 20},
         PLANT_KINDS, trial_days=30, self_service=False),
    Plan("starter", "Starter", 2, 199_900, _STARTER_MODULES,
         {"sites": 1, "users": 15, "agents": 2, "tags": 1_000, "telemetry_retention_days": 90,
          "api_rate_per_minute": 300, "storage_gb": 20},
         PLANT_KINDS, metered=_METERED),
    Plan("professional", "Professional", 3, 699_900, _PROFESSIONAL_MODULES,
         {"sites": 5, "users": 100, "agents": 5, "tags": 10_000, "telemetry_retention_days": 365,
          "api_rate_per_minute": 600, "storage_gb": 200},
         PLANT_KINDS, metered=_METERED),
    Plan("enterprise", "Enterprise", 4, 1_999_900, _ENTERPRISE_MODULES,
         {"sites": UNLIMITED, "users": UNLIMITED, "agents": 50, "tags": UNLIMITED,
          "telemetry_retention_days": 365 * 5, "api_rate_per_minute": 3_000, "storage_gb": 2_000},
         PLANT_KINDS, metered=_METERED),
)}

# Hourly telemetry averages outlive the raw points and minute rollups: they
# are small and make the year-long trend. A plan's telemetry_retention_days
# applies to points and minutes; hours are kept at least this long.
HOURLY_TREND_DAYS = 730


def hourly_trend_days(retention_days: int | None) -> int | None:
    """Days the hourly rollups are kept for a retention (None: for ever; 0: nothing)."""
    if retention_days is None or retention_days <= 0:
        return retention_days
    return max(retention_days, HOURLY_TREND_DAYS)


# Metered usage reported to Stripe, by Stripe meter event name.
METER_EVENTS = {"telemetry_points": "alloyhub_telemetry_points", "expert_minutes": "alloyhub_expert_minutes"}


def get(key: str) -> Plan | None:
    return PLANS.get(key)


def effective(key: str | None, kind: str) -> Plan:
    """The plan a company holds: its subscription's, or the one it would
    start on when that is missing or no longer in the catalogue."""
    return PLANS.get(key or "") or default_for(kind)


def default_for(kind: str) -> Plan:
    """The plan a new company starts on."""
    return PLANS["trial"] if kind in PLANT_KINDS else PLANS["partner"]


def available_to(kind: str) -> list[Plan]:
    return sorted((p for p in PLANS.values() if kind in p.tenant_kinds), key=lambda p: p.rank)


def cheapest_with_module(module: str, kind: str | None = None) -> Plan | None:
    """The cheapest paid or free plan (never the trial) that includes `module`."""
    candidates = [p for p in PLANS.values() if module in p.modules and p.key != "trial"
                  and (kind is None or kind in p.tenant_kinds)]
    return min(candidates, key=lambda p: p.rank, default=None)


def cheapest_with_room(limit: str, needed: float, kind: str | None = None) -> Plan | None:
    """The cheapest plan whose `limit` admits `needed`."""
    candidates = [p for p in PLANS.values() if p.key != "trial" and (kind is None or kind in p.tenant_kinds)
                  and (p.limit(limit) is None or p.limit(limit) >= needed)]
    return min(candidates, key=lambda p: p.rank, default=None)
