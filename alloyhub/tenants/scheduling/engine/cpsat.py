"""The CP-SAT model: a flexible job shop with setups, batching, downtime,
release and due dates, frozen and locked operations.

Per operation one start and end variable; per eligible machine an optional
interval sharing that start, chosen by a literal (exactly one per
operation). Per machine: a no-overlap of its intervals and its downtime; on a
machine with change-overs the intervals are stretched in front by a setup
variable and a circuit over the machine's operations (arc i→j: j follows i
directly, so j's setup is the matrix value and j starts after i ends plus
it); on a furnace a cumulative of the batch loads plus, per pair of
operations, "before", "after" or (same recipe) "same batch" = same start and
end. Objectives: makespan, weighted tardiness, total setup or a weighted mix.
Redundant per-machine load constraints (makespan >= the work a machine got)
tighten the bound.

The search: the whole model for a share of the time, hinted with the
dispatching rule's schedule (or the caller's previous one), then
large-neighbourhood search around the best schedule (see `solve`). A pure
flexible job shop with the makespan objective (no change-overs, batching,
downtime, frozen or locked work: the Brandimarte benchmark) takes a faster
road after the whole model: `fjsp_search` (randomized greedy hints, LNS in
two threads, a fixed-assignment final phase).
"""
from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from typing import Callable, Hashable, Mapping

from ortools.sat.python import cp_model

from . import checker, dispatch, fjsp_search
from .analysis import compact, critical_chain, horizon, make_schedule, validate
from .model import OBJECTIVES, OpKey, Problem, Progress, Schedule

_DEBUG = bool(os.environ.get("SCHEDULING_DEBUG"))  # print every LNS round
FIRST_PHASE = 0.3        # share of the time limit for the whole model before LNS takes over
FIRST_PHASE_WITH_SETUPS = 0.15   # circuits make the whole model slow to improve: LNS gets more
FIRST_PHASE_PURE = 0.25  # pure flexible job shops: the whole model proves the easy ones, fjsp_search does the rest
LNS_ROUND = 1.0          # seconds per LNS round at most (at first)
LNS_KINDS = ("jobs", "window", "critwin")
# With few workers, spend CP-SAT's interleaved LNS turns on its scheduling neighbourhoods.
IGNORED_SUBSOLVERS = ("feasibility_pump", "ls", "rins/rens", "graph_arc_lns", "graph_cst_lns", "graph_dec_lns",
                      "graph_var_lns", "rnd_cst_lns", "rnd_var_lns")
ProgressCallback = Callable[[Progress], "bool | None"]


def weights_of(objective: str | Mapping[str, int]) -> dict[str, int]:
    """"makespan" → {"makespan": 1}; a mapping is a weighted mix."""
    if isinstance(objective, str):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)} or a mix")
        return {objective: 1}
    weights = {k: int(v) for k, v in objective.items() if v}
    unknown = set(weights) - set(OBJECTIVES)
    if unknown or not weights or any(v < 0 for v in weights.values()):
        raise ValueError(f"a mix maps {', '.join(OBJECTIVES)} to non-negative integer weights, not {dict(objective)}")
    return weights


def objective_value(schedule: Schedule, weights: Mapping[str, int]) -> int:
    k = schedule.kpis
    parts = {"makespan": k.makespan, "weighted_tardiness": k.weighted_tardiness, "total_setup": k.total_setup}
    return sum(w * parts[name] for name, w in weights.items())


