"""Fixtures of the remote-service tests: a plant (with a unit, an agent on
the real broker's topic space, two hours of telemetry on three tags, one
alarm) and an expert firm with a published profile; both as signed-in API
clients and as their owners acting through the services."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alloyhub.platform import outbox, tenancy
from alloyhub.platform.db import db
from tests.factories import ApiClient, sign_in

SIM_CONFIG = {
    "sources": [{"name": "line1", "kind": "simulator", "seed": 3,
                 "tags": [{"tag": "line1.speed", "address": "1/speed", "unit": "m/min"},
                          {"tag": "line1.tension", "address": "1/tension", "unit": "kN"},
                          {"tag": "line1.secret", "address": "1/bearing_temp", "unit": "C"}]}],
    "allow_write": ["line1.speed"],
}
TAGS = ("line1.speed", "line1.tension", "line1.secret")


class Party:
    def __init__(self, app, made, make_client):
        self.app, self.made, self._make_client = app, made, make_client
        self.id = made.tenant_id
        self._api = None

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(self._make_client()).sign_in(self.made.owner_email)
        return self._api

    def browser(self):
        client = self._make_client()
        sign_in(client, self.made.owner_email)
        return client

    def act(self):
        return _Acting(self)


class _Acting:
    def __init__(self, party):
        self.party = party

    def __enter__(self):
        self.ctx = self.party.app.test_request_context()
        self.ctx.push()
        self.scope = tenancy.scoped(self.party.id, self.party.made.owner_id, session=db.session)
        self.scope.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self.scope.__exit__(*exc)
            if exc[0] is None:
                db.session.commit()
            else:
                db.session.rollback()
        finally:
            self.ctx.pop()


class World:
    """plant, expert, the unit CM1 (tags speed and tension linked), a second
    unit CM2 (tag secret linked), the agent, data from `start` for 2 hours."""


def _give_plan(app, tenant_id, plan):
    from alloyhub.platform.billing import services as billing

    with app.app_context():
        billing.override_plan(tenant_id, plan, reason="remote service tests")


@pytest.fixture
def ingestor(app):
    from alloyhub.tenants.telemetry import ingest

    settings = ingest.settings_from_app(app, client_id=f"remote-test-{secrets.token_hex(3)}")
    ing = ingest.Ingestor(settings, app)
    yield ing
    ing.conn.close()


def make_plant(app, tenant_factory, make_client, ingestor, name=None, unit_kind="cold_mill"):
    from alloyhub.platform.identity.models import Site
    from alloyhub.tenants.agents import services as agents
    from alloyhub.tenants.alarms import services as alarms
    from alloyhub.tenants.equipment import services as equipment

    plant = Party(app, tenant_factory("plant", name), make_client)
    _give_plan(app, plant.id, "professional")
    w = World()
    w.plant = plant
    with plant.act():
        agent, _secret, _token = agents.create_agent(name="Cold mill agent")
        agent.status = "active"
        agents.set_config(agent, SIM_CONFIG)
        site = db.session.scalar(select(Site).order_by(Site.code))
        area = equipment.create_area(site_id=site.id, code="CR", name="Cold rolling")
        line = equipment.create_line(area_id=area.id, code="L1", name="Line 1")
        cm1 = equipment.create_unit(line_id=line.id, code="CM1", name="Cold mill 1", kind=unit_kind)
        cm2 = equipment.create_unit(line_id=line.id, code="CM2", name="Cold mill 2", kind=unit_kind)
        equipment.add_unit_tag(cm1, agent_id=agent.id, tag="line1.speed")
        equipment.add_unit_tag(cm1, agent_id=agent.id, tag="line1.tension", role="other")
        equipment.add_unit_tag(cm2, agent_id=agent.id, tag="line1.secret", role="other")
        rule = alarms.create_rule(agent_id=agent.id, tag="line1.tension", name="Tension high", kind="high", limit=50.0)
        w.agent_id, w.cm1, w.cm2, w.alarm_id = agent.id, cm1.id, cm2.id, rule.alarm.id
        db.session.commit()
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=2)
    messages, seq = [], 0
    for chunk in range(0, 7200, 1200):
        points = []
        for i in range(chunk, chunk + 1200, 10):
            ts = (start + timedelta(seconds=i)).isoformat()
            points += [{"tag": "line1.speed", "ts": ts, "v": float(i), "q": 192},
                       {"tag": "line1.tension", "ts": ts, "v": 40.0 + (i % 30), "q": 192},
                       {"tag": "line1.secret", "ts": ts, "v": 7.0, "q": 192}]
        seq += 1
        messages.append((seq, 1, f"ah/v1/{w.agent_id}/telemetry",
                         json.dumps({"agent": str(w.agent_id), "seq": seq, "sent_at": start.isoformat(),
                                     "points": points}).encode(), None))
    ingestor.process(messages)
    w.start = start
    return w


@pytest.fixture
def world(app, tenant_factory, make_client, ingestor):
    from alloyhub.remote_service import services

    w = make_plant(app, tenant_factory, make_client, ingestor)
    w.expert = Party(app, tenant_factory("expert"), make_client)
    with w.expert.act():
        w.profile_id = services.create_profile(name="Maria Rossi", equipment_types=["cold_mill"],
                                               brands=["SMS group"], languages=["en", "zh"],
                                               hourly_rate="900", published=True,
                                               user_id=w.expert.made.owner_id).id
    return w


def open_request(w, **extra) -> str:
    body = {"unit_id": str(w.cm1), "title": "CM1 gauge oscillation", "symptoms": "Exit gauge oscillates at 2 Hz",
            "urgency": "high", "profile_id": str(w.profile_id), **extra}
    response = w.plant.api.post("/api/v1/remote-service/requests", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def accepted_request(w, **extra) -> str:
    req_id = open_request(w, **extra)
    response = w.expert.api.post(f"/api/v1/remote-service/requests/{req_id}/accept", json={})
    assert response.status_code == 200, response.get_json()
    return req_id


def grant(w, req_id, tags=("line1.speed", "line1.tension"), units=None, **extra):
    body = {"unit_ids": [str(u) for u in (units or [w.cm1])],
            "tags": [{"agent_id": str(w.agent_id), "tag": t} for t in tags], "hours": 48, **extra}
    response = w.plant.api.post(f"/api/v1/remote-service/requests/{req_id}/grants", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def history_url(w, req_id, tags="line1.speed", start=None, end=None, agent=None):
    start = start or w.start
    end = end or (w.start + timedelta(hours=2))
    return (f"/api/v1/remote-service/requests/{req_id}/history?agent_id={agent or w.agent_id}&tags={tags}"
            f"&from={start.isoformat().replace('+', '%2B')}&to={end.isoformat().replace('+', '%2B')}&step=600")


@pytest.fixture
def relay(app):
    def run():
        with app.app_context():
            while outbox.relay_once():
                pass

    return run
