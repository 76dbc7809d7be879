"""The write path of telemetry on one psycopg 3 connection (the application
role, system scope): claim the batch seqs, COPY the points, merge the
rollups, all in ONE transaction, so a crash anywhere leaves either
everything of a batch stored and its seq recorded, or nothing of it.

The points of a write are stored as packs (migration 0015_telemetry_packs):
one row per agent and UTC hour holding the points as parallel arrays, in
arrival order. The checking loop makes each point's array elements
(`Cell`); `pack_lines` groups the stored batches' cells into COPY lines.

Once the claim has told which batches of the lot are new, one pass over
their points (`aggregate`) makes the minute aggregates (a few per tag
instead of one per point), rolls them up to hours and finds the newest value
per tag; each rollup is upserted in one small statement instead of a GROUP BY
over every point.

The same transaction keeps each tenant's usage counters (migration
0009_billing_usage): points and new rollup rows per day of the points
(`telemetry_usage_stored`, what the storage meter and the retention read)
and points stored per day of storing (`telemetry_usage_received`, the
metered figure). They are updated last, in a stable order, so the row
locks they take are held only until the commit.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

# COPY FROM is refused on a table with row-level security, so the packs are
# COPYed into a temporary table (no RLS, no WAL, local buffers) and moved
# with one INSERT ... SELECT, which RLS checks like any insert.
STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_pack_stage (
    tenant_id uuid NOT NULL, agent_id uuid NOT NULL, hour timestamptz NOT NULL,
    tag text[] NOT NULL, ts timestamptz[] NOT NULL, v double precision[] NOT NULL, v_text text[],
    q smallint[] NOT NULL
) ON COMMIT DELETE ROWS
"""

COPY_PACKS = "COPY telemetry_pack_stage (tenant_id, agent_id, hour, tag, ts, v, v_text, q) FROM STDIN"

MOVE_PACKS = """
INSERT INTO telemetry_packs (tenant_id, agent_id, hour, tag, ts, v, v_text, q)
SELECT tenant_id, agent_id, hour, tag, ts, v, v_text, q FROM telemetry_pack_stage
"""

SYSTEM_SCOPE = ("select set_config('app.system', 'on', true), set_config('app.tenant_id', '', true), "
                "set_config('app.user_id', '', true)")

ENSURE_MARKS = """
INSERT INTO telemetry_seq_marks (tenant_id, agent_id)
SELECT * FROM unnest(%s::uuid[], %s::uuid[]) ON CONFLICT (agent_id) DO NOTHING
"""

# FOR SHARE on the marks: the compaction takes the same rows FOR UPDATE
# before it raises a low-water mark and deletes the rows under it, so a seq
# is never judged against a mark that moves during this transaction. The
# batches come as one text, "agent index,seq,points" per line (thousands per
# lot: array parameters would cost the ingest more to build than this to parse).
CLAIM_SEQS = """
WITH m AS (
    SELECT tenant_id, agent_id, low_water FROM telemetry_seq_marks WHERE agent_id = ANY(%(agents)s::uuid[]) FOR SHARE
), b AS (
    SELECT (%(agents)s::uuid[])[split_part(line, ',', 1)::int] AS agent_id, split_part(line, ',', 2)::bigint AS seq,
           split_part(line, ',', 3)::int AS points
    FROM string_to_table(%(batches)s, E'\\n') AS line
)
INSERT INTO telemetry_batches (tenant_id, agent_id, seq, points)
SELECT m.tenant_id, b.agent_id, b.seq, b.points FROM b JOIN m ON m.agent_id = b.agent_id
WHERE b.seq > m.low_water
ON CONFLICT (agent_id, seq) DO NOTHING
RETURNING agent_id::text, seq
"""

# Merge aggregates into a rollup: correct for any arrival order because
# every field is a commutative merge (n, sum, min, max) or keeps the value of
# the latest ts; duplicates never get here (the seq claim). Rows come sorted
# by key: every ingest process locks them in the same order, so two never
# deadlock on a shared minute.
ROLLUP = """
WITH up AS (
    INSERT INTO {table} AS r (tenant_id, agent_id, tag, bucket, n, sum, min, max, last_ts, last_v)
    SELECT f[1]::uuid, f[2]::uuid, f[3], f[4]::timestamptz, f[5]::bigint, f[6]::float8, f[7]::float8, f[8]::float8,
           f[9]::timestamptz, f[10]::float8
    FROM string_to_table(%s, E'\\n') AS line, string_to_array(line, E'\\t') AS f
    ON CONFLICT (agent_id, tag, bucket) DO UPDATE SET
        n = r.n + excluded.n,
        sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min),
        max = greatest(r.max, excluded.max),
        last_v = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_v ELSE r.last_v END,
        last_ts = greatest(r.last_ts, excluded.last_ts)
    RETURNING r.tenant_id, r.bucket, r.xmax = 0 AS inserted
)
SELECT tenant_id::text, (bucket AT TIME ZONE 'UTC')::date, count(*) FROM up WHERE inserted GROUP BY 1, 2
"""
# (xmax = 0 marks a row this statement inserted rather than updated: the
# new rollup rows per tenant and day, for the storage counters.)

