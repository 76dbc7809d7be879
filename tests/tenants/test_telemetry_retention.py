"""Telemetry kept per plan, and what a tenant stores.

Partitions are per day and shared by every tenant: the maintenance deletes
each tenant's points and minute rollups beyond its own plan's retention
(hours are kept at least two years), drops whole partitions beyond the
longest retention in use, and never looks at the payment status. The
ingest refuses points a plan would not keep and keeps per-tenant counters,
from which the usage meter reads points stored per day and bytes stored.
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from alloyhub.platform import tenancy
from alloyhub.platform.billing import plans, usage
from alloyhub.platform.billing import services as billing
from alloyhub.platform.db import db
from tests import factories
from tests.tenants.test_ingest import batch, make_agent, pts

# ------------------------------------------------------------------ helpers

def put_on_plan(app, tenant_id, plan_key: str) -> None:
    with app.app_context():
        billing.override_plan(tenant_id, plan_key, reason="retention test", force=True)


def messages(agent, *docs):
    return [(i, 1, f"ah/v1/{agent}/telemetry", json.dumps(doc).encode(), None) for i, doc in enumerate(docs)]


def craft(owner_engine, tenant_id, agent_id, ts: datetime, v: float, tag: str = "speed") -> None:
    """One point with its minute and hour rollup rows and counters, as the
    ingest would have stored it on that day (written as the owner, because
    the ingest refuses points older than the plan keeps)."""
    minute, hour = ts.replace(second=0, microsecond=0), ts.replace(minute=0, second=0, microsecond=0)
    with owner_engine.begin() as c:
        c.execute(text("select telemetry_ensure_partitions(:d, :d)"), {"d": ts.date()})
        c.execute(text("insert into telemetry_packs (tenant_id, agent_id, hour, tag, ts, v, q) "
                       "values (:t, :a, :hour, array[:tag], array[:ts], array[:v], '{192}')"),
                  {"t": tenant_id, "a": agent_id, "hour": hour, "tag": tag, "ts": ts, "v": v})
        for table, bucket in (("telemetry_rollup_minute", minute), ("telemetry_rollup_hour", hour)):
            c.execute(text(f"insert into {table} (tenant_id, agent_id, tag, bucket, n, sum, min, max, last_ts, last_v) "
                           "values (:t, :a, :tag, :b, 1, :v, :v, :v, :ts, :v)"),
                      {"t": tenant_id, "a": agent_id, "tag": tag, "b": bucket, "ts": ts, "v": v})
        c.execute(text("insert into telemetry_usage_stored as u (tenant_id, day, points, minute_rows, hour_rows) "
                       "values (:t, :d, 1, 1, 1) on conflict (tenant_id, day) do update set "
                       "points = u.points + 1, minute_rows = u.minute_rows + 1, hour_rows = u.hour_rows + 1"),
                  {"t": tenant_id, "d": ts.date()})


def kept(owner_engine, table: str, agent_id, ts: datetime) -> bool:
    column = "ts" if table == "telemetry_points" else "bucket"
    lo = ts.replace(minute=0, second=0, microsecond=0)
    with owner_engine.connect() as c:
        return bool(c.execute(text(f"select count(*) from {table} where agent_id = :a and {column} >= :lo "
                                   f"and {column} < :hi"), {"a": agent_id, "lo": lo, "hi": lo + timedelta(hours=1)})
                    .scalar())


def history(client, made, agent, ts: datetime, step="10s", around=timedelta(minutes=1)):
    api = factories.ApiClient(client).sign_in(made.owner_email)
    start, end = ts - around, ts + around
    q = (f"/api/v1/telemetry/history?agent_id={agent}&tags=speed&from={start.isoformat()}&to={end.isoformat()}"
         f"&step={step}").replace("+", "%2B")
    response = api.get(q)
    assert response.status_code == 200, response.get_json()
    return [p for s in response.get_json()["series"] for p in s["points"]]


def ago(days: int) -> datetime:
    return (datetime.now(timezone.utc) - timedelta(days=days)).replace(hour=12, minute=30, second=5, microsecond=0)


# ------------------------------------------------------------------ retention

def test_each_tenant_keeps_what_its_plan_says_and_the_status_plays_no_part(
        app, client, tenant_factory, owner_engine):
    from alloyhub.tenants.telemetry import services

    starter, pro = tenant_factory(), tenant_factory()
    put_on_plan(app, starter.tenant_id, "starter")  # 90 days
    put_on_plan(app, pro.tenant_id, "professional")  # 365 days
    # The professional company has not paid for a while: read-only, and it keeps all the same.
    with owner_engine.begin() as c:
        c.execute(text("update billing_subscriptions set status = 'read_only' where tenant_id = :t"),
                  {"t": pro.tenant_id})
    a_s, a_p = make_agent(app, starter.tenant_id, tags=["speed"]), make_agent(app, pro.tenant_id, tags=["speed"])
    ages = (10, 100, 400, 800)
    for days in ages:
        craft(owner_engine, starter.tenant_id, a_s, ago(days), float(days))
        craft(owner_engine, pro.tenant_id, a_p, ago(days), float(days))

    with app.app_context():
        report = services.maintain()
    # The starter company's 100-day-old rows sit in a partition others keep: deleted for it alone.
    assert str(starter.tenant_id) in report["tenants_cleaned"]

    expected = {  # (agent, days ago) -> (points and minutes kept, hour kept)
        (a_s, 10): (True, True), (a_s, 100): (False, True), (a_s, 400): (False, True), (a_s, 800): (False, False),
        (a_p, 10): (True, True), (a_p, 100): (True, True), (a_p, 400): (False, True), (a_p, 800): (False, False),
    }
    for (agent, days), (raw, hour) in expected.items():
        ts = ago(days)
        assert kept(owner_engine, "telemetry_points", agent, ts) is raw, (agent == a_s, days)
        assert kept(owner_engine, "telemetry_rollup_minute", agent, ts) is raw, (agent == a_s, days)
        assert kept(owner_engine, "telemetry_rollup_hour", agent, ts) is hour, (agent == a_s, days)
    # The 100-day partition is shared: it stays for the professional company's rows.
    with owner_engine.connect() as c:
        assert c.execute(text("select to_regclass(:p) is not null"),
                         {"p": f"telemetry_packs_p{ago(100):%Y%m%d}"}).scalar()
        counters = dict(c.execute(text("select day, (points, minute_rows, hour_rows)::text from telemetry_usage_stored "
                                       "where tenant_id = :t"), {"t": starter.tenant_id}).all())
    # The counters follow: what is left of each day.
    assert counters == {ago(10).date(): "(1,1,1)", ago(100).date(): "(0,0,1)", ago(400).date(): "(0,0,1)"}

    # The history API no longer returns what is gone, and still returns the rest.
    assert history(client, starter, a_s, ago(100)) == []
    assert [v for _, v in history(client, pro, a_p, ago(100))] == [100.0]
    assert [v for _, v in history(client, starter, a_s, ago(10))] == [10.0]
    # The hourly trend of the starter company still shows the 100-day-old hour.
    hourly = history(client, starter, a_s, ago(100), step="1h", around=timedelta(hours=2))
    assert [v for _, v in hourly] == [100.0]

    with app.app_context():  # a second run finds nothing more to do for them
        again = services.maintain()
    assert str(starter.tenant_id) not in again["tenants_cleaned"]


def test_partitions_beyond_the_longest_plan_in_use_are_dropped_whole(app, tenant_factory, owner_engine):
    from alloyhub.tenants.telemetry import services

    made = tenant_factory()
    agent = make_agent(app, made.tenant_id, tags=["speed"])
    with app.app_context(), tenancy.system_context(db.session):
        longest = max(services.all_retentions().values())
    old = ago(longest + 2)
    craft(owner_engine, made.tenant_id, agent, old, 1.0)
    with app.app_context():
        report = services.maintain()
    assert report["partitions_dropped"] >= 1
    with owner_engine.connect() as c:
        assert not c.execute(text("select to_regclass(:p) is not null"),
                             {"p": f"telemetry_packs_p{old:%Y%m%d}"}).scalar()
        assert not kept(owner_engine, "telemetry_rollup_minute", agent, old)


def test_a_plan_that_keeps_no_telemetry_stores_none_and_the_ingest_counts_the_refusal(
        app, tenant_factory, ingestor, owner_engine, monkeypatch):
    base = plans.PLANS["starter"]
    monkeypatch.setitem(plans.PLANS, "no_telemetry", dataclasses.replace(
        base, key="no_telemetry", name="No telemetry", limits={**base.limits, "telemetry_retention_days": 0}))
    nothing, trial = tenant_factory(), tenant_factory()
    put_on_plan(app, nothing.tenant_id, "no_telemetry")
    a_none, a_trial = make_agent(app, nothing.tenant_id, tags=["a"]), make_agent(app, trial.tenant_id, tags=["a"])
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    acks = ingestor.process(messages(a_none, batch(a_none, 1, pts(["a"], now, 5))) +
                            messages(a_trial, batch(a_trial, 1, pts(["a"], now, 5))))
    assert len(acks) == 2  # both acknowledged: a refused batch is not redelivered for ever
    assert ingestor.counters["rejected:no_telemetry_plan"] == 1
    assert ingestor.counters["rejected_points:no_telemetry_plan"] == 5
    assert ingestor.counters["stored"] == 5
    with owner_engine.connect() as c:
        stored = dict(c.execute(text("select agent_id, count(*) from telemetry_points where agent_id in (:a, :b) "
                                     "group by 1"), {"a": a_none, "b": a_trial}).all())
    assert stored == {a_trial: 5}


def test_the_ingest_refuses_points_older_than_the_plan_keeps(app, tenant_factory, ingestor, owner_engine):
    made = tenant_factory()  # Trial: 30 days
    agent = make_agent(app, made.tenant_id, tags=["a"])
    doc = batch(agent, 1, pts(["a"], ago(40), 3) + pts(["a"], ago(20), 2))
    ingestor.process(messages(agent, doc))
    assert ingestor.counters["rejected_points:out_of_range"] == 3 and ingestor.counters["stored"] == 2


# ------------------------------------------------------------------ counters and metering

def test_the_ingest_keeps_the_usage_counters_exactly_once(app, tenant_factory, ingestor, owner_engine):
    made = tenant_factory()
    agent = make_agent(app, made.tenant_id, tags=["a", "b"])
    today = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
    earlier = ago(3)
    first = batch(agent, 1, pts(["a", "b"], today, 90))  # 180 points today, 2 minutes per tag
    second = batch(agent, 2, pts(["a"], earlier, 30) + [{"tag": "b", "ts": earlier.isoformat(), "v": "text", "q": 192}])
    ingestor.process(messages(agent, first, second, first))  # the first batch arrives twice
    assert ingestor.counters["duplicates"] == 1
    with owner_engine.connect() as c:
        counted = {r.day: (r.points, r.minute_rows, r.hour_rows) for r in c.execute(text(
            "select day, points, minute_rows, hour_rows from telemetry_usage_stored where tenant_id = :t"),
            {"t": made.tenant_id})}
        actual = {}
        for table, column, idx in (("telemetry_points", "ts", 0), ("telemetry_rollup_minute", "bucket", 1),
                                   ("telemetry_rollup_hour", "bucket", 2)):
            for day, n in c.execute(text(f"select ({column} at time zone 'UTC')::date, count(*) from {table} "
                                         "where agent_id = :a group by 1"), {"a": agent}):
                actual.setdefault(day, [0, 0, 0])[idx] = n
        received = c.execute(text("select day, points from telemetry_usage_received where tenant_id = :t"),
                             {"t": made.tenant_id}).all()
    assert counted == {day: tuple(v) for day, v in actual.items()}
    assert sum(v[0] for v in counted.values()) == 211  # 180 + 30 numeric + 1 text point
    # Points stored per day of storing: all of them today, the backlog of three days ago included.
    assert received == [(datetime.now(timezone.utc).date(), 211)]
    with app.app_context():
        assert usage.count(made.tenant_id, "telemetry_points") == 211


def test_storage_is_metered_from_the_counters_and_shown_with_the_limit(
        app, client, tenant_factory, ingestor, owner_engine, make_client):
    made, other = tenant_factory(), tenant_factory()
    agent = make_agent(app, made.tenant_id, tags=["a"])
    now = datetime.now(timezone.utc) - timedelta(minutes=3)
    ingestor.process(messages(agent, batch(agent, 1, pts(["a"], now, 120))))
    with owner_engine.connect() as c:  # what PostgreSQL holds for the tenant, row by row
        expected = sum(c.execute(text(f"select coalesce(sum(pg_column_size(t.*)), 0) from {table} t "
                                      "where agent_id = :a"), {"a": agent}).scalar()
                       for table in ("telemetry_packs", "telemetry_rollup_minute", "telemetry_rollup_hour"))
    with app.app_context():
        metered = usage.count(made.tenant_id, "storage_bytes")
        assert usage.count(other.tenant_id, "storage_bytes") == 0
    assert expected > 0 and abs(metered - expected) <= 3  # the averages times the counts, to the byte
    api = factories.ApiClient(make_client()).sign_in(made.owner_email)
    view = api.get("/api/v1/billing/subscription").get_json()
    row = next(r for r in view["usage"] if r["metric"] == "storage_bytes")
    assert row == {"metric": "storage_bytes", "usage": metered, "limit": 20 * 10**9}  # Trial: 20 GB
    assert view["storage"]["telemetry"] == metered
    page = api.get("/billing", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert f'data-metric="storage_bytes" data-usage="{metered}" data-limit="{20 * 10**9}"' in page
    assert 'data-testid="storage-breakdown"' in page and "20.00" in page
    with app.app_context():
        assert usage.record_all(datetime.now(timezone.utc).date()) >= 2
    recorded = {r["metric"]: r["value"] for r in api.get("/api/v1/billing/usage").get_json()}
    assert recorded["storage_bytes"] == metered and recorded["telemetry_points"] == 120
