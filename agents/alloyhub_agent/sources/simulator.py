"""A small aluminium cold-rolling line, simulated: a single-stand mill with its drive,
a line power meter and an annealing furnace. Deterministic for a given seed and sample
sequence; faults (bearing temperature drift, gauge deviation, stoppage) can be injected
through the source config ("faults": [...]) or by a write command to ``<fault_prefix><fault>``.
"""
from __future__ import annotations

import asyncio
import math
import random
import time

from .base import Source, SourceError

SIGNALS = {
    # signal: (unit, description)
    "speed": ("m/min", "mill speed"),
    "tension": ("kN", "strip tension (exit)"),
    "entry_gauge": ("mm", "entry gauge"),
    "exit_gauge": ("mm", "exit gauge"),
    "work_roll_temp": ("degC", "work-roll temperature"),
    "bearing_temp": ("degC", "work-roll bearing temperature"),
    "motor_current": ("A", "main drive motor current"),
    "power_kw": ("kW", "line power"),
    "energy_kwh": ("kWh", "line power meter, cumulative"),
    "furnace_temp": ("degC", "annealing furnace temperature"),
}
FAULTS = ("bearing_drift", "gauge_deviation", "stoppage")

COIL_S = 240.0  # one coil: thread, accelerate, run, decelerate
RUN_SPEED = 600.0  # m/min
THREAD_SPEED = 60.0
ENTRY_GAUGE = 2.0  # mm
REDUCTION = 0.4


class ColdRollingLine:
    """The physics-ish model of one line. ``step(dt)`` advances simulated time and returns
    every signal's value; the same seed and the same dt sequence give the same values."""

    def __init__(self, seed: int = 0, line: int = 0, faults=()):
        self.rng = random.Random(f"alloyhub-sim:{seed}:{line}")
        self.t = self.rng.uniform(0, COIL_S)  # lines do not all start the same coil at once
        self.speed = THREAD_SPEED
        self.roll_temp = 45.0
        self.bearing_temp = 48.0
        self.energy_kwh = 1000.0 * (line + 1) + self.rng.uniform(0, 500)
        self.furnace_temp = 415.0
        self.faults: dict[str, float] = {}  # fault -> simulated time it started
        for f in faults:
            self.inject(f, True)

    def inject(self, fault: str, on: bool = True) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        if on:
            self.faults.setdefault(fault, self.t)
        else:
            self.faults.pop(fault, None)

    def _target_speed(self) -> float:
        if "stoppage" in self.faults:
            return 0.0
        phase = self.t % COIL_S
        if phase < 15:  # threading the new coil
            return THREAD_SPEED
        if phase < 45:  # accelerating
            return THREAD_SPEED + (RUN_SPEED - THREAD_SPEED) * (phase - 15) / 30
        if phase < COIL_S - 20:
            return RUN_SPEED
        return THREAD_SPEED + (RUN_SPEED - THREAD_SPEED) * (COIL_S - phase) / 20  # tail out

    def step(self, dt: float) -> dict[str, float]:
        g = self.rng.gauss
        self.t += dt
        target = self._target_speed()
        lag = 1.0 - math.exp(-dt / (2.0 if target > 0 else 4.0))
        self.speed += (target - self.speed) * lag
        speed = max(0.0, self.speed + g(0, 1.5 if self.speed > 1 else 0.0))
        running = speed > 5.0

        entry = ENTRY_GAUGE + g(0, 0.004)
        exit_gauge = entry * (1 - REDUCTION) + g(0, 0.002)
        if "gauge_deviation" in self.faults:
            # a growing thickness error, as from a roll-gap sensor drifting
            exit_gauge += min(0.08, 0.01 + 0.002 * (self.t - self.faults["gauge_deviation"]))
        tension = (38.0 + speed * 0.01 + g(0, 0.6)) if running else max(0.0, 2.0 + g(0, 0.3))
        current = 140.0 + speed * 1.45 + tension * 2.0 + g(0, 6.0)
        power_kw = math.sqrt(3) * 690.0 * current * 0.86 / 1000.0
        self.energy_kwh += power_kw * dt / 3600.0

        # first-order thermal models
        roll_target = 40.0 + speed * 0.06
        self.roll_temp += (roll_target - self.roll_temp) * (1 - math.exp(-dt / 300.0))
        bearing_target = 45.0 + speed * 0.025
        self.bearing_temp += (bearing_target - self.bearing_temp) * (1 - math.exp(-dt / 600.0))
        bearing = self.bearing_temp
        if "bearing_drift" in self.faults:
            bearing += 0.5 * (self.t - self.faults["bearing_drift"]) / 60.0  # +0.5 degC per minute
        furnace_target = 420.0 + 3.0 * math.sin(2 * math.pi * self.t / 900.0)
        self.furnace_temp += (furnace_target - self.furnace_temp) * (1 - math.exp(-dt / 120.0))

        return {
            "speed": round(speed, 2),
            "tension": round(tension, 2),
            "entry_gauge": round(entry, 4),
            "exit_gauge": round(exit_gauge, 4),
            "work_roll_temp": round(self.roll_temp + g(0, 0.15), 2),
            "bearing_temp": round(bearing + g(0, 0.1), 2),
            "motor_current": round(current, 1),
            "power_kw": round(power_kw, 1),
            "energy_kwh": round(self.energy_kwh, 3),
            "furnace_temp": round(self.furnace_temp + g(0, 0.4), 1),
        }


