"""The ingest through the machine's Mosquitto: each test runs an ingest loop
in a thread with a share group of its own (other runs on the same broker
never take its messages), publishes batches with paho, and looks in
PostgreSQL, Redis and the counters."""
from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from alloyhub.platform import tenancy
from alloyhub.platform.db import db


# ------------------------------------------------------------------ helpers

def make_agent(app, tenant_id, status="active", tags=()):
    from alloyhub.tenants.agents.models import Agent, AgentTag

    with app.app_context(), tenancy.scoped(tenant_id, session=db.session):
        agent = Agent(name=f"agent {secrets.token_hex(3)}", status=status, config={}, allow_write=[], health={})
        db.session.add(agent)
        db.session.flush()
        for tag in tags:
            db.session.add(AgentTag(agent_id=agent.id, tag=tag, status="active", data_type="float"))
        db.session.commit()
        return agent.id


def batch(agent_id, seq, points, sent_at=None) -> dict:
    return {"agent": str(agent_id), "seq": seq, "sent_at": sent_at or datetime.now(timezone.utc).isoformat(),
            "points": points}


def pts(tags, start: datetime, n: int, every: float = 1.0, base: float = 0.0) -> list[dict]:
    out = []
    for i in range(n):
        ts = (start + timedelta(seconds=i * every)).isoformat()
        for k, tag in enumerate(tags):
            out.append({"tag": tag, "ts": ts, "v": base + i + k / 10, "q": 192})
    return out


class Publisher:
    def __init__(self, mqtt_url: str):
        import paho.mqtt.client as mqtt

        from alloyhub.tenants.telemetry.ingest import parse_mqtt_url

        host, port, *_ = parse_mqtt_url(mqtt_url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{secrets.token_hex(4)}",
                                  protocol=mqtt.MQTTv5)
        self.client.connect(host, port)
        self.client.loop_start()

    def send(self, topic: str, payload, *, zlib_compress=False):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        props = None
        if zlib_compress:
            body = zlib.compress(body)
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "application/json+zlib"
        info = self.client.publish(topic, body, qos=1, properties=props)
        info.wait_for_publish(10)

    def telemetry(self, agent_id, doc, **kw):
        self.send(f"ah/v1/{agent_id}/telemetry", doc, **kw)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RunningIngest:
    def __init__(self, app, **overrides):
        from alloyhub.tenants.telemetry import ingest

        tag = secrets.token_hex(4)
        self.settings = ingest.settings_from_app(app, client_id=f"test-ingest-{tag}")
        self.settings.share_group = f"test{tag}"
        self.settings.session_expiry = 30
        self.settings.flush_interval = 0.02
        for k, v in overrides.items():
            setattr(self.settings, k, v)
        self.ingestor = ingest.Ingestor(self.settings, app)
        self.thread = threading.Thread(target=self.ingestor.run, daemon=True)
        self.thread.start()
        assert self.ingestor.subscribed.wait(15), "ingest did not subscribe"

    @property
    def counters(self):
        return self.ingestor.counters

    def settle(self, received: int, timeout=20.0):
        """Wait until `received` messages were taken in total and handled."""
        wait_for(lambda: self.counters["received"] >= received and self.ingestor.inbox.empty(), timeout,
                 f"{received} messages")
        time.sleep(0.1)  # the last lot's commit

    def stop(self):
        self.ingestor.stop.set()
        self.thread.join(10)


@pytest.fixture
def running_ingest(app):
    made = []

    def start(**overrides):
        r = RunningIngest(app, **overrides)
        made.append(r)
        return r

    yield start
    for r in made:
        r.stop()


@pytest.fixture
def publisher(service_urls):
    p = Publisher(service_urls["MQTT_URL"])
    yield p
    p.close()


def count_points(owner_engine, agent_id, tag=None) -> int:
    sql = "select count(*) from telemetry_points where agent_id = :a" + (" and tag = :t" if tag else "")
    with owner_engine.connect() as c:
        return c.execute(text(sql), {"a": agent_id, "t": tag}).scalar()


