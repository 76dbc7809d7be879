"""A batch the broker refuses (PUBACK with a failure reason, here: not authorised) stays in
the buffer and goes out, with its seq, once the broker accepts it."""
import signal
import subprocess

from agent_helpers import AGENT_CMD, Broker, Collector, agent_env

DENY = """topic readwrite ah/v1/acl1/state
topic readwrite ah/v1/acl1/events
topic readwrite ah/v1/acl1/cmd/#
topic readwrite ah/v1/acl1/config
topic read ah/v1/acl1/telemetry
"""


def test_refused_batches_are_kept_and_sent_later(tmp_path):
    acl = tmp_path / "acl"
    acl.write_text(DENY)
    broker = Broker(tmp_path, extra=f"acl_file {acl}\n")
    broker.start()
    c = Collector(broker.port, "acl1")
    agent = subprocess.Popen(
        AGENT_CMD + ["simulate", "--mqtt-url", broker.url, "--agent-id", "acl1", "--points-per-second", "100",
                     "--buffer", str(tmp_path / "b.db"), "--heartbeat", "0.5"],
        stdout=open(tmp_path / "agent.log", "wb"), stderr=subprocess.STDOUT, env=agent_env())
    try:
        c.wait_for(lambda c: any(s.get("next_seq", 0) > 2 and s["buffer_depth"] > 200 for s in c.states),
                   what="batches formed but refused")
        assert not c.batches
        acl.write_text("topic readwrite ah/v1/acl1/#\n")
        broker.proc.send_signal(signal.SIGHUP)  # mosquitto reloads its ACL
        c.wait_for(lambda c: {b["seq"] for b in c.batches} >= {1, 2}, timeout=20, what="the refused batches")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        c.close()
        broker.stop()
    seqs = sorted({b["seq"] for b in c.batches})
    assert seqs == list(range(1, seqs[-1] + 1))
    log = (tmp_path / "agent.log").read_text()
    assert "broker refused batch 1" in log
