"""End to end through the real broker and ingest: a batch published by an
agent raises the alarm its rule describes (the telemetry room's hook)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.tenants.alarms import services
from tests.tenants.test_alarms_engine import make_agent, make_rule
from tests.tenants.test_ingest import batch, publisher, running_ingest, wait_for  # noqa: F401 - fixtures


def test_published_points_raise_and_return_the_alarm(app, tenant_factory, running_ingest, publisher):  # noqa: F811
    made = tenant_factory()
    agent_id = make_agent(app, made)
    _, alarm_id = make_rule(app, made, agent_id, tag="work_roll.temp", limit=80.0, deadband=2.0, on_delay_s=2)

    def state():
        with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
            return services.get_alarm(alarm_id).state

    ingest = running_ingest()
    start = datetime.now(timezone.utc) - timedelta(minutes=1)

    def send(seq, *values):
        points = [{"tag": "work_roll.temp", "ts": (start + timedelta(seconds=seq * 10 + i)).isoformat(), "v": v,
                   "q": "good"} for i, v in enumerate(values)]
        publisher.telemetry(agent_id, batch(agent_id, seq, points))

    send(1, 75.0, 85.0, 86.0)  # beyond the limit for 1 s only: the on-delay holds it back
    ingest.settle(1)
    assert state() == "normal"
    send(2, 86.0, 87.0, 88.0)
    wait_for(lambda: state() == "active_unacked", what="the alarm to be raised")
    send(2, 10.0, 10.0, 10.0)  # the same seq again: a replay the ingest skips
    ingest.settle(3)
    assert state() == "active_unacked"
    send(3, 79.0, 77.5)  # 79 is inside the deadband; 77.5 is below it
    wait_for(lambda: state() == "returned_unacked", what="the alarm to return")