# ------------------------------------------------------------------- tests

def test_a_batch_is_stored_once_with_rollups_and_latest(app, tenant_factory, running_ingest, publisher,
                                                         owner_engine):
    from alloyhub.tenants.telemetry import hooks, services

    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["mill.speed", "strip.tension"])
    heard = []
    handler = hooks.on_points(lambda tenant_id, agent_id, points: heard.append((tenant_id, agent_id, points)))
    try:
        ing = running_ingest()
        start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
        publisher.telemetry(agent, batch(agent, 1, pts(["mill.speed", "strip.tension"], start, 90)))
        ing.settle(1)
    finally:
        hooks.remove(handler)
    assert ing.counters["stored"] == 180 and ing.counters["batches_stored"] == 1
    assert count_points(owner_engine, agent) == 180
    with owner_engine.connect() as c:
        rows = c.execute(text("select bucket, n, sum, min, max, last_v from telemetry_rollup_minute "
                              "where agent_id = :a and tag = 'mill.speed' order by bucket"), {"a": agent}).all()
        hour = c.execute(text("select sum(n) from telemetry_rollup_hour where agent_id = :a"), {"a": agent}).scalar()
        tenant_of_rows = c.execute(text("select distinct tenant_id from telemetry_points where agent_id = :a"),
                                   {"a": agent}).scalars().all()
    assert tenant_of_rows == [t.tenant_id]
    # 90 seconds from a whole minute: 60 points (0..59), then 30 (60..89)
    assert [(r.n, r.min, r.max, r.last_v) for r in rows] == [(60, 0.0, 59.0, 59.0), (30, 60.0, 89.0, 89.0)]
    assert rows[0].sum == sum(range(60))
    assert hour == 180
    with app.app_context():
        latest = app.extensions["redis"].hgetall(services.latest_key(t.tenant_id, agent))
    assert json.loads(latest[b"mill.speed"])["v"] == 89.0
    assert json.loads(latest[b"strip.tension"])["q"] == 192  # as the publisher sent it
    assert len(heard) == 1 and heard[0][1] == agent and len(heard[0][2]) == 180
    assert isinstance(heard[0][2][0]["ts"], datetime)


def test_replayed_batch_is_skipped_and_out_of_order_seqs_are_both_stored(app, tenant_factory, running_ingest,
                                                                          publisher, owner_engine):
    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["a"])
    ing = running_ingest()
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    publisher.telemetry(agent, batch(agent, 5, pts(["a"], now, 10)))
    publisher.telemetry(agent, batch(agent, 3, pts(["a"], now - timedelta(minutes=5), 10)))
    publisher.telemetry(agent, batch(agent, 5, pts(["a"], now, 10)))  # the agent re-sends after a lost PUBACK
    publisher.telemetry(agent, batch(agent, 3, pts(["a"], now - timedelta(minutes=5), 10)), zlib_compress=True)
    ing.settle(4)
    assert ing.counters["duplicates"] == 2
    assert count_points(owner_engine, agent) == 20
    # a restarted ingest (new process, new connection) still knows them
    ing.stop()
    ing2 = running_ingest()
    publisher.telemetry(agent, batch(agent, 5, pts(["a"], now, 10)))
    publisher.telemetry(agent, batch(agent, 4, pts(["a"], now - timedelta(minutes=2), 10)))
    ing2.settle(2)
    assert ing2.counters["duplicates"] == 1
    assert count_points(owner_engine, agent) == 30


