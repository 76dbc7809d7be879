"""The scheduling problem and its solution as plain dataclasses.

Time is an integer count of units (the service uses minutes) measured from
*now* = 0: nothing that is not frozen may start before 0; frozen operations
(already started or finished) may lie before it. Identifiers of jobs and
machines are whatever the caller uses (database ids, names, the zero-based
numbers of an `.fjs` file); an operation is addressed by (job id, index in
its job).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping

OpKey = tuple  # (job id, operation index)

OBJECTIVES = ("weighted_tardiness", "makespan", "total_setup")


@dataclass(frozen=True)
class Option:
    """An eligible machine for an operation and the processing time on it."""
    machine: Hashable
    duration: int


@dataclass
class Frozen:
    """An operation already started or finished: it stays where it is."""
    machine: Hashable
    start: int
    end: int


@dataclass
class Operation:
    options: list[Option]
    setup_family: Hashable | None = None   # key into the machine's setup matrix (e.g. (alloy, temper, width, gauge))
    recipe: Hashable | None = None          # batching machines: operations of the same recipe may share a batch
    size: int = 1                           # share of a batching machine's capacity (e.g. tonnes, coils)
    frozen: Frozen | None = None
    lock_machine: Hashable | None = None    # planner's pin: only this machine
    lock_start: int | None = None           # planner's pin: exactly this start
    ref: Any = None                         # the caller's own id (a routing step, a work order …)
    label: str = ""

    def duration_on(self, machine: Hashable) -> int | None:
        for opt in self.options:
            if opt.machine == machine:
                return opt.duration
        return None


@dataclass
class Job:
    id: Hashable
    operations: list[Operation]
    release: int = 0
    due: int | None = None
    weight: int = 1
    label: str = ""
    ref: Any = None


@dataclass
class Machine:
    """A unit. `capacity` > 1 makes it a batching machine (a furnace): operations
    with the same `recipe` may run together in one batch (same start and end,
    sizes summing to at most the capacity, duration = the longest member's).
    `setups[(a, b)]` is the change-over time when an operation of setup family
    `b` follows one of family `a` (missing pairs: `default_setup` when the
    families differ, 0 when equal); `initial_family` is what the unit is set up
    for now. `downtime` holds [start, end) intervals in which nothing may run
    (nor a change-over be made)."""
    id: Hashable
    name: str = ""
    capacity: int = 1
    downtime: list[tuple[int, int]] = field(default_factory=list)
    setups: Mapping[tuple[Hashable, Hashable], int] = field(default_factory=dict)
    default_setup: int = 0
    initial_family: Hashable | None = None

    @property
    def batching(self) -> bool:
        return self.capacity > 1

    def setup(self, before: Hashable | None, after: Hashable | None) -> int:
        if before is None or after is None:
            return 0
        value = self.setups.get((before, after))
        if value is not None:
            return int(value)
        return 0 if before == after else int(self.default_setup)

    @property
    def has_setups(self) -> bool:
        return not self.batching and (self.default_setup > 0 or any(v > 0 for v in self.setups.values()))


def downtime_from_availability(windows: list[tuple[int, int]], until: int, since: int = 0) -> list[tuple[int, int]]:
    """Shift calendars → downtime: the gaps between availability windows
    [start, end) within [since, until), plus the time after the last window."""
    out, t = [], since
    for start, end in sorted(windows):
        if end <= t:
            continue
        if start > t:
            out.append((t, min(start, until)))
        t = max(t, end)
        if t >= until:
            break
    if t < until:
        out.append((t, until))
    return [(a, b) for a, b in out if b > a]


@dataclass
class Problem:
    jobs: list[Job]
    machines: list[Machine]
    name: str = ""

    def machine(self, machine_id: Hashable) -> Machine:
        return self.machine_index[machine_id]

    @property
    def machine_index(self) -> dict[Hashable, Machine]:
        return {m.id: m for m in self.machines}

    def operations(self):
        """(key, job, operation) for every operation, job by job, in routing order."""
        for job in self.jobs:
            for k, op in enumerate(job.operations):
                yield (job.id, k), job, op

    @property
    def operation_count(self) -> int:
        return sum(len(j.operations) for j in self.jobs)


@dataclass
class ScheduledOperation:
    job: Hashable
    op: int
    machine: Hashable
    start: int
    end: int
    setup: int = 0          # change-over time on the machine right before this operation
    batch: int | None = None

    @property
    def key(self) -> OpKey:
        return (self.job, self.op)


@dataclass
class Batch:
    id: int
    machine: Hashable
    recipe: Hashable | None
    start: int
    end: int
    operations: list[OpKey]
    load: int


@dataclass
class KPIs:
    makespan: int
    late_jobs: list[Hashable]
    total_lateness: int           # sum over jobs of max(0, completion - due)
    weighted_tardiness: int
    total_setup: int
    utilisation: dict[Hashable, float]   # busy / available time between 0 and the makespan
    machine_load: dict[Hashable, int]     # processing time (batches counted once) per machine
    load_balance: dict[str, float]        # max/mean and std dev of machine load
    job_completion: dict[Hashable, int]

    def as_dict(self) -> dict:
        return {
            "makespan": self.makespan, "late_jobs": list(self.late_jobs),
            "total_lateness": self.total_lateness, "weighted_tardiness": self.weighted_tardiness,
            "total_setup": self.total_setup,
            "utilisation": {str(k): round(v, 4) for k, v in self.utilisation.items()},
            "machine_load": {str(k): v for k, v in self.machine_load.items()},
            "load_balance": {k: round(v, 4) for k, v in self.load_balance.items()},
        }


@dataclass
class Schedule:
    """A solver's answer. `status` is one of optimal, feasible, infeasible,
    unknown (no schedule found in the time limit); `reason` says why when
    there is no schedule."""
    status: str
    operations: list[ScheduledOperation] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    kpis: KPIs | None = None
    objective: float | None = None
    bound: float | None = None
    explanation: list[str] = field(default_factory=list)
    reason: str | None = None
    solver: str = ""
    wall_time: float = 0.0
    search: dict = field(default_factory=dict)   # how the solver got there (phases, LNS rounds …)

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "feasible")

    def by_key(self) -> dict[OpKey, ScheduledOperation]:
        return {s.key: s for s in self.operations}

    def as_dict(self) -> dict:
        return {
            "status": self.status, "solver": self.solver, "objective": self.objective, "bound": self.bound,
            "reason": self.reason, "explanation": list(self.explanation), "wall_time": round(self.wall_time, 3),
            "search": dict(self.search),
            "kpis": self.kpis.as_dict() if self.kpis else None,
            "operations": [{"job": s.job, "op": s.op, "machine": s.machine, "start": s.start, "end": s.end,
                            "setup": s.setup, "batch": s.batch} for s in self.operations],
            "batches": [{"id": b.id, "machine": b.machine, "recipe": b.recipe, "start": b.start, "end": b.end,
                         "operations": [list(k) for k in b.operations], "load": b.load} for b in self.batches],
        }


@dataclass
class Progress:
    """What a solver reports whenever it finds a better schedule."""
    objective: float
    bound: float
    wall_time: float
    solutions: int


class ProblemError(ValueError):
    """The problem cannot be scheduled as stated (reason in the message)."""
