"""The `.fjs` flexible job-shop format (Brandimarte and others) → Problem.

First line: `<jobs> <machines> [<average machines per operation>]`; then one
line per job: `<operations>` and per operation `<k>` followed by `k` pairs
`<machine> <processing time>`, machines numbered from 1. The Problem uses
zero-based job, operation and machine numbers.
"""
from __future__ import annotations

from pathlib import Path

from .model import Job, Machine, Operation, Option, Problem, ProblemError


def parse(text: str, name: str = "") -> Problem:
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ProblemError("empty .fjs file")
    try:
        head = [int(float(x)) for x in lines[0][:2]]
        n_jobs, n_machines = head
    except ValueError as exc:
        raise ProblemError(f"bad .fjs header: {' '.join(lines[0])}") from exc
    if len(lines) - 1 < n_jobs:
        raise ProblemError(f"the header announces {n_jobs} jobs but the file has {len(lines) - 1} job lines")
    jobs = []
    for j in range(n_jobs):
        try:
            nums = [int(x) for x in lines[1 + j]]
        except ValueError as exc:
            raise ProblemError(f"job line {j + 1} holds something other than integers") from exc
        pos = 1
        ops = []
        try:
            for k in range(nums[0]):
                count = nums[pos]
                pos += 1
                options = []
                for _ in range(count):
                    machine, duration = nums[pos] - 1, nums[pos + 1]
                    pos += 2
                    if not 0 <= machine < n_machines:
                        raise ProblemError(f"job {j} operation {k} names machine {machine + 1}, "
                                           f"outside 1..{n_machines}")
                    options.append(Option(machine, duration))
                ops.append(Operation(options=options))
        except IndexError as exc:
            raise ProblemError(f"job line {j + 1} ends in the middle of an operation") from exc
        if pos != len(nums):
            raise ProblemError(f"job line {j + 1} has {len(nums) - pos} numbers more than its operations use")
        jobs.append(Job(id=j, operations=ops))
    return Problem(jobs=jobs, machines=[Machine(id=m, name=f"M{m}") for m in range(n_machines)], name=name)


def load(path: str | Path) -> Problem:
    path = Path(path)
    return parse(path.read_text(), name=path.stem)
