"""The dispatching-rule baseline: a list scheduler on the same model.

At each step every job offers its next operation; each operation is tried on
each eligible machine at the earliest time its job, the machine's existing
work (inserted in an idle gap when it fits, change-overs both sides
included), planned downtime and batches allow; the operation that can finish
first is placed (ties: earliest due date, then the shortest processing time).
On a furnace an operation joins an open batch of the same recipe when that
finishes earlier than starting a new one. Frozen operations and operations
locked to a start are reserved first.

It is fast and simple: the benchmark's baseline, the CP-SAT solver's first
hint, and a fallback when the solver finds nothing in its time limit.
"""
from __future__ import annotations

import time
from bisect import insort
from dataclasses import dataclass, field
from typing import Hashable

from .analysis import earliest_free, make_schedule, validate
from .model import Machine, OpKey, Problem, Schedule


@dataclass(order=True)
class _Slot:
    start: int
    end: int
    family: Hashable = field(compare=False, default=None)
    key: OpKey | None = field(compare=False, default=None)
    recipe: Hashable = field(compare=False, default=None)
    load: int = field(compare=False, default=0)
    members: list = field(compare=False, default_factory=list)
    fixed: bool = field(compare=False, default=False)
    frozen: bool = field(compare=False, default=False)


class _Timeline:
    def __init__(self, machine: Machine):
        self.m = machine
        self.slots: list[_Slot] = []

    def _setup(self, before: _Slot | None, family) -> int:
        if self.m.batching:
            return 0
        return self.m.setup(before.family if before is not None else self.m.initial_family, family)

    def earliest(self, ready: int, duration: int, family) -> tuple[int, int] | None:
        """(start, setup) of the earliest insertion at or after `ready`."""
        slots = self.slots
        prev = None
        for i in range(len(slots) + 1):
            nxt = slots[i] if i < len(slots) else None
            if prev is not None and prev.end <= ready and nxt is not None and nxt.end <= ready:
                prev = nxt
                continue
            setup = self._setup(prev, family)
            floor = prev.end if prev is not None else 0
            begin = max(ready - setup, floor)
            begin = earliest_free(self.m.downtime, begin, setup + duration)
            start = begin + setup
            if nxt is None:
                return start, setup
            after = 0 if (self.m.batching or nxt.frozen) else self.m.setup(family, nxt.family)
            if start + duration + after <= nxt.start:
                return start, setup
            prev = nxt
        return None

    def setup_before(self, start: int, family) -> tuple[int, int]:
        """(end of the work before `start`, change-over needed after it)."""
        prev = None
        for s in self.slots:
            if s.start < start:
                prev = s
        return (prev.end if prev is not None else 0), self._setup(prev, family)

    def add(self, slot: _Slot) -> None:
        self.slots = [s for s in self.slots if s.key is None or s.key != slot.key]
        insort(self.slots, slot)