class _Model:
    def __init__(self, problem: Problem, weights: Mapping[str, int], kept: dict | None = None,
                 horizon_cap: int | None = None):
        """`kept`: machine → the operations that keep their machine and order
        there (LNS); arcs of the circuit that would break that order are left out."""
        self.kept_pos = {mid: {k: i for i, k in enumerate(keys)} for mid, keys in (kept or {}).items()}
        self.kept_machine = {k: mid for mid, keys in (kept or {}).items() for k in keys}
        self.p = problem
        self.m = cp_model.CpModel()
        self.machines = problem.machine_index
        self.H = horizon(problem) if horizon_cap is None else min(horizon(problem), horizon_cap)
        self.start: dict[OpKey, cp_model.IntVar] = {}
        self.end: dict[OpKey, cp_model.IntVar] = {}
        self.lit: dict[tuple[OpKey, Hashable], object] = {}       # (op, machine) → presence literal
        self.occ_end: dict[tuple[OpKey, Hashable], object] = {}   # furnaces: end of the batch
        self.occ_len: dict[tuple[OpKey, Hashable], object] = {}
        self.setup: dict[tuple[OpKey, Hashable], object] = {}     # change-over before the op on a machine
        self.ext: dict[tuple[OpKey, Hashable], tuple] = {}         # (start incl. setup, length incl. setup, duration)
        self.empty: dict[Hashable, object] = {}                    # circuit: the machine gets nothing
        self.arcs: dict[Hashable, dict[tuple, object]] = {}        # machine → (i, j) → arc literal (keys, None = depot)
        self.pairs: dict[tuple, tuple] = {}                         # furnaces: (i, j, m) → (before, after, same)
        self.intervals: dict[Hashable, list] = defaultdict(list)
        self.on_machine: dict[Hashable, list[OpKey]] = defaultdict(list)
        self.ops = {key: (job, op) for key, job, op in problem.operations()}
        self._build(weights)

    # ------------------------------------------------------------------ variables
    def _build(self, weights):
        m, H = self.m, self.H
        recipe_max = defaultdict(int)  # (machine, recipe) → longest duration
        for key, (job, op) in self.ops.items():
            for o in op.options:
                if op.recipe is not None:
                    recipe_max[(o.machine, op.recipe)] = max(recipe_max[(o.machine, op.recipe)], o.duration)
        for key, (job, op) in self.ops.items():
            name = f"{key[0]}_{key[1]}"
            if op.frozen is not None:
                fz = op.frozen
                s = m.new_constant(fz.start)
                e = m.new_constant(fz.end)
                self.start[key], self.end[key] = s, e
                lit = m.new_constant(1)
                self.lit[(key, fz.machine)] = lit
                self.intervals[fz.machine].append(m.new_fixed_size_interval_var(fz.start, fz.end - fz.start, f"f{name}"))
                self.occ_end[(key, fz.machine)] = e
                self.on_machine[fz.machine].append(key)
                if self.machines[fz.machine].has_setups:
                    self.setup[(key, fz.machine)] = m.new_constant(0)
                continue
            first = max(0, job.release) if key[1] == 0 else 0
            if op.lock_start is not None:
                s = m.new_constant(op.lock_start)
            else:
                s = m.new_int_var(first, H, f"s{name}")
            e = m.new_int_var(first, H, f"e{name}")
            self.start[key], self.end[key] = s, e
            options = [o for o in op.options
                       if (op.lock_machine is None or o.machine == op.lock_machine)
                       and self.kept_machine.get(key, o.machine) == o.machine
                       and (not self.machines[o.machine].batching or op.size <= self.machines[o.machine].capacity)]
            lits = []
            plain = True
            for o in options:
                mach = self.machines[o.machine]
                lit = m.new_constant(1) if len(options) == 1 else m.new_bool_var(f"x{name}_{o.machine}")
                lits.append(lit)
                self.lit[(key, o.machine)] = lit
                self.on_machine[o.machine].append(key)
                if mach.batching:
                    plain = False
                    top = max(o.duration, recipe_max[(o.machine, op.recipe)]) if op.recipe is not None else o.duration
                    length = m.new_int_var(o.duration, top, f"l{name}_{o.machine}")
                    oe = m.new_int_var(first, H, f"oe{name}_{o.machine}")
                    iv = m.new_optional_interval_var(s, length, oe, lit, f"i{name}_{o.machine}")
                    m.add(e == oe).only_enforce_if(lit)
                    self.occ_end[(key, o.machine)] = oe
                    self.occ_len[(key, o.machine)] = length
                elif mach.has_setups:
                    values = {0} | {mach.setup(f, op.setup_family) for f in self._families(o.machine)}
                    setup = m.new_int_var_from_domain(cp_model.Domain.from_values(sorted(values)), f"u{name}_{o.machine}")
                    if len(options) > 1:
                        m.add(setup == 0).only_enforce_if(~lit)
                    ext = m.new_int_var(0, H, f"xs{name}_{o.machine}")
                    m.add(ext + setup == s).only_enforce_if(lit)
                    size = m.new_int_var(o.duration, o.duration + max(values), f"xl{name}_{o.machine}")
                    m.add(size == setup + o.duration)
                    iv = m.new_optional_interval_var(ext, size, s + o.duration, lit, f"i{name}_{o.machine}")
                    self.setup[(key, o.machine)] = setup
                    self.ext[(key, o.machine)] = (ext, size, o.duration)
                    self.occ_end[(key, o.machine)] = s + o.duration
                else:
                    iv = m.new_optional_interval_var(s, o.duration, s + o.duration, lit, f"i{name}_{o.machine}")
                    self.occ_end[(key, o.machine)] = s + o.duration
                self.intervals[o.machine].append(iv)
            if len(lits) > 1:
                m.add_exactly_one(lits)
            if plain:
                m.add(e == s + sum(o.duration * lit for o, lit in zip(options, lits)))
            else:
                for o, lit in zip(options, lits):
                    if not self.machines[o.machine].batching:
                        m.add(e == s + o.duration).only_enforce_if(lit)
        # job order
        for job in self.p.jobs:
            for k in range(1, len(job.operations)):
                if job.operations[k].frozen is None:
                    m.add(self.start[(job.id, k)] >= self.end[(job.id, k - 1)])
        # machines
        for mach in self.p.machines:
            down = [m.new_fixed_size_interval_var(ds, de - ds, f"d{mach.id}_{ds}")
                    for ds, de in mach.downtime if de > ds]
            if mach.batching:
                self._furnace(mach, down)
            else:
                m.add_no_overlap(self.intervals[mach.id] + down)
                if mach.has_setups:
                    self._circuit(mach)
        self._objective(weights)

    def _duration(self, key, mid) -> int:
        op = self.ops[key][1]
        if op.frozen is not None:
            return max(0, op.frozen.end - max(op.frozen.start, 0))
        return op.duration_on(mid)

    def _families(self, mid):
        """Setup families that may run on the machine (and the one it has now)."""
        cache = self.__dict__.setdefault("_family_cache", {})
        if mid not in cache:
            fams = {self.machines[mid].initial_family}
            for key, (job, op) in self.ops.items():
                if op.frozen is not None and op.frozen.machine == mid or any(o.machine == mid for o in op.options):
                    fams.add(op.setup_family)
            cache[mid] = fams
        return cache[mid]

    def _circuit(self, mach):
        """Arc i→j: j directly follows i on the machine. The setup before j is
        the matrix value of its incoming arc (one linear sum per operation)."""
        m = self.m
        keys = self.on_machine[mach.id]
        arcs = []
        table: dict[tuple, object] = {}
        incoming: dict[OpKey, list] = defaultdict(list)
        pos = self.kept_pos.get(mach.id, {})
        last = len(pos) - 1
        empty = m.new_bool_var(f"empty{mach.id}")
        self.empty[mach.id] = empty
        arcs.append((0, 0, empty))
        for i, ki in enumerate(keys, start=1):
            lit = self.lit[(ki, mach.id)]
            opi = self.ops[ki][1]
            m.add_implication(lit, ~empty)
            arcs.append((i, i, ~lit))
            if pos.get(ki, 0) == 0:
                a = m.new_bool_var("")
                arcs.append((0, i, a))
                table[(None, ki)] = a
                if opi.frozen is None:
                    incoming[ki].append((a, mach.setup(mach.initial_family, opi.setup_family)))
            if pos.get(ki, last) == last:
                b = m.new_bool_var("")
                arcs.append((i, 0, b))
                table[(ki, None)] = b
            for j, kj in enumerate(keys, start=1):
                if i == j or (ki[0] == kj[0] and kj[1] < ki[1]):
                    continue  # an operation never follows a later one of its own job
                if ki in pos and kj in pos and pos[kj] != pos[ki] + 1:
                    continue  # both keep their order: only the next kept one may follow directly
                opj = self.ops[kj][1]
                if opi.frozen is not None and opj.frozen is not None and opi.frozen.end > opj.frozen.start:
                    continue
                arc = m.new_bool_var("")
                arcs.append((i, j, arc))
                table[(ki, kj)] = arc
                setup = 0 if opj.frozen is not None else mach.setup(opi.setup_family, opj.setup_family)
                if opj.frozen is None:
                    incoming[kj].append((arc, setup))
                m.add(self.start[kj] >= self.end[ki] + setup).only_enforce_if(arc)
        for key in keys:
            if self.ops[key][1].frozen is None:
                m.add(self.setup[(key, mach.id)] == sum(c * arc for arc, c in incoming[key] if c))
        m.add_circuit(arcs)
        self.arcs[mach.id] = table

    def _furnace(self, mach, down):
        m = self.m
        keys = self.on_machine[mach.id]
        demands = [self.ops[k][1].size for k in keys]
        m.add_cumulative(self.intervals[mach.id] + down, demands + [mach.capacity] * len(down), mach.capacity)
        extra = defaultdict(list)
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                ki, kj = keys[a], keys[b]
                oi, oj = self.ops[ki][1], self.ops[kj][1]
                if oi.frozen is not None and oj.frozen is not None:
                    continue
                pi, pj = self.lit[(ki, mach.id)], self.lit[(kj, mach.id)]
                ei, ej = self.occ_end[(ki, mach.id)], self.occ_end[(kj, mach.id)]
                si, sj = self.start[ki], self.start[kj]
                before, after = m.new_bool_var(""), m.new_bool_var("")
                m.add(ei <= sj).only_enforce_if(before)
                m.add(ej <= si).only_enforce_if(after)
                choice = [before, after, ~pi, ~pj]
                same = None
                compatible = (oi.recipe is not None and oi.recipe == oj.recipe and ki[0] != kj[0]
                              and oi.frozen is None and oj.frozen is None
                              and oi.size + oj.size <= mach.capacity)
                if compatible:
                    same = m.new_bool_var("")
                    m.add(si == sj).only_enforce_if(same)
                    m.add(ei == ej).only_enforce_if(same)
                    m.add_implication(same, pi)
                    m.add_implication(same, pj)
                    choice.append(same)
                    di, dj = oi.duration_on(mach.id), oj.duration_on(mach.id)
                    if dj > di:
                        extra[ki].append((same, dj - di))
                    if di > dj:
                        extra[kj].append((same, di - dj))
                m.add_bool_or(choice)
                self.pairs[(ki, kj, mach.id)] = (before, after, same)
        for key in keys:
            if (key, mach.id) in self.occ_len:
                d = self.ops[key][1].duration_on(mach.id)
                m.add(self.occ_len[(key, mach.id)] <= d + sum(c * lit for lit, c in extra[key]))

    def _objective(self, weights):
        m, H = self.m, self.H
        lasts = [self.end[(j.id, len(j.operations) - 1)] for j in self.p.jobs if j.operations]
        self.makespan = m.new_int_var(0, H, "makespan")
        m.add_max_equality(self.makespan, lasts or [0])
        for mach in self.p.machines:  # redundant: no machine's own load fits in less (tightens the bound)
            load = [d * lit for key in self.on_machine[mach.id] if not mach.batching
                    for lit, d in [(self.lit[(key, mach.id)], self._duration(key, mach.id))]]
            if load:
                m.add(self.makespan >= sum(load))
        self.tardiness = {}
        for j in self.p.jobs:
            if j.due is not None and j.operations:
                t = m.new_int_var(0, H, f"t{j.id}")
                m.add(t >= self.end[(j.id, len(j.operations) - 1)] - j.due)
                self.tardiness[j.id] = t
        self.total_setup = sum(self.setup.values()) if self.setup else 0
        terms = {
            "makespan": self.makespan,
            "weighted_tardiness": sum(j.weight * self.tardiness[j.id] for j in self.p.jobs if j.id in self.tardiness),
            "total_setup": self.total_setup,
        }
        self.objective = sum(w * terms[name] for name, w in weights.items())
        m.minimize(self.objective)

    def restrict(self, schedule: Schedule, free: set):
        """LNS: every operation outside `free` keeps its machine and its order
        (and batch) there; the free ones may go anywhere."""
        m = self.m
        by_machine = defaultdict(list)
        for s in schedule.operations:
            if s.key in free or self.ops[s.key][1].frozen is not None:
                continue
            m.add(self.lit[(s.key, s.machine)] == 1)
            by_machine[s.machine].append(s)
        for mid, items in by_machine.items():
            items.sort(key=lambda s: (s.start, s.end))
            if self.machines[mid].batching:
                for a, b in zip(items, items[1:]):
                    if (a.start, a.end) == (b.start, b.end):
                        pair = self.pairs.get((a.key, b.key, mid)) or self.pairs.get((b.key, a.key, mid))
                        if pair is not None and pair[2] is not None:
                            m.add(pair[2] == 1)
                    else:
                        m.add(self.start[b.key] >= self.occ_end[(a.key, mid)])
            else:
                for a, b in zip(items, items[1:]):
                    m.add(self.start[b.key] >= self.end[a.key])

    # ------------------------------------------------------------------ hints and solutions
    def hint(self, schedule: Schedule):
        """Hint every variable from a previous schedule (warm start)."""
        m = self.m
        placed = schedule.by_key()
        setup_of = {}
        for key, var in self.start.items():
            s = placed.get(key)
            if s is None:
                continue
            if not _is_const(var):
                m.add_hint(var, s.start)
            if not _is_const(self.end[key]):
                m.add_hint(self.end[key], s.end)
            for (k, mid), lit in self.lit.items():
                if k == key and not _is_const(lit):
                    m.add_hint(lit, mid == s.machine)
            setup_of[key] = (s.machine, s.setup)
        for (key, mid), var in self.setup.items():
            if not _is_const(var) and key in setup_of:
                on = setup_of[key][0] == mid
                setup = setup_of[key][1] if on else 0
                m.add_hint(var, setup)
                if (key, mid) in self.ext:
                    ext, size, duration = self.ext[(key, mid)]
                    m.add_hint(ext, max(0, placed[key].start - setup) if on else 0)
                    m.add_hint(size, duration + setup)
        for mid, empty in self.empty.items():
            m.add_hint(empty, not any(s.machine == mid for s in schedule.operations))
        ends = {j.id: placed[(j.id, len(j.operations) - 1)].end for j in self.p.jobs
                if j.operations and (j.id, len(j.operations) - 1) in placed}
        if len(ends) == len([j for j in self.p.jobs if j.operations]):
            m.add_hint(self.makespan, max(ends.values(), default=0))
            for jid, t in self.tardiness.items():
                job = next(j for j in self.p.jobs if j.id == jid)
                m.add_hint(t, max(0, ends[jid] - job.due))
        for (key, mid), var in self.occ_len.items():
            s = placed.get(key)
            if s is not None and s.machine == mid:
                m.add_hint(var, s.end - s.start)
                m.add_hint(self.occ_end[(key, mid)], s.end)
        for mid, table in self.arcs.items():
            seq = sorted((s for s in schedule.operations if s.machine == mid), key=lambda s: s.start)
            chosen = set()
            prev = None
            for s in seq:
                chosen.add((prev, s.key))
                prev = s.key
            if prev is not None:
                chosen.add((prev, None))
            for arc, lit in table.items():
                m.add_hint(lit, arc in chosen)
        for (ki, kj, mid), (before, after, same) in self.pairs.items():
            a, b = placed.get(ki), placed.get(kj)
            on = a is not None and b is not None and a.machine == mid and b.machine == mid
            m.add_hint(before, bool(on and a.end <= b.start and not (a.start == b.start and a.end == b.end)))
            m.add_hint(after, bool(on and b.end <= a.start and not (a.start == b.start and a.end == b.end)))
            if same is not None:
                m.add_hint(same, bool(on and a.start == b.start and a.end == b.end))

    def placements(self, solver) -> dict[OpKey, tuple]:
        out = {}
        for key in self.start:
            chosen = None
            for (k, mid), lit in self.lit.items():
                if k == key and solver.boolean_value(lit):
                    chosen = mid
                    break
            out[key] = (chosen, solver.value(self.start[key]), solver.value(self.end[key]))
        return out


