import asyncio

import pytest

from alloyhub_agent.sources import SourceError, make_source
from alloyhub_agent.sources.simulator import (
    SIGNALS,
    ColdRollingLine,
    SimulatorSource,
    default_tags,
)
from alloyhub_agent.tags import Reporter, TagSpec


def run_line(seed, steps, faults=(), line=0):
    model = ColdRollingLine(seed, line, faults)
    return [model.step(0.1) for _ in range(steps)]


def test_same_seed_same_values_other_seed_other_values():
    assert run_line(7, 300) == run_line(7, 300)
    assert run_line(7, 300) != run_line(8, 300)
    assert run_line(7, 50, line=0) != run_line(7, 50, line=1)


def test_values_are_plausible_for_a_cold_rolling_line():
    vals = run_line(1, 3000)  # 300 s: a whole coil
    speeds = [v["speed"] for v in vals]
    assert max(speeds) > 500 and min(speeds) < 150  # runs up and threads the next coil
    for v in vals:
        assert set(v) == set(SIGNALS)
        assert 1.9 < v["entry_gauge"] < 2.1 and 1.15 < v["exit_gauge"] < 1.25
        assert v["exit_gauge"] < v["entry_gauge"]
        assert 30 < v["work_roll_temp"] < 90 and 400 < v["furnace_temp"] < 440
        assert v["motor_current"] > 100
    energy = [v["energy_kwh"] for v in vals]
    assert all(b >= a for a, b in zip(energy, energy[1:]))  # a meter only counts up
    assert energy[-1] > energy[0]


def test_faults_change_the_signals():
    normal = run_line(3, 1200)
    drift = run_line(3, 1200, faults=["bearing_drift"])
    assert drift[-1]["bearing_temp"] - normal[-1]["bearing_temp"] > 0.8  # +0.5 degC/min for 2 min
    gauge = run_line(3, 600, faults=["gauge_deviation"])
    assert gauge[-1]["exit_gauge"] - normal[599]["exit_gauge"] > 0.05
    stop = run_line(3, 300, faults=["stoppage"])
    assert stop[-1]["speed"] < 1 and stop[-1]["tension"] < 5
    with pytest.raises(ValueError):
        ColdRollingLine(0, 0, ["meteor"])


def test_fault_injected_by_a_write_command():
    src = SimulatorSource({"name": "sim", "kind": "simulator",
                           "tags": [{"tag": "mill.speed", "address": "speed", "period_ms": 100}]}, lambda p: None)
    assert src.owns("sim.fault.stoppage")
    res = asyncio.run(src.write("sim.fault.stoppage", True))
    assert res == {"fault": "stoppage", "active": True}
    pts = [src.tick(1000.0 + i / 10, i) for i in range(300)]
    assert pts[-1][0][2] < 1  # the mill stopped
    with pytest.raises(SourceError):
        asyncio.run(src.write("mill.speed", 3))
    with pytest.raises(SourceError):
        asyncio.run(src.write("sim.fault.meteor", True))


def test_source_ticks_per_tag_period_with_source_timestamps():
    cfg = {"name": "sim", "kind": "simulator", "seed": 1, "tags": [
        {"tag": "fast", "address": "speed", "period_ms": 100},
        {"tag": "slow", "address": "2/furnace_temp", "period_ms": 500, "unit": "degC"},
    ]}
    src = make_source(cfg, lambda p: None)
    out = []
    for k in range(10):
        out += src.tick(k * 0.1, k)
    assert [p[0] for p in out].count("fast") == 10
    assert [p[0] for p in out].count("slow") == 2
    assert out[0][1] == "1970-01-01T00:00:00.000Z" and out[0][3] == "good"


def test_default_tags_give_the_requested_rate():
    tags = default_tags(1000, 100)
    assert len(tags) == 100 and len({t["tag"] for t in tags}) == 100
    assert tags[0] == {"tag": "line0.speed", "address": "0/speed", "unit": "m/min", "period_ms": 100, "deadband": 0}


def test_scale_offset_and_inverse():
    spec = TagSpec.from_dict({"tag": "t", "data_type": "int16", "scale": 0.1, "offset": -50})
    assert spec.to_engineering(1234) == pytest.approx(73.4)
    assert spec.to_raw(73.4) == 1234
    assert spec.to_engineering(True) is True
    with pytest.raises(ValueError):
        TagSpec.from_dict({"tag": "t", "data_type": "float64"})


def test_deadband_and_keepalive():
    spec = TagSpec.from_dict({"tag": "t", "deadband": 0.5, "keepalive_s": 10})
    r = Reporter()
    seen = [(t, v) for t, v in [(0, 1.0), (1, 1.2), (2, 1.4), (3, 1.6), (4, 1.0), (5, 1.1), (16, 1.1)]
            if r.should_report(spec, v, "good", t)]
    # first; 1.6 moved 0.6 > 0.5; 1.0 moved 0.6; 1.1 after the 10 s keep-alive
    assert seen == [(0, 1.0), (3, 1.6), (4, 1.0), (16, 1.1)]
    assert r.should_report(spec, 1.1, "bad", 17)  # a quality change is always reported
