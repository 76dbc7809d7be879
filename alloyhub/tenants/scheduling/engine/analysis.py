"""What every solver shares: up-front checks of a problem, the calendar of a
machine, turning placements into a Schedule (setups, batches, KPIs), the
left shift that closes idle gaps, and the plain-English explanation."""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Hashable

from .model import KPIs, Batch, OpKey, Problem, Schedule, ScheduledOperation

Placement = tuple  # (machine, start, end)


# --------------------------------------------------------------------------- checks
def validate(problem: Problem) -> list[str]:
    """Reasons the problem cannot have any schedule, found without solving."""
    reasons: list[str] = []
    machines = problem.machine_index
    if len(machines) != len(problem.machines):
        reasons.append("two machines share one id")
    seen_jobs = set()
    for job in problem.jobs:
        if job.id in seen_jobs:
            reasons.append(f"two jobs share the id {job.id!r}")
        seen_jobs.add(job.id)
    frozen_by_machine: dict[Hashable, list] = defaultdict(list)
    for (jid, k), job, op in problem.operations():
        name = _op_name(job, k, op)
        if op.frozen is not None:
            fz = op.frozen
            if fz.machine not in machines:
                reasons.append(f"{name} is frozen on an unknown machine {fz.machine!r}")
            if fz.end < fz.start:
                reasons.append(f"{name} is frozen with its end before its start")
            frozen_by_machine[fz.machine].append((fz.start, fz.end, name))
            if k > 0 and job.operations[k - 1].frozen is None:
                reasons.append(f"{name} is frozen (started) but the operation before it in its job is not")
            elif k > 0 and job.operations[k - 1].frozen.end > fz.start:
                reasons.append(f"{name} is frozen to start before the operation before it in its job ends")
            continue
        if not op.options:
            reasons.append(f"{name} has no eligible machine")
            continue
        for opt in op.options:
            if opt.machine not in machines:
                reasons.append(f"{name} names an unknown machine {opt.machine!r}")
            if opt.duration < 0:
                reasons.append(f"{name} has a negative duration on {opt.machine!r}")
        usable = [o for o in op.options if o.machine in machines and
                  (not machines[o.machine].batching or op.size <= machines[o.machine].capacity)]
        if op.options and not usable and all(o.machine in machines for o in op.options):
            reasons.append(f"{name} (size {op.size}) exceeds the capacity of every eligible furnace")
        if op.lock_machine is not None and op.duration_on(op.lock_machine) is None:
            reasons.append(f"{name} is locked on {op.lock_machine!r}, which is not eligible for it")
        if op.lock_start is not None:
            candidates = [o for o in usable if op.lock_machine is None or o.machine == op.lock_machine]
            blocked = [o for o in candidates
                       if any(op.lock_start < de and ds < op.lock_start + max(o.duration, 1)
                              for ds, de in machines[o.machine].downtime)]
            if candidates and len(blocked) == len(candidates):
                where = " or ".join(_machine_name(machines[o.machine], o.machine) for o in blocked)
                reasons.append(f"{name} is locked to start at {op.lock_start}, when {where} is down "
                               f"(planned downtime)")
            if op.lock_start < 0:
                reasons.append(f"{name} is locked to start in the past ({op.lock_start})")
            if k == 0 and op.lock_start < job.release:
                reasons.append(f"{name} is locked to start at {op.lock_start}, before its job's release {job.release}")
        if op.size <= 0:
            reasons.append(f"{name} has a non-positive size")
    for mid, items in frozen_by_machine.items():
        m = machines.get(mid)
        items.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(items, items[1:]):
            if s2 < e1 and (m is None or not m.batching):
                reasons.append(f"frozen operations overlap on {_machine_name(m, mid)}: {n1} and {n2}")
        if m is not None:
            for s, e, n in items:
                for ds, de in m.downtime:
                    if s < de and ds < e and e > s:
                        reasons.append(f"{n} is frozen on {_machine_name(m, mid)} during its planned downtime [{ds}, {de})")
    for m in problem.machines:
        if m.capacity < 1:
            reasons.append(f"{_machine_name(m, m.id)} has a capacity below 1")
    return reasons


