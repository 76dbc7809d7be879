"""Makespan search for pure flexible job shops: no change-overs, no batching,
no downtime, nothing frozen or locked (the Brandimarte kind of instance).

`cpsat.solve` runs its whole model first; on such a problem it then hands
the best schedule to `improve`, which is faster than the general LNS because
the problem flattens to integer arrays:

- randomized greedy list schedules (a few rules with noise, keep the best)
  give the whole model a better hint than the single dispatching rule;
- solution-guided large-neighbourhood search, two rounds at a time in two
  threads with one CP-SAT worker each (small models scale badly over
  workers, and `solve` releases the GIL); every round frees some operations
  (a time window, the operations of a few machines that share work, a
  stretch of the critical path, a few jobs), keeps the machine and order of
  all the others, and minimises makespan; most rounds break ties by the
  sum of job completion times (a gradient across a makespan plateau), the
  others accept any schedule of the same makespan (a walk along it);
- a final phase that fixes every machine assignment and lets CP-SAT
  re-sequence the whole job shop.

Every schedule that comes back is left-shifted (semi-active) before it is
compared, so the best schedule is always compact.
"""
from __future__ import annotations

import os
import random
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Mapping

from ortools.sat.python import cp_model

from .model import OpKey, Problem

_DEBUG = bool(os.environ.get("SCHEDULING_DEBUG"))
KINDS = ("window", "machines", "critical", "jobs")
ROUND_LIMIT = 0.5        # seconds per LNS round at most
FINAL_PHASE = 0.1        # share of the time limit for the fixed-assignment phase
TIE_BREAK = 0.75         # share of the rounds that break makespan ties by the jobs' completion times


def applies(problem: Problem, weights: Mapping[str, int]) -> bool:
    """True for a makespan-only objective on a pure flexible job shop."""
    if set(weights) != {"makespan"}:
        return False
    if any(m.batching or m.has_setups or m.downtime for m in problem.machines):
        return False
    ids = {m.id for m in problem.machines}
    for _, _, op in problem.operations():
        if op.frozen is not None or op.lock_start is not None or op.lock_machine is not None or not op.options:
            return False
        if any(o.machine not in ids or o.duration < 0 for o in op.options):
            return False
    return problem.operation_count > 0


class Shop:
    """The problem as arrays: operations 0..n-1 job by job in routing order,
    machines 0..M-1."""

    def __init__(self, problem: Problem):
        self.mids = [m.id for m in problem.machines]
        index = {mid: i for i, mid in enumerate(self.mids)}
        self.M = len(self.mids)
        self.keys: list[OpKey] = []
        self.prev: list[int] = []          # the job's operation before, or -1
        self.next: list[int] = []          # the job's operation after, or -1
        self.release: list[int] = []
        self.dur: list[dict[int, int]] = []  # machine → processing time (the shortest if listed twice)
        self.job_ops: list[list[int]] = []
        self.job_of: list[int] = []
        for j, job in enumerate(problem.jobs):
            ops = []
            for k, op in enumerate(job.operations):
                i = len(self.keys)
                self.keys.append((job.id, k))
                self.prev.append(i - 1 if k > 0 else -1)
                self.next.append(i + 1 if k + 1 < len(job.operations) else -1)
                self.release.append(max(0, job.release) if k == 0 else 0)
                d: dict[int, int] = {}
                for o in op.options:
                    m = index[o.machine]
                    d[m] = min(d.get(m, o.duration), o.duration)
                self.dur.append(d)
                self.job_of.append(j)
                ops.append(i)
            self.job_ops.append(ops)
        self.n = len(self.keys)
        self.lasts = [ops[-1] for ops in self.job_ops if ops]
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.eligible = [[i for i in range(self.n) if m in self.dur[i]] for m in range(self.M)]
        # machines that can take over each other's work
        self.shares = [sorted({m2 for i in self.eligible[m] for m2 in self.dur[i]}) for m in range(self.M)]
        self.tail_work = [0] * self.n   # shortest processing from the operation to its job's end
        for ops in self.job_ops:
            total = 0
            for i in reversed(ops):
                total += min(self.dur[i].values())
                self.tail_work[i] = total


