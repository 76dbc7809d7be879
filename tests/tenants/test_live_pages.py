"""The live page (latest values from the telemetry room's Redis hash, units
from the tag catalogue, htmx polling) and the trend page."""
from __future__ import annotations

import json

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.tenants.agents.models import AgentTag
from tests.factories import sign_in
from tests.tenants.test_alarms_engine import make_agent

ZH = {"Accept-Language": "zh-CN"}


def test_no_agents_yet(tenant_factory, make_client):
    client = make_client()
    sign_in(client, tenant_factory().owner_email)
    html = client.get("/live").get_data(as_text=True)
    assert 'data-testid="no-agents"' in html and "alloyhub-agent enroll" in html
    assert "还没有代理" in client.get("/live", headers=ZH).get_data(as_text=True)


def test_live_values_from_redis_with_units(app, tenant_factory, make_client):
    made = tenant_factory()
    agent_id = make_agent(app, made, name="Cold mill 2")
    with app.app_context(), tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
        db.session.add(AgentTag(agent_id=agent_id, tag="mill.speed", unit="m/min", description="Mill speed"))
        db.session.add(AgentTag(agent_id=agent_id, tag="strip.tension", unit="kN"))
        db.session.commit()
    client = make_client()
    sign_in(client, made.owner_email)
    assert "Cold mill 2" in client.get("/live").get_data(as_text=True)
    html = client.get(f"/live/{agent_id}").get_data(as_text=True)
    assert 'data-testid="live-row" data-tag="mill.speed"' in html and "m/min" in html
    assert 'hx-trigger="every 2s"' in html

    key = f"ah:latest:{made.tenant_id}:{agent_id}"
    with app.app_context():
        from alloyhub.platform.jobs import redis

        redis().hset(key, mapping={
            "mill.speed": json.dumps({"v": 412.5, "ts": "2026-03-01T08:00:01+00:00", "q": "good"}),
            "furnace.temp": json.dumps({"v": 531.25, "ts": "2026-03-01T08:00:02+00:00", "q": "bad"}),
        })
    try:
        partial = client.get(f"/live/{agent_id}/values").get_data(as_text=True)
        assert partial.lstrip().startswith('<div id="live-values"')
        assert ">412.5<" in partial and "08:00:01" in partial
        assert 'data-tag="furnace.temp"' in partial and ">531.25<" in partial  # seen, not catalogued
        zh = client.get(f"/live/{agent_id}", headers=ZH).get_data(as_text=True)
        assert "实时数据" in zh and ">412.5<" in zh
    finally:
        with app.app_context():
            redis().delete(key)


def test_trend_page(app, tenant_factory, make_client):
    made = tenant_factory()
    agent_id = make_agent(app, made)
    client = make_client()
    sign_in(client, made.owner_email)
    assert 'data-testid="no-tags"' in client.get(f"/live/{agent_id}/trend").get_data(as_text=True)
    with app.app_context(), tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
        for tag in ("a.one", "b.two", "c.three", "d.four"):
            db.session.add(AgentTag(agent_id=agent_id, tag=tag, unit="°C"))
        db.session.commit()
    html = client.get(f"/live/{agent_id}/trend?range=7d&tag=b.two&tag=evil").get_data(as_text=True)
    assert "uPlot.iife.min.js" in html and 'data-tags="b.two"' in html
    assert 'data-seconds="604800"' in html and "/api/v1/telemetry/history" in html
    default = client.get(f"/live/{agent_id}/trend?range=nonsense").get_data(as_text=True)
    assert 'data-tags="a.one,b.two,c.three"' in default and 'data-seconds="3600"' in default
    assert "趋势" in client.get(f"/live/{agent_id}/trend", headers=ZH).get_data(as_text=True)
    assert client.get("/static/web/vendor/uplot/uPlot.iife.min.js").status_code == 200