def _op_name(job, k, op) -> str:
    label = f" ({op.label})" if op.label else ""
    return f"operation {k} of job {job.label or job.id}{label}"


def _machine_name(m, mid) -> str:
    return (m.name if m is not None and m.name else f"machine {mid}")


# --------------------------------------------------------------------------- calendars
def earliest_free(downtime: list[tuple[int, int]], start: int, length: int) -> int:
    """The earliest t >= start such that [t, t + length) meets no downtime interval."""
    t = start
    moved = True
    while moved:
        moved = False
        for ds, de in downtime:
            if t < de and ds < t + max(length, 1) and de > ds:
                t = de
                moved = True
    return t


def horizon(problem: Problem) -> int:
    """A time by which some schedule surely ends."""
    h = 0
    for _, job, op in problem.operations():
        h = max(h, job.release)
        if op.frozen is not None:
            h = max(h, op.frozen.end)
        if op.lock_start is not None:
            h = max(h, op.lock_start)
    for m in problem.machines:
        for _, de in m.downtime:
            h = max(h, de)
    work = 0
    for _, _, op in problem.operations():
        if op.frozen is None and op.options:
            work += max(o.duration for o in op.options)
            worst_setup = 0
            for o in op.options:
                m = problem.machine_index.get(o.machine)
                if m is not None and m.has_setups:
                    worst_setup = max(worst_setup, m.default_setup, max(m.setups.values(), default=0))
            work += worst_setup
    return h + work + 1


# --------------------------------------------------------------------------- schedules
def make_schedule(problem: Problem, placements: dict[OpKey, Placement], status: str, solver: str,
                  objective=None, bound=None, wall_time: float = 0.0, explain: bool = True) -> Schedule:
    """Placements (machine, start, end) per operation → a full Schedule with
    setups, batches, KPIs and the explanation."""
    ops_by_key = {key: (job, op) for key, job, op in problem.operations()}
    machines = problem.machine_index
    by_machine: dict[Hashable, list[OpKey]] = defaultdict(list)
    for key, (m, s, e) in placements.items():
        by_machine[m].append(key)
    setup_of: dict[OpKey, int] = {}
    batches: list[Batch] = []
    batch_of: dict[OpKey, int] = {}
    for mid, keys in by_machine.items():
        m = machines[mid]
        keys.sort(key=lambda k: (placements[k][1], placements[k][2], k[1]))
        if m.batching:
            groups: dict[tuple, list[OpKey]] = defaultdict(list)
            for key in keys:
                groups[(placements[key][1], placements[key][2])].append(key)
            for (s, e), members in sorted(groups.items(), key=lambda kv: kv[0]):
                bid = len(batches)
                load = sum(ops_by_key[k][1].size for k in members)
                batches.append(Batch(bid, mid, ops_by_key[members[0]][1].recipe, s, e, members, load))
                for k in members:
                    batch_of[k] = bid
                    setup_of[k] = 0
            continue
        prev = m.initial_family
        for key in keys:
            op = ops_by_key[key][1]
            setup_of[key] = 0 if op.frozen is not None else m.setup(prev, op.setup_family)
            prev = op.setup_family
    scheduled = []
    for key, job, op in problem.operations():
        if key not in placements:
            continue
        m, s, e = placements[key]
        scheduled.append(ScheduledOperation(key[0], key[1], m, s, e, setup_of.get(key, 0), batch_of.get(key)))
    schedule = Schedule(status=status, operations=scheduled, batches=batches, objective=objective, bound=bound,
                        solver=solver, wall_time=wall_time)
    schedule.kpis = kpis(problem, schedule)
    if explain:
        schedule.explanation = explain_schedule(problem, schedule)
    return schedule