def test_bad_payloads_are_rejected_counted_and_ingestion_continues(app, tenant_factory, running_ingest,
                                                                    publisher, owner_engine):
    t, other = tenant_factory(), tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["a"])
    foreign = make_agent(app, other.tenant_id, tags=["a"])
    revoked = make_agent(app, t.tenant_id, status="revoked", tags=["a"])
    ing = running_ingest(max_payload=64 * 1024)
    now = datetime.now(timezone.utc)
    good = pts(["a"], now, 5)
    publisher.send(f"ah/v1/{agent}/telemetry", b"{not json")
    publisher.send(f"ah/v1/{agent}/telemetry", b"\x00\xff" * 10)
    publisher.send(f"ah/v1/{agent}/telemetry", b"x" * (64 * 1024 + 1))  # oversized
    publisher.send(f"ah/v1/{agent}/telemetry", b"not zlib", zlib_compress=False)
    publisher.telemetry(agent, batch(foreign, 1, good))  # claims another agent (of another tenant)
    publisher.telemetry(uuid.uuid4(), batch(agent, 1, good))  # a good batch on a stranger's topic
    ghost = uuid.uuid4()
    publisher.telemetry(ghost, batch(ghost, 1, good))  # nobody we know
    publisher.telemetry(revoked, batch(revoked, 1, good))
    publisher.telemetry(agent, {"agent": str(agent), "seq": "one", "points": good})
    publisher.telemetry(agent, batch(agent, 1, [{"tag": "a", "ts": "yesterday", "v": 1, "q": 0}]))
    publisher.telemetry(agent, batch(agent, 1, [{"tag": "a", "ts": "2026-01-01T00:00:00", "v": 1, "q": 0}]))
    publisher.telemetry(agent, batch(agent, 1, [{"tag": "a\tb", "ts": now.isoformat(), "v": 1, "q": 0}]))
    publisher.telemetry(agent, batch(agent, 1, [{"tag": "a", "ts": now.isoformat(), "v": {"x": 1}, "q": 0}]))
    publisher.telemetry(agent, [1, 2, 3])
    publisher.send(f"ah/v1/not-a-uuid/telemetry", batch(agent, 1, good))
    # a zlib bomb: small on the wire, huge inflated
    publisher.telemetry(agent, b'{"agent": "' + b" " * (20 * 1024 * 1024) + b'"}', zlib_compress=True)
    publisher.telemetry(agent, batch(agent, 1, good))  # and a good one still goes through
    ing.settle(17)
    c = ing.counters
    assert c["rejected:malformed"] == 3
    assert c["rejected:oversized"] == 2
    assert c["rejected:wrong_agent"] == 2
    assert c["rejected:unknown_agent"] == 1
    assert c["rejected:agent_not_active"] == 1
    assert c["rejected:schema"] == 6
    assert c["rejected:bad_topic"] == 1
    assert c["stored"] == 5
    assert count_points(owner_engine, agent) == 5
    assert count_points(owner_engine, foreign) == 0 and count_points(owner_engine, revoked) == 0


def test_unknown_tags_are_recorded_and_their_points_stored(app, tenant_factory, running_ingest, publisher,
                                                           owner_engine):
    from alloyhub.tenants.agents.models import AgentTag
    from sqlalchemy import select

    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["known"])
    ing = running_ingest()
    now = datetime.now(timezone.utc)
    publisher.telemetry(agent, batch(agent, 1, pts(["known", "new.tag"], now, 3)))
    publisher.telemetry(agent, batch(agent, 2, pts(["new.tag"], now + timedelta(seconds=10), 4)))
    ing.settle(2)
    with app.app_context(), tenancy.scoped(t.tenant_id, session=db.session):
        rows = {r.tag: r for r in db.session.scalars(select(AgentTag).where(AgentTag.agent_id == agent))}
    assert rows["new.tag"].status == "unknown" and rows["new.tag"].unknown_points == 7
    assert rows["known"].status == "active" and rows["known"].unknown_points == 0
    assert ing.counters["unknown_tag_points"] == 7
    assert count_points(owner_engine, agent, "new.tag") == 7