class Solution:
    """A semi-active schedule: machine, start and end per operation."""
    __slots__ = ("assign", "start", "end", "makespan", "flow")

    def __init__(self, assign, start, end, shop: Shop):
        self.assign, self.start, self.end = assign, start, end
        self.makespan = max((end[i] for i in shop.lasts), default=0)
        self.flow = sum(end[i] for i in shop.lasts)

    @property
    def rank(self) -> tuple[int, int]:
        return self.makespan, self.flow

    def placements(self, shop: Shop) -> dict:
        return {shop.keys[i]: (shop.mids[self.assign[i]], self.start[i], self.end[i]) for i in range(shop.n)}


def decode(shop: Shop, assign: list[int], start: list[int]) -> Solution:
    """Left shift: keep each machine's order (the order of the old starts)
    and start every operation as early as its job and machine allow."""
    order = sorted(range(shop.n), key=lambda i: (start[i], i))
    free = [0] * shop.M
    new_start, new_end = [0] * shop.n, [0] * shop.n
    prev, dur, release = shop.prev, shop.dur, shop.release
    for i in order:
        p = prev[i]
        m = assign[i]
        s = max(new_end[p] if p >= 0 else release[i], free[m])
        new_start[i] = s
        free[m] = new_end[i] = s + dur[i][m]
    return Solution(list(assign), new_start, new_end, shop)


def from_placements(shop: Shop, placements: Mapping) -> Solution:
    index = {mid: m for m, mid in enumerate(shop.mids)}
    assign, start = [0] * shop.n, [0] * shop.n
    for key, (mid, s, _) in placements.items():
        i = shop.index[key]
        assign[i], start[i] = index[mid], s
    return decode(shop, assign, start)


def greedy(shop: Shop, rng: random.Random, noise: float, urgency: float) -> Solution:
    """A list schedule: repeatedly place the (next operation, machine) pair that
    finishes first, less `urgency` × the job's remaining work, plus noise."""
    nxt = [ops[0] if ops else -1 for ops in shop.job_ops]
    ready = [shop.release[ops[0]] if ops else 0 for ops in shop.job_ops]
    free = [0] * shop.M
    assign, start, end = [0] * shop.n, [0] * shop.n, [0] * shop.n
    dur, tail = shop.dur, shop.tail_work
    for _ in range(shop.n):
        best = None
        for j, i in enumerate(nxt):
            if i < 0:
                continue
            r = ready[j]
            for m, d in dur[i].items():
                s = max(r, free[m])
                score = s + d - urgency * tail[i] + noise * rng.random() * (d + 1)
                if best is None or score < best[0]:
                    best = (score, j, i, m, s, d)
        _, j, i, m, s, d = best
        assign[i], start[i], end[i] = m, s, s + d
        free[m] = ready[j] = s + d
        nxt[j] = shop.next[i]
    return decode(shop, assign, start)


def best_greedy(shop: Shop, seed: int, seconds: float, known: Solution | None = None) -> Solution:
    rng = random.Random(seed)
    best = known
    stop = time.monotonic() + seconds
    runs = 0
    while runs < 8 or time.monotonic() < stop:
        if runs >= 400:
            break
        noise = 0.0 if runs == 0 else rng.choice((0.1, 0.3, 0.6, 1.0))
        urgency = 0.0 if runs == 0 else rng.choice((0.0, 0.1, 0.25, 0.5))
        sol = greedy(shop, rng, noise, urgency)
        if best is None or sol.rank < best.rank:
            best = sol
        runs += 1
    return best


# --------------------------------------------------------------------------- neighbourhoods
def critical_path(shop: Shop, sol: Solution) -> list[int]:
    """From an operation that ends at the makespan back to time 0: each step
    the job or machine predecessor that ends right when the operation starts."""
    mach_prev = [-1] * shop.n
    last_on = [-1] * shop.M
    for i in sorted(range(shop.n), key=lambda i: (sol.start[i], i)):
        m = sol.assign[i]
        mach_prev[i] = last_on[m]
        last_on[m] = i
    i = max(shop.lasts, key=lambda i: sol.end[i])
    path = [i]
    while sol.start[i] > 0:
        p, q = shop.prev[i], mach_prev[i]
        if p >= 0 and sol.end[p] == sol.start[i]:
            i = p
        elif q >= 0 and sol.end[q] == sol.start[i]:
            i = q
        else:
            break
        path.append(i)
    return path


