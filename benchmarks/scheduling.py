"""Flexible job-shop benchmark: Brandimarte MK01–MK10 through the scheduling engine.

    python -m benchmarks.scheduling [--time-limit 60] [--instances MK01,MK02] [--workers 2]

Each `.fjs` instance (../shared/benchmarks/fjsp/brandimarte/, or $FJSP_DIR) is
loaded through the engine's own model code, solved by the CP-SAT solver with
the makespan objective in the time limit, checked by the independent
feasibility checker, and compared with the best-known makespan from the
data's README and with the dispatching-rule baseline computed in the same
run. gap = (makespan − best_known) / best_known.

Last line: RESULT scheduling instances=… mean_gap_pct=… max_gap_pct=… worse_than_baseline=… infeasible=…
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "benchmarks" / "fjsp"


def best_known(readme: Path) -> dict[str, int]:
    """The `best_known` column of the README's table, by instance name."""
    lines = readme.read_text().splitlines()
    header = next(ln for ln in lines if ln.startswith("|") and "best_known" in ln)
    cols = [c.strip() for c in header.strip("|").split("|")]
    at = cols.index("best_known")
    out = {}
    for ln in lines:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if ln.startswith("|") and re.fullmatch(r"MK\d+", cells[0] or "") and len(cells) > at:
            out[cells[0]] = int(cells[at])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scheduling", description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per instance (default 60)")
    parser.add_argument("--instances", default="", help="comma-separated names, e.g. MK01,MK02 (default all)")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from alloyhub.tenants.scheduling.engine import checker, cpsat, dispatch, fjs

    base = Path(os.environ.get("FJSP_DIR", DEFAULT_DIR))
    folder = base / "brandimarte" if (base / "brandimarte").is_dir() else base
    readme = base / "README.md" if (base / "README.md").exists() else folder.parent / "README.md"
    known = best_known(readme)
    names = [n.strip().upper() for n in args.instances.split(",") if n.strip()] or sorted(known)
    gaps, worse, infeasible = [], [], []
    print(f"{'instance':8} {'ops':>4} {'makespan':>8} {'best':>5} {'gap%':>6} {'baseline':>8} {'status':>8} {'secs':>6}")
    for name in names:
        problem = fjs.load(folder / f"{name}.fjs")
        baseline = dispatch.solve(problem)
        t0 = time.monotonic()
        result = cpsat.solve(problem, "makespan", time_limit=args.time_limit, workers=args.workers, seed=args.seed)
        secs = time.monotonic() - t0
        errors = checker.check(problem, result) if result.feasible else ["no schedule"]
        if errors:
            infeasible.append(name)
            print(f"{name}: INFEASIBLE schedule: {errors[:3]}", file=sys.stderr)
        makespan = result.kpis.makespan if result.kpis else float("inf")
        bk = known[name]
        gap = 100.0 * (makespan - bk) / bk
        gaps.append(gap)
        base_ms = baseline.kpis.makespan
        if makespan >= base_ms:
            worse.append(name)
        print(f"{name:8} {problem.operation_count:>4} {makespan:>8} {bk:>5} {gap:>6.2f} {base_ms:>8} "
              f"{result.status:>8} {secs:>6.1f}", flush=True)
    mean_gap = sum(gaps) / len(gaps) if gaps else 0.0
    print(f"RESULT scheduling instances={len(names)} mean_gap_pct={mean_gap:.2f} max_gap_pct={max(gaps, default=0):.2f} "
          f"worse_than_baseline={len(worse)} infeasible={len(infeasible)} time_limit_s={args.time_limit:g}")
    return 1 if infeasible else 0


if __name__ == "__main__":
    sys.exit(main())