def test_late_points_do_not_move_latest_back_and_rollups_merge(app, tenant_factory, running_ingest, publisher,
                                                               owner_engine):
    from alloyhub.tenants.telemetry import services

    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["a"])
    ing = running_ingest()
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=3)
    newer = [{"tag": "a", "ts": (minute + timedelta(seconds=50)).isoformat(), "v": 7.0, "q": 192}]
    older = [{"tag": "a", "ts": (minute + timedelta(seconds=10)).isoformat(), "v": -3.0, "q": 192},
             {"tag": "a", "ts": (minute + timedelta(seconds=20)).isoformat(), "v": 2.0, "q": 192}]
    publisher.telemetry(agent, batch(agent, 2, newer))
    ing.settle(1)
    publisher.telemetry(agent, batch(agent, 1, older))  # arrives later, belongs earlier
    ing.settle(2)
    with app.app_context():
        doc = json.loads(app.extensions["redis"].hget(services.latest_key(t.tenant_id, agent), "a"))
    assert doc["v"] == 7.0
    with owner_engine.connect() as c:
        r = c.execute(text("select n, sum, min, max, last_v from telemetry_rollup_minute where agent_id = :a"),
                      {"a": agent}).one()
    assert tuple(r) == (3, 6.0, -3.0, 7.0, 7.0)


def test_seq_compaction_keeps_exactly_once(app, tenant_factory, running_ingest, publisher, owner_engine):
    from alloyhub.tenants.telemetry import services

    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["a"])
    ing = running_ingest()
    now = datetime.now(timezone.utc)
    for seq in (1, 2, 3, 5):
        publisher.telemetry(agent, batch(agent, seq, pts(["a"], now + timedelta(seconds=seq * 10), 2)))
    ing.settle(4)
    with app.app_context():
        services.compact_seqs()
    with owner_engine.connect() as c:
        low = c.execute(text("select low_water from telemetry_seq_marks where agent_id = :a"), {"a": agent}).scalar()
        left = c.execute(text("select seq from telemetry_batches where agent_id = :a"), {"a": agent}).scalars().all()
    assert low == 3 and left == [5]
    publisher.telemetry(agent, batch(agent, 2, pts(["a"], now + timedelta(seconds=20), 2)))  # under the mark
    publisher.telemetry(agent, batch(agent, 5, pts(["a"], now + timedelta(seconds=50), 2)))  # in the set
    publisher.telemetry(agent, batch(agent, 4, pts(["a"], now + timedelta(seconds=40), 2)))  # the gap
    ing.settle(7)
    assert ing.counters["duplicates"] == 2
    assert count_points(owner_engine, agent) == 10
    with app.app_context():
        services.compact_seqs()
    with owner_engine.connect() as c:
        low = c.execute(text("select low_water from telemetry_seq_marks where agent_id = :a"), {"a": agent}).scalar()
    assert low == 5


def test_a_failing_hook_never_stops_ingest(app, tenant_factory, running_ingest, publisher, owner_engine):
    from alloyhub.tenants.telemetry import hooks

    def broken(tenant_id, agent_id, points):
        raise RuntimeError("alarm engine bug")

    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["a"])
    hooks.on_points(broken)
    try:
        ing = running_ingest()
        now = datetime.now(timezone.utc)
        publisher.telemetry(agent, batch(agent, 1, pts(["a"], now, 3)))
        publisher.telemetry(agent, batch(agent, 2, pts(["a"], now + timedelta(seconds=5), 3)))
        ing.settle(2)
    finally:
        hooks.remove(broken)
    assert count_points(owner_engine, agent) == 6


def test_points_outside_the_partitions_are_refused_per_point(app, tenant_factory, running_ingest, publisher,
                                                             owner_engine):
    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["a"])
    ing = running_ingest()
    now = datetime.now(timezone.utc)
    points = [{"tag": "a", "ts": (now - timedelta(days=400)).isoformat(), "v": 1, "q": 0},
              {"tag": "a", "ts": (now + timedelta(days=30)).isoformat(), "v": 1, "q": 0},
              {"tag": "a", "ts": (now + timedelta(days=1, hours=1)).isoformat(), "v": 1, "q": 0},  # within the partitions made ahead
              {"tag": "a", "ts": now.isoformat(), "v": "running", "q": 0},
              {"tag": "a", "ts": now.isoformat(), "v": True, "q": 0}]
    publisher.telemetry(agent, batch(agent, 1, points))
    ing.settle(1)
    assert ing.counters["rejected_points:out_of_range"] == 2
    assert count_points(owner_engine, agent) == 3
    with owner_engine.connect() as c:
        texts = c.execute(text("select v, v_text from telemetry_points where agent_id = :a and ts <= now() + "
                               "interval '1 hour' order by v_text nulls last"), {"a": agent}).all()
    assert [tuple(r) for r in texts] == [(None, "running"), (1.0, None)]