def neighbourhood(kind: str, shop: Shop, sol: Solution, size: int, rng: random.Random) -> set[int]:
    n = shop.n
    size = max(2, min(n, size))
    if kind == "window":
        centre = rng.randrange(0, max(1, sol.makespan))
        return set(sorted(range(n), key=lambda i: abs(sol.start[i] - centre) + rng.random())[:size])
    if kind == "machines":
        # one machine and some that can take its work; a stretch of time when they hold too much
        m0 = sol.assign[rng.choice(critical_path(shop, sol))]
        group = {m0}
        others = [m for m in shop.shares[m0] if m != m0]
        rng.shuffle(others)
        group.update(others[: rng.choice((1, 2, 3))])
        on = [i for i in range(n) if sol.assign[i] in group]
        if len(on) <= size:
            return set(on)
        centre = sol.start[rng.choice(on)]
        return set(sorted(on, key=lambda i: abs(sol.start[i] - centre) + rng.random())[:size])
    if kind == "critical":
        path = critical_path(shop, sol)
        centre = sol.start[rng.choice(path)]
        free = set(path) if len(path) <= size // 2 else set(rng.sample(path, size // 2))
        for i in sorted(range(n), key=lambda i: abs(sol.start[i] - centre) + rng.random()):
            if len(free) >= size:
                break
            free.add(i)
        return free
    jobs = list(range(len(shop.job_ops)))
    rng.shuffle(jobs)
    free: set[int] = set()
    for j in jobs:
        free.update(shop.job_ops[j])
        if len(free) >= size:
            break
    return free


# --------------------------------------------------------------------------- the round model
def _round(shop: Shop, sol: Solution, free: set[int] | None, limit: float, seed: int, workers: int,
           fix_assign: bool = False, tie_break: bool = True, **parameters):
    """Re-place `free` (None: all) around `sol`: the others keep machine and
    order. With `fix_assign` every operation keeps its machine and only the
    free ones change their order. Returns (status, assign, start) or
    (status, None, None)."""
    n, H = shop.n, sol.makespan
    m = cp_model.CpModel()
    start, end = [], []
    lits: list[list[tuple[int, object]]] = []
    per_machine: list[list] = [[] for _ in range(shop.M)]
    kept: list[list[int]] = [[] for _ in range(shop.M)]
    for i in range(n):
        r = shop.release[i]
        s = m.new_int_var(r, H, "")
        e = m.new_int_var(r, H, "")
        start.append(s)
        end.append(e)
        if fix_assign or (free is not None and i not in free):
            opts = [(sol.assign[i], shop.dur[i][sol.assign[i]])]
        else:
            opts = list(shop.dur[i].items())
        if free is not None and i not in free:
            kept[sol.assign[i]].append(i)
        if len(opts) == 1:
            mach, d = opts[0]
            m.add(e == s + d)
            per_machine[mach].append(m.new_interval_var(s, d, e, ""))
            lits.append([(mach, None)])
            continue
        choice = []
        for mach, d in opts:
            lit = m.new_bool_var("")
            per_machine[mach].append(m.new_optional_interval_var(s, d, e, lit, ""))
            choice.append((mach, lit))
            m.add_hint(lit, mach == sol.assign[i])
        m.add_exactly_one(lit for _, lit in choice)
        lits.append(choice)
    for i in range(n):
        p = shop.prev[i]
        if p >= 0:
            m.add(start[i] >= end[p])
        m.add_hint(start[i], sol.start[i])
        m.add_hint(end[i], sol.end[i])
    for mach in range(shop.M):
        seq = sorted(kept[mach], key=lambda i: sol.start[i])
        for a, b in zip(seq, seq[1:]):
            m.add(start[b] >= end[a])
        if len(per_machine[mach]) > 1:
            m.add_no_overlap(per_machine[mach])
    makespan = m.new_int_var(0, H, "makespan")
    m.add_max_equality(makespan, [end[i] for i in shop.lasts])
    m.add_hint(makespan, sol.makespan)
    if tie_break:
        weight = len(shop.lasts) * H + 1
        m.minimize(weight * makespan + sum(end[i] for i in shop.lasts))
    else:
        m.minimize(makespan)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, limit)
    solver.parameters.num_workers = max(1, workers)
    solver.parameters.random_seed = seed
    for name, value in parameters.items():
        setattr(solver.parameters, name, value)
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, None, None
    assign = []
    for choice in lits:
        if len(choice) == 1:
            assign.append(choice[0][0])
        else:
            assign.append(next(mach for mach, lit in choice if solver.boolean_value(lit)))
    return status, assign, [solver.value(s) for s in start]