def _is_const(var) -> bool:
    try:
        domain = var.proto.domain
        return len(domain) == 2 and domain[0] == domain[1]
    except AttributeError:
        return False


class _Callback(cp_model.CpSolverSolutionCallback):
    def __init__(self, reporter: "_Reporter"):
        super().__init__()
        self.reporter = reporter

    def on_solution_callback(self):
        if self.reporter.report(self.objective_value, self.best_objective_bound):
            self.stop_search()


def solve(problem: Problem, objective: str | Mapping[str, int] = "weighted_tardiness", time_limit: float = 10.0,
          workers: int = 2, hint: Schedule | None = None, on_progress: ProgressCallback | None = None,
          seed: int = 0, lns: bool = True, log: bool = False) -> Schedule:
    """Solve with CP-SAT within `time_limit` seconds.

    `hint`: a previous schedule to start from (warm start; by default the
    dispatching rule's). `on_progress(Progress)` is called on every better
    schedule; returning True stops the search (the best schedule so far is
    returned). With `lns` the search runs the whole model for FIRST_PHASE of
    the time and, if that has not proved optimality, spends the rest on
    large-neighbourhood search: each round frees some operations (a few jobs,
    late jobs, a time window, a window around the critical chain, a stretch of
    one machine with change-overs), keeps the machine and order of all
    others, and lets CP-SAT re-place the free ones. A pure flexible job shop
    with the makespan objective goes through `fjsp_search` instead (better
    greedy hint, a shorter whole-model phase, its own LNS and final phase)."""
    t0 = time.monotonic()
    deadline = t0 + time_limit
    weights = weights_of(objective)
    reasons = validate(problem)
    if reasons:
        return Schedule(status="infeasible", reason="; ".join(reasons), solver="cp-sat",
                        wall_time=time.monotonic() - t0)
    baseline = None
    for rule in (("eft", "edd") if "weighted_tardiness" in weights else ("eft",)):
        candidate = dispatch.solve(problem, rule)
        if candidate.feasible:
            candidate.objective = objective_value(candidate, weights)
            if baseline is None or candidate.objective < baseline.objective:
                baseline = candidate
    pure = lns and fjsp_search.applies(problem, weights)
    start_from = hint if hint is not None and hint.feasible else baseline
    if pure and (hint is None or not hint.feasible):
        shop = fjsp_search.Shop(problem)
        greedy = fjsp_search.best_greedy(shop, seed, min(1.0, 0.02 * time_limit))
        if baseline is None or greedy.makespan < baseline.kpis.makespan:
            start_from = make_schedule(problem, greedy.placements(shop), "feasible", "cp-sat", explain=False)
    reporter = _Reporter(on_progress, t0)
    model = _Model(problem, weights)
    if start_from is not None:
        model.hint(start_from)
    if pure:
        share = FIRST_PHASE_PURE
    else:
        share = FIRST_PHASE if not any(m.has_setups for m in problem.machines) else FIRST_PHASE_WITH_SETUPS
    first_phase = time_limit if not lns or time_limit < 4 else time_limit * share
    solver = _solver(min(first_phase, deadline - time.monotonic()), workers, seed, log)
    callback = _Callback(reporter)
    status = solver.solve(model.m, callback)
    if status == cp_model.UNKNOWN and not reporter.stopped and deadline - time.monotonic() > 0.1 and (
            baseline is None or checker.check(problem, baseline)):
        # nothing to start the LNS from yet: go on with the whole model until a first schedule
        solver = _solver(deadline - time.monotonic(), workers, seed, log)
        solver.parameters.stop_after_first_solution = True
        status = solver.solve(model.m, callback)
    if status == cp_model.INFEASIBLE:
        return Schedule(status="infeasible", solver="cp-sat", wall_time=time.monotonic() - t0,
                        reason=_diagnose(problem))
    if status == cp_model.MODEL_INVALID:
        return Schedule(status="unknown", solver="cp-sat", wall_time=time.monotonic() - t0,
                        reason=f"the solver rejected the model: {model.m.validate()}")
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        best = make_schedule(problem, compact(problem, model.placements(solver)), "feasible", "cp-sat")
        best.objective = objective_value(best, weights)
        bound = solver.best_objective_bound
        proven = status == cp_model.OPTIMAL
    elif baseline is not None and not checker.check(problem, baseline):
        best, bound, proven = baseline, None, False
    else:
        return Schedule(status="unknown", solver="cp-sat", wall_time=time.monotonic() - t0,
                        reason="no schedule found within the time limit; give the solver more time")
    search = {"first_phase_status": solver.status_name(status), "lns_rounds": 0, "lns_improvements": 0}
    if pure and not proven and not reporter.stopped:
        factor = weights["makespan"]
        placements = fjsp_search.improve(
            problem, {s.key: (s.machine, s.start, s.end) for s in best.operations}, deadline, workers, seed,
            None if bound is None else bound / factor,
            lambda makespan: reporter.report(factor * makespan, bound if bound is not None else 0), search)
        best = make_schedule(problem, compact(problem, placements), "feasible", "cp-sat")
        best.objective = objective_value(best, weights)
    elif lns and not proven and not reporter.stopped:
        best = _lns(problem, weights, best, bound, deadline, workers, seed, reporter, search)
    if bound is not None and best.objective <= bound:
        proven = True
    best.status = "optimal" if proven else "feasible"
    best.bound = bound if bound is not None else None
    if best.solver.startswith("dispatch"):
        best.explanation.insert(0, "CP-SAT found no better schedule within the time limit: this is the "
                                   "dispatching rule's schedule.")
    best.wall_time = time.monotonic() - t0
    best.search = search
    return best


