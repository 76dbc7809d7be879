"""Fixtures of the scheduling tests: the MES test plant (cold mill CM1,
furnace AF1 of 40 t / 4 coils, slitter SL1, packing PK1; product P1 routed
CM1 → AF1 → SL1 → PK1) on a plan that includes scheduling, its owner's API
client, a queue of the test's own for the solver jobs and a burst worker
that runs them in this process against the real Redis."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.factories import ApiClient
from tests.tenants.mes.conftest import FAR, Plant

SCHED_TABLES = ["sched_versions", "sched_operations", "sched_disruptions", "production_work_orders"]


def give_plan(app, tenant_id, plan="professional"):
    from alloyhub.platform.billing import services as billing

    with app.app_context():
        billing.override_plan(tenant_id, plan, reason="scheduling tests")


@pytest.fixture
def plant(app, tenant_factory):
    made = tenant_factory()
    give_plan(app, made.tenant_id)
    return Plant(app, made)


@pytest.fixture
def owner(plant, make_client):
    return ApiClient(make_client()).sign_in(plant.made.owner_email)


@pytest.fixture
def run_jobs(app):
    """Solver jobs go to a queue of this test's own; run_jobs() works it off
    with an RQ SimpleWorker in this process (burst) and returns how many ran."""
    from rq import Queue, SimpleWorker

    name = f"test-sched-{uuid.uuid4().hex[:10]}"
    saved = app.config.get("SCHEDULING_QUEUE")
    app.config["SCHEDULING_QUEUE"] = name

    def run() -> int:
        with app.app_context():
            from alloyhub.platform.jobs import redis

            q = Queue(name, connection=redis())
            count = q.count
            SimpleWorker([q], connection=redis()).work(burst=True)
            return count

    yield run
    if saved is None:
        app.config.pop("SCHEDULING_QUEUE", None)
    else:
        app.config["SCHEDULING_QUEUE"] = saved


@pytest.fixture
def snapshot(owner_engine):
    """Row counts of the scheduling tables (and work orders) of a company."""

    def take(tenant_id):
        with owner_engine.connect() as conn:
            return {t: conn.execute(text(f"select count(*) from {t} where tenant_id = :t"), {"t": tenant_id}).scalar()
                    for t in SCHED_TABLES}

    return take


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:800])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    return body


__all__ = ["FAR", "problem"]
