"""`alloyhub ingest`: MQTT → PostgreSQL, at-least-once delivery, exactly-once storage.

One process: a lean MQTT 5 reader (mqtt_reader.py) in its own thread puts
what it reads in a queue; the main thread takes up to `max_messages` (or what arrives within
`flush_interval`), validates them, writes the accepted ones in ONE
transaction (storage.Writer) and only then acknowledges them to the broker
(manual ack). A crash before the commit leaves the messages unacknowledged
in the broker session (clean_start False, session expiry), which redelivers
them to the restarted process; a crash after the commit and before the ack
redelivers batches whose seq is already recorded: skipped as duplicates.

Scope: the process connects as the application role (RLS applies) and
writes in system scope, because one transaction carries the batches of many
tenants. The tenant of each row is the tenant of the agent in the topic,
looked up in the agents table, never a value from the payload; a batch
whose "agent" field differs from the topic's agent is rejected.
"""
from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import socket
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

from alloyhub.platform.billing import plans

from . import hooks
from .mqtt_reader import Reader
from .storage import Batch, Writer, text_element

try:  # optional: several times faster than the standard library
    import orjson as _orjson

    _loads, _dumps = _orjson.loads, _orjson.dumps
except ImportError:  # pragma: no cover - depends on the installation
    _loads, _dumps = json.loads, json.dumps

log = logging.getLogger(__name__)

SHARE_GROUP = "ingest"
TOPICS = ("telemetry", "state", "events", "cmd/ack")
CT_ZLIB = "application/json+zlib"
TAG_RE = re.compile(r"^[^\x00-\x1f\x7f\\]{1,200}$")
MAX_TEXT = 1000
MAX_POINTS = 10_000
# The agent names the source quality; the database stores the OPC classic
# code; the live view and the hooks get q as the agent sent it.
QUALITY_CODES = {"good": 192, "uncertain": 64, "bad": 0}
QUALITY_TEXT = {code: str(code) for code in QUALITY_CODES.values()}


@dataclass
class Settings:
    mqtt_url: str
    database_url: str  # libpq URL of the application role
    redis_url: str | None
    client_id: str
    username: str | None = None  # the platform's service account when broker access control is on
    password: str | None = None
    share_group: str = SHARE_GROUP  # processes of one group split the load
    max_payload: int = 1024 * 1024  # bytes on the wire
    max_inflated: int = 8 * 1024 * 1024  # bytes after zlib
    max_messages: int = 2000  # per flush
    flush_interval: float = 0.05  # s: how long a flush waits for more messages
    receive_maximum: int = 10_000  # unacked messages the broker may send us
    session_expiry: int = 3600  # s the broker keeps our session (and queue) while we are away
    future_days: int = 2  # points further ahead than this are refused (clock errors)
    status_interval: float = 10.0
    agent_cache_s: float = 5.0  # revocation and plan changes take effect within this


# The agent's tenant, status and plan (system scope: agents admits it for
# SELECT; tenants has no RLS; billing_subscriptions admits the system scope).
AGENT_LOOKUP = """
SELECT a.tenant_id, a.status, s.plan_key, t.kind FROM agents a
JOIN tenants t ON t.id = a.tenant_id
LEFT JOIN billing_subscriptions s ON s.tenant_id = a.tenant_id
WHERE a.id = %s
"""


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None, bool]:
    parts = urlsplit(url)
    tls = parts.scheme in ("mqtts", "ssl")
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), parts.username, parts.password, tls


def decode(payload: bytes, content_type: str | None, s: Settings):
    if len(payload) > s.max_payload:
        raise Rejected("oversized", f"{len(payload)} bytes")
    if content_type == CT_ZLIB:
        inflater = zlib.decompressobj()
        try:
            payload = inflater.decompress(payload, s.max_inflated)
        except zlib.error as exc:
            raise Rejected("malformed", f"zlib: {exc}") from None
        if inflater.unconsumed_tail:
            raise Rejected("oversized", "inflates beyond the cap")
    try:
        return _loads(payload)
    except (ValueError, TypeError) as exc:
        raise Rejected("malformed", f"json: {exc}") from None