def _solver(limit: float, workers: int, seed: int, log: bool = False) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, limit)
    solver.parameters.num_workers = max(1, workers)
    solver.parameters.random_seed = seed
    solver.parameters.log_search_progress = log
    if workers <= 4:
        solver.parameters.ignore_subsolvers.extend(IGNORED_SUBSOLVERS)
    return solver


class _Reporter:
    """Forwards improvements (from the whole model and the LNS rounds) to the
    caller's progress callback, in one objective scale."""

    def __init__(self, on_progress: ProgressCallback | None, t0: float):
        self.on_progress = on_progress
        self.t0 = t0
        self.solutions = 0
        self.best = None
        self.stopped = False

    def report(self, objective: float, bound: float) -> bool:
        if self.best is not None and objective >= self.best:
            return self.stopped
        self.best = objective
        self.solutions += 1
        if self.on_progress is not None and not self.stopped:
            if self.on_progress(Progress(objective=objective, bound=bound, wall_time=time.monotonic() - self.t0,
                                         solutions=self.solutions)):
                self.stopped = True
        return self.stopped


_WORKER: dict = {}


def _worker_init(problem: Problem, weights) -> None:
    _WORKER.update(problem=problem, weights=weights)


def _lns_round(placements: dict, free: set, objective: int, limit: float, seed: int, workers: int):
    """One LNS round: re-place `free` around the schedule `placements`, with
    the objective at most `objective`. Takes plain data so that it could run
    in another process."""
    problem, weights = _WORKER["problem"], _WORKER["weights"]
    current = make_schedule(problem, placements, "feasible", "cp-sat", explain=False)
    kept = defaultdict(list)
    for s in sorted(current.operations, key=lambda s: (s.start, s.end)):
        if s.key not in free:
            kept[s.machine].append(s.key)
    # nothing needs to end later than now plus the free work appended after everything
    ops = {key: op for key, _, op in problem.operations()}
    slack = sum(max(o.duration for o in ops[k].options) + _worst_setup(problem, ops[k]) for k in free)
    model = _Model(problem, weights, kept, horizon_cap=current.kpis.makespan + slack + 1)
    model.restrict(current, free)
    model.m.add(model.objective <= int(objective))
    model.hint(current)
    solver = _solver(limit, workers, seed)
    status = solver.solve(model.m)
    found = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = compact(problem, model.placements(solver))
    return status, found, solver.wall_time


