"""APS scheduling: the room that plans a plant's operations.

`engine/` is the solver (plain dataclasses, OR-Tools CP-SAT and a
dispatching rule, no database and no Flask). Around it: `problem.py` turns
the committed order lines, routings, units, calendars, downtime, live unit
state and begun work into an engine `Problem`; `services.py` holds schedule
versions (create, solve as an RQ job in `jobs.py` with progress, lock, move,
re-solve, compare, publish through the production room) and unit
disruptions; `api.py` (/api/v1/scheduling) and `views.py` (the Gantt in
`gantt.py`) call the services.

Public API (``from alloyhub.tenants.scheduling import engine``; the names
below live in ``engine.model``, ``engine.cpsat``, ``engine.dispatch``,
``engine.checker``, ``engine.fjs`` and ``engine.generator``)

Problem (times are integers, e.g. minutes, from now = 0)
    ``Problem(jobs=[Job], machines=[Machine], name="")``
    ``Job(id, operations=[Operation], release=0, due=None, weight=1, label="", ref=None)``
        operations run in list order; ``due=None`` means no due date.
    ``Operation(options=[Option(machine, duration)], setup_family=None, recipe=None, size=1,
    frozen=None, lock_machine=None, lock_start=None, ref=None, label="")``
        ``setup_family``: the key of the machine's change-over matrix (any hashable,
        e.g. (alloy family, temper, width, gauge)); ``recipe`` + ``size``: on a
        batching machine, operations of one recipe may share a batch up to its
        capacity; ``frozen=Frozen(machine, start, end)``: already started or done,
        kept as is (may lie before 0); ``lock_machine``/``lock_start``: the planner's pins.
        ``ref``: the caller's id (routing step, work order) carried through.
    ``Machine(id, name="", capacity=1, downtime=[(start, end)], setups={(a, b): minutes},
    default_setup=0, initial_family=None)``
        ``capacity > 1`` makes a batching machine (furnace); ``downtime``: no
        processing and no change-over inside; ``setups``: change-over when family
        b follows a (missing pairs: ``default_setup`` if a != b, else 0);
        ``initial_family``: what the unit is set up for now.
        ``engine.model.downtime_from_availability(shift_windows, until)`` turns a
        shift calendar into downtime.
        ``engine.generator.rolling_setup(before, after)`` is the rolling-mill rule
        (alloy family, temper, width up vs down, gauge jump) to fill such a matrix.

Solving
    ``engine.cpsat.solve(problem, objective="weighted_tardiness", time_limit=10.0, workers=2,
    hint=None, on_progress=None, seed=0, lns=True) -> Schedule``
        ``objective``: "weighted_tardiness", "makespan", "total_setup", or a mix
        such as ``{"weighted_tardiness": 10, "total_setup": 1}`` (integer weights).
        ``hint``: a previous Schedule (warm start: "re-solve around a lock" = set the
        lock on the Problem, pass the last schedule). ``on_progress(Progress)`` is
        called with ``objective``, ``bound``, ``wall_time``, ``solutions`` on every
        better schedule; return True from it to stop (the best so far is returned).
        The whole model runs first (30% of the time), then large-neighbourhood
        search; ``Schedule.search`` tells how many rounds ran and improved.
    ``engine.dispatch.solve(problem, rule="eft") -> Schedule``: the dispatching-rule
        baseline (also the solver's first hint and fallback).
    ``engine.cpsat.objective_value(schedule, objective_weights)``; ``engine.cpsat.weights_of(objective)``.

Result
    ``Schedule.status``: "optimal", "feasible", "infeasible" (``reason`` says why: an
    operation without eligible machine, overlapping frozen work, a lock that cannot be
    honoured …) or "unknown" (nothing found in the time limit).
    ``Schedule.operations``: ``ScheduledOperation(job, op, machine, start, end, setup, batch)``
    (``setup`` = change-over right before it on its machine); ``Schedule.batches``:
    ``Batch(id, machine, recipe, start, end, operations, load)``;
    ``Schedule.kpis``: ``KPIs`` with makespan, late_jobs, total_lateness,
    weighted_tardiness, total_setup, utilisation and machine_load per machine,
    load_balance (max_over_mean, std_dev), job_completion;
    ``Schedule.explanation``: a few plain-English sentences (bottleneck unit, the chain
    that sets the makespan, which jobs are late and why);
    ``Schedule.as_dict()``: JSON-ready, to store.

Checking and instances
    ``engine.checker.check(problem, schedule)`` / ``check_rows(problem, rows)``: every
    violated rule as a sentence (independent of the solvers).
    ``engine.fjs.load(path)`` / ``parse(text)``: Brandimarte ``.fjs`` → Problem (zero-based).
    ``engine.generator.generate(orders, seed)``: a rolling-mill Problem.
    ``alloyhub schedule solve-fjs FILE --time-limit S --json``; ``python -m benchmarks.scheduling``,
    ``python -m benchmarks.rolling_mill``.
"""