class Ingestor:
    """Validation, caches, counters; the MQTT loop is `run`."""

    def __init__(self, settings: Settings, app=None):
        import psycopg

        self.s = settings
        self.app = app
        self.conn = psycopg.connect(settings.database_url)
        self.writer = Writer(self.conn)
        self.redis = None
        if settings.redis_url:
            from redis import Redis

            from .services import LATEST_LUA

            self.redis = Redis.from_url(settings.redis_url)
            self._latest_script = self.redis.register_script(LATEST_LUA)
        self.counters: Counter = Counter()
        self.agents: dict[str, tuple[float, tuple]] = {}  # topic's agent id -> (when, (agent, tenant, status))
        self.tags: dict[uuid.UUID, tuple[float, dict[str, str]]] = {}
        self.days: set[date] = self.writer.existing_partition_days()
        self.inbox: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._held: list = []  # messages read but not yet taken (a lot is at most max_messages)
        self._last_status = time.monotonic()
        self._ts_cache: dict[str, tuple[str, date, datetime, datetime, str]] = {}  # see _parse_ts
        self._tags_ok: dict[str, str] = {}  # tag names checked against TAG_RE -> their array element

    # ------------------------------------------------------------------ caches
    def _agent(self, agent_key: str):
        """(agent UUID, tenant UUID or None, status, both as canonical text,
        the tenant's telemetry retention in days) of the agent named in a
        topic, cached briefly (revocation and a new plan show within
        agent_cache_s). The retention is the plan's (None: no limit)."""
        now = time.monotonic()
        hit = self.agents.get(agent_key)
        if hit and now - hit[0] < self.s.agent_cache_s:
            return hit[1]
        try:
            agent_id = uuid.UUID(agent_key)
        except ValueError:
            return None
        with self.conn.transaction():
            self.conn.execute("select set_config('app.system', 'on', true)")
            row = self.conn.execute(AGENT_LOOKUP, (agent_id,)).fetchone()
        tenant_id, status, plan_key, kind = row if row else (None, None, None, None)
        retention = plans.effective(plan_key, kind).limit("telemetry_retention_days") if row else None
        info = (agent_id, tenant_id, status, str(agent_id), str(tenant_id), retention)
        if len(self.agents) > 100_000:
            self.agents.clear()
        self.agents[agent_key] = (now, info)
        return info

    def _catalogue(self, agent_id: uuid.UUID, agent_text: str, tenant_text: str) -> dict[str, str]:
        """tag -> status of the agent's catalogue, cached for 30 s."""
        now = time.monotonic()
        hit = self.tags.get(agent_text)
        if hit and now - hit[0] < 30:
            return hit[1]
        with self.conn.transaction():
            self.conn.execute("select set_config('app.tenant_id', %s, true)", (tenant_text,))
            rows = self.conn.execute("select tag, status from agent_tags where agent_id = %s", (agent_id,)).fetchall()
        tags = dict(rows)
        self.tags[agent_text] = (now, tags)
        return tags

    # -------------------------------------------------------------- validation
    def accept(self, mid, qos: int, agent_key: str, payload: bytes, content_type: str | None) -> Batch:
        """Check one telemetry message of the agent named by the topic (`agent_key`)."""
        info = self._agent(agent_key)
        if info is None:
            raise Rejected("bad_topic")
        agent_id, tenant_id, status, agent_text, tenant_text, retention = info
        doc = decode(payload, content_type, self.s)
        if not isinstance(doc, dict):
            raise Rejected("schema", "not an object")
        claimed = doc.get("agent")
        if claimed != agent_key and str(claimed).lower() != agent_text:
            raise Rejected("wrong_agent", f"batch claims agent {claimed!r}")
        seq = doc.get("seq")
        if type(seq) is not int or not 0 < seq < 2**63:
            raise Rejected("schema", "seq")
        points = doc.get("points")
        if not isinstance(points, list) or len(points) > MAX_POINTS:
            raise Rejected("schema", "points")
        if tenant_id is None:
            raise Rejected("unknown_agent")
        if status != "active":
            raise Rejected("agent_not_active", status)
        if retention == 0:
            # The plan keeps no telemetry (e.g. partners): nothing would stay.
            self.counters["rejected_points:no_telemetry_plan"] += len(points)
            raise Rejected("no_telemetry_plan", "the company's plan stores no telemetry")
        catalogue = self._catalogue(agent_id, agent_text, tenant_text)
        rows, unknown = [], {}
        skipped = []  # points not stored (ignored tags, out of range): kept from the hooks
        ts_cache, tags_ok, counters = self._ts_cache, self._tags_ok, self.counters
        today = datetime.now(timezone.utc).date()
        # Older than the plan keeps: refused (the retention would delete it at once).
        oldest = today - timedelta(days=retention) if retention is not None else date.min
        newest = today + timedelta(days=self.s.future_days)
        # Points per UTC day for the usage counters: numeric points are counted
        # from the minute rollups when stored (no work per point here), the others here.
        days: dict[date, int] = {}
        # The hot loop: per point only checks and its array elements. The rollups
        # and latest values are aggregated once the lot's duplicates are known
        # (storage.aggregate), in one pass over the points actually stored.
        for p in points:
            try:
                tag, ts, v, q = p["tag"], p["ts"], p["v"], p["q"]
            except (KeyError, TypeError):
                raise Rejected("schema", "point fields") from None
            tag_element = tags_ok.get(tag) if type(tag) is str else None
            if tag_element is None:
                if type(tag) is not str or not TAG_RE.match(tag):
                    raise Rejected("schema", "tag")
                if len(tags_ok) > 100_000:
                    tags_ok.clear()
                tag_element = tags_ok[tag] = text_element(tag)
            parsed = ts_cache.get(ts) if type(ts) is str else None
            if parsed is None:
                parsed = self._parse_ts(ts)
                if len(ts_cache) > 100_000:
                    ts_cache.clear()
                ts_cache[ts] = parsed
            ts_text, day, hour = parsed[0], parsed[1], parsed[4]  # datetime, minute: for storage.aggregate
            if type(q) is int:
                if not 0 <= q <= 32767:
                    raise Rejected("schema", "q")
                qc = q
            else:
                qc = QUALITY_CODES.get(q) if type(q) is str else None
                if qc is None:
                    raise Rejected("schema", "q")
            tv = type(v)
            if tv is float:
                if not math.isfinite(v):
                    raise Rejected("schema", "v not finite")
                fv, value, text_value = v, repr(v), None
            elif tv is int:
                if abs(v) > 2**53:
                    raise Rejected("schema", "v out of range")
                fv, value, text_value = float(v), str(v), None
            elif tv is bool:
                fv, value, text_value = float(v), "1" if v else "0", None
            elif tv is str:
                if len(v) > MAX_TEXT:
                    raise Rejected("schema", "v too long")
                fv, value, text_value = None, "NULL", text_element(v)
            elif v is None:
                fv, value, text_value = None, "NULL", None
            else:
                raise Rejected("schema", "v")
            status_ = catalogue.get(tag)
            if status_ is not None and status_ != "active":
                if status_ == "ignored":
                    counters["ignored_points"] += 1
                    skipped.append(p)
                    continue
                unknown[tag] = unknown.get(tag, 0) + 1
            elif status_ is None:
                # Unknown tags are stored all the same (nothing lost; adopting the
                # tag later shows its history) and counted in the catalogue.
                unknown[tag] = unknown.get(tag, 0) + 1
            if not oldest <= day <= newest:
                counters["rejected_points:out_of_range"] += 1
                skipped.append(p)
                continue
            if day not in self.days:
                self._ensure_day(day)
            rows.append((hour, tag_element, ts_text, value, text_value, QUALITY_TEXT.get(qc) or str(qc)))
            if fv is None:
                days[day] = days.get(day, 0) + 1
        if skipped:
            gone = {id(p) for p in skipped}
            points = [p for p in points if id(p) not in gone]
        # The hooks get the points as they were checked, turned into dicts
        # with datetimes only if a handler reads them (most batches concern
        # no rule, and a dict per point would cost the ingest a sixth of its time).
        stored = hooks.StoredPoints(points, self._ts_datetime) if hooks.has_handlers() else ()
        return Batch(mid, qos, tenant_id, agent_id, tenant_text, agent_text, seq, rows, points, stored, unknown,
                     days)

    def _ts_datetime(self, ts: str) -> datetime:
        parsed = self._ts_cache.get(ts)
        return (parsed or self._parse_ts(ts))[2]

    @staticmethod
    def _parse_ts(ts) -> tuple[str, date, datetime, datetime, str]:
        if type(ts) is not str or len(ts) > 40:
            raise Rejected("schema", "ts")
        try:
            dt = datetime.fromisoformat(ts)
        except ValueError:
            raise Rejected("schema", "ts") from None
        if dt.tzinfo is None:
            raise Rejected("schema", "ts without a time zone")
        dt = dt.astimezone(timezone.utc)
        minute = dt.replace(second=0, microsecond=0)
        return dt.isoformat(), dt.date(), dt, minute, minute.replace(minute=0).isoformat()

    def _ensure_day(self, day: date) -> None:
        self.conn.rollback() if self.conn.info.transaction_status else None
        self.writer.ensure_partitions({day})
        self.days.add(day)

    # ------------------------------------------------------------------ flush
    def process(self, messages: list) -> list[tuple[int, int]]:
        """Validate and store one lot of messages; returns the (mid, qos) to ack."""
        acks, batches = [], []
        for mid, qos, topic, payload, content_type in messages:
            self.counters["received"] += 1
            parts = topic.split("/")
            agent_key = parts[2] if len(parts) >= 4 else ""
            kind = "telemetry" if len(parts) == 4 and parts[3] == "telemetry" else "/".join(parts[3:])
            if kind != "telemetry":
                info = self._agent(agent_key)
                if info is None:
                    self.counters["rejected:bad_topic"] += 1
                else:
                    self._side_channel(kind, info[0], payload, content_type)
                acks.append((mid, qos))
                continue
            try:
                batches.append(self.accept(mid, qos, agent_key, payload, content_type))
            except Rejected as exc:
                self.counters[f"rejected:{exc.reason}"] += 1
                if exc.reason != "bad_topic":
                    log.warning("rejected a batch from %s: %s (%s)", agent_key, exc.reason, exc)
                acks.append((mid, qos))
        if batches:
            result = self.writer.write(batches, self._ts_cache, self._parse_ts)
            self.counters["lots_stored"] += 1  # received / lots: how well the per-lot costs are spread
            self.counters["batches_stored"] += len(result.stored)
            self.counters["duplicates"] += len(result.duplicates)
            stored_points = 0
            for b in result.stored:
                stored_points += len(b.rows)
                if b.unknown:  # the catalogue now has these tags as 'unknown'
                    self.counters["unknown_tag_points"] += sum(b.unknown.values())
                    cached = self.tags.get(b.agent_key)
                    if cached:
                        cached[1].update({t: "unknown" for t in b.unknown if t not in cached[1]})
            self.counters["stored"] += stored_points
            acks.extend((b.mid, b.qos) for b in batches)
            self._after_commit(result)
        return acks

    def _after_commit(self, result) -> None:
        if self.redis is not None and result.latest:
            try:
                self._publish_latest(result.latest)
            except Exception:  # the live view is a cache: never hold up storage for it
                self.counters["redis_errors"] += 1
                log.exception("could not update the latest values in Redis")
        if hooks.has_handlers():
            # One call per agent, not per batch: a lot holds hundreds of batches per agent.
            per_agent: dict[str, list] = {}
            for b in result.stored:
                if b.points:
                    per_agent.setdefault(b.agent_key, []).append(b)
            for group in per_agent.values():
                first = group[0]
                points = first.points if len(group) == 1 else hooks.StoredPoints.joined(
                    [b.points for b in group], frozenset(result.latest.get((first.tenant_key, first.agent_key), ())))
                hooks.dispatch(first.tenant_id, first.agent_id, points)

    def _publish_latest(self, latest: dict) -> None:
        from . import services

        pipe = self.redis.pipeline(transaction=False)
        for (tenant_id, agent_id), tags in latest.items():  # ids as text
            args = []
            for tag, (ts, v, q) in tags.items():
                ts_iso = f"{ts:%Y-%m-%dT%H:%M:%S.%fZ}"  # one fixed format: compared as text in Redis
                args += (tag, ts_iso, _dumps({"v": v, "ts": ts_iso, "q": q}))
            self._latest_script(keys=[services.latest_key(tenant_id, agent_id)], args=args, client=pipe)
        pipe.execute()

    def _side_channel(self, kind: str, agent_id: uuid.UUID, payload: bytes, content_type: str | None) -> None:
        """state, events and cmd/ack go to the agents room when it handles them."""
        handler_name = {"state": "handle_state", "cmd/ack": "handle_ack", "events": "handle_event"}.get(kind)
        handler = getattr(_agents_services(), handler_name, None) if handler_name else None
        if handler is None or self.app is None:
            self.counters[f"ignored:{kind or 'unknown'}"] += 1
            return
        try:
            doc = decode(payload, content_type, self.s)
            with self.app.app_context():
                handler(agent_id, doc)
            self.counters[f"handled:{kind}"] += 1
        except Rejected as exc:
            self.counters[f"rejected:{kind}:{exc.reason}"] += 1
        except Exception:  # the agents room's bug must not stop telemetry
            self.counters[f"failed:{kind}"] += 1
            log.exception("handling %s from %s failed", kind, agent_id)

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        return dict(self.counters)

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < self.s.status_interval:
            return
        self._last_status = now
        counters = self.status()
        log.info("ingest %s: %s", self.s.client_id, " ".join(f"{k}={v}" for k, v in sorted(counters.items())))
        if self.redis is not None:
            try:
                key = f"ah:ingest:{self.s.client_id}"
                self.redis.hset(key, mapping={**counters, "updated_at": datetime.now(timezone.utc).isoformat()})
                self.redis.expire(key, 7 * 86400)
            except Exception:
                log.warning("could not write the ingest status to Redis", exc_info=True)

    # -------------------------------------------------------------------- MQTT
    def _reader(self) -> Reader:
        host, port, user, password, tls = parse_mqtt_url(self.s.mqtt_url)
        user, password = user or self.s.username, password or self.s.password

        def on_connect(session_present: bool) -> None:
            log.info("connected to %s:%s (session present: %s)", host, port, session_present)
            self.connected.set()

        def on_subscribed() -> None:
            # Until this line the broker drops what nobody subscribes to: whoever
            # starts the first ingest of a group (a benchmark, a test) waits for it.
            log.info("subscribed to %s (share group %s)", ", ".join(TOPICS), self.s.share_group)
            self.subscribed.set()

        def on_disconnect(reason: str) -> None:
            self.connected.clear()
            self.subscribed.clear()
            log.warning("disconnected from the broker: %s", reason)

        return Reader(host, port, self.s.client_id, [(f"$share/{self.s.share_group}/ah/v1/+/{t}", 1) for t in TOPICS],
                      self.inbox.put, username=user, password=password, tls=tls, keepalive=30,
                      session_expiry=self.s.session_expiry, receive_maximum=self.s.receive_maximum,
                      on_connect=on_connect, on_subscribed=on_subscribed, on_disconnect=on_disconnect)

    def run(self, *, maintenance=None, maintenance_every: float = 3600.0) -> None:
        reader = self._reader()
        reader.start()
        next_maintenance = time.monotonic()
        try:
            while not self.stop.is_set():
                if maintenance is not None and time.monotonic() >= next_maintenance:
                    next_maintenance = time.monotonic() + maintenance_every
                    try:
                        maintenance()
                    except Exception:
                        log.exception("telemetry maintenance failed; next try later")
                messages = self._take()
                if messages:
                    acks = self._process_with_retry(messages)
                    by_generation: dict[int, list[int]] = {}
                    for (generation, mid), qos in acks:
                        if qos:
                            by_generation.setdefault(generation, []).append(mid)
                    for generation, mids in by_generation.items():
                        reader.ack(generation, mids)  # refused for an older connection: the broker redelivers
                self.report()
        finally:
            self.report(force=True)
            reader.stop()
            self.conn.close()

    def _take(self) -> list:
        """Up to max_messages, waiting at most flush_interval for more once
        the first lot is in. The reader puts lists (all it read at once); a
        list longer than what is left is split, its rest taken next time."""
        messages = self._held
        self._held = []
        if not messages:
            try:
                messages = self.inbox.get(timeout=0.5)
            except queue.Empty:
                return []
        deadline = time.monotonic() + self.s.flush_interval
        while len(messages) < self.s.max_messages:
            try:
                more = self.inbox.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    more = self.inbox.get(timeout=left)
                except queue.Empty:
                    break
            messages.extend(more)  # the reader's lists are ours once put
        if len(messages) > self.s.max_messages:
            messages, self._held = messages[:self.s.max_messages], messages[self.s.max_messages:]
        return messages

    def _process_with_retry(self, messages: list) -> list[tuple[int, int]]:
        """A database failure (restart, deadlock) retries the whole lot; nothing
        is acknowledged until it is stored."""
        import psycopg

        delay = 0.2
        while True:
            try:
                return self.process(messages)
            except psycopg.Error:
                self.counters["db_errors"] += 1
                log.exception("storing %d messages failed; retrying", len(messages))
                self._reconnect()
                self.counters.subtract({"received": len(messages)})  # counted again on the retry
                if self.stop.wait(delay):  # told to stop: nothing acknowledged, the broker redelivers the lot
                    return []
                delay = min(delay * 2, 5.0)

    def _reconnect(self) -> None:
        import psycopg

        try:
            if self.conn.closed or self.conn.broken:
                raise psycopg.OperationalError("connection lost")
            self.conn.rollback()
        except psycopg.Error:
            try:
                self.conn = psycopg.connect(self.s.database_url)
                self.writer = Writer(self.conn)
            except psycopg.Error:
                log.warning("database still unreachable")


