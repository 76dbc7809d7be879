"""Rolling-mill benchmark: generated plant orders, CP-SAT vs the dispatching rule.

    python -m benchmarks.rolling_mill [--orders 20] [--time-limit 30] [--seeds 1,2,3] [--workers 2]

Each instance comes from the engine's generator (caster → hot mill → cold
passes on two mills with change-overs by alloy, temper, width up/down and
gauge jumps → annealing furnaces that batch coils of one recipe up to 80 t
→ slitters → packing; planned downtime on a cold mill; release and due
dates, weights). Both schedules are checked by the independent feasibility
checker. The objective is a mix: 10 × weighted tardiness + total setup.

Last line: RESULT rolling_mill orders=… operations=… cpsat_weighted_tardiness=… baseline_weighted_tardiness=…
cpsat_late_jobs=… baseline_late_jobs=… cpsat_setup_min=… baseline_setup_min=… objective_ratio=… infeasible=…
"""
from __future__ import annotations

import argparse
import sys
import time

OBJECTIVE = {"weighted_tardiness": 10, "total_setup": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rolling_mill", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20, help="orders (coils) per instance (default 20)")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance (default 30)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated generator seeds (default 1,2,3)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from alloyhub.tenants.scheduling.engine import checker, cpsat, dispatch, generator

    totals = {"ops": 0, "cp_wt": 0, "base_wt": 0, "cp_late": 0, "base_late": 0, "cp_setup": 0, "base_setup": 0,
              "cp_obj": 0, "base_obj": 0, "cp_lateness": 0, "base_lateness": 0}
    infeasible = 0
    print(f"{'seed':>4} {'ops':>4} | {'wtard':>7} {'late':>4} {'lateness':>8} {'setup':>6} | "
          f"{'base wtard':>10} {'late':>4} {'lateness':>8} {'setup':>6} | {'status':>8} {'secs':>5}")
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        problem = generator.generate(args.orders, seed=seed)
        base = dispatch.solve(problem)
        t0 = time.monotonic()
        cp = cpsat.solve(problem, OBJECTIVE, time_limit=args.time_limit, workers=args.workers, seed=seed)
        secs = time.monotonic() - t0
        for name, sched in (("cp-sat", cp), ("baseline", base)):
            errors = checker.check(problem, sched) if sched.feasible else ["no schedule"]
            if errors:
                infeasible += 1
                print(f"seed {seed} {name}: INFEASIBLE {errors[:3]}", file=sys.stderr)
        ck, bk = cp.kpis, base.kpis
        totals["ops"] += problem.operation_count
        totals["cp_wt"] += ck.weighted_tardiness
        totals["base_wt"] += bk.weighted_tardiness
        totals["cp_late"] += len(ck.late_jobs)
        totals["base_late"] += len(bk.late_jobs)
        totals["cp_lateness"] += ck.total_lateness
        totals["base_lateness"] += bk.total_lateness
        totals["cp_setup"] += ck.total_setup
        totals["base_setup"] += bk.total_setup
        totals["cp_obj"] += cpsat.objective_value(cp, OBJECTIVE)
        totals["base_obj"] += cpsat.objective_value(base, OBJECTIVE)
        print(f"{seed:>4} {problem.operation_count:>4} | {ck.weighted_tardiness:>7} {len(ck.late_jobs):>4} "
              f"{ck.total_lateness:>8} {ck.total_setup:>6} | {bk.weighted_tardiness:>10} {len(bk.late_jobs):>4} "
              f"{bk.total_lateness:>8} {bk.total_setup:>6} | {cp.status:>8} {secs:>5.1f}", flush=True)
        for line in cp.explanation[:3]:
            print(f"      {line}")
    ratio = totals["cp_obj"] / totals["base_obj"] if totals["base_obj"] else 1.0
    print(f"RESULT rolling_mill orders={args.orders} operations={totals['ops']} "
          f"cpsat_weighted_tardiness={totals['cp_wt']} baseline_weighted_tardiness={totals['base_wt']} "
          f"cpsat_late_jobs={totals['cp_late']} baseline_late_jobs={totals['base_late']} "
          f"cpsat_lateness_min={totals['cp_lateness']} baseline_lateness_min={totals['base_lateness']} "
          f"cpsat_setup_min={totals['cp_setup']} baseline_setup_min={totals['base_setup']} "
          f"objective_ratio={ratio:.3f} infeasible={infeasible}")
    return 1 if infeasible else 0


if __name__ == "__main__":
    sys.exit(main())
