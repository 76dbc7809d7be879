"""Adaptive draining: the in-flight window grows while PUBACKs keep up and halves when they lag."""
import json
import signal
import subprocess
import time

from agent_helpers import AGENT_CMD, Collector, agent_env, free_port

from alloyhub_agent.agent import Window


def test_window_grows_with_fast_acks_and_halves_on_lag():
    w = Window(initial=2, maximum=8, slow_s=1.0)
    for _ in range(100):
        w.on_ack(0.01)
    assert w.limit == 8  # capped
    w.on_lag(2.0, now=100.0)
    assert w.size == 4
    w.on_lag(2.0, now=100.5)  # at most one back-off per slow period
    assert w.size == 4
    w.on_lag(2.0, now=101.6)
    assert w.size == 2
    w.on_ack(5.0)  # a slow PUBACK does not grow the window
    assert w.size == 2
    w.on_lag(0.5, now=200.0)  # the oldest in flight is young: no back-off
    assert w.size == 2
    for t in range(10):
        w.on_lag(5.0, now=300.0 + 2 * t)
    assert w.limit == 1  # never below one


def test_stalled_broker_backlog_drains_when_it_answers_again(broker, tmp_path):
    c = Collector(broker.port, "drain")
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        AGENT_CMD + ["simulate", "--mqtt-url", broker.url, "--agent-id", "drain", "--points-per-second", "2000",
                     "--buffer", str(tmp_path / "b.db"), "--heartbeat", "0.5"],
        stdout=log, stderr=subprocess.STDOUT, env=agent_env())
    try:
        c.wait_for(lambda c: len(c.batches) >= 3, what="stream")
        broker.proc.send_signal(signal.SIGSTOP)  # connected, but no PUBACK comes back
        time.sleep(4)
        broker.proc.send_signal(signal.SIGCONT)
        stalled = c.wait_for(lambda c: [s for s in c.states if s.get("buffer_depth", 0) > 4000], what="backlog")
        assert min(s["window"] for s in stalled) == 1  # backed off while the PUBACKs lagged
        t0 = time.monotonic()
        c.wait_for(lambda c: any(s.get("buffer_depth", 1e9) < 1500 and s["ts"] > stalled[-1]["ts"]
                                 for s in c.states), timeout=20, what="backlog drained")
        drained_s = time.monotonic() - t0
        after = [s for s in c.states if s["ts"] > stalled[-1]["ts"]]
        assert max(s["window"] for s in after) > 1  # grew again while the PUBACKs kept up
        assert drained_s < 10
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        c.close()
    seqs = sorted({b["seq"] for b in c.batches})
    assert seqs == list(range(1, seqs[-1] + 1))


def test_offline_agent_keeps_collecting_up_to_the_cap_and_counts_what_it_dropped(tmp_path):
    agent = subprocess.Popen(
        AGENT_CMD + ["simulate", "--mqtt-url", f"mqtt://127.0.0.1:{free_port()}", "--agent-id", "offline",
                     "--points-per-second", "1000", "--buffer", str(tmp_path / "b.db"), "--max-buffer-points", "800"],
        stdout=open(tmp_path / "agent.log", "wb"), stderr=subprocess.STDOUT, env=agent_env())
    time.sleep(3)  # no broker: everything stays in the buffer, the cap keeps the newest 800 points
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(20) == 0
    out = subprocess.run(AGENT_CMD + ["status", "--buffer", str(tmp_path / "b.db"), "--json"],
                         capture_output=True, check=True, env=agent_env())
    st = json.loads(out.stdout)
    assert 700 <= st["depth"] <= 800 and st["dropped"] >= 500