_AGENTS_SERVICES = None


def _agents_services():
    """The agents room's services, if that room is installed (it owns the state,
    events and command-ack topics)."""
    global _AGENTS_SERVICES
    if _AGENTS_SERVICES is None:
        try:
            from alloyhub.tenants.agents import services as agents_services
        except ImportError:
            agents_services = False
        _AGENTS_SERVICES = agents_services
    return _AGENTS_SERVICES or None


def default_client_id() -> str:
    # Stable across restarts of the same process slot, so the broker resumes
    # its session (and redelivers what it had not acknowledged).
    return os.environ.get("INGEST_CLIENT_ID") or f"ingest-{socket.gethostname()}"


def settings_from_app(app, client_id: str | None = None) -> Settings:
    from sqlalchemy.engine import make_url

    libpq = make_url(app.config["DATABASE_APP_URL"]).set(drivername="postgresql").render_as_string(
        hide_password=False)
    return Settings(
        mqtt_url=app.config["MQTT_URL"], database_url=libpq, redis_url=app.config.get("REDIS_URL"),
        client_id=client_id or default_client_id(),
        username=app.config.get("MQTT_SERVICE_USERNAME") if app.config.get("MQTT_SERVICE_PASSWORD") else None,
        password=app.config.get("MQTT_SERVICE_PASSWORD"),
    )


def _quiet_garbage_collector() -> None:
    """Every message makes a dozen short-lived dicts and lists, so the cyclic
    collector runs constantly and, each time it reaches the older generations,
    walks the whole application loaded at start: half of the checking time in
    the profile. The ingest makes no reference cycles of its own on the hot
    path (reference counting frees it all), so the start-up objects are frozen
    out of collection and the youngest generation is collected less often."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)


def run(app, client_id: str | None = None, share_group: str = SHARE_GROUP, receive_maximum: int = 10_000) -> None:
    """The `alloyhub ingest` process."""
    import signal

    from . import services

    settings = settings_from_app(app, client_id)
    settings.share_group = share_group
    settings.receive_maximum = max(1, min(int(receive_maximum), 65535))
    settings.max_messages = max(1, min(settings.max_messages, settings.receive_maximum))
    ingestor = Ingestor(settings, app)
    _quiet_garbage_collector()

    def _stop(signum, frame):  # noqa: ARG001
        ingestor.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def maintenance():
        with app.app_context():
            services.maintain()

    log.info("ingest %s starting (broker %s)", settings.client_id, settings.mqtt_url)
    ingestor.run(maintenance=maintenance)
