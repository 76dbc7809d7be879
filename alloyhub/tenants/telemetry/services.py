"""Telemetry rules: history queries (raw or rollup by range and step), latest
values, the maintenance of the store (partitions ahead, retention by plan,
the compaction of the stored-batch seqs) and what a tenant stores (the
usage meter's telemetry figures).

Retention by plan. Partitions are per day and shared by every tenant, so:
- a tenant's raw points and minute rollups older than its plan's
  `telemetry_retention_days` are deleted row by row, for that tenant only;
- its hour rollups are kept `plans.hourly_trend_days(retention)`: at least
  two years (the year-long trend the live page zooms out to), longer when
  the plan keeps raw data longer;
- whole daily partitions go once they are older than the longest retention
  of any plan in use (a drop, not a delete); rollups likewise;
- a plan with retention 0 keeps nothing (the ingest refuses its points).
The subscription's status plays no part: a company in its grace period or
read-only keeps exactly what its plan keeps (data is never deleted for
non-payment). The per-tenant work is found through the counters the ingest
keeps (telemetry_usage_stored: points and rollup rows per tenant and day),
so each run touches only days that still hold data to delete.
"""
from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select, text

from alloyhub.platform import tenancy
from alloyhub.platform.billing import entitlements, plans
from alloyhub.platform.billing.models import Subscription
from alloyhub.platform.db import db, get_or_404
from alloyhub.platform.errors import ValidationFailed
from alloyhub.platform.identity.models import Tenant
from alloyhub.platform.jobs import redis
from alloyhub.tenants.agents.models import Agent

log = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 5000
MAX_TAGS = 20
DEFAULT_POINTS = 1000  # the step chosen when none is given aims at this many points
AGGREGATES = ("avg", "min", "max", "last")
# source -> bucket seconds; a step below 60 s needs raw points
SOURCES = (("raw", 0), ("minute", 60), ("hour", 3600))

# Latest values: one hash per agent, field = tag, value = {"v","ts","q"}.
# Only moves forward in ts: a late (replayed, backlog) point never replaces a
# newer one. ts strings have one fixed format, so they compare as text.
LATEST_LUA = """
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if old then
    local ok, doc = pcall(cjson.decode, old)
    if ok and type(doc) == 'table' and type(doc['ts']) == 'string' and doc['ts'] >= ARGV[i + 1] then
      newer = false
    end
  end
  if newer then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) end
end
return 1
"""


def latest_key(tenant_id, agent_id) -> str:
    return f"ah:latest:{tenant_id}:{agent_id}"


def retention_days(tenant_id) -> int | None:
    """Days of raw points and minute rollups the company's plan keeps
    (None: no limit; 0: none at all)."""
    return entitlements.limit_of(tenant_id, "telemetry_retention_days")


def all_retentions() -> dict[uuid.UUID, int | None]:
    """Every company's retention, from its plan, in one read (system scope)."""
    rows = db.session.execute(
        select(Tenant.id, Tenant.kind, Subscription.plan_key)
        .join(Subscription, Subscription.tenant_id == Tenant.id, isouter=True)).all()
    return {tenant_id: plans.effective(plan_key, kind).limit("telemetry_retention_days")
            for tenant_id, kind, plan_key in rows}


def _cutoff(today: date, days: int | None) -> date | None:
    """The first day kept (None: everything is kept; keep nothing: far ahead)."""
    if days is None:
        return None
    return today - timedelta(days=days) if days > 0 else date(9999, 1, 1)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


# ---------------------------------------------------------------- history

@dataclass(frozen=True)
class HistoryQuery:
    agent_id: uuid.UUID
    tags: list[str]
    start: datetime
    end: datetime
    step: int | None  # seconds
    agg: str = "avg"


def plan(query: HistoryQuery) -> tuple[str, int]:
    """(source, step seconds): the coarsest source whose bucket fits the step;
    the step is chosen for ~DEFAULT_POINTS points when not given, and must
    yield at most MAX_POINTS_PER_SERIES."""
    errors: dict[str, list[str]] = {}
    span = (query.end - query.start).total_seconds()
    if span <= 0:
        errors.setdefault("to", []).append("Must be after 'from'.")
    if not query.tags:
        errors.setdefault("tags", []).append("Name at least one tag.")
    elif len(query.tags) > MAX_TAGS:
        errors.setdefault("tags", []).append(f"At most {MAX_TAGS} tags.")
    if query.agg not in AGGREGATES:
        errors.setdefault("agg", []).append(f"One of {', '.join(AGGREGATES)}.")
    if errors:
        raise ValidationFailed("The history query is not valid", errors=errors)
    step = query.step or max(1, math.ceil(span / DEFAULT_POINTS))
    source = "raw"
    for name, bucket in SOURCES:
        if bucket and step >= bucket:
            source = name
    bucket = dict(SOURCES)[source]
    if bucket:
        step = math.ceil(step / bucket) * bucket  # whole buckets: rollups merge exactly
    if span / step > MAX_POINTS_PER_SERIES:
        raise ValidationFailed("Too many points", errors={
            "step": [f"A range of {int(span)} s needs a step of at least "
                     f"{math.ceil(span / MAX_POINTS_PER_SERIES)} s (at most {MAX_POINTS_PER_SERIES} points)."]})
    return source, step


