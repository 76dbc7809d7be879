"""An independent feasibility check of a schedule against its problem.

It does not trust the solver's bookkeeping: it recomputes the change-over
needed before each operation from the machine's sequence and groups batches
itself. Used by the tests, the benchmarks and anyone holding the JSON of the
CLI (`check_rows` takes the `operations` list it prints).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from .model import Problem, Schedule


def check(problem: Problem, schedule: Schedule) -> list[str]:
    """Every violated rule, as a sentence; empty when the schedule is feasible."""
    rows = [{"job": s.job, "op": s.op, "machine": s.machine, "start": s.start, "end": s.end}
            for s in schedule.operations]
    return check_rows(problem, rows)


def check_rows(problem: Problem, rows: Iterable[dict]) -> list[str]:
    errors: list[str] = []
    machines = problem.machine_index
    placed: dict[tuple, dict] = {}
    for row in rows:
        key = (row["job"], row["op"])
        if key in placed:
            errors.append(f"{key} is scheduled twice")
        placed[key] = row
    ops = {key: (job, op) for key, job, op in problem.operations()}
    for key in placed:
        if key not in ops:
            errors.append(f"{key} is not an operation of the problem")
    for key, (job, op) in ops.items():
        row = placed.get(key)
        if row is None:
            errors.append(f"{key} is not scheduled")
            continue
        m, s, e = row["machine"], row["start"], row["end"]
        if op.frozen is not None:
            if (m, s, e) != (op.frozen.machine, op.frozen.start, op.frozen.end):
                errors.append(f"{key} is frozen at {op.frozen} but was moved to {(m, s, e)}")
            continue
        dur = op.duration_on(m)
        if dur is None:
            errors.append(f"{key} runs on machine {m!r}, which is not eligible")
            continue
        mach = machines.get(m)
        if mach is None:
            errors.append(f"{key} runs on unknown machine {m!r}")
            continue
        if mach.batching:
            if e - s < dur:
                errors.append(f"{key} runs {e - s} on {m!r}, shorter than its {dur}")
            if op.size > mach.capacity:
                errors.append(f"{key} has size {op.size} above the capacity of {m!r}")
        elif e - s != dur:
            errors.append(f"{key} runs {e - s} on {m!r} but takes {dur}")
        if s < 0:
            errors.append(f"{key} starts in the past ({s})")
        if key[1] == 0 and s < job.release:
            errors.append(f"{key} starts at {s}, before its job's release {job.release}")
        if key[1] > 0:
            prev = placed.get((key[0], key[1] - 1))
            if prev is not None and s < prev["end"]:
                errors.append(f"{key} starts at {s} before the operation before it ends at {prev['end']}")
        if op.lock_machine is not None and m != op.lock_machine:
            errors.append(f"{key} is locked on {op.lock_machine!r} but runs on {m!r}")
        if op.lock_start is not None and s != op.lock_start:
            errors.append(f"{key} is locked to start at {op.lock_start} but starts at {s}")
    by_machine: dict = defaultdict(list)
    for key, row in placed.items():
        if key in ops:
            by_machine[row["machine"]].append(key)
    for mid, keys in by_machine.items():
        mach = machines.get(mid)
        if mach is None:
            continue
        keys.sort(key=lambda k: (placed[k]["start"], placed[k]["end"]))
        if mach.batching:
            errors += _check_batches(mid, mach, keys, placed, ops)
            continue
        family = mach.initial_family
        last_end = None
        for key in keys:
            row = placed[key]
            op = ops[key][1]
            setup = 0 if op.frozen is not None else mach.setup(family, op.setup_family)
            begin = row["start"] - setup
            if last_end is not None and begin < last_end:
                what = f" and its change-over of {setup}" if setup else ""
                errors.append(f"{key}{what} overlaps the previous operation on {mid!r} (ends {last_end})")
            if op.frozen is None and begin < 0:
                errors.append(f"{key} needs a change-over of {setup} before it, starting in the past")
            if op.frozen is None:
                errors += _check_downtime(mid, mach, key, begin, row["end"])
            last_end = row["end"] if last_end is None else max(last_end, row["end"])
            family = op.setup_family
    return errors


def _check_downtime(mid, mach, key, begin, end) -> list[str]:
    return [f"{key} runs on {mid!r} during its downtime [{ds}, {de})"
            for ds, de in mach.downtime if begin < de and ds < end and de > ds]


def _check_batches(mid, mach, keys, placed, ops) -> list[str]:
    errors = []
    groups: dict[tuple, list] = defaultdict(list)
    for key in keys:
        groups[(placed[key]["start"], placed[key]["end"])].append(key)
    spans = sorted(groups)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        if s2 < e1:
            errors.append(f"batches [{s1}, {e1}) and [{s2}, {e2}) overlap on {mid!r}")
    for (s, e), members in groups.items():
        recipes = {ops[k][1].recipe for k in members}
        if len(members) > 1 and (len(recipes) > 1 or None in recipes):
            errors.append(f"batch at {s} on {mid!r} mixes incompatible recipes {sorted(map(str, recipes))}")
        load = sum(ops[k][1].size for k in members)
        if load > mach.capacity:
            errors.append(f"batch at {s} on {mid!r} holds {load}, above the capacity {mach.capacity}")
        longest = max((ops[k][1].duration_on(mid) or 0) for k in members
                      if ops[k][1].frozen is None) if any(ops[k][1].frozen is None for k in members) else e - s
        if e - s != longest:
            errors.append(f"batch at {s} on {mid!r} lasts {e - s}, not its longest member's {longest}")
        if any(ops[k][1].frozen is None for k in members):
            errors += _check_downtime(mid, mach, members[0], s, e)
    return errors