def test_partitions_are_closed_to_the_app_role_and_the_parent_is_filtered(app, tenant_factory, running_ingest,
                                                                          publisher, owner_engine):
    import psycopg
    from sqlalchemy.engine import make_url

    a, b = tenant_factory(), tenant_factory()
    agent_a = make_agent(app, a.tenant_id, tags=["x"])
    agent_b = make_agent(app, b.tenant_id, tags=["x"])
    ing = running_ingest()
    now = datetime.now(timezone.utc)
    publisher.telemetry(agent_a, batch(agent_a, 1, pts(["x"], now, 2)))
    publisher.telemetry(agent_b, batch(agent_b, 1, pts(["x"], now, 3)))
    ing.settle(2)
    url = make_url(app.config["DATABASE_APP_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select set_config('app.tenant_id', %s, false)", (str(b.tenant_id),))
        seen = conn.execute("select distinct agent_id from telemetry_points").fetchall()
        assert seen == [(agent_b,)]
        for table in ("telemetry_rollup_minute", "telemetry_rollup_hour", "telemetry_batches"):
            assert {r[0] for r in conn.execute(f"select tenant_id from {table}").fetchall()} <= {b.tenant_id}
        partition = f"telemetry_packs_p{now:%Y%m%d}"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select count(*) from {partition}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # RLS WITH CHECK: not into another tenant
            conn.execute("insert into telemetry_packs (tenant_id, agent_id, hour, tag, ts, v, q) "
                         "values (%s, %s, date_trunc('hour', now()), '{x}', array[now()], '{1}', '{0}')",
                         (a.tenant_id, agent_a))
        # The per-point view is read-only.
        assert conn.execute("select has_table_privilege('telemetry_points', 'select'), "
                            "has_table_privilege('telemetry_points', 'insert'), "
                            "has_table_privilege('telemetry_points', 'delete')").fetchone() == (True, False, False)


def test_maintenance_makes_partitions_ahead_and_drops_by_retention(app, owner_engine, tenant_factory):
    """Whole partitions go once older than the longest retention of any plan
    in use (per-tenant retention: tests/tenants/test_telemetry_retention.py)."""
    from alloyhub.tenants.telemetry import services

    tenant_factory()  # at least one plan in use
    today = datetime.now(timezone.utc).date()
    with app.app_context(), tenancy.system_context(db.session):
        longest = max(services.all_retentions().values())
    old, kept = today - timedelta(days=longest + 3), today - timedelta(days=longest - 3)
    with owner_engine.begin() as c:
        for day in (old, kept):
            c.execute(text("select telemetry_ensure_partitions(:d, :d)"), {"d": day})
    with app.app_context():
        report = services.maintain(days_ahead=9)
    with owner_engine.connect() as c:
        names = set(c.execute(text("select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
                                   "join pg_class p on p.oid = i.inhparent where p.relname = 'telemetry_packs'"))
                    .scalars())
    assert f"telemetry_packs_p{today + timedelta(days=9):%Y%m%d}" in names
    assert f"telemetry_packs_p{old:%Y%m%d}" not in names
    assert f"telemetry_packs_p{kept:%Y%m%d}" in names
    assert report["partitions_dropped"] >= 1


def test_a_stop_ends_the_database_retry_loop_without_acknowledging(app, monkeypatch):
    """While the database refuses a lot, the ingest retries; told to stop
    (SIGTERM from `alloyhub up`), it leaves the loop with nothing to ack, so
    the broker redelivers the lot to the next run."""
    import psycopg

    from alloyhub.tenants.telemetry import ingest

    settings = ingest.settings_from_app(app, client_id=f"test-ingest-{secrets.token_hex(4)}")
    ingestor = ingest.Ingestor(settings, app)
    attempts = []

    def refuse(messages):
        attempts.append(len(messages))
        if len(attempts) == 2:
            ingestor.stop.set()
        raise psycopg.OperationalError("the database system is shutting down")

    monkeypatch.setattr(ingestor, "process", refuse)
    monkeypatch.setattr(ingestor, "_reconnect", lambda: None)
    done = []
    worker = threading.Thread(target=lambda: done.append(ingestor._process_with_retry([object()])), daemon=True)
    worker.start()
    worker.join(15)
    try:
        assert done == [[]], "the retry loop did not end on stop"
        assert attempts == [1, 1]
    finally:
        ingestor.stop.set()
        ingestor.conn.close()


def test_the_hooks_hear_each_agent_once_per_write_in_arrival_order_without_duplicates(app, tenant_factory,
                                                                                     owner_engine):
    """A lot holds many batches per agent: the handlers get one call per agent
    with those batches' points in the order they arrived, and nothing of a
    batch that was already stored; the rollups and latest values of the lot
    leave the duplicates out too."""
    from alloyhub.tenants.telemetry import hooks, ingest

    t = tenant_factory()
    a, b = make_agent(app, t.tenant_id, tags=["x"]), make_agent(app, t.tenant_id, tags=["x"])
    heard = []

    def handler(tenant_id, agent_id, points):
        heard.append((tenant_id, agent_id, [(p["tag"], p["v"]) for p in points], set(points.tags)))

    settings = ingest.settings_from_app(app, client_id=f"test-hooks-{secrets.token_hex(3)}")
    ing = ingest.Ingestor(settings, app)  # no MQTT: process() is called directly
    start = datetime.now(timezone.utc) - timedelta(minutes=5)

    def msg(agent, seq, *values, tag="x"):
        points = [{"tag": tag, "ts": (start + timedelta(seconds=seq * 10 + i)).isoformat(), "v": v, "q": "good"}
                  for i, v in enumerate(values)]
        return ((1, seq), 1, f"ah/v1/{agent}/telemetry", json.dumps(batch(agent, seq, points)).encode(), None)

    hooks.on_points(handler)
    try:
        ing.process([msg(a, 1, 1.0)])
        heard.clear()
        ing.process([msg(a, 2, 2.0, 3.0), msg(b, 1, 10.0), msg(a, 1, 99.0), msg(a, 3, 4.0, tag="y"),
                     msg(b, 1, 98.0)])
    finally:
        hooks.remove(handler)
        ing.conn.close()
    assert sorted(heard, key=lambda h: str(h[1]) != str(a)) == [
        (t.tenant_id, a, [("x", 2.0), ("x", 3.0), ("y", 4.0)], {"x", "y"}),
        (t.tenant_id, b, [("x", 10.0)], {"x"}),
    ]
    with owner_engine.connect() as c:
        rollups = {(str(r.agent_id), r.tag): (r.n, r.sum, r.max) for r in c.execute(text(
            "select agent_id, tag, sum(n) n, sum(sum) sum, max(max) max from telemetry_rollup_minute "
            "where agent_id in (:a, :b) group by 1, 2"), {"a": a, "b": b})}
    assert rollups == {(str(a), "x"): (3, 6.0, 3.0), (str(a), "y"): (1, 4.0, 4.0), (str(b), "x"): (1, 10.0, 10.0)}
    from alloyhub.tenants.telemetry import services

    with app.app_context(), tenancy.scoped(t.tenant_id, session=db.session):
        assert services.latest(b)["values"]["x"]["v"] == 10.0
        assert services.latest(a)["values"]["x"]["v"] == 3.0