COUNT_STORED = """
INSERT INTO telemetry_usage_stored AS u (tenant_id, day, points, minute_rows, hour_rows)
SELECT * FROM unnest(%s::uuid[], %s::date[], %s::bigint[], %s::bigint[], %s::bigint[])
ON CONFLICT (tenant_id, day) DO UPDATE SET points = u.points + excluded.points,
    minute_rows = u.minute_rows + excluded.minute_rows, hour_rows = u.hour_rows + excluded.hour_rows
"""

COUNT_RECEIVED = """
INSERT INTO telemetry_usage_received AS u (tenant_id, day, points)
SELECT t, (now() AT TIME ZONE 'UTC')::date, n FROM unnest(%s::uuid[], %s::bigint[]) AS x(t, n)
ON CONFLICT (tenant_id, day) DO UPDATE SET points = u.points + excluded.points
"""

UPSERT_UNKNOWN_TAGS = """
INSERT INTO agent_tags (id, tenant_id, agent_id, tag, data_type, status, unknown_points, first_seen_at)
SELECT gen_random_uuid(), %s, a, t, 'float', 'unknown', n, now()
FROM unnest(%s::uuid[], %s::text[], %s::int[]) AS u(a, t, n)
ON CONFLICT (agent_id, tag) DO UPDATE SET unknown_points = agent_tags.unknown_points + excluded.unknown_points,
    updated_at = now()
WHERE agent_tags.status = 'unknown'
"""

# A text array element inside a COPY text field: quoted, its backslashes and
# quotes escaped for the array literal, then backslash, tab, newline and CR
# escaped for COPY.
_ARRAY_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def text_element(value: str) -> str:
    return ('"' + value.translate(_ARRAY_ESCAPES) + '"').translate(_COPY_ESCAPES)


# A point's array elements, as COPY text: (hour, tag, ts, v, v_text or None, q).
Cell = tuple


def pack_lines(stored: Sequence[Batch]) -> str:
    """The COPY text of the packs of these batches: one line per agent and
    UTC hour, the points in arrival order."""
    packs: dict[tuple, list] = {}
    for b in stored:
        for cell in b.rows:
            key = (b.agent_key, cell[0])
            cells = packs.get(key)
            if cells is None:
                cells = packs[key] = [b.tenant_key]
            cells.append(cell)
    lines = []
    for (agent_key, hour), (tenant_key, *cells) in packs.items():
        _, tags, tss, vs, v_texts, qs = zip(*cells)
        if any(t is not None for t in v_texts):
            v_text = "{" + ",".join("NULL" if t is None else t for t in v_texts) + "}"
        else:
            v_text = "\\N"
        lines.append(f"{tenant_key}\t{agent_key}\t{hour}\t{{{','.join(tags)}}}\t{{{','.join(tss)}}}\t"
                     f"{{{','.join(vs)}}}\t{v_text}\t{{{','.join(qs)}}}\n")
    return "".join(lines)


@dataclass
class Batch:
    """One accepted telemetry message, ready to store."""
    mid: object  # what the MQTT loop needs to acknowledge it
    qos: int
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    tenant_key: str  # the same ids as text: cheap dictionary keys on the hot path
    agent_key: str
    seq: int
    rows: list[Cell]  # one per point to store, in arrival order
    raw: list[dict]  # the points to store, as checked ({"tag", "ts" text, "v", "q"}): for the rollups
    points: Sequence[dict]  # hooks.StoredPoints for the hooks (empty when nobody listens)
    unknown: dict[str, int] = field(default_factory=dict)  # tag -> points of tags not in the catalogue
    days: dict[date, int] = field(default_factory=dict)  # UTC day -> points without a number (not in the rollups)


@dataclass
class WriteResult:
    stored: list[Batch]
    duplicates: list[Batch]
    latest: dict[tuple, dict]  # (tenant id, agent id, as text) -> {tag: (ts, v, q)}


