"""A realistic rolling-mill instance generator (time in minutes).

A plant with a caster, a hot mill, two cold mills, two annealing furnaces
(batching), two slitters and a packing line. Each order is one coil of an
alloy, temper, width and final gauge; its routing is cast → hot roll →
1-4 cold-roll passes (by the reduction from the hot band) → anneal (for soft
and half-hard tempers, recipe by alloy family and temper) → slit (when
narrower than the mill width) → pack. Change-overs on the mills follow the
usual rules of a rolling plant (`rolling_setup`): alloy family changes (worst
going from a dirty 5xxx/6xxx to a clean 1xxx/8xxx foil stock), width going
up (the edges of the previous coils mark the rolls) versus down, gauge jumps
and temper changes. One cold mill has planned maintenance.
"""
from __future__ import annotations

import random

from .model import Job, Machine, Operation, Option, Problem

ALLOYS = {"1060": "1xxx", "1100": "1xxx", "3003": "3xxx", "3105": "3xxx", "5052": "5xxx", "5083": "5xxx",
          "6061": "6xxx", "8011": "8xxx"}
CLEAN = {"1xxx", "8xxx"}
DIRTY = {"5xxx", "6xxx"}
TEMPERS = ("O", "H14", "H18", "H24")
ANNEAL_MINUTES = {"O": 480, "H24": 300}          # H14/H18 are rolled hard: no anneal
FURNACE_TONNES = 80
HOT_BAND_MM = 6.0


def rolling_setup(before: tuple, after: tuple) -> int:
    """Change-over minutes on a mill between coils (family, temper, width, gauge)."""
    fam_a, temper_a, width_a, gauge_a = before
    fam_b, temper_b, width_b, gauge_b = after
    minutes = 0
    if fam_a != fam_b:
        minutes += 90 if (fam_a in DIRTY and fam_b in CLEAN) else 40
    if width_b > width_a:
        minutes += 45 if width_b - width_a > 200 else 25   # wider after narrower: roll change
    elif width_b < width_a:
        minutes += 5
    if gauge_a and gauge_b and max(gauge_a, gauge_b) / min(gauge_a, gauge_b) > 2.5:
        minutes += 15                                        # big gauge jump: re-set the roll gap and coolant
    if temper_a != temper_b:
        minutes += 10
    return minutes


def _passes(gauge: float) -> list[float]:
    """Exit gauges of the cold passes, about 45% reduction each."""
    out, g = [], HOT_BAND_MM * 0.55
    while g > gauge * 1.05:
        out.append(round(g, 2))
        g *= 0.55
    out.append(gauge)
    return out[-4:]


def generate(orders: int = 30, seed: int = 1, horizon_days: float | None = None) -> Problem:
    rng = random.Random(seed)
    days = horizon_days if horizon_days is not None else max(2.0, orders / 8)
    machines = {
        "caster": Machine("caster", "Caster"),
        "hot": Machine("hot", "Hot mill"),
        "cm1": Machine("cm1", "Cold mill 1", downtime=[(int(days * 1440 * 0.4), int(days * 1440 * 0.4) + 480)]),
        "cm2": Machine("cm2", "Cold mill 2"),
        "f1": Machine("f1", "Furnace 1", capacity=FURNACE_TONNES),
        "f2": Machine("f2", "Furnace 2", capacity=FURNACE_TONNES),
        "slit1": Machine("slit1", "Slitter 1"),
        "slit2": Machine("slit2", "Slitter 2"),
        "pack": Machine("pack", "Packing"),
    }
    families: dict[str, set] = {mid: set() for mid in machines}
    jobs = []
    for j in range(orders):
        alloy = rng.choice(list(ALLOYS))
        fam = ALLOYS[alloy]
        temper = rng.choice(TEMPERS)
        width = rng.randrange(900, 1650, 50)
        gauge = rng.choice([0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0])
        tonnes = rng.randrange(8, 26)
        mill_width = min(1650, width + rng.choice([0, 0, 100, 200, 300]))
        ops = []
        ops.append(Operation([Option("caster", 20 + tonnes * 4)], label="cast"))
        hot_fam = (fam, "F", mill_width, HOT_BAND_MM)
        ops.append(Operation([Option("hot", 10 + tonnes)], setup_family=hot_fam, label="hot roll"))
        families["hot"].add(hot_fam)
        for p, exit_gauge in enumerate(_passes(gauge)):
            cold_fam = (fam, temper, mill_width, exit_gauge)
            minutes = int(15 + tonnes * (2.5 if exit_gauge < 1 else 1.8))
            ops.append(Operation([Option("cm1", minutes), Option("cm2", int(minutes * 1.15))],
                                 setup_family=cold_fam, label=f"cold pass {p + 1} to {exit_gauge} mm"))
            families["cm1"].add(cold_fam)
            families["cm2"].add(cold_fam)
        if temper in ANNEAL_MINUTES:
            ops.append(Operation([Option("f1", ANNEAL_MINUTES[temper]), Option("f2", ANNEAL_MINUTES[temper])],
                                 recipe=(fam, temper), size=tonnes, label=f"anneal {fam} {temper}"))
        if width < mill_width:
            slit_fam = (fam, temper, width, gauge)
            ops.append(Operation([Option("slit1", 20 + tonnes * 2), Option("slit2", 25 + tonnes * 2)],
                                 setup_family=slit_fam, label=f"slit to {width} mm"))
            families["slit1"].add(slit_fam)
            families["slit2"].add(slit_fam)
        ops.append(Operation([Option("pack", 15 + tonnes)], label="pack"))
        release = int(rng.uniform(0, days * 1440 * 0.5))
        work = sum(min(o.duration for o in op.options) for op in ops)
        due = release + int(work * rng.uniform(1.5, 3.0)) + rng.randrange(0, int(days * 1440 * 0.3))
        jobs.append(Job(id=j, operations=ops, release=release, due=due, weight=rng.choice([1, 1, 2, 3]),
                        label=f"O{j:03d} {alloy}-{temper} {width}x{gauge} {tonnes}t"))
    for mid, fams in families.items():
        if fams:
            machine = machines[mid]
            machine.setups = {(a, b): rolling_setup(a, b) for a in fams for b in fams if a != b}
            machine.initial_family = min(fams)
            machine.setups.update({(machine.initial_family, b): rolling_setup(machine.initial_family, b)
                                   for b in fams if b != machine.initial_family})
    return Problem(jobs=jobs, machines=list(machines.values()), name=f"rolling-mill-{orders}-{seed}")
