"""The scheduling API end to end: a version solved by an RQ job run in this
process against the real Redis, its progress, lock / move / re-solve,
compare, publish (work orders, lines planned, the version before
superseded), disruptions (the planner's and an alarm's) with the one-action
re-schedule, bad input that changes nothing, and other companies' 404s."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alloyhub.platform import outbox
from alloyhub.platform.db import db
from tests.factories import ApiClient

from .conftest import problem

API = "/api/v1/scheduling"


def _solve(owner, run_jobs, **body):
    r = owner.post(f"{API}/versions", json={"time_limit": 2, **body})
    assert r.status_code == 202, r.get_data(as_text=True)
    version = r.get_json()
    assert r.headers["Location"].endswith(f"/versions/{version['id']}/status") == True  # noqa: E712
    assert run_jobs() == 1
    return owner.get(f"{API}/versions/{version['id']}").get_json()


def _ops(owner, version_id) -> list[dict]:
    return owner.get(f"{API}/versions/{version_id}/operations?limit=200").get_json()["items"]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_version_is_solved_by_an_rq_job_with_progress(plant, owner, run_jobs):
    order = plant.order([{"quantity": 20.0}, {"quantity": 10.0, "priority": 4}], confirm=True)
    r = owner.post(f"{API}/versions", json={"name": "Week 48", "objective": "mix", "time_limit": 2,
                                            "weights": {"weighted_tardiness": 10, "total_setup": 1}})
    assert r.status_code == 202
    version = r.get_json()
    assert version["status"] == "solving" and version["weights"] == {"weighted_tardiness": 10, "total_setup": 1}
    before = owner.get(version["status_url"]).get_json()
    assert before["status"] == "solving" and before["kpis"] is None
    assert run_jobs() == 1
    status = owner.get(version["status_url"]).get_json()
    assert status["status"] == "solved"
    assert status["progress"]["state"] == "done" and status["progress"]["objective"] is not None
    assert status["progress"]["elapsed"] >= 0
    solved = owner.get(f"{API}/versions/{version['id']}").get_json()
    kpis = solved["kpis"]
    assert kpis["lines"] == 2 and kpis["late_lines"] == 0
    assert {u["code"] for u in kpis["utilisation"]} == {"CM1", "AF1", "SL1", "PK1"}
    assert solved["explanation"]["bottleneck"]["code"] == "AF1"
    ops = _ops(owner, version["id"])
    assert len(ops) == 8
    by_line: dict[str, list] = {}
    for op in ops:
        by_line.setdefault(op["order_line_id"], []).append(op)
    assert set(by_line) == {str(i) for i in plant.line_ids(order)}
    for steps in by_line.values():
        steps.sort(key=lambda o: o["step"])
        assert [o["operation"] for o in steps] == ["cold_roll", "anneal", "slit", "pack"]
        for a, b in zip(steps, steps[1:]):
            assert _at(b["start"]) >= _at(a["end"])
        assert _at(steps[0]["start"]) >= _at(solved["plan_start"])
    page = owner.get(f"{API}/versions/{version['id']}/operations?limit=3").get_json()
    assert len(page["items"]) == 3 and page["next_cursor"]


def test_lock_move_and_resolve_make_new_versions_around_the_pins(plant, owner, run_jobs):
    plant.order([{"quantity": 20.0}, {"quantity": 20.0}], confirm=True)
    first = _solve(owner, run_jobs)
    ops = _ops(owner, first["id"])
    cold = sorted((o for o in ops if o["operation"] == "cold_roll"), key=lambda o: o["start"])[0]
    # the other line's packing stays where it is
    pack = next(o for o in ops if o["operation"] == "pack" and o["order_line_id"] != cold["order_line_id"])
    r = owner.post(f"{API}/operations/{pack['id']}/lock", json={"locked": True})
    assert r.status_code == 200 and r.get_json()["locked"] is True
    target = (_at(first["plan_start"]) + timedelta(hours=30)).isoformat()
    r = owner.post(f"{API}/operations/{cold['id']}/move", json={"unit_id": cold["unit_id"], "start": target})
    assert r.status_code == 202, r.get_data(as_text=True)
    moved = r.get_json()
    assert moved["parent_id"] == first["id"] and moved["status"] == "solving"
    assert run_jobs() == 1
    state = owner.get(moved["status_url"]).get_json()
    assert state["status"] == "solved", state
    new_ops = _ops(owner, moved["id"])
    again = next(o for o in new_ops if (o["order_line_id"], o["step"]) == (cold["order_line_id"], 0))
    assert _at(again["start"]) == _at(target) and again["locked"] is True
    kept = next(o for o in new_ops if (o["order_line_id"], o["step"]) == (pack["order_line_id"], pack["step"]))
    assert kept["locked"] is True
    assert _at(kept["start"]) == _at(pack["start"]) and kept["unit_id"] == pack["unit_id"]
    # the first version is unchanged by the move
    assert next(o for o in _ops(owner, first["id"]) if o["id"] == cold["id"])["start"] == cold["start"]
    r = owner.post(f"{API}/versions/{moved['id']}/resolve", json={"time_limit": 1})
    assert r.status_code == 202
    assert run_jobs() == 1
    resolved = owner.get(f"{API}/versions/{r.get_json()['id']}").get_json()
    assert resolved["status"] == "solved" and len(resolved["inputs"]["locks"]) == 2
    # compare: the moved operation is listed with its shift
    c = owner.get(f"{API}/compare?a={first['id']}&b={moved['id']}").get_json()
    assert any(m["order_line_id"] == cold["order_line_id"] and m["step"] == 0 and m["shift_min"] != 0
               for m in c["moved"])
    assert [row["kpi"] for row in c["kpis"]][:4] == ["late_lines", "total_lateness_min", "makespan_min",
                                                    "total_setup_min"]
    assert c["a"]["number"] == first["number"] and c["b"]["number"] == moved["number"]


def test_publish_creates_work_orders_plans_lines_and_supersedes(plant, owner, run_jobs):
    from alloyhub.tenants.orders.models import OrderLine
    from alloyhub.tenants.production.models import WorkOrder

    order = plant.order([{"quantity": 20.0}], confirm=True)
    first = _solve(owner, run_jobs)
    r = owner.post(f"{API}/versions/{first['id']}/publish")
    assert r.status_code == 200 and r.get_json()["status"] == "published"
    with plant.scope():
        wos = list(db.session.scalars(select(WorkOrder).where(WorkOrder.status == "released")))
        assert len(wos) == 4 and {w.schedule_id for w in wos} == {tenancy_uuid(first["id"])}
        lines = list(db.session.scalars(select(OrderLine).where(OrderLine.order_id == order)))
        assert [li.status for li in lines] == ["planned"]
    assert plant.status(order) == "planned"
    assert any(t == "scheduling.version.published" for t, _ in plant.events("scheduling."))
    second = _solve(owner, run_jobs, objective="makespan")
    assert owner.post(f"{API}/versions/{second['id']}/publish").status_code == 200
    assert owner.get(f"{API}/versions/{first['id']}").get_json()["status"] == "superseded"
    with plant.scope():
        live = list(db.session.scalars(select(WorkOrder).where(WorkOrder.status != "cancelled")))
        assert len(live) == 4 and {w.schedule_id for w in live} == {tenancy_uuid(second["id"])}
    # a published version cannot be published again
    problem(owner.post(f"{API}/versions/{second['id']}/publish"), 409)


def tenancy_uuid(value):
    import uuid

    return uuid.UUID(value)


def test_publishing_an_unsolved_version_is_409_and_changes_nothing(plant, owner, run_jobs, snapshot):
    plant.order([{"quantity": 20.0}], confirm=True)
    r = owner.post(f"{API}/versions", json={"time_limit": 2})
    version = r.get_json()
    before = snapshot(plant.made.tenant_id)
    body = problem(owner.post(f"{API}/versions/{version['id']}/publish"), 409)
    assert "solved" in body["detail"]
    assert snapshot(plant.made.tenant_id) == before
    run_jobs()


@pytest.mark.parametrize("body,field", [
    ({"time_limit": 0}, "time_limit"),
    ({"time_limit": 601}, "time_limit"),
    ({"objective": "cheapest"}, "objective"),
    ({"objective": "mix", "weights": {}}, "weights"),
    ({"objective": "mix", "weights": {"speed": 3}}, "weights"),
])
def test_bad_settings_are_422_and_change_nothing(plant, owner, snapshot, body, field):
    plant.order([{"quantity": 20.0}], confirm=True)
    before = snapshot(plant.made.tenant_id)
    found = problem(owner.post(f"{API}/versions", json=body), 422)
    assert field in str(found.get("errors"))
    assert snapshot(plant.made.tenant_id) == before


def test_nothing_to_schedule_is_a_clear_422(plant, owner, snapshot):
    plant.order([{"quantity": 20.0}])           # a draft only
    before = snapshot(plant.made.tenant_id)
    body = problem(owner.post(f"{API}/versions", json={"time_limit": 2}), 422)
    assert "no confirmed" in body["detail"] and body["errors"]["problem"]
    assert snapshot(plant.made.tenant_id) == before


def test_bad_moves_are_refused_and_change_nothing(plant, owner, run_jobs, snapshot):
    from alloyhub.tenants.equipment import services as equipment

    plant.order([{"quantity": 20.0}], confirm=True)
    first = _solve(owner, run_jobs)
    cold = next(o for o in _ops(owner, first["id"]) if o["operation"] == "cold_roll")
    start = _at(first["plan_start"]) + timedelta(hours=10)
    with plant.scope():
        equipment.create_downtime(unit_id=plant.units["CM1"], starts_at=start - timedelta(hours=1),
                                  ends_at=start + timedelta(hours=5), reason="roll change")
    before = snapshot(plant.made.tenant_id)
    url = f"{API}/operations/{cold['id']}/move"
    body = problem(owner.post(url, json={"unit_id": str(plant.units["PK1"]), "start": start.isoformat()}), 422)
    assert "cannot run" in body["errors"]["unit_id"][0]
    body = problem(owner.post(url, json={"unit_id": str(tenancy_uuid("0" * 32)), "start": start.isoformat()}), 422)
    assert "unit_id" in body["errors"]
    body = problem(owner.post(url, json={"unit_id": cold["unit_id"], "start": start.isoformat()}), 422)
    assert "not working" in body["errors"]["start"][0]
    past = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    body = problem(owner.post(url, json={"unit_id": cold["unit_id"], "start": past}), 422)
    assert "past" in body["errors"]["start"][0]
    problem(owner.post(url, json={"unit_id": cold["unit_id"], "start": "1900-01-01T00:00:00"}), 422)
    body = problem(owner.post(url, json={"unit_id": cold["unit_id"], "start": "2099-01-01T00:00:00Z"}), 422)
    assert "days ahead" in body["errors"]["start"][0]
    problem(owner.post(url, json={"unit_id": cold["unit_id"]}), 422)
    assert snapshot(plant.made.tenant_id) == before


def test_a_version_whose_lines_went_away_fails_with_the_reason(plant, owner, run_jobs):
    from alloyhub.tenants.orders import services as orders

    order = plant.order([{"quantity": 20.0}], confirm=True)
    r = owner.post(f"{API}/versions", json={"time_limit": 2})
    with plant.scope():
        orders.cancel_order(orders.get_order(order), "customer withdrew")
    run_jobs()
    status = owner.get(r.get_json()["status_url"]).get_json()
    assert status["status"] == "failed" and "no confirmed" in status["failure"]
    problem(owner.post(f"{API}/versions/{r.get_json()['id']}/publish"), 409)


def test_disruption_lists_affected_work_and_reschedules_keeping_begun_work(plant, owner, run_jobs):
    from alloyhub.tenants.production import services as production

    order = plant.order([{"quantity": 20.0}, {"quantity": 20.0}], confirm=True)
    first, second = plant.line_ids(order)
    published = _solve(owner, run_jobs)
    assert owner.post(f"{API}/versions/{published['id']}/publish").status_code == 200
    ops = _ops(owner, published["id"])
    colds = sorted((o for o in ops if o["operation"] == "cold_roll"), key=lambda o: o["start"])
    with plant.scope():
        wo = next(w for w in db.session.scalars(production.work_orders_query(
            order_line_id=colds[0]["order_line_id"])) if w.step == 0)
        production.start(wo.id)
    starts = datetime.now(timezone.utc)
    ends = _at(colds[1]["end"]) + timedelta(hours=2)
    r = owner.post(f"{API}/disruptions", json={"unit_id": str(plant.units["CM1"]), "starts_at": starts.isoformat(),
                                                "ends_at": ends.isoformat(), "reason": "hydraulic leak"})
    assert r.status_code == 201, r.get_data(as_text=True)
    disruption = r.get_json()
    assert [a["id"] for a in disruption["affected"]] == [colds[1]["id"]]     # the begun one is not affected
    assert owner.get(f"{API}/disruptions?status=open").get_json()["items"][0]["id"] == disruption["id"]
    r = owner.post(f"{API}/disruptions/{disruption['id']}/reschedule", json={})
    assert r.status_code == 202
    assert run_jobs() == 1
    new = owner.get(f"{API}/versions/{r.get_json()['id']}").get_json()
    assert new["status"] == "solved" and new["parent_id"] == published["id"]
    new_ops = {(o["order_line_id"], o["step"]): o for o in _ops(owner, new["id"])}
    begun = new_ops[(colds[0]["order_line_id"], 0)]
    assert begun["frozen"] is True and begun["unit_id"] == str(plant.units["CM1"])
    other = new_ops[(colds[1]["order_line_id"], 0)]
    assert _at(other["start"]) >= ends - timedelta(minutes=1)
    assert owner.get(f"{API}/disruptions/{disruption['id']}").get_json()["status"] == "rescheduled"
    problem(owner.post(f"{API}/disruptions/{disruption['id']}/reschedule", json={}), 409)
    assert {str(first), str(second)} == {colds[0]["order_line_id"], colds[1]["order_line_id"]}


def test_bad_down_windows_are_422(plant, owner):
    now = datetime.now(timezone.utc)
    url = f"{API}/disruptions"
    problem(owner.post(url, json={"unit_id": str(plant.units["CM1"]), "starts_at": now.isoformat(),
                                  "ends_at": (now - timedelta(hours=1)).isoformat()}), 422)
    problem(owner.post(url, json={"unit_id": str(tenancy_uuid("1" * 32)), "starts_at": now.isoformat(),
                                  "ends_at": (now + timedelta(hours=1)).isoformat()}), 422)
    # no published schedule: nothing to re-schedule
    r = owner.post(url, json={"unit_id": str(plant.units["CM1"]), "starts_at": now.isoformat(),
                              "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert r.status_code == 201 and r.get_json()["affected"] == []
    problem(owner.post(f"{url}/{r.get_json()['id']}/reschedule", json={}), 409)
    assert owner.post(f"{url}/{r.get_json()['id']}/dismiss").get_json()["status"] == "dismissed"


def test_an_alarm_on_a_units_tag_opens_a_disruption(app, plant, owner, run_jobs):
    from alloyhub.tenants.agents.models import Agent
    from alloyhub.tenants.alarms.models import Alarm, AlarmRule
    from alloyhub.tenants.equipment import services as equipment
    from alloyhub.tenants.scheduling.models import Disruption

    plant.order([{"quantity": 20.0}], confirm=True)
    version = _solve(owner, run_jobs)
    assert owner.post(f"{API}/versions/{version['id']}/publish").status_code == 200
    with plant.scope():
        agent = Agent(name="Furnace agent", status="active")
        db.session.add(agent)
        db.session.flush()
        equipment.add_unit_tag(equipment.get_unit(plant.units["AF1"]), agent_id=agent.id, tag="af1.temp")
        rule = AlarmRule(agent_id=agent.id, tag="af1.temp", name="AF1 over-temperature", kind="high",
                         priority="critical", limit=600.0)
        db.session.add(rule)
        db.session.flush()
        alarm = Alarm(rule_id=rule.id, agent_id=agent.id, state="active_unacked")
        db.session.add(alarm)
        db.session.flush()
        outbox.publish("alarm.raised", {"alarm_id": str(alarm.id), "rule_id": str(rule.id),
                                        "agent_id": str(agent.id), "tag": "af1.temp", "name": rule.name,
                                        "kind": "high", "priority": "critical", "state": "active_unacked",
                                        "value": 640.0, "ts": datetime.now(timezone.utc).isoformat()})
        db.session.commit()
        alarm_id = alarm.id
    with app.app_context():
        while outbox.relay_once():      # earlier tests' events come first
            pass
    with plant.scope():
        found = list(db.session.scalars(select(Disruption)))
        assert [(d.unit_id, d.source, d.alarm_id) for d in found] == [(plant.units["AF1"], "alarm", alarm_id)]
    listed = owner.get(f"{API}/disruptions").get_json()["items"]
    assert listed[0]["source"] == "alarm" and "AF1 over-temperature" in listed[0]["reason"]


def test_other_companies_get_404(plant, owner, run_jobs, tenant_factory, make_client, app):
    from .conftest import give_plan

    plant.order([{"quantity": 20.0}], confirm=True)
    version = _solve(owner, run_jobs)
    op = _ops(owner, version["id"])[0]
    d = owner.post(f"{API}/disruptions", json={
        "unit_id": str(plant.units["CM1"]), "starts_at": datetime.now(timezone.utc).isoformat(),
        "ends_at": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()}).get_json()
    other = tenant_factory()
    give_plan(app, other.tenant_id)
    stranger = ApiClient(make_client()).sign_in(other.owner_email)
    for url in (f"{API}/versions/{version['id']}", f"{API}/versions/{version['id']}/status",
                f"{API}/versions/{version['id']}/operations", f"{API}/operations/{op['id']}",
                f"{API}/disruptions/{d['id']}", f"{API}/compare?a={version['id']}&b={version['id']}"):
        problem(stranger.get(url), 404)
    for url, body in ((f"{API}/versions/{version['id']}/publish", None), (f"{API}/operations/{op['id']}/lock", {}),
                      (f"{API}/versions/{version['id']}/resolve", {}),
                      (f"{API}/disruptions/{d['id']}/reschedule", {})):
        problem(stranger.post(url, json=body), 404)
    assert stranger.get(f"{API}/versions").get_json()["items"] == []
    assert owner.get(f"{API}/versions/{version['id']}").status_code == 200


def test_viewers_read_but_do_not_plan(plant, owner, run_jobs, tenant_factory, make_client):
    plant.order([{"quantity": 20.0}], confirm=True)
    version = _solve(owner, run_jobs)
    email = tenant_factory.add_member(plant.made, "viewer")
    viewer = ApiClient(make_client()).sign_in(email)
    assert viewer.get(f"{API}/versions/{version['id']}").status_code == 200
    problem(viewer.post(f"{API}/versions", json={"time_limit": 2}), 403)
    problem(viewer.post(f"{API}/versions/{version['id']}/publish"), 403)


def test_a_plan_without_the_module_is_refused(app, tenant_factory, make_client):
    made = tenant_factory()          # a trial: Starter's modules
    client = ApiClient(make_client()).sign_in(made.owner_email)
    body = problem(client.get(f"{API}/versions"), 403)
    assert body.get("module") == "scheduling"