_RAW_AGG = {"avg": "avg(v)", "min": "min(v)", "max": "max(v)", "last": "(array_agg(v ORDER BY ts DESC))[1]"}
_ROLLUP_AGG = {"avg": "sum(sum) / nullif(sum(n), 0)", "min": "min(min)", "max": "max(max)",
               "last": "(array_agg(last_v ORDER BY last_ts DESC))[1]"}


# The points of the agent's packs for the hours the range touches (the
# index's (agent_id, hour)), one row per point.
_RAW_POINTS = """(SELECT p.tenant_id, p.agent_id, u.tag, u.ts, u.v
    FROM telemetry_packs p CROSS JOIN LATERAL unnest(p.tag, p.ts, p.v) AS u(tag, ts, v)
    WHERE p.tenant_id = :tenant AND p.agent_id = :agent AND p.hour >= :first_hour AND p.hour < :end) AS points"""


def history(query: HistoryQuery) -> dict:
    source, step = plan(query)
    agent = get_or_404(Agent, query.agent_id, "No such agent")
    if source == "raw":
        table, tcol, value = _RAW_POINTS, "ts", _RAW_AGG[query.agg]
    else:
        table, tcol, value = f"telemetry_rollup_{source}", "bucket", _ROLLUP_AGG[query.agg]
    # tenant_id in the WHERE as well as RLS: the ORM layer's rule, for raw SQL.
    sql = text(f"""
        SELECT tag, date_bin(make_interval(secs => :step), {tcol}, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b,
               {value} AS value
        FROM {table}
        WHERE tenant_id = :tenant AND agent_id = :agent AND tag = ANY(:tags)
          AND {tcol} >= :start AND {tcol} < :end
        GROUP BY tag, b ORDER BY tag, b
    """)
    rows = db.session.execute(sql, {
        "step": step, "tenant": agent.tenant_id, "agent": agent.id, "tags": list(query.tags),
        "start": query.start, "end": query.end,
        "first_hour": query.start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0),
    }).all()
    series = {tag: [] for tag in query.tags}
    for tag, bucket, v in rows:
        series[tag].append([bucket.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"), v])
    return {"agent_id": agent.id, "source": source, "step": step, "agg": query.agg,
            "series": [{"tag": tag, "points": points} for tag, points in series.items()]}


def latest(agent_id) -> dict:
    agent = get_or_404(Agent, agent_id, "No such agent")
    raw = redis().hgetall(latest_key(agent.tenant_id, agent.id))
    values = {}
    for tag, doc in raw.items():
        try:
            values[tag.decode()] = json.loads(doc)
        except (ValueError, UnicodeDecodeError):
            continue
    return {"agent_id": agent.id, "values": dict(sorted(values.items()))}


# ------------------------------------------------------------- maintenance

def maintain(days_ahead: int = 7, today: date | None = None) -> dict:
    """Partitions for today and the next days, retention by plan, seq
    compaction. Run by the ingest every hour and as the `telemetry.maintain` job."""
    today = today or datetime.now(timezone.utc).date()
    with tenancy.system_context(db.session):
        made = db.session.execute(text("select telemetry_ensure_partitions(:a, :b)"),
                                  {"a": today - timedelta(days=1), "b": today + timedelta(days=days_ahead)}).scalar()
        db.session.commit()
        retention = all_retentions()
        dropped = _drop_beyond_every_plan(today, retention)
        cleaned = _apply_tenant_retention(today, retention)
    compacted = compact_seqs()
    log.info("telemetry maintenance: %s partitions made, %s dropped, %s tenants cleaned, %s seqs compacted",
             made, dropped, len(cleaned), compacted)
    return {"partitions_made": made, "partitions_dropped": dropped, "tenants_cleaned": cleaned,
            "seqs_compacted": compacted}


def _drop_beyond_every_plan(today: date, retention: dict) -> int:
    """Whole partitions (and rollups) older than the longest retention of any
    plan in use: nobody keeps them. Nothing goes while a plan keeps for ever."""
    kept = list(retention.values())
    if not kept or any(days is None for days in kept):
        return 0
    longest = max(kept)
    horizon = _cutoff(today, longest) if longest > 0 else today - timedelta(days=1)
    hour_days = plans.hourly_trend_days(longest)
    hour_horizon = _cutoff(today, hour_days) if hour_days else horizon
    dropped = db.session.execute(text("select telemetry_drop_partitions(:d)"), {"d": horizon}).scalar()
    params = {"h": _start(horizon), "hh": _start(hour_horizon), "d": horizon, "dh": hour_horizon}
    db.session.execute(text("delete from telemetry_rollup_minute where bucket < :h"), params)
    db.session.execute(text("delete from telemetry_rollup_hour where bucket < :hh"), params)
    db.session.execute(text("update telemetry_usage_stored set points = 0, minute_rows = 0 "
                            "where day < :d and (points > 0 or minute_rows > 0)"), params)
    db.session.execute(text("update telemetry_usage_stored set hour_rows = 0 where day < :dh and hour_rows > 0"),
                       params)
    db.session.execute(text("delete from telemetry_usage_stored where points = 0 and minute_rows = 0 "
                            "and hour_rows = 0"))
    # The day-of-storing counts are billing's source: kept well past any invoice.
    db.session.execute(text("delete from telemetry_usage_received where day < :d"),
                       {"d": today - timedelta(days=400)})
    db.session.commit()
    return dropped


def _apply_tenant_retention(today: date, retention: dict) -> list[str]:
    """Per tenant, rows older than its own plan keeps, found through its
    counters: only days that still hold data are touched. One transaction
    per tenant. Returns the tenants whose data was deleted."""
    oldest = db.session.execute(text("""
        select tenant_id, min(day) filter (where points > 0 or minute_rows > 0),
               min(day) filter (where hour_rows > 0)
        from telemetry_usage_stored group by tenant_id""")).all()
    cleaned = []
    for tenant_id, oldest_raw, oldest_hour in oldest:
        days = retention.get(tenant_id)
        if tenant_id not in retention or days is None:
            continue  # a tenant gone from the catalogue is left to the partition drops
        raw_cutoff = _cutoff(today, days)
        hour_days = plans.hourly_trend_days(days)
        hour_cutoff = _cutoff(today, hour_days) if hour_days is not None else None
        raw_due = oldest_raw is not None and oldest_raw < raw_cutoff
        hour_due = oldest_hour is not None and hour_cutoff is not None and oldest_hour < hour_cutoff
        if not (raw_due or hour_due):
            continue
        # The indexes lead with agent_id: name the tenant's agents (and the tenant).
        params = {"t": tenant_id, "agents": list(db.session.execute(
            text("select id from agents where tenant_id = :t"), {"t": tenant_id}).scalars())}
        owner = "agent_id = any(:agents) and tenant_id = :t" if params["agents"] else "tenant_id = :t"
        if raw_due:
            params.update(a=_start(oldest_raw), b=_start(min(raw_cutoff, today + timedelta(days=3660))),
                          day=raw_cutoff)
            db.session.execute(text(f"delete from telemetry_packs where {owner} and hour >= :a and hour < :b"), params)
            db.session.execute(text(f"delete from telemetry_rollup_minute where {owner} "
                                    "and bucket >= :a and bucket < :b"), params)
            db.session.execute(text("update telemetry_usage_stored set points = 0, minute_rows = 0 "
                                    "where tenant_id = :t and day < :day"), params)
        if hour_due:
            params.update(ha=_start(oldest_hour), hb=_start(min(hour_cutoff, today + timedelta(days=3660))),
                          hday=hour_cutoff)
            db.session.execute(text(f"delete from telemetry_rollup_hour where {owner} "
                                    "and bucket >= :ha and bucket < :hb"), params)
            db.session.execute(text("update telemetry_usage_stored set hour_rows = 0 "
                                    "where tenant_id = :t and day < :hday"), params)
        db.session.execute(text("delete from telemetry_usage_stored where tenant_id = :t and points = 0 "
                                "and minute_rows = 0 and hour_rows = 0"), params)
        db.session.commit()
        cleaned.append(str(tenant_id))
    return cleaned


# ------------------------------------------------------------- usage metering
# Registered with billing's usage meter by module.py; called in the tenant's
# own scope (RLS admits its rows only).

ROW_WIDTH_TTL = 6 * 3600  # s a tenant's measured row widths are reused


def points_stored_on(tenant_id, day: date) -> int:
    """Points the ingest stored on `day` (UTC), whatever their timestamps: the
    metered "telemetry points stored per day", final once the day is over."""
    return db.session.execute(text("select coalesce(sum(points), 0) from telemetry_usage_received "
                                   "where tenant_id = :t and day = :d"), {"t": tenant_id, "d": day}).scalar() or 0


def stored_bytes(tenant_id) -> int:
    """Bytes of telemetry the tenant stores: its points and rollup rows (exact
    counts, kept by the ingest and the retention) times the average size of
    its rows as PostgreSQL stores them (pg_column_size, measured on a sample
    of its newest day and reused for a few hours). Indexes and free space
    are the platform's overhead and not counted."""
    counts = db.session.execute(text("""
        select coalesce(sum(points), 0), coalesce(sum(minute_rows), 0), coalesce(sum(hour_rows), 0),
               max(day) filter (where points > 0), max(day) filter (where minute_rows > 0),
               max(day) filter (where hour_rows > 0)
        from telemetry_usage_stored where tenant_id = :t"""), {"t": tenant_id}).one()
    points, minute_rows, hour_rows = int(counts[0]), int(counts[1]), int(counts[2])
    if not (points or minute_rows or hour_rows):
        return 0
    widths = _row_widths(tenant_id, dict(zip(("points", "minute", "hour"), counts[3:])))
    return int(points * widths["points"] + minute_rows * widths["minute"] + hour_rows * widths["hour"])


_SAMPLE = ("select {width} from (select * from {table} where agent_id = any(:agents) "
           "and {column} >= :a and {column} < :b limit 1000) s")
_WIDTH_SQL = {
    # A point's share of its pack.
    "points": _SAMPLE.format(width="sum(pg_column_size(s.*))::float8 / nullif(sum(cardinality(s.tag)), 0)",
                             table="telemetry_packs", column="hour"),
    "minute": _SAMPLE.format(width="avg(pg_column_size(s.*))", table="telemetry_rollup_minute", column="bucket"),
    "hour": _SAMPLE.format(width="avg(pg_column_size(s.*))", table="telemetry_rollup_hour", column="bucket"),
}


def _row_widths(tenant_id, newest: dict[str, date | None]) -> dict[str, float]:
    """Average stored row size per table, measured on up to 1,000 of the
    tenant's rows of its newest day there; cached in Redis for a while (a
    width not measurable yet, for want of rows, is not cached)."""
    key = f"ah:telemetry:row-width:{tenant_id}"
    try:
        widths = {k.decode(): float(v) for k, v in redis().hgetall(key).items()}
    except Exception:  # noqa: BLE001 - the cache is an optimisation; measure instead
        widths = {}
    missing = [kind for kind in _WIDTH_SQL if kind not in widths]
    if not missing:
        return widths
    agents = list(db.session.execute(text("select id from agents where tenant_id = :t"), {"t": tenant_id}).scalars())
    measured = {}
    for kind in missing:
        day = newest.get(kind)
        if day is not None and agents:
            width = db.session.execute(text(_WIDTH_SQL[kind]), {
                "agents": agents, "a": _start(day), "b": _start(day + timedelta(days=1))}).scalar()
            if width:
                measured[kind] = float(width)
    widths.update(measured)
    if measured:
        try:
            redis().hset(key, mapping={k: str(v) for k, v in measured.items()})
            redis().expire(key, ROW_WIDTH_TTL)
        except Exception:  # noqa: BLE001
            log.warning("could not cache the telemetry row widths of %s", tenant_id)
    return {kind: widths.get(kind, 0.0) for kind in _WIDTH_SQL}


def compact_seqs() -> int:
    """Raise each agent's low-water mark over the contiguous run of stored
    seqs above it and delete those rows. One agent per transaction, its mark
    locked FOR UPDATE (the ingest holds it FOR SHARE while it claims seqs)."""
    total = 0
    with tenancy.system_context(db.session):
        agents = db.session.execute(text("select agent_id from telemetry_seq_marks")).scalars().all()
        db.session.commit()
        for agent_id in agents:
            low = db.session.execute(text(
                "select low_water from telemetry_seq_marks where agent_id = :a for update"), {"a": agent_id}).scalar()
            top = db.session.execute(text("""
                select max(seq) from (
                    select seq, seq - row_number() over (order by seq) as grp
                    from telemetry_batches where agent_id = :a) s
                where grp = :low"""), {"a": agent_id, "low": low}).scalar()
            if top is not None:
                db.session.execute(text("update telemetry_seq_marks set low_water = :top, updated_at = now() "
                                        "where agent_id = :a"), {"a": agent_id, "top": top})
                total += db.session.execute(text("delete from telemetry_batches where agent_id = :a and seq <= :top"),
                                            {"a": agent_id, "top": top}).rowcount
            db.session.commit()
    return total
