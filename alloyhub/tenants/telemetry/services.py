"""Telemetry rules: history queries (raw or rollup by range and step), latest
values, and the maintenance of the store (partitions ahead, retention, the
compaction of the stored-batch seqs)."""
from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import text

from alloyhub.platform import tenancy
from alloyhub.platform.db import db, get_or_404
from alloyhub.platform.errors import ValidationFailed
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


def retention_days(tenant_id=None) -> int:  # noqa: ARG001 - the billing issue passes the tenant's plan here
    """Days of raw points kept. One global value today (TELEMETRY_RETENTION_DAYS);
    per-plan retention comes with billing: partitions are shared by all tenants,
    so a plan shorter than the global value will delete its tenant's rows in
    `maintain` and a longer one raises the global value."""
    return int(current_app.config.get("TELEMETRY_RETENTION_DAYS", 90))


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


def history(query: HistoryQuery) -> dict:
    source, step = plan(query)
    agent = get_or_404(Agent, query.agent_id, "No such agent")
    if source == "raw":
        table, tcol, value = "telemetry_points", "ts", _RAW_AGG[query.agg]
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

def maintain(days_ahead: int = 7) -> dict:
    """Partitions for today and the next days, retention, seq compaction.
    Run by the ingest every hour and as the `telemetry.maintain` job."""
    today = datetime.now(timezone.utc).date()
    keep = retention_days()
    with tenancy.system_context(db.session):
        made = db.session.execute(text("select telemetry_ensure_partitions(:a, :b)"),
                                  {"a": today - timedelta(days=1), "b": today + timedelta(days=days_ahead)}).scalar()
        dropped = db.session.execute(text("select telemetry_drop_partitions(:d)"),
                                     {"d": today - timedelta(days=keep)}).scalar()
        cutoff = datetime.now(timezone.utc) - timedelta(days=keep)
        db.session.execute(text("delete from telemetry_rollup_minute where bucket < :c"), {"c": cutoff})
        # Hour rollups are small: kept ten times longer (the year-long trend).
        db.session.execute(text("delete from telemetry_rollup_hour where bucket < :c"),
                           {"c": datetime.now(timezone.utc) - timedelta(days=keep * 10)})
        db.session.commit()
    compacted = compact_seqs()
    log.info("telemetry maintenance: %s partitions made, %s dropped, %s seqs compacted", made, dropped, compacted)
    return {"partitions_made": made, "partitions_dropped": dropped, "seqs_compacted": compacted}


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