def solve(problem: Problem, rule: str = "eft") -> Schedule:
    """Schedule every operation by the dispatching rule (`eft`: earliest finish
    time first; `spt`: shortest processing time first; `edd`: least slack to
    the due date first), each on the machine where it finishes first."""
    t0 = time.monotonic()
    reasons = validate(problem)
    if reasons:
        return Schedule(status="infeasible", reason="; ".join(reasons), solver="dispatch")
    machines = problem.machine_index
    lines = {m.id: _Timeline(m) for m in problem.machines}
    placements: dict[OpKey, tuple] = {}
    # reservations: frozen work and pinned starts
    for key, job, op in problem.operations():
        if op.frozen is not None:
            fz = op.frozen
            lines[fz.machine].add(_Slot(fz.start, fz.end, op.setup_family, key, op.recipe, op.size, [key], True, True))
            placements[key] = (fz.machine, fz.start, fz.end)
        elif op.lock_start is not None:
            mid = op.lock_machine if op.lock_machine is not None else op.options[0].machine
            lines[mid].add(_Slot(op.lock_start, op.lock_start + op.duration_on(mid), op.setup_family, key,
                                 op.recipe, op.size, [key], True))
    remaining = {job.id: _remaining_work(job) for job in problem.jobs}
    nxt = {job.id: 0 for job in problem.jobs}
    ready = {job.id: job.release for job in problem.jobs}
    jobs = {job.id: job for job in problem.jobs}
    for job in problem.jobs:
        while nxt[job.id] < len(job.operations) and job.operations[nxt[job.id]].frozen is not None:
            ready[job.id] = max(ready[job.id], job.operations[nxt[job.id]].frozen.end)
            nxt[job.id] += 1
    while True:
        best = None
        for jid, k in nxt.items():
            job = jobs[jid]
            if k >= len(job.operations):
                continue
            op = job.operations[k]
            r = max(ready[jid], 0)
            for opt in op.options:
                if op.lock_machine is not None and opt.machine != op.lock_machine:
                    continue
                m = machines[opt.machine]
                if m.batching and op.size > m.capacity:
                    continue
                cand = _place(lines[opt.machine], m, op, (jid, k), r, opt.duration)
                if cand is None:
                    continue
                start, end, setup, batch = cand
                due = job.due if job.due is not None else 1 << 60
                if rule == "spt":
                    rank = (opt.duration, end, due)
                elif rule == "edd":        # most urgent job first (slack = due - remaining work), then finish
                    rank = (due - remaining[jid][k], end, opt.duration)
                else:
                    rank = (end, job.due if job.due is not None else 1 << 60, opt.duration)
                if best is None or rank < best[0]:
                    best = (rank, jid, k, opt.machine, start, end, setup, batch)
        if best is None:
            break
        _, jid, k, mid, start, end, setup, batch = best
        op = jobs[jid].operations[k]
        if batch is not None:
            batch.members.append((jid, k))
            batch.load += op.size
            for member in batch.members:
                placements[member] = (mid, batch.start, batch.end)
        else:
            lines[mid].add(_Slot(start, end, op.setup_family, (jid, k), op.recipe, op.size, [(jid, k)],
                                 op.lock_start is not None))
            placements[(jid, k)] = (mid, start, end)
        ready[jid] = end
        nxt[jid] = k + 1
        while nxt[jid] < len(jobs[jid].operations) and jobs[jid].operations[nxt[jid]].frozen is not None:
            nxt[jid] += 1
    missing = problem.operation_count - len(placements)
    if missing:
        return Schedule(status="infeasible", solver="dispatch", wall_time=time.monotonic() - t0,
                        reason=f"the dispatching rule could not place {missing} operation(s) around the locks")
    schedule = make_schedule(problem, placements, "feasible", "dispatch", wall_time=time.monotonic() - t0)
    schedule.solver = f"dispatch ({rule})" if rule != "eft" else "dispatch"
    return schedule


def _remaining_work(job) -> list[int]:
    """Per operation index: the shortest processing time from there to the end."""
    out, total = [], 0
    for op in reversed(job.operations):
        total += min((o.duration for o in op.options), default=0)
        out.append(total)
    return out[::-1]


def _place(line: _Timeline, m: Machine, op, key, ready: int, duration: int):
    """(start, end, setup, batch to join or None) for the earliest finish."""
    if op.lock_start is not None:
        prev_end, setup = line.setup_before(op.lock_start, op.setup_family)
        if ready > op.lock_start or prev_end + setup > op.lock_start or \
                earliest_free(m.downtime, op.lock_start - setup, setup + duration) != op.lock_start - setup:
            return None
        return op.lock_start, op.lock_start + duration, setup, None
    best = None
    if m.batching and op.recipe is not None:
        for slot in line.slots:
            if (slot.recipe == op.recipe and slot.start >= ready and slot.load + op.size <= m.capacity
                    and slot.end - slot.start >= duration and not slot.fixed):
                if best is None or slot.end < best[1]:
                    best = (slot.start, slot.end, 0, slot)
    found = line.earliest(ready, duration, op.setup_family)
    if found is not None:
        start, setup = found
        if best is None or start + duration < best[1]:
            best = (start, start + duration, setup, None)
    return best
