"""The agent process against a real Mosquitto: the broker is SIGKILLed twice and the agent
once during a stream; every point the agent buffered arrives, and once deduplicated by
seq every point is there exactly once."""
import json
import signal
import subprocess
import time
from datetime import datetime

from agent_helpers import AGENT_CMD, Broker, Collector, agent_env

RATE = 200  # points per second: 20 tags every 100 ms
PERIOD = 0.1


def start_agent(tmp_path, broker, n):
    log = open(tmp_path / f"agent-{n}.log", "wb")
    return subprocess.Popen(
        AGENT_CMD + ["simulate", "--mqtt-url", broker.url, "--agent-id", "e2e",
                     "--points-per-second", str(RATE), "--period-ms", "100",
                     "--buffer", str(tmp_path / "buffer.db"), "--heartbeat", "1", "--drain-timeout", "20"],
        stdout=log, stderr=subprocess.STDOUT, env=agent_env())


def status(tmp_path) -> dict:
    out = subprocess.run(AGENT_CMD + ["status", "--buffer", str(tmp_path / "buffer.db"), "--json"],
                         capture_output=True, check=True, env=agent_env())
    return json.loads(out.stdout)


def received(c):
    return len(c.batches)


def test_kill_broker_twice_and_agent_once_nothing_lost_nothing_twice(tmp_path):
    broker = Broker(tmp_path)
    broker.start()
    collector = Collector(broker.port, "e2e")
    time.sleep(1.5)  # the broker saves the collector's session (autosave every second)
    agent = start_agent(tmp_path, broker, 1)
    try:
        collector.wait_for(lambda c: received(c) >= 4, what="first batches")

        # 1. the broker dies; the agent keeps sampling into its buffer
        broker.kill()
        time.sleep(2.0)
        broker.start()
        n = received(collector)
        collector.wait_for(lambda c: received(c) > n + 3, timeout=20, what="stream after broker restart 1")
        time.sleep(1.5)

        # 2. the agent dies with batches in flight (the broker, paused, has them in its socket
        # but has not acknowledged them); a new process takes its buffer over and re-sends them
        broker.proc.send_signal(signal.SIGSTOP)
        time.sleep(2.5)
        agent.send_signal(signal.SIGKILL)
        agent.wait(5)
        broker.proc.send_signal(signal.SIGCONT)
        collector.wait_for(lambda c: any(s.get("online") is False for s in c.states), what="last will")
        agent = start_agent(tmp_path, broker, 2)
        n = received(collector)
        collector.wait_for(lambda c: received(c) > n + 3, timeout=20, what="stream after agent restart")
        time.sleep(1.5)

        # 3. the broker dies again
        broker.kill()
        time.sleep(2.0)
        broker.start()
        n = received(collector)
        collector.wait_for(lambda c: received(c) > n + 3, timeout=20, what="stream after broker restart 2")

        # a clean stop drains what is left
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        st = status(tmp_path)
        assert st["depth"] == 0 and st["dropped"] == 0, st
        last_seq = st["next_seq"] - 1
        collector.wait_for(lambda c: {b["seq"] for b in c.batches} >= set(range(1, last_seq + 1)),
                           timeout=20, what="every seq")
    finally:
        if agent.poll() is None:
            agent.kill()
        collector.close()
        broker.stop()

    by_seq: dict[int, dict] = {}
    for b in collector.batches:
        assert b["agent"] == "e2e"
        if b["seq"] in by_seq:  # a re-send: same seq, same points, ts and q untouched
            assert b["points"] == by_seq[b["seq"]]["points"]
        by_seq[b["seq"]] = b
    assert sorted(by_seq) == list(range(1, last_seq + 1))  # nothing missing, nothing extra
    points = [(p["tag"], p["ts"]) for b in by_seq.values() for p in b["points"]]
    assert len(points) == len(set(points))  # after dedup by seq, each point exactly once
    assert len(collector.batches) > len(by_seq)  # the un-acknowledged batches were sent again

    # every tag has every 100 ms sample, except while the agent process was down
    series: dict[str, list[float]] = {}
    for tag, ts in sorted(points, key=lambda x: x[1]):
        series.setdefault(tag, []).append(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())
    assert len(series) == RATE * PERIOD
    for tag, stamps in series.items():
        gaps = [b - a for a, b in zip(stamps, stamps[1:]) if abs(b - a - PERIOD) > 0.002]
        assert len(gaps) <= 1 and all(g < 10 for g in gaps), (tag, gaps)
    total_s = max(max(s) for s in series.values()) - min(min(s) for s in series.values())
    assert len(points) >= RATE * (total_s - 10)
    assert len(points) >= 2000