def _worst_setup(problem: Problem, op) -> int:
    worst = 0
    for o in op.options:
        m = problem.machine_index[o.machine]
        if m.has_setups:
            worst = max(worst, m.default_setup, max(m.setups.values(), default=0))
    return worst


def _lns(problem: Problem, weights, best: Schedule, bound, deadline: float, workers: int, seed: int,
         reporter: _Reporter, stats: dict) -> Schedule:
    """Rounds one after another, each with all workers, from the best schedule.
    Neighbourhood sizes adapt per kind (grow when a round is proved optimal,
    shrink when it times out); the round time grows when rounds find nothing
    at all (big models: presolve alone takes a while)."""
    rng = random.Random(seed)
    keys = [key for key, _, op in problem.operations() if op.frozen is None]
    if not keys:
        return best
    n = len(keys)
    kinds = list(LNS_KINDS)
    if "weighted_tardiness" in weights and any(j.due is not None for j in problem.jobs):
        kinds.append("late")
    if any(m.has_setups for m in problem.machines):
        kinds.append("machwin")
    sizes = {kind: max(4, int(0.15 * n)) for kind in kinds}
    round_limit = LNS_ROUND
    _worker_init(problem, weights)
    while not reporter.stopped:
        left = deadline - time.monotonic()
        if left < 0.3 or (bound is not None and best.objective <= bound):
            break
        kind = rng.choice(kinds)
        size = sizes[kind]
        free = _neighbourhood(kind, problem, best, keys, size, rng)
        placements = {s.key: (s.machine, s.start, s.end) for s in best.operations}
        status, found, secs = _lns_round(placements, free, best.objective, min(left, round_limit),
                                         rng.randrange(1 << 20), workers)
        stats["lns_rounds"] += 1
        objective = None
        if found is not None:
            candidate = make_schedule(problem, found, "feasible", "cp-sat", explain=False)
            objective = candidate.objective = objective_value(candidate, weights)
            if objective <= best.objective:
                if objective < best.objective:
                    stats["lns_improvements"] += 1
                    reporter.report(objective, bound if bound is not None else 0)
                best = candidate
        if _DEBUG:
            print(f"lns {kind:9s} size={size} st={status} t={secs:.2f} obj={objective} best={best.objective}")
        if status == cp_model.OPTIMAL:
            sizes[kind] = min(n, int(size * 1.3) + 1)
        else:
            sizes[kind] = max(4, int(size * 0.95))
        if found is None and status != cp_model.INFEASIBLE:
            round_limit = min(round_limit * 1.5, LNS_ROUND * 8)   # a big model: presolve alone takes a while
    if not best.explanation:
        objective = best.objective
        best = make_schedule(problem, {s.key: (s.machine, s.start, s.end) for s in best.operations},
                             "feasible", "cp-sat")
        best.objective = objective
    return best