# --------------------------------------------------------------------------- the search
def improve(problem: Problem, placements: Mapping, deadline: float, workers: int, seed: int,
            bound: float | None, report: Callable[[int], bool], stats: dict) -> dict:
    """LNS then the fixed-assignment phase from `placements` until `deadline`.
    `report(makespan)` is called on every better makespan and returns True to
    stop. Returns the best placements."""
    shop = Shop(problem)
    best = from_placements(shop, placements)
    rng = random.Random(seed)
    lower = int(bound) if bound is not None else 0
    total = max(0.0, deadline - time.monotonic())
    final_at = deadline - FINAL_PHASE * total if total > 6 else deadline
    sizes = {kind: max(6, int(0.2 * shop.n)) for kind in KINDS}
    success = {kind: 0.5 for kind in KINDS}   # moving average of "the round found a better schedule"
    round_limit = ROUND_LIMIT
    threads = max(1, min(2, workers))
    stopped = False
    stats.setdefault("lns_rounds", 0)
    stats.setdefault("lns_improvements", 0)

    def accept(status, assign, start, plateau: bool = False) -> bool:
        """Take a better schedule; with `plateau` also one of the same makespan
        (a walk along the plateau, which the tie-breaking rounds cannot make)."""
        nonlocal best, stopped
        if assign is None or stopped:    # after a stop the caller keeps the schedule it was told about
            return False
        candidate = decode(shop, assign, start)
        if candidate.makespan > best.makespan or (candidate.rank >= best.rank and not plateau):
            return False
        better = candidate.makespan < best.makespan
        best = candidate
        if better:
            stats["lns_improvements"] += 1
            if report(best.makespan):
                stopped = True
        return better

    with ThreadPoolExecutor(max_workers=threads) as pool:
        running = {}
        while True:
            now = time.monotonic()
            done_searching = stopped or best.makespan <= lower or now > final_at - 0.05
            while not done_searching and len(running) < threads:
                # kinds that improved lately are drawn more often
                kind = rng.choices(KINDS, [0.05 + success[k] for k in KINDS])[0]
                free = neighbourhood(kind, shop, best, sizes[kind], rng)
                limit = min(round_limit, final_at - time.monotonic())
                tie_break = rng.random() < TIE_BREAK
                future = pool.submit(_round, shop, best, free, limit, rng.randrange(1 << 30), 1, tie_break=tie_break)
                running[future] = (kind, len(free), tie_break)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                kind, size, tie_break = running.pop(future)
                status, assign, start = future.result()
                stats["lns_rounds"] += 1
                before = best.rank
                improved = accept(status, assign, start, plateau=not tie_break)
                success[kind] = 0.9 * success[kind] + 0.1 * (best.rank < before)
                if status == cp_model.UNKNOWN:    # not even the hint back: a big model or a busy machine
                    round_limit = min(round_limit * 1.5, ROUND_LIMIT * 8)
                elif status == cp_model.OPTIMAL:
                    round_limit = max(ROUND_LIMIT, round_limit * 0.95)
                # aim at neighbourhoods CP-SAT can just about close within a round
                if status == cp_model.OPTIMAL:
                    sizes[kind] = min(shop.n, int(min(sizes[kind], size) * 1.1) + 1)
                elif status != cp_model.INFEASIBLE:
                    sizes[kind] = max(6, int(min(sizes[kind], size) * 0.93))
                if _DEBUG:
                    print(f"fjsp {kind:9s} size={size:3d} {status.name:10s} "
                          f"best={best.makespan}/{best.flow}{' *' if improved else ''}", flush=True)
    left = deadline - time.monotonic()
    if not stopped and best.makespan > lower and left > 0.3:
        status, assign, start = _round(shop, best, None, left - 0.1, seed, workers, fix_assign=True)
        stats["final_phase"] = status.name
        accept(status, assign, start)
    return best.placements(shop)