def kpis(problem: Problem, schedule: Schedule) -> KPIs:
    ops = schedule.by_key()
    makespan = max((s.end for s in schedule.operations), default=0)
    completion, late, lateness, wt = {}, [], 0, 0
    for job in problem.jobs:
        if not job.operations:
            continue
        last = ops.get((job.id, len(job.operations) - 1))
        if last is None:
            continue
        completion[job.id] = last.end
        if job.due is not None and last.end > job.due:
            late.append(job.id)
            lateness += last.end - job.due
            wt += job.weight * (last.end - job.due)
    load: dict[Hashable, int] = {m.id: 0 for m in problem.machines}
    busy: dict[Hashable, int] = {m.id: 0 for m in problem.machines}
    seen_batches = set()
    for s in schedule.operations:
        if s.batch is not None:
            if s.batch in seen_batches:
                continue
            seen_batches.add(s.batch)
        length = s.end - s.start
        load[s.machine] += length
        busy[s.machine] += _clip(s.start - s.setup, s.end, makespan)
    util = {}
    for m in problem.machines:
        down = sum(_clip(ds, de, makespan) for ds, de in m.downtime)
        available = makespan - down
        util[m.id] = busy[m.id] / available if available > 0 else 0.0
    values = list(load.values())
    mean = statistics.fmean(values) if values else 0.0
    balance = {"max_over_mean": (max(values) / mean) if mean > 0 else 0.0,
               "std_dev": statistics.pstdev(values) if len(values) > 1 else 0.0}
    return KPIs(makespan=makespan, late_jobs=late, total_lateness=lateness, weighted_tardiness=wt,
                total_setup=sum(s.setup for s in schedule.operations), utilisation=util, machine_load=load,
                load_balance=balance, job_completion=completion)


def _clip(start: int, end: int, until: int) -> int:
    return max(0, min(end, until) - max(start, 0))


def compact(problem: Problem, placements: dict[OpKey, Placement]) -> dict[OpKey, Placement]:
    """Left shift: keep every machine's sequence (and batches) and start each
    operation as early as its job, machine, change-over and downtime allow.
    Never makes makespan, tardiness or setup worse."""
    ops_by_key = {key: (job, op) for key, job, op in problem.operations()}
    machines = problem.machine_index
    order = sorted(placements, key=lambda k: (placements[k][1], placements[k][2], k[1]))
    new: dict[OpKey, Placement] = {}
    machine_end: dict[Hashable, int] = defaultdict(lambda: 0)
    machine_family: dict[Hashable, Hashable] = {m.id: m.initial_family for m in problem.machines}
    # batches: members share (machine, start, end) in the original
    groups: dict[tuple, list[OpKey]] = defaultdict(list)
    for key in order:
        m, s, e = placements[key]
        if machines[m].batching:
            groups[(m, s, e)].append(key)
    done = set()
    for key in order:
        if key in done:
            continue
        m, s, e = placements[key]
        mach = machines[m]
        members = groups[(m, s, e)] if mach.batching else [key]
        fixed = any(ops_by_key[k][1].frozen is not None or ops_by_key[k][1].lock_start is not None for k in members)
        if fixed or any(not _ready_known(k, new) for k in members):
            start = s
            setup = 0
        else:
            ready = 0
            for k in members:
                job, op = ops_by_key[k]
                ready = max(ready, job.release if k[1] == 0 else new[(k[0], k[1] - 1)][2])
            setup = 0 if mach.batching else mach.setup(machine_family[m], ops_by_key[key][1].setup_family)
            begin = max(ready, machine_end[m] + setup) - setup
            begin = earliest_free(mach.downtime, begin, setup + (e - s))
            start = min(begin + setup, s)
        for k in members:
            new[k] = (m, start, start + (e - s))
            done.add(k)
        machine_end[m] = max(machine_end[m], start + (e - s))
        machine_family[m] = ops_by_key[key][1].setup_family
    return new


def _ready_known(key: OpKey, new: dict) -> bool:
    return key[1] == 0 or (key[0], key[1] - 1) in new


