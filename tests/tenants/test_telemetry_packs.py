"""Points stored as packs (migration 0015_telemetry_packs): one row per
agent, UTC hour and write, the points as parallel arrays; every value comes
back exactly through the per-point view and the history query."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from tests import factories
from tests.tenants.test_ingest import batch, make_agent
from tests.tenants.test_telemetry_retention import messages as _messages

AWKWARD_TAGS = ['line 1, "mill" {speed}', "NULL", "温度/入口", "a'b", " leading space"]
AWKWARD_TEXTS = ["", "NULL", 'say "hi"', "back\\slash", "tab\there", "new\nline\r", "{1,2}", "逗号,", "\\N"]


def test_awkward_tags_and_values_come_back_exactly(app, tenant_factory, ingestor, owner_engine):
    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=AWKWARD_TAGS)
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    values = [*AWKWARD_TEXTS, None, True, False, 7, -(2**53), 1e-300, -0.0, 2.5, 1.7976931348623157e308]
    points = [{"tag": AWKWARD_TAGS[i % len(AWKWARD_TAGS)], "ts": (base + timedelta(seconds=i)).isoformat(),
               "v": v, "q": [0, 64, 192, "good", "bad"][i % 5]} for i, v in enumerate(values)]
    ingestor.process(_messages(agent, batch(agent, 1, points)))
    assert ingestor.counters["stored"] == len(values)
    with owner_engine.connect() as c:
        rows = c.execute(text("select tag, ts, v, v_text, q from telemetry_points where agent_id = :a order by ts"),
                         {"a": agent}).all()
    expected = []
    for i, (p, v) in enumerate(zip(points, values)):
        number = float(v) if isinstance(v, (int, float)) else None
        expected.append((p["tag"], base + timedelta(seconds=i), number, v if isinstance(v, str) else None,
                         [0, 64, 192, 192, 0][i % 5]))
    assert [tuple(r) for r in rows] == expected


def test_a_write_makes_one_pack_per_agent_and_hour(app, tenant_factory, ingestor, owner_engine):
    t = tenant_factory()
    one, two = make_agent(app, t.tenant_id, tags=["a"]), make_agent(app, t.tenant_id, tags=["a"])
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)

    def points(start, n):
        return [{"tag": "a", "ts": (start + timedelta(seconds=i)).isoformat(), "v": i, "q": 192} for i in range(n)]

    # Agent one: three batches, the second straddling the hour; agent two: one batch.
    docs = [batch(one, 1, points(hour - timedelta(seconds=20), 10)),
            batch(one, 2, points(hour - timedelta(seconds=5), 10)),
            batch(one, 3, points(hour + timedelta(seconds=30), 10))]
    ingestor.process(_messages(one, *docs) + _messages(two, batch(two, 1, points(hour, 4))))
    with owner_engine.connect() as c:
        packs = c.execute(text("select agent_id, hour, cardinality(tag) from telemetry_packs "
                               "where agent_id in (:a, :b) order by agent_id = :a, hour"), {"a": one, "b": two}).all()
        ts_in_hour = c.execute(text("select bool_and(date_trunc('hour', u.ts) = p.hour) from telemetry_packs p, "
                                    "unnest(p.ts) u(ts) where p.agent_id in (:a, :b)"), {"a": one, "b": two}).scalar()
    assert [tuple(p[1:]) for p in packs] == [(hour, 4), (hour - timedelta(hours=1), 15), (hour, 15)]
    assert ts_in_hour
    # A replay of a stored batch adds no pack and no point.
    ingestor.process(_messages(one, docs[1]))
    assert ingestor.counters["duplicates"] == 1
    with owner_engine.connect() as c:
        assert c.execute(text("select count(*) from telemetry_points where agent_id = :a"), {"a": one}).scalar() == 30


def test_raw_history_across_an_hour_reads_both_packs_and_only_the_tags_asked(app, client, tenant_factory,
                                                                            ingestor):
    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["speed", "temp"])
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    points = []
    for i in range(-30, 30):
        ts = (hour + timedelta(seconds=i)).isoformat()
        points += [{"tag": "speed", "ts": ts, "v": float(i), "q": 192},
                   {"tag": "temp", "ts": ts, "v": 1000.0 + i, "q": 192}]
    ingestor.process(_messages(agent, batch(agent, 1, points)))
    api = factories.ApiClient(client).sign_in(t.owner_email)
    start, end = hour - timedelta(seconds=10), hour + timedelta(seconds=10)
    q = (f"/api/v1/telemetry/history?agent_id={agent}&tags=speed&from={start.isoformat()}"
         f"&to={end.isoformat()}&step=10s&agg=last").replace("+", "%2B")
    body = api.get(q).get_json()
    assert body["source"] == "raw"
    assert [s["tag"] for s in body["series"]] == ["speed"]
    assert [p[1] for p in body["series"][0]["points"]] == [-1.0, 9.0]
    assert body["series"][0]["points"][1][0] == hour.isoformat().replace("+00:00", "Z")


def test_the_migration_packs_existing_rows_and_its_downgrade_unpacks_them(service_urls):
    """0015 moves rows stored one per point into packs (at most PACK_SIZE
    points each, none straddling an hour) and back on downgrade."""
    import uuid

    from alembic import command
    from sqlalchemy import create_engine

    from alloyhub.platform import migrate

    with migrate.temporary_database(service_urls["DATABASE_URL"], "alloyhub_packs_migration") as url:
        cfg = migrate.alembic_config(url, "alloyhub-app")
        command.downgrade(cfg, "0014_spares_payments")
        tenant, agent, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text("insert into telemetry_points (tenant_id, agent_id, tag, ts, v, v_text, q) "
                           "select :t, :a, 't' || (i % 3), :h + i * interval '1 second', "
                           "case when i % 7 = 0 then null else i end, case when i % 7 = 0 then 'run ' || i end, 192 "
                           "from generate_series(0, 2499) i"), {"t": tenant, "a": agent, "h": hour})
            c.execute(text("insert into telemetry_points (tenant_id, agent_id, tag, ts, v, q) "
                           "values (:t, :o, 'x', :h + interval '1 hour', 1.5, 0)"),
                      {"t": tenant, "o": other, "h": hour})
            before = c.execute(text("select agent_id, tag, ts, v, v_text, q from telemetry_points "
                                    "order by agent_id, ts, tag")).all()

        command.upgrade(cfg, "heads")
        with engine.connect() as c:
            after = c.execute(text("select agent_id, tag, ts, v, v_text, q from telemetry_points "
                                   "order by agent_id, ts, tag")).all()
            sizes = c.execute(text("select agent_id = :a, cardinality(tag), v_text is null from telemetry_packs "
                                   "order by 1, 2"), {"a": agent}).all()
            straddling = c.execute(text("select count(*) from telemetry_packs p, unnest(p.ts) u(ts) "
                                        "where date_trunc('hour', u.ts) <> p.hour")).scalar()
        assert after == before and len(before) == 2501
        assert [tuple(s) for s in sizes] == [(False, 1, True), (True, 500, False), (True, 1000, False),
                                             (True, 1000, False)]
        assert straddling == 0

        command.downgrade(cfg, "0014_spares_payments")
        with engine.connect() as c:
            again = c.execute(text("select agent_id, tag, ts, v, v_text, q from telemetry_points "
                                   "order by agent_id, ts, tag")).all()
        engine.dispose()
        assert again == before