def aggregate(stored: list[Batch], ts_cache: dict, parse_ts) -> tuple[dict, dict, dict]:
    """The minute and hour rollups and the newest value per tag of the points
    of a lot that are being stored (never a duplicate batch's), in one pass:
    minutes and hours keyed (agent_id, tag, bucket) -> [tenant, n, sum, min,
    max, last_ts, last_v]; latest keyed (tenant, agent) -> {tag: (ts, v, q)}.
    The points were checked by the ingest: a number is finite and in range,
    a timestamp parses (ts_cache holds what it parsed, parse_ts the rest)."""
    minutes: dict[tuple, list] = {}
    latest: dict[tuple, dict] = {}
    get = minutes.get
    # Tens of thousands of points per lot: written out inline.
    for b in stored:
        agent_key, tenant_key = b.agent_key, b.tenant_key
        newest = latest.get((tenant_key, agent_key))
        if newest is None:
            newest = latest[(tenant_key, agent_key)] = {}
        for p in b.raw:
            tag, v, ts = p["tag"], p["v"], p["ts"]
            parsed = ts_cache.get(ts)
            if parsed is None:
                parsed = parse_ts(ts)
            ts_dt, minute = parsed[2], parsed[3]
            last = newest.get(tag)
            if last is None or ts_dt >= last[0]:
                newest[tag] = (ts_dt, v, p["q"])
            tv = type(v)
            if tv is float:
                fv = v
            elif tv is int or tv is bool:
                fv = float(v)
            else:  # text or none: no rollup
                continue
            key = (agent_key, tag, minute)
            agg = get(key)
            if agg is None:
                minutes[key] = [tenant_key, 1, fv, fv, fv, ts_dt, fv]
            else:
                agg[1] += 1
                agg[2] += fv
                if fv < agg[3]:
                    agg[3] = fv
                if fv > agg[4]:
                    agg[4] = fv
                if ts_dt >= agg[5]:
                    agg[5], agg[6] = ts_dt, fv
    hours: dict[tuple, list] = {}
    for (agent_id, tag, minute), (tenant_id, n, total, lo, hi, last_ts, last_v) in minutes.items():
        key = (agent_id, tag, minute.replace(minute=0))
        agg = hours.get(key)
        if agg is None:
            hours[key] = [tenant_id, n, total, lo, hi, last_ts, last_v]
        else:
            _merge(agg, n, total, lo, hi, last_ts, last_v)
    return minutes, hours, latest


def _merge(agg: list, n, total, lo, hi, last_ts, last_v) -> None:
    agg[1] += n
    agg[2] += total
    agg[3] = min(agg[3], lo)
    agg[4] = max(agg[4], hi)
    if last_ts >= agg[5]:
        agg[5], agg[6] = last_ts, last_v


def _rollup_params(aggs: dict) -> tuple[str]:
    """The rows as one text, a line per row and a tab between fields (a tag
    holds no control character; floats are finite and printed exactly): array
    parameters, dumped value by value, cost the ingest more than the upsert.
    Sorted by key: every ingest process locks shared rows in the same order."""
    return ("\n".join(f"{tenant_id}\t{agent_id}\t{tag}\t{bucket.isoformat()}\t{n}\t{total!r}\t{lo!r}\t{hi!r}\t"
                      f"{last_ts.isoformat()}\t{last_v!r}"
                      for (agent_id, tag, bucket), (tenant_id, n, total, lo, hi, last_ts, last_v)
                      in sorted(aggs.items())),)


