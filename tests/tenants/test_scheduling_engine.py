"""The scheduling engine on its own: model, CP-SAT solver, dispatching rule,
`.fjs` reader, checker and the `alloyhub schedule solve-fjs` command.

Multi-worker CP-SAT runs are not deterministic: assertions are on ranges,
feasibility (checked by the independent checker) and directions, never on
time or exact makespans of hard instances.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from alloyhub.tenants.scheduling.engine import checker, cpsat, dispatch, fjs, fjsp_search, generator
from alloyhub.tenants.scheduling.engine.analysis import make_schedule
from alloyhub.tenants.scheduling.engine.model import (Frozen, Job, Machine, Operation, Option, Problem,
                                                      ProblemError, downtime_from_availability)

FJSP = Path(__file__).resolve().parents[1] / "data" / "fjsp" / "brandimarte"  # a copy of ../shared/benchmarks/fjsp
MK01 = FJSP / "MK01.fjs"


def _op(*options, **kw) -> Operation:
    return Operation([Option(m, d) for m, d in options], **kw)


@pytest.fixture(scope="module")
def mk01() -> Problem:
    return fjs.load(MK01)


@pytest.fixture(scope="module")
def mk01_solution(mk01):
    return cpsat.solve(mk01, "makespan", time_limit=3)


# --------------------------------------------------------------------------- .fjs and the checker
def test_fjs_reader_gives_the_zero_based_model(mk01):
    assert (len(mk01.jobs), len(mk01.machines), mk01.operation_count) == (10, 6, 55)
    first = mk01.jobs[0].operations[0]
    # MK01 job 1 starts "2 1 5 3 4": machine 1 for 5, machine 3 for 4 (one-based in the file)
    assert [(o.machine, o.duration) for o in first.options] == [(0, 5), (2, 4)]


@pytest.mark.parametrize("text,words", [
    ("", "empty"),
    ("2 2\n1 1 1 3\n", "announces 2 jobs"),
    ("1 2\n1 1 3 4\n", "outside 1..2"),
    ("1 2\n2 1 1 3\n", "middle of an operation"),
])
def test_fjs_reader_rejects_bad_files(text, words):
    with pytest.raises(ProblemError, match=words):
        fjs.parse(text)


def test_checker_catches_violations(mk01, mk01_solution):
    rows = [{"job": s.job, "op": s.op, "machine": s.machine, "start": s.start, "end": s.end}
            for s in mk01_solution.operations]
    assert checker.check_rows(mk01, rows) == []
    first = rows[0]
    wrong = [dict(r) for r in rows]
    wrong[0] = dict(first, end=first["end"] + 1)                        # wrong duration
    assert any("takes" in e for e in checker.check_rows(mk01, wrong))
    overlap = [dict(r) for r in rows]
    other = next(r for r in overlap if r["machine"] == first["machine"] and r is not overlap[0])
    other.update(start=first["start"], end=first["start"] + (other["end"] - other["start"]))
    assert any("overlap" in e or "before the operation" in e for e in checker.check_rows(mk01, overlap))
    assert any("not scheduled" in e for e in checker.check_rows(mk01, rows[1:]))


# --------------------------------------------------------------------------- MK01 and the baseline
def test_mk01_cp_sat_schedule_is_feasible_and_beats_the_baseline(mk01, mk01_solution):
    baseline = dispatch.solve(mk01)
    assert checker.check(mk01, baseline) == []
    assert mk01_solution.feasible
    assert checker.check(mk01, mk01_solution) == []
    assert 40 <= mk01_solution.kpis.makespan < baseline.kpis.makespan
    k = mk01_solution.kpis
    assert set(k.utilisation) == {m.id for m in mk01.machines}
    assert all(0 < u <= 1 for u in k.utilisation.values())
    assert k.load_balance["max_over_mean"] >= 1
    assert any("bottleneck" in line for line in mk01_solution.explanation)


def test_dispatch_rule_is_feasible_on_every_brandimarte_instance():
    for path in sorted(FJSP.glob("MK*.fjs")):
        problem = fjs.load(path)
        schedule = dispatch.solve(problem)
        assert schedule.feasible and checker.check(problem, schedule) == [], path.name


def test_progress_is_reported_and_can_stop_the_search(mk01):
    seen = []

    def progress(p):
        seen.append(p)
        return True                     # stop at the first improvement

    result = cpsat.solve(mk01, "makespan", time_limit=5, on_progress=progress)
    assert len(seen) == 1 and seen[0].objective >= seen[0].bound
    assert result.feasible and checker.check(mk01, result) == []


def test_large_neighbourhood_search_keeps_schedules_feasible(monkeypatch):
    problem = fjs.load(FJSP / "MK06.fjs")          # not proved optimal in a few seconds: LNS rounds run
    monkeypatch.setattr(cpsat, "FIRST_PHASE", 0.2)
    monkeypatch.setattr(cpsat, "FIRST_PHASE_PURE", 0.2)
    result = cpsat.solve(problem, "makespan", time_limit=5)
    assert result.feasible and checker.check(problem, result) == []
    assert result.search["lns_rounds"] > 0
    assert 57 <= result.kpis.makespan < dispatch.solve(problem).kpis.makespan


# --------------------------------------------------------------------------- the pure flexible job-shop search
def test_pure_search_is_used_only_for_makespan_on_pure_flexible_job_shops(mk01):
    assert fjsp_search.applies(mk01, {"makespan": 1})
    assert not fjsp_search.applies(mk01, {"makespan": 1, "weighted_tardiness": 1})
    assert not fjsp_search.applies(mk01, {"weighted_tardiness": 1})
    with_setups = copy.deepcopy(mk01)
    with_setups.machines[0].default_setup = 3
    assert not fjsp_search.applies(with_setups, {"makespan": 1})
    furnace = copy.deepcopy(mk01)
    furnace.machines[1].capacity = 2
    assert not fjsp_search.applies(furnace, {"makespan": 1})
    frozen = copy.deepcopy(mk01)
    first = frozen.jobs[0].operations[0]
    first.frozen = Frozen(first.options[0].machine, 0, first.options[0].duration)
    assert not fjsp_search.applies(frozen, {"makespan": 1})
    locked = copy.deepcopy(mk01)
    locked.jobs[0].operations[0].lock_machine = locked.jobs[0].operations[0].options[0].machine
    assert not fjsp_search.applies(locked, {"makespan": 1})
    down = copy.deepcopy(mk01)
    down.machines[0].downtime = [(5, 10)]
    assert not fjsp_search.applies(down, {"makespan": 1})


def test_randomized_greedy_schedules_are_feasible_and_left_shifted():
    for name in ("MK01", "MK06", "MK10"):
        problem = fjs.load(FJSP / f"{name}.fjs")
        shop = fjsp_search.Shop(problem)
        greedy = fjsp_search.best_greedy(shop, seed=3, seconds=0.2)
        schedule = make_schedule(problem, greedy.placements(shop), "feasible", "greedy")
        assert checker.check(problem, schedule) == [], name
        assert greedy.makespan == schedule.kpis.makespan
        # the same machine orders stretched out in time shift back to the same schedule
        stretched = fjsp_search.decode(shop, greedy.assign, [3 * s + 5 for s in greedy.start])
        assert (stretched.start, stretched.makespan) == (greedy.start, greedy.makespan), name


def test_pure_search_improves_from_a_greedy_schedule():
    problem = fjs.load(FJSP / "MK06.fjs")
    shop = fjsp_search.Shop(problem)
    greedy = fjsp_search.best_greedy(shop, seed=1, seconds=0.1)
    seen, stats = [], {}
    placements = fjsp_search.improve(problem, greedy.placements(shop), time.monotonic() + 4, workers=2, seed=1,
                                     bound=None, report=lambda makespan: seen.append(makespan) and False,
                                     stats=stats)
    schedule = make_schedule(problem, placements, "feasible", "fjsp")
    assert checker.check(problem, schedule) == []
    assert stats["lns_rounds"] > 0
    assert 57 <= schedule.kpis.makespan < greedy.makespan
    assert seen and seen == sorted(seen, reverse=True) and seen[-1] == schedule.kpis.makespan


def test_pure_search_stops_when_the_caller_says_so():
    problem = fjs.load(FJSP / "MK10.fjs")
    shop = fjsp_search.Shop(problem)
    greedy = fjsp_search.best_greedy(shop, seed=1, seconds=0.1)
    seen, stats = [], {}
    placements = fjsp_search.improve(problem, greedy.placements(shop), time.monotonic() + 30, workers=2, seed=1,
                                     bound=None, report=lambda makespan: seen.append(makespan) or True,
                                     stats=stats)
    assert len(seen) == 1 and "final_phase" not in stats
    schedule = make_schedule(problem, placements, "feasible", "fjsp")
    assert checker.check(problem, schedule) == [] and schedule.kpis.makespan == seen[0]


# --------------------------------------------------------------------------- setups, batching, downtime
def _one_mill(due_b: int | None = None) -> Problem:
    setups = {("A", "B"): 10, ("B", "A"): 10}
    mill = Machine("mill", "Mill", setups=setups, initial_family="A")
    jobs = [Job(0, [_op(("mill", 5), setup_family="A")], due=100),
            Job(1, [_op(("mill", 5), setup_family="B")], due=due_b),
            Job(2, [_op(("mill", 5), setup_family="A")], due=100),
            Job(3, [_op(("mill", 5), setup_family="B")], due=100)]
    return Problem(jobs, [mill])


def test_setups_are_respected_and_grouped():
    problem = _one_mill()
    result = cpsat.solve(problem, "total_setup", time_limit=3)
    assert result.status == "optimal"
    assert checker.check(problem, result) == []
    assert result.kpis.total_setup == 10                # A, A, then one change-over to B, B
    ordered = sorted(result.operations, key=lambda s: s.start)
    gaps = [b.start - a.end for a, b in zip(ordered, ordered[1:])]
    assert sorted(gaps) == [0, 0, 10] and [s.setup for s in ordered].count(10) == 1
    # a schedule that ignores the change-over is caught by the checker
    squeezed = [{"job": s.job, "op": s.op, "machine": s.machine, "start": i * 5, "end": i * 5 + 5}
                for i, s in enumerate(ordered)]
    assert any("change-over" in e for e in checker.check_rows(problem, squeezed))


def test_objective_choice_changes_the_result_in_the_expected_direction():
    problem = _one_mill(due_b=6)        # B is urgent: serving it first costs an extra change-over
    by_setup = cpsat.solve(problem, "total_setup", time_limit=3)
    by_tardiness = cpsat.solve(problem, "weighted_tardiness", time_limit=3)
    for result in (by_setup, by_tardiness):
        assert result.status == "optimal" and checker.check(problem, result) == []
    assert by_tardiness.kpis.weighted_tardiness < by_setup.kpis.weighted_tardiness
    assert by_setup.kpis.total_setup < by_tardiness.kpis.total_setup
    mixed = cpsat.solve(problem, {"weighted_tardiness": 100, "total_setup": 1}, time_limit=3)
    assert mixed.kpis.weighted_tardiness == by_tardiness.kpis.weighted_tardiness
    with pytest.raises(ValueError):
        cpsat.solve(problem, "fastest", time_limit=1)


def _furnace_problem() -> Problem:
    furnace = Machine("f", "Furnace", capacity=10)
    jobs = [Job(j, [_op(("f", 100), recipe="R", size=4)]) for j in range(4)]
    jobs.append(Job(4, [_op(("f", 60), recipe="S", size=4)]))
    jobs.append(Job(5, [_op(("f", 100), recipe="S", size=4)]))
    return Problem(jobs, [furnace])


def test_batching_respects_capacity_and_recipes():
    problem = _furnace_problem()
    result = cpsat.solve(problem, "makespan", time_limit=3)
    assert checker.check(problem, result) == []
    assert result.kpis.makespan == 300   # R+R, R+R, S+S (two of four tonnes fit in ten, a third does not)
    assert len(result.batches) == 3
    for batch in result.batches:
        recipes = {problem.jobs[k[0]].operations[k[1]].recipe for k in batch.operations}
        assert len(recipes) == 1 and batch.load <= 10
    s_batch = next(b for b in result.batches if b.recipe == "S")
    assert s_batch.end - s_batch.start == 100        # the longest member sets the batch duration
    # mixing recipes or overfilling is caught
    rows = [{"job": j, "op": 0, "machine": "f", "start": 0, "end": 100} for j in range(3)]
    rows += [{"job": 3, "op": 0, "machine": "f", "start": 100, "end": 200},
             {"job": 4, "op": 0, "machine": "f", "start": 100, "end": 200},
             {"job": 5, "op": 0, "machine": "f", "start": 200, "end": 300}]
    errors = checker.check_rows(problem, rows)
    assert any("capacity" in e for e in errors) and any("incompatible recipes" in e for e in errors)


def test_downtime_is_respected():
    machine = Machine("m", downtime=[(5, 20)])
    problem = Problem([Job(0, [_op(("m", 4))]), Job(1, [_op(("m", 4))])], [machine])
    for result in (cpsat.solve(problem, "makespan", time_limit=2), dispatch.solve(problem)):
        assert checker.check(problem, result) == []
        assert result.kpis.makespan == 24
        assert all(s.end <= 5 or s.start >= 20 for s in result.operations)


def test_shift_calendar_becomes_downtime():
    # two shifts a day, 6-14 and 14-22 (minutes), over two days: nights are down
    shifts = [(d * 1440 + 360, d * 1440 + 1320) for d in range(2)]
    down = downtime_from_availability(shifts, until=2 * 1440)
    assert down == [(0, 360), (1320, 1800), (2760, 2880)]
    machine = Machine("m", downtime=down)
    problem = Problem([Job(0, [_op(("m", 900))]), Job(1, [_op(("m", 100))])], [machine])
    result = cpsat.solve(problem, "makespan", time_limit=2)
    assert checker.check(problem, result) == []
    assert all(360 <= s.start and s.end <= 1320 or 1800 <= s.start for s in result.operations)


def test_generated_rolling_mill_schedules_are_feasible():
    problem = generator.generate(8, seed=3)
    assert any(m.batching for m in problem.machines) and any(m.has_setups for m in problem.machines)
    baseline = dispatch.solve(problem)
    result = cpsat.solve(problem, {"weighted_tardiness": 10, "total_setup": 1}, time_limit=4)
    assert checker.check(problem, baseline) == [] and checker.check(problem, result) == []
    value = cpsat.objective_value
    weights = {"weighted_tardiness": 10, "total_setup": 1}
    assert value(result, weights) <= value(baseline, weights)
    assert result.batches and all(b.load <= 80 for b in result.batches)
    stored = json.loads(json.dumps(result.as_dict()))          # what a service stores
    assert stored["status"] in ("optimal", "feasible") and len(stored["operations"]) == problem.operation_count
    assert stored["kpis"]["total_setup"] == result.kpis.total_setup
    assert generator.generate(8, seed=3).jobs[5].label == problem.jobs[5].label   # reproducible


# --------------------------------------------------------------------------- frozen work and locks
def test_frozen_operations_stay_where_they_are(mk01, mk01_solution):
    now = 12
    jobs = []
    frozen = {}
    for job in mk01.jobs:
        ops = []
        for k, op in enumerate(job.operations):
            placed = mk01_solution.by_key()[(job.id, k)]
            copy = Operation(list(op.options))
            if placed.start < now:   # started before now: frozen, in the new time frame
                copy.frozen = Frozen(placed.machine, placed.start - now, placed.end - now)
                frozen[(job.id, k)] = (placed.machine, placed.start - now, placed.end - now)
            ops.append(copy)
        jobs.append(Job(job.id, ops))
    problem = Problem(jobs, mk01.machines)
    assert frozen
    result = cpsat.solve(problem, "makespan", time_limit=3)
    assert result.feasible and checker.check(problem, result) == []
    placed = result.by_key()
    for key, where in frozen.items():
        assert (placed[key].machine, placed[key].start, placed[key].end) == where
    assert all(s.start >= 0 for s in result.operations if s.key not in frozen)


def test_locks_are_honoured_when_re_solving(mk01, mk01_solution):
    job = mk01.jobs[3]
    op = job.operations[1]
    machine = op.options[-1].machine
    locked = Problem([Job(j.id, [Operation(list(o.options)) for o in j.operations]) for j in mk01.jobs],
                     mk01.machines)
    locked.jobs[3].operations[1].lock_machine = machine
    locked.jobs[3].operations[1].lock_start = 20
    locked.jobs[5].operations[0].lock_machine = mk01.jobs[5].operations[0].options[0].machine
    result = cpsat.solve(locked, "makespan", time_limit=3, hint=mk01_solution)
    assert result.feasible and checker.check(locked, result) == []
    placed = result.by_key()
    assert (placed[(3, 1)].machine, placed[(3, 1)].start) == (machine, 20)
    assert placed[(5, 0)].machine == mk01.jobs[5].operations[0].options[0].machine


def test_rolling_mill_re_solve_keeps_started_work_and_honours_a_lock():
    """The disruption flow: freeze what has started by `now`, pin one cold pass
    to a mill, re-solve from the previous schedule."""
    weights = {"weighted_tardiness": 10, "total_setup": 1}
    problem = generator.generate(8, seed=3)
    first = cpsat.solve(problem, weights, time_limit=3)
    placed = first.by_key()
    # `now`: just after the operation before some job's first cold pass started
    job_id, k = next((j.id, k) for j in problem.jobs for k, op in enumerate(j.operations)
                     if op.label.startswith("cold pass 1"))
    now = placed[(job_id, k - 1)].start + 1
    again = copy.deepcopy(problem)
    for job in again.jobs:
        job.release = max(0, job.release - now)
        job.due -= now
        for i, op in enumerate(job.operations):
            s = placed[(job.id, i)]
            if s.start < now:
                op.frozen = Frozen(s.machine, s.start - now, s.end - now)
    for machine in again.machines:
        machine.downtime = [(a - now, b - now) for a, b in machine.downtime if b > now]
    again.machine("cm1").downtime = [(200, 400)]                   # maintenance planned on cold mill 1
    op = again.jobs[job_id].operations[k]
    assert op.frozen is None and again.jobs[job_id].operations[k - 1].frozen is not None
    frozen = {(j.id, i): (o.frozen.machine, o.frozen.start, o.frozen.end)
              for j in again.jobs for i, o in enumerate(j.operations) if o.frozen is not None}
    previous = copy.deepcopy(first)
    for s in previous.operations:
        s.start, s.end = s.start - now, s.end - now
    op.lock_machine, op.lock_start = "cm1", 250                      # inside the maintenance
    refused = cpsat.solve(again, weights, time_limit=2, hint=previous)
    assert refused.status == "infeasible" and "Cold mill 1 is down" in refused.reason
    # After the maintenance, the job's previous (frozen) step and whatever is
    # frozen on cm1, with room for the longest change-over: which work is
    # frozen depends on how far the time-limited first solve got.
    longest_setup = max(again.machine("cm1").setups.values())
    lock_at = max([460, again.jobs[job_id].operations[k - 1].frozen.end + longest_setup]
                  + [end + longest_setup for (_, _), (machine, _, end) in frozen.items() if machine == "cm1"])
    op.lock_start = lock_at
    result = cpsat.solve(again, weights, time_limit=4, hint=previous)
    assert result.feasible and checker.check(again, result) == []
    got = result.by_key()
    assert (got[(job_id, k)].machine, got[(job_id, k)].start) == ("cm1", lock_at)
    assert all((got[key].machine, got[key].start, got[key].end) == where for key, where in frozen.items())
    assert all(s.end <= 200 or s.start >= 400 for s in result.operations if s.machine == "cm1" and s.start >= 0)


# --------------------------------------------------------------------------- infeasible problems
def test_an_operation_without_eligible_machine_is_reported():
    problem = Problem([Job("J1", [_op(("m", 3)), Operation([])])], [Machine("m")])
    for result in (cpsat.solve(problem, time_limit=1), dispatch.solve(problem)):
        assert result.status == "infeasible"
        assert "operation 1 of job J1 has no eligible machine" in result.reason


def test_conflicting_frozen_work_is_reported():
    problem = Problem([Job(0, [_op(("m", 5), frozen=Frozen("m", -3, 2))]),
                       Job(1, [_op(("m", 5), frozen=Frozen("m", 0, 5))])], [Machine("m", "Mill 1")])
    result = cpsat.solve(problem, time_limit=1)
    assert result.status == "infeasible" and "frozen operations overlap on Mill 1" in result.reason


def test_conflicting_locks_are_reported():
    problem = Problem([Job(0, [_op(("m", 5), lock_start=10)]), Job(1, [_op(("m", 5), lock_start=12)])],
                      [Machine("m")])
    result = cpsat.solve(problem, time_limit=2)
    assert result.status == "infeasible"
    assert "locked operations cannot all be honoured" in result.reason and "at 12" in result.reason
    bad_lock = Problem([Job(0, [_op(("m", 5), lock_machine="other")])], [Machine("m"), Machine("other")])
    assert "not eligible" in cpsat.solve(bad_lock, time_limit=1).reason


def test_late_jobs_are_explained():
    machine = Machine("m", "Press")
    problem = Problem([Job("A", [_op(("m", 30))], due=10),
                       Job("B", [_op(("m", 5))], release=20, due=22),
                       Job("C", [_op(("m", 8))], due=12),
                       Job("D", [_op(("m", 8))], due=12)], [machine])
    result = cpsat.solve(problem, "weighted_tardiness", time_limit=2)
    assert checker.check(problem, result) == []
    text = "\n".join(result.explanation)
    assert "Job A" in text and "processing alone (30) exceeds its due date 10" in text
    assert "waited" in text and "Press" in text
    assert set(result.kpis.late_jobs) >= {"A"}
    assert result.kpis.total_lateness == sum(max(0, result.kpis.job_completion[j.id] - j.due) for j in problem.jobs)


# --------------------------------------------------------------------------- the command
def test_solve_fjs_command_prints_a_feasible_schedule(mk01, capsys):
    from alloyhub.cli import main

    assert main(["schedule", "solve-fjs", str(MK01), "--time-limit", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["makespan"] == max(o["end"] for o in out["operations"])
    assert len(out["operations"]) == 55
    assert {o["machine"] for o in out["operations"]} <= set(range(6))
    assert checker.check_rows(mk01, out["operations"]) == []


def test_solve_fjs_command_rejects_a_bad_file(tmp_path, capsys):
    from alloyhub.cli import main

    bad = tmp_path / "bad.fjs"
    bad.write_text("1 2\n1 1 3 4\n")
    assert main(["schedule", "solve-fjs", str(bad), "--json"]) == 2
    assert "outside 1..2" in capsys.readouterr().err