# --------------------------------------------------------------------------- explanation
def explain_schedule(problem: Problem, schedule: Schedule, max_late: int = 5) -> list[str]:
    """A few sentences on what binds the schedule: the bottleneck, the chain
    that sets the makespan, which jobs are late and why."""
    k = schedule.kpis
    if k is None or not schedule.operations:
        return []
    machines = problem.machine_index
    lines = []
    if k.utilisation:
        top = max(k.utilisation, key=lambda mid: (k.utilisation[mid], k.machine_load[mid]))
        count = sum(1 for s in schedule.operations if s.machine == top)
        lines.append(f"{_machine_name(machines[top], top)} is the bottleneck: busy {k.utilisation[top]:.0%} of the "
                     f"time up to the makespan ({count} operations, {k.machine_load[top]} of processing).")
    chain = critical_chain(problem, schedule)
    if chain:
        counts: dict[Hashable, int] = defaultdict(int)
        for s in chain:
            counts[s.machine] += 1
        main = max(counts, key=counts.get)
        lines.append(f"The makespan {k.makespan} is set by a chain of {len(chain)} operations without idle time, "
                     f"{counts[main]} of them on {_machine_name(machines[main], main)}.")
    if k.total_setup:
        lines.append(f"Change-overs take {k.total_setup} in total.")
    if not k.late_jobs:
        due = [j for j in problem.jobs if j.due is not None]
        if due:
            lines.append(f"All {len(due)} jobs with a due date finish on time.")
        return lines
    lines.append(f"{len(k.late_jobs)} job(s) late, {k.total_lateness} of lateness in total.")
    ops = schedule.by_key()
    jobs = {j.id: j for j in problem.jobs}
    worst = sorted(k.late_jobs, key=lambda jid: -(k.job_completion[jid] - jobs[jid].due))[:max_late]
    for jid in worst:
        lines.append(_why_late(problem, jobs[jid], ops, machines, k.job_completion[jid]))
    return lines


def _why_late(problem, job, ops, machines, completion) -> str:
    name = f"Job {job.label or job.id}"
    late_by = completion - job.due
    minimum = sum(min((o.duration for o in op.options), default=0) if op.frozen is None
                  else op.frozen.end - op.frozen.start for op in job.operations)
    if minimum > job.due:
        return f"{name} is {late_by} late: its processing alone ({minimum}) exceeds its due date {job.due}."
    if job.release + minimum > job.due:
        return (f"{name} is {late_by} late: released at {job.release}, its {minimum} of processing cannot "
                f"finish by its due date {job.due}.")
    waits: dict[Hashable, int] = defaultdict(int)
    setups = 0
    ready = job.release
    for idx in range(len(job.operations)):
        s = ops[(job.id, idx)]
        wait = max(0, s.start - s.setup - ready)
        waits[s.machine] += wait
        setups += s.setup
        ready = s.end
    down_wait = 0
    if waits and max(waits.values()) > 0:
        mid = max(waits, key=waits.get)
        m = machines[mid]
        for ds, de in m.downtime:
            if ds < completion:
                down_wait = 1
        tail = " (including its planned downtime)" if down_wait else ""
        extra = f", and {setups} of change-over" if setups else ""
        return (f"{name} is {late_by} late: it waited {waits[mid]} for {_machine_name(m, mid)}{tail}{extra}; "
                f"other jobs had that unit first.")
    return f"{name} is {late_by} late: {setups} of change-over before its operations delayed it."


def critical_chain(problem: Problem, schedule: Schedule) -> list[ScheduledOperation]:
    """From the last operation back: the predecessor (in the job or on the
    machine) that ends exactly when it starts, until a release, 0 or downtime."""
    if not schedule.operations:
        return []
    ops = schedule.by_key()
    by_machine: dict[Hashable, list[ScheduledOperation]] = defaultdict(list)
    for s in schedule.operations:
        by_machine[s.machine].append(s)
    for lst in by_machine.values():
        lst.sort(key=lambda s: s.start)
    current = max(schedule.operations, key=lambda s: s.end)
    chain = [current]
    seen = {current.key}
    while True:
        nxt = None
        if current.op > 0:
            pred = ops.get((current.job, current.op - 1))
            if pred is not None and pred.end == current.start:
                nxt = pred
        if nxt is None:
            for other in by_machine[current.machine]:
                if other.end == current.start - current.setup and other.key not in seen and other.batch is None \
                        or (other.batch is not None and other.batch != current.batch
                            and other.end == current.start - current.setup and other.key not in seen):
                    nxt = other
                    break
        if nxt is None or nxt.key in seen:
            break
        chain.append(nxt)
        seen.add(nxt.key)
        current = nxt
    chain.reverse()
    return chain