class Writer:
    def __init__(self, conn):
        self.conn = conn
        self.marked: set[uuid.UUID] = set()
        with conn.transaction():
            conn.execute(STAGE_DDL)

    def ensure_partitions(self, days: set[date]) -> None:
        """Make missing daily partitions, in a short transaction of their own
        (DDL on the parent must not sit inside the long write transaction)."""
        with self.conn.transaction():
            self.conn.execute("select telemetry_ensure_partitions(%s, %s)", (min(days), max(days)))

    def existing_partition_days(self) -> set[date]:
        from datetime import datetime

        with self.conn.transaction():
            rows = self.conn.execute(
                "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
                "join pg_class p on p.oid = i.inhparent where p.relname = 'telemetry_packs'").fetchall()
        days = set()
        for (name,) in rows:
            try:
                days.add(datetime.strptime(name[-8:], "%Y%m%d").date())
            except ValueError:
                continue
        return days

    def write(self, batches: list[Batch], ts_cache: dict, parse_ts) -> WriteResult:
        conn = self.conn
        with conn.transaction():
            conn.execute(SYSTEM_SCOPE)
            new_agents = {b.agent_id: b.tenant_id for b in batches if b.agent_id not in self.marked}
            if new_agents:
                conn.execute(ENSURE_MARKS, (list(new_agents.values()), list(new_agents)))
            index = {a: i for i, a in enumerate(dict.fromkeys(b.agent_key for b in batches), start=1)}
            claimed = set(conn.execute(CLAIM_SEQS, {
                "agents": list(index),
                "batches": "\n".join(f"{index[b.agent_key]},{b.seq},{len(b.rows)}" for b in batches)}).fetchall())
            stored, duplicates = [], []
            for b in batches:
                key = (b.agent_key, b.seq)
                if key in claimed:
                    claimed.discard(key)  # a second copy in the same lot is a duplicate
                    stored.append(b)
                else:
                    duplicates.append(b)
            latest: dict[tuple, dict] = {}
            if any(b.rows for b in stored):
                with conn.cursor().copy(COPY_PACKS) as copy:
                    copy.write(pack_lines(stored))
                conn.execute(MOVE_PACKS)
                minutes, hours, latest = aggregate(stored, ts_cache, parse_ts)
                new_rows: dict[tuple, list[int]] = {}  # (tenant, day) -> [new minute rows, new hour rows]
                if minutes:
                    for column, (table, aggs) in enumerate((("telemetry_rollup_minute", minutes),
                                                             ("telemetry_rollup_hour", hours))):
                        for tenant_key, day, n in conn.execute(ROLLUP.format(table=table), _rollup_params(aggs)):
                            new_rows.setdefault((tenant_key, day), [0, 0])[column] += n
            self._record_unknown(stored)
            if any(b.rows for b in stored):
                self._count(stored, minutes, new_rows)
        self.marked.update(new_agents)
        return WriteResult(stored, duplicates, latest)

    def _count(self, stored: list[Batch], minutes: dict, new_rows: dict[tuple, list[int]]) -> None:
        """The usage counters of this lot, keys in a stable order (two ingest
        processes lock the same counter rows alike)."""
        per_day: dict[tuple, list[int]] = {}
        per_tenant: dict[str, int] = {}
        for b in stored:
            if not b.rows:
                continue
            per_tenant[b.tenant_key] = per_tenant.get(b.tenant_key, 0) + len(b.rows)
            for day, n in b.days.items():  # the points without a number
                per_day.setdefault((b.tenant_key, day), [0, 0, 0])[0] += n
        for (_agent, _tag, minute), agg in minutes.items():  # the numeric ones, from the merged minutes
            per_day.setdefault((agg[0], minute.date()), [0, 0, 0])[0] += agg[1]
        for key, (minute_rows, hour_rows) in new_rows.items():
            counts = per_day.setdefault(key, [0, 0, 0])
            counts[1] += minute_rows
            counts[2] += hour_rows
        keys = sorted(per_day)
        self.conn.execute(COUNT_STORED, ([k[0] for k in keys], [k[1] for k in keys],
                                         *([per_day[k][i] for k in keys] for i in range(3))))
        tenants = sorted(per_tenant)
        self.conn.execute(COUNT_RECEIVED, (tenants, [per_tenant[t] for t in tenants]))

    def _record_unknown(self, stored: list[Batch]) -> None:
        """Unknown tags into the agent's catalogue (status 'unknown', points
        counted). agent_tags admits only the tenant's own scope, so the
        tenant is set per group, inside the same transaction."""
        per_tenant: dict[uuid.UUID, dict[tuple, int]] = {}
        for b in stored:
            for tag, n in b.unknown.items():
                counts = per_tenant.setdefault(b.tenant_id, {})
                counts[(b.agent_id, tag)] = counts.get((b.agent_id, tag), 0) + n
        if not per_tenant:
            return
        for tenant_id, counts in per_tenant.items():
            self.conn.execute("select set_config('app.tenant_id', %s, true), set_config('app.system', 'off', true)",
                              (str(tenant_id),))
            keys = sorted(counts)  # a stable order: two ingest processes lock rows alike
            self.conn.execute(UPSERT_UNKNOWN_TAGS, (tenant_id, [a for a, _ in keys], [t for _, t in keys],
                                                    [counts[k] for k in keys]))
        self.conn.execute(SYSTEM_SCOPE)
