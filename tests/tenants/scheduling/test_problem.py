"""The engine Problem built from the database: eligibility and durations,
calendars, planned downtime, set-up matrices, furnace batching, frozen begun
work and the reasons a plan is refused."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from alloyhub.platform.db import db
from alloyhub.tenants.scheduling import problem as problems
from alloyhub.tenants.scheduling import services
from alloyhub.tenants.scheduling.engine import cpsat


def _build(plant, **kw):
    with plant.scope():
        return problems.build(live_state=False, **kw)


def _job(built, line_id):
    return next(j for j in built.problem.jobs if j.id == str(line_id))


def test_lines_become_jobs_with_eligible_units_and_minutes(plant):
    from alloyhub.tenants.equipment import services as equipment
    from alloyhub.tenants.products import services as products

    with plant.scope():
        cm2 = equipment.create_unit(line_id=plant.line_id, code="CM2", name="CM2", kind="cold_mill",
                                    max_width_mm=1700, min_gauge_mm=0.15, max_gauge_mm=8).id
        routing = plant.routing()
        routing[0]["units"] = [{"unit_id": plant.units["CM1"]}, {"unit_id": cm2, "rate": 20.0}]
        products.set_routing(products.get_product(plant.product_id), routing)
    order = plant.order([{"quantity": 20.0, "priority": 4}], confirm=True)
    plant.order([{"quantity": 5.0}])                                 # a draft: not planned
    (line_id,) = plant.line_ids(order)
    built = _build(plant)
    assert [j.id for j in built.problem.jobs] == [str(line_id)]
    job = _job(built, line_id)
    assert job.weight == 8 and job.due > 0 and job.release == 0
    cold = job.operations[0]
    durations = {built.units[o.machine].code: o.duration for o in cold.options}
    # 20 t at 98 % yield through the rest: ~20.4 t in; 10 t/h on CM1, CM2's own 20 t/h
    assert set(durations) == {"CM1", "CM2"}
    assert durations["CM1"] == pytest.approx(2 * durations["CM2"], abs=2)
    assert 115 <= durations["CM1"] <= 130
    assert [built.units[o.options[0].machine].code for o in job.operations] == ["CM1", "AF1", "SL1", "PK1"]


def test_calendars_and_planned_downtime_are_unavailable_windows(plant):
    from alloyhub.tenants.equipment import services as equipment

    with plant.scope():
        calendar = equipment.create_calendar(name="Day shift", timezone="UTC", shifts=[
            {"weekday": d, "start": "06:00", "end": "22:00"} for d in range(7)])
        equipment.update_unit(equipment.get_unit(plant.units["SL1"]), calendar_id=calendar.id)
        start = problems.plan_start_for() + timedelta(hours=1)
        equipment.create_downtime(unit_id=plant.units["PK1"], starts_at=start, ends_at=start + timedelta(hours=30),
                                  reason="crane repair")
    plant.order([{"quantity": 20.0}], confirm=True)
    built = _build(plant)
    machines = built.problem.machine_index
    slitter = machines[str(plant.units["SL1"])]
    # every night 22:00-06:00 is down: 8 h gaps, at least one in the first day
    assert any(b - a == 8 * 60 for a, b in slitter.downtime)
    packing = machines[str(plant.units["PK1"])]
    assert (60, 60 + 30 * 60) in [(a, b) for a, b in packing.downtime]
    schedule = cpsat.solve(built.problem, "makespan", time_limit=2)
    assert schedule.feasible
    for s in schedule.operations:
        for a, b in machines[s.machine].downtime:
            assert s.end <= a or s.start >= b, (s, a, b)


def test_setup_matrix_comes_from_the_setup_rules(plant):
    from alloyhub.tenants.products import services as products

    with plant.scope():
        products.create_setup_rule(kind="alloy_family_change", minutes=45.0)
        other = products.create_product(code="P5", alloy="5052", temper="H32", gauge_mm=1.0, width_mm=1000,
                                         coil_weight_t=5.0)
        products.set_routing(other, plant.routing())
        p5 = other.id
    plant.order([{"quantity": 10.0}], confirm=True)
    plant.order([{"quantity": 10.0, "product_id": p5}], confirm=True)
    built = _build(plant)
    cm1 = built.problem.machine_index[str(plant.units["CM1"])]
    assert cm1.setups and set(cm1.setups.values()) == {45}
    furnace = built.problem.machine_index[str(plant.units["AF1"])]
    assert furnace.setups == {}           # a furnace load has no change-over


def test_furnace_loads_share_capacity_by_recipe(plant):
    plant.order([{"quantity": 10.0}, {"quantity": 10.0}], confirm=True)
    big = plant.order([{"quantity": 90.0}], confirm=True)
    built = _build(plant)
    furnace = built.problem.machine_index[str(plant.units["AF1"])]
    assert furnace.capacity == problems.LOAD
    anneals = {job.id: job.operations[1] for job in built.problem.jobs}
    (big_line,) = plant.line_ids(big)
    small = [op for jid, op in anneals.items() if jid != str(big_line)]
    # 10 t = 2 coils of 5 t (plus yield): 3 of 4 coils is the tighter share
    assert {op.size for op in small} == {75} or {op.size for op in small} == {50}
    assert {op.recipe for op in small} == {"O-360"}
    alone = anneals[str(big_line)]
    assert alone.size == problems.LOAD and alone.recipe.startswith("alone:")
    assert alone.options[0].duration == 5 * 20 * 60       # 90 t = 18 coils: five loads of 4 coils × 20 h


def test_two_small_lines_are_annealed_in_one_load(plant, run_jobs):
    plant.order([{"quantity": 5.0}, {"quantity": 5.0}], confirm=True)
    with plant.scope():
        version = services.create_version(objective="makespan", time_limit=3, enqueue=False)
        version = services.solve(version.id)
        anneals = [op for op in version.operations if op.step == 1]
        assert version.status == "solved"
        assert len({op.batch_key for op in anneals}) == 1 and anneals[0].batch_key
        assert len({(op.start, op.end) for op in anneals}) == 1


def test_begun_work_is_frozen_where_it_ran(plant):
    from alloyhub.tenants.production import services as production

    order = plant.order([{"quantity": 20.0}], confirm=True)
    (line_id,) = plant.line_ids(order)
    with plant.scope():
        version = services.solve(services.create_version(time_limit=2, enqueue=False).id)
        services.publish(version)
        wo = next(w for w in db.session.scalars(production.work_orders_query(order_line_id=line_id))
                  if w.step == 0)
        production.start(wo.id)
        actual = wo.actual_start
    built = _build(plant)
    job = _job(built, line_id)
    first = job.operations[0]
    assert first.frozen is not None and first.frozen.machine == str(plant.units["CM1"])
    assert first.frozen.start == problems.minutes_between(built.plan_start, actual)
    assert all(op.frozen is None for op in job.operations[1:])
    with plant.scope():
        again = services.solve(services.create_version(time_limit=2, enqueue=False).id)
        op0 = next(op for op in again.operations if op.step == 0)
        assert op0.frozen and op0.unit_id == plant.units["CM1"]
        assert abs((op0.start - actual).total_seconds()) < 60
        later = [op for op in again.operations if op.step > 0]
        assert all(op.start >= op0.end for op in later)


def test_a_unit_down_now_is_unavailable_from_now(plant):
    from alloyhub.tenants.agents.models import Agent
    from alloyhub.tenants.equipment import services as equipment

    with plant.scope():
        agent = Agent(name="Mill agent", status="active")
        db.session.add(agent)
        db.session.flush()
        # the agent never connected: offline, and CM1 goes down with it
        equipment.add_unit_tag(equipment.get_unit(plant.units["CM1"]), agent_id=agent.id, tag="cm1.speed",
                               running_above=5.0)
    plant.order([{"quantity": 20.0}], confirm=True)
    with plant.scope():
        built = problems.build()
    cm1 = built.problem.machine_index[str(plant.units["CM1"])]
    assert (0, problems.LIVE_DOWN_HOURS * 60) in cm1.downtime
    assert any("CM1" in n for n in built.notes)


def test_nothing_to_schedule_and_impossible_routings_are_refused(plant):
    with pytest.raises(problems.Unschedulable, match="no confirmed"):
        _build(plant)
    plant.order([{"quantity": 20.0}], confirm=True)
    with plant.scope():
        from alloyhub.tenants.equipment.models import Unit

        unit = db.session.scalar(select(Unit).where(Unit.id == plant.units["SL1"]))
        unit.status = "retired"   # behind the guard's back: the routing has no active slitter now
        db.session.commit()
    with pytest.raises(problems.Unschedulable) as caught:
        _build(plant)
    assert any("no active unit" in r for r in caught.value.reasons)


def test_a_lock_on_a_unit_that_cannot_run_the_step_is_refused(plant):
    order = plant.order([{"quantity": 20.0}], confirm=True)
    (line_id,) = plant.line_ids(order)
    start = (datetime.now(timezone.utc) + timedelta(hours=5)).isoformat()
    with pytest.raises(problems.Unschedulable, match="cannot run"):
        _build(plant, locks=[{"order_line_id": str(line_id), "step": 0, "unit_id": str(plant.units["PK1"]),
                              "start": start}], strict_locks=True)