def _neighbourhood(kind: str, problem: Problem, schedule: Schedule, keys: list, size: int, rng) -> set:
    placed = schedule.by_key()
    movable = set(keys)
    free: set = set()
    if kind == "jobs":
        jobs = [j for j in problem.jobs if any((j.id, k) in movable for k in range(len(j.operations)))]
        rng.shuffle(jobs)
        for j in jobs:
            free.update((j.id, k) for k in range(len(j.operations)) if (j.id, k) in movable)
            if len(free) >= size:
                break
    elif kind == "window":
        centre = placed[rng.choice(keys)].start
        free.update(sorted(keys, key=lambda k: abs(placed[k].start - centre))[:size])
    elif kind == "late":  # some late jobs, the rest of the size in random jobs
        late = list(schedule.kpis.late_jobs) if schedule.kpis else []
        rng.shuffle(late)
        others = [j.id for j in problem.jobs if j.id not in set(late)]
        rng.shuffle(others)
        for jid in late[: max(1, len(late) // 2)] + others:
            free.update(k for k in keys if k[0] == jid)
            if len(free) >= size:
                break
    elif kind == "machwin":  # re-sequence a stretch of one or two machines with change-overs
        machines = [m.id for m in problem.machines if m.has_setups]
        chosen = set(rng.sample(machines, min(len(machines), rng.choice((1, 2)))))
        on = [k for k in keys if placed[k].machine in chosen] or keys
        centre = placed[rng.choice(on)].start
        free.update(sorted(on, key=lambda k: abs(placed[k].start - centre))[:size])
    else:  # critwin: a time window around an operation of the critical chain
        chain = [s.key for s in critical_chain(problem, schedule) if s.key in movable] or keys
        centre = placed[rng.choice(chain)].start
        free.update(sorted(keys, key=lambda k: abs(placed[k].start - centre))[:size])
    return free


def _diagnose(problem: Problem) -> str:
    locked = [(key, job, op) for key, job, op in problem.operations()
              if op.frozen is None and (op.lock_start is not None or op.lock_machine is not None)]
    if locked:
        names = ", ".join(f"operation {k} of job {job.label or job.id}"
                          + (f" at {op.lock_start}" if op.lock_start is not None else "")
                          + (f" on {op.lock_machine}" if op.lock_machine is not None else "")
                          for (_, k), job, op in locked[:5])
        return ("the locked operations cannot all be honoured together with the job order, the frozen work "
                f"and the planned downtime (locks: {names}); move or release a lock")
    return "the frozen work and the planned downtime leave no room for the remaining operations"