def parse_address(address: str) -> tuple[int, str]:
    """'speed' -> (0, 'speed'); '3/speed' -> (3, 'speed')."""
    line, _, signal = address.rpartition("/")
    if signal not in SIGNALS:
        raise ValueError(f"unknown simulator signal {signal!r}; known: {', '.join(SIGNALS)}")
    return (int(line) if line else 0), signal


def default_tags(points_per_second: float = 10.0, period_ms: int = 100, prefix: str = "line") -> list[dict]:
    """Enough tags (at ``period_ms``) over as many simulated lines as needed to give
    ``points_per_second`` with no deadband: line0.speed, line0.tension, ..., line1.speed, ..."""
    n = max(1, round(points_per_second * period_ms / 1000.0))
    names = list(SIGNALS)
    tags = []
    for i in range(n):
        line, signal = divmod(i, len(names))
        sig = names[signal]
        tags.append({"tag": f"{prefix}{line}.{sig}", "address": f"{line}/{sig}", "unit": SIGNALS[sig][0],
                     "period_ms": period_ms, "deadband": 0})
    return tags


class SimulatorSource(Source):
    kind = "simulator"

    def __init__(self, cfg: dict, emit):
        if not cfg.get("tags"):
            cfg = dict(cfg, tags=default_tags(cfg.get("points_per_second", 10), cfg.get("period_ms", 1000)))
        super().__init__(cfg, emit)
        self.seed = int(cfg.get("seed", 0))
        self.fault_prefix = str(cfg.get("fault_prefix", "sim.fault."))
        self._addr = {t.tag: parse_address(t.address or t.tag.rpartition(".")[2]) for t in self.tags}
        lines = sorted({line for line, _ in self._addr.values()})
        faults = cfg.get("faults") or ()
        self.lines = {i: ColdRollingLine(self.seed, i, faults) for i in lines}
        self.base_ms = math.gcd(*[t.period_ms for t in self.tags]) if self.tags else 1000

    def inject(self, fault: str, on: bool = True) -> None:
        for model in self.lines.values():
            model.inject(fault, on)

    def owns(self, tag: str) -> bool:
        return tag in self.by_tag or tag.startswith(self.fault_prefix)

    async def write(self, tag: str, value):
        if tag.startswith(self.fault_prefix):
            fault = tag[len(self.fault_prefix):]
            try:
                self.inject(fault, bool(value))
            except ValueError as e:
                raise SourceError(str(e)) from None
            return {"fault": fault, "active": bool(value)}
        raise SourceError(f"simulated tag {tag} is read-only; faults are written as {self.fault_prefix}<fault>")

    def tick(self, ts: float, tick_no: int, now: float | None = None) -> list:
        """Advance every line by one base period and return the points due at this tick."""
        dt = self.base_ms / 1000.0
        values = {i: m.step(dt) for i, m in self.lines.items()}
        now = ts if now is None else now
        out: list = []
        for spec in self.tags:
            if (tick_no * self.base_ms) % spec.period_ms:
                continue
            line, signal = self._addr[spec.tag]
            self.sample(spec, values[line][signal], "good", ts, now, out)
        return out

    async def run(self) -> None:
        self.set_ok()
        base = self.base_ms
        k = math.floor(time.time() * 1000 / base) + 1  # tick number: ticks sit on a grid of base_ms
        while True:
            delay = k * base / 1000 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time()
            if now - k * base / 1000 > 10.0:  # suspended for long: do not replay the gap
                k = math.floor(now * 1000 / base)
            out: list = []
            while k * base / 1000 <= now:  # catch up ticks missed under load, keeping the grid
                out.extend(self.tick(k * base / 1000, k, now))
                k += 1
            self.emit(out)
