"""The history and latest API: raw points or a rollup by range and step,
validation with clear 422s, the tenant's own agents only."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests import factories
from tests.tenants.test_ingest import batch, make_agent


@pytest.fixture
def plant(app, tenant_factory, ingestor):
    """A tenant with an agent holding two hours of one-second data for two tags."""
    t = tenant_factory()
    agent = make_agent(app, t.tenant_id, tags=["speed", "temp"])
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    seq, messages = 0, []
    for chunk in range(0, 7200, 600):
        points = []
        for i in range(chunk, chunk + 600):
            ts = (start + timedelta(seconds=i)).isoformat()
            points.append({"tag": "speed", "ts": ts, "v": float(i), "q": 192})
            points.append({"tag": "temp", "ts": ts, "v": 20.0 + (i % 60), "q": 192})
        seq += 1
        messages.append((seq, 1, f"ah/v1/{agent}/telemetry", json.dumps(batch(agent, seq, points)).encode(), None))
    ingestor.process(messages)
    assert ingestor.counters["stored"] == 14400
    return t, agent, start


def _api(client, email):
    return factories.ApiClient(client).sign_in(email)


def _q(agent, start, end, **extra):
    params = {"agent_id": str(agent), "tags": "speed,temp", "from": start.isoformat(), "to": end.isoformat(), **extra}
    return "/api/v1/telemetry/history?" + "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in params.items())


def test_history_picks_raw_minute_or_hour_by_step(client, plant):
    t, agent, start = plant
    api = _api(client, t.owner_email)

    raw = api.get(_q(agent, start, start + timedelta(minutes=2), step="10s", agg="max"))
    assert raw.status_code == 200, raw.get_json()
    body = raw.get_json()
    assert body["source"] == "raw" and body["step"] == 10
    speed = next(s for s in body["series"] if s["tag"] == "speed")
    assert len(speed["points"]) == 12 and speed["points"][0][1] == 9.0 and speed["points"][-1][1] == 119.0

    minute = api.get(_q(agent, start, start + timedelta(hours=2), step="5m", agg="avg")).get_json()
    assert minute["source"] == "minute" and minute["step"] == 300
    speed = next(s for s in minute["series"] if s["tag"] == "speed")
    assert len(speed["points"]) == 24 and speed["points"][0][1] == pytest.approx(149.5)

    hour = api.get(_q(agent, start, start + timedelta(hours=2), step="1h", agg="last")).get_json()
    assert hour["source"] == "hour"
    temp = next(s for s in hour["series"] if s["tag"] == "temp")
    assert [p[1] for p in temp["points"]] == [79.0, 79.0]
    assert temp["points"][0][0] == start.isoformat().replace("+00:00", "Z")

    # no step: chosen for about a thousand points, from the right source
    auto = api.get(_q(agent, start, start + timedelta(hours=2))).get_json()
    assert auto["source"] == "raw" and auto["step"] == 8
    auto = api.get(_q(agent, start - timedelta(days=60), start + timedelta(hours=2))).get_json()
    assert auto["source"] == "hour"


def test_latest_from_redis(client, plant):
    t, agent, start = plant
    body = _api(client, t.owner_email).get(f"/api/v1/telemetry/latest?agent_id={agent}").get_json()
    assert body["values"]["speed"]["v"] == 7199.0
    assert body["values"]["speed"]["ts"] == (start + timedelta(seconds=7199)).isoformat().replace("+00:00", ".000000Z")


@pytest.mark.parametrize("params, field", [
    ({"tags": ""}, "tags"),
    ({"step": "0"}, "step"),
    ({"step": "fast"}, "step"),
    ({"agg": "median"}, "agg"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-01-01T00:00:00"}, "from"),  # no time zone
    ({"agent_id": "nope"}, "agent_id"),
    ({"tags": ",".join(f"t{i}" for i in range(30))}, "tags"),
])
def test_history_validation(client, plant, params, field):
    t, agent, start = plant
    url = _q(agent, start, start + timedelta(hours=1))
    base = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    base.update(params)
    response = _api(client, t.owner_email).get("/api/v1/telemetry/history?" + "&".join(f"{k}={v}" for k, v in
                                                                                         base.items()))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_history_range_order_and_point_cap(client, plant):
    t, agent, start = plant
    api = _api(client, t.owner_email)
    backwards = api.get(_q(agent, start, start - timedelta(hours=1)))
    assert backwards.status_code == 422 and "to" in backwards.get_json()["errors"]
    too_many = api.get(_q(agent, start, start + timedelta(days=2), step="1s"))
    assert too_many.status_code == 422 and "step" in too_many.get_json()["errors"]


def test_another_tenants_agent_is_not_found(client, plant, tenant_factory):
    t, agent, start = plant
    stranger = tenant_factory()
    api = _api(client, stranger.owner_email)
    assert api.get(_q(agent, start, start + timedelta(hours=1))).status_code == 404
    assert api.get(f"/api/v1/telemetry/latest?agent_id={agent}").status_code == 404


def test_viewer_may_read_and_anonymous_may_not(app, make_client, plant, tenant_factory):
    t, agent, start = plant
    email = tenant_factory.add_member(t, "viewer")
    assert _api(make_client(), email).get(f"/api/v1/telemetry/latest?agent_id={agent}").status_code == 200
    assert make_client().get(f"/api/v1/telemetry/latest?agent_id={agent}").status_code == 401
