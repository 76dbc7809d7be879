"""`alloyhub-agent run` with enrolled settings: retained config from the cloud, commands with
the allow-list and their acks, the retained state heartbeat, config changes keep the buffer."""
import json
import signal
import subprocess

from agent_helpers import AGENT_CMD, Collector, agent_env


def sim_config(version, tags, allow_write):
    return {"version": version, "allow_write": allow_write, "sources": [
        {"name": "sim", "kind": "simulator", "seed": 4,
         "tags": [{"tag": t, "address": a, "period_ms": 100} for t, a in tags]}]}


def test_config_commands_state(broker, tmp_path):
    settings = tmp_path / "agent.json"
    settings.write_text(json.dumps({
        "agent_id": "dl1", "tenant_id": "t1", "mqtt": {"url": broker.url, "client_id": "agent-dl1"},
        "topic_prefix": "ah/v1/dl1", "buffer_path": "buffer.db", "heartbeat_s": 0.5, "compress": False}))
    c = Collector(broker.port, "dl1")
    c.publish("config", sim_config(1, [("mill.speed", "speed"), ("mill.current", "motor_current")],
                                   ["sim.fault.stoppage"]), retain=True)
    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(AGENT_CMD + ["run", "--config", str(settings)], stdout=log,
                             stderr=subprocess.STDOUT, env=agent_env())
    try:
        st = c.wait_for(lambda c: next((s for s in c.states if s.get("config_version") == 1
                                        and s["sources"].get("sim", {}).get("points")), None),
                        what="state with config 1")
        assert st["online"] is True
        assert st["sources"]["sim"]["ok"] is True and st["sources"]["sim"]["last_error"] is None
        assert {"buffer_depth", "dropped", "agent_version", "ts"} <= set(st)

        c.publish("cmd", {"id": "k1", "kind": "write", "tag": "mill.speed", "value": 0})
        c.publish("cmd", {"id": "k2", "kind": "write", "tag": "sim.fault.stoppage", "value": True})
        c.publish("cmd", {"id": "k3", "kind": "restart_source", "source": "sim"})
        c.publish("cmd", {"id": "k4", "kind": "reboot"})
        acks = c.wait_for(lambda c: len(c.acks) >= 4 and {a["id"]: a for a in c.acks}, what="4 acks")
        assert acks["k1"] == {"id": "k1", "ok": False, "error": "tag 'mill.speed' is not in allow_write"}
        assert acks["k2"] == {"id": "k2", "ok": True, "result": {"fault": "stoppage", "active": True}}
        assert acks["k3"]["ok"] is True
        assert acks["k4"]["ok"] is False

        seq_before = c.wait_for(lambda c: max((b["seq"] for b in c.batches), default=0), what="telemetry")
        c.publish("config", sim_config(2, [("furnace.temp", "furnace_temp")], []), retain=True)
        c.wait_for(lambda c: any(s.get("config_version") == 2 for s in c.states), what="config 2 applied")
        c.wait_for(lambda c: any(p["tag"] == "furnace.temp" for b in c.batches for p in b["points"]),
                   what="points of the new config")
        assert any(e["kind"] == "config_applied" and e["version"] == 2 for e in c.events)
        assert json.loads(settings.read_text())["config"]["version"] == 2  # kept for an offline restart

        # a config the agent cannot apply is refused; the running one stays
        c.publish("config", {"version": 3, "sources": [{"name": "x", "kind": "plc5"}]}, retain=True)
        rejected = c.wait_for(lambda c: next((e for e in c.events if e["kind"] == "config_rejected"), None),
                              what="config_rejected event")
        assert rejected["version"] == 3 and "plc5" in rejected["error"]
        n = len(c.states)
        c.wait_for(lambda c: len(c.states) > n + 1, what="heartbeat")
        assert c.states[-1]["config_version"] == 2 and c.states[-1]["sources"]["sim"]["ok"]
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        c.close()

    seqs = sorted({b["seq"] for b in c.batches})
    assert seqs == list(range(1, seqs[-1] + 1)) and seqs[-1] > seq_before  # one stream across configs
    assert c.states[-1]["online"] is False  # the clean stop leaves an offline retained state
