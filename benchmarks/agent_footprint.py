"""Agent footprint: RSS and CPU of `alloyhub-agent simulate` at 1,000 points/s against the
machine's broker, next to a bare paho-mqtt publisher sending the same points (same tags,
same 100 ms sampling, same JSON + zlib batches, QoS 1) with no buffer, measured in the same run.

    python -m benchmarks.agent_footprint [--seconds 20] [--rate 1000] [--mqtt-url mqtt://127.0.0.1:1883]

Targets: under 60 MB RSS and under 5 % of one core. Last line:
    RESULT agent rss_mb=… cpu_pct=… points_per_s=…
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT_SRC = os.path.join(ROOT, "agents")


class Counter:
    """Counts the points arriving on one agent's telemetry topic."""

    def __init__(self, host: str, port: int, agent_id: str):
        self.points = 0
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-counter-{os.getpid()}-{agent_id}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *a: c.subscribe(f"ah/v1/{agent_id}/telemetry", qos=1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise RuntimeError("cannot subscribe to the broker")

    def _on_message(self, client, userdata, msg):
        payload = msg.payload
        if msg.properties and getattr(msg.properties, "ContentType", None) == "application/json+zlib":
            payload = zlib.decompress(payload)
        n = len(json.loads(payload)["points"])
        with self.lock:
            self.points += n

    def read(self) -> int:
        with self.lock:
            return self.points

    def close(self, clear_retained: str | None = None):
        if clear_retained:  # leave no retained state of a benchmark agent on the machine's broker
            self.client.publish(clear_retained, b"", qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


def measure(cmd: list[str], env: dict, counter: Counter, warmup: float, seconds: float) -> dict:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        p = psutil.Process(proc.pid)
        time.sleep(warmup)
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[2:4]} exited: {proc.stderr.read().decode()[-2000:]}")
        cpu0, t0, pts0 = p.cpu_times(), time.monotonic(), counter.read()
        rss = []
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            rss.append(p.memory_info().rss)
        cpu1, t1, pts1 = p.cpu_times(), time.monotonic(), counter.read()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    elapsed = t1 - t0
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed * 100
    return {"rss_mb": max(rss) / 2**20, "rss_mean_mb": sum(rss) / len(rss) / 2**20,
            "cpu_pct": cpu, "points_per_s": (pts1 - pts0) / elapsed}


def baseline_publisher(url: str, agent_id: str, rate: float) -> None:
    """The same points as the agent's simulator (tag names, 100 ms grid, 1 s batches,
    JSON + zlib, QoS 1), straight to paho: no buffer, no model, no seq persistence."""
    import random
    from datetime import datetime, timezone

    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    u = urlparse(url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{os.getpid()}", protocol=mqtt.MQTTv5)
    c.max_queued_messages_set(0)
    c.connect(u.hostname or "127.0.0.1", u.port or 1883)
    c.loop_start()
    signals = ["speed", "tension", "entry_gauge", "exit_gauge", "work_roll_temp", "bearing_temp",
               "motor_current", "power_kw", "energy_kwh", "furnace_temp"]
    tags = [f"line{i // len(signals)}.{signals[i % len(signals)]}" for i in range(round(rate / 10))]
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json+zlib"
    rng = random.Random(0)
    seq, pending, last_sent = 0, [], time.time()
    k = int(time.time() * 10) + 1
    while True:
        time.sleep(max(0.0, k / 10 - time.time()))
        ts = datetime.fromtimestamp(k / 10, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        pending.extend({"tag": t, "ts": ts, "v": round(rng.gauss(100, 5), 2), "q": "good"} for t in tags)
        k += 1
        if time.time() - last_sent >= 1.0:
            seq += 1
            body = json.dumps({"agent": agent_id, "seq": seq, "sent_at": ts, "points": pending},
                              separators=(",", ":")).encode()
            c.publish(f"ah/v1/{agent_id}/telemetry", zlib.compress(body, 6), qos=1, properties=props)
            pending, last_sent = [], time.time()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.agent_footprint", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--rate", type=float, default=1000.0, help="points per second")
    ap.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883"))
    ap.add_argument("--baseline-publisher", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--agent-id", default=f"bench-{os.getpid()}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.baseline_publisher:
        baseline_publisher(args.mqtt_url, args.agent_id, args.rate)
        return 0

    u = urlparse(args.mqtt_url)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [AGENT_SRC, ROOT, os.environ.get("PYTHONPATH")])))
    agent_id, bare_id = f"bench-agent-{os.getpid()}", f"bench-bare-{os.getpid()}"
    results = {}
    with tempfile.TemporaryDirectory(prefix="agent-footprint-") as tmp:
        runs = {
            "agent": (agent_id, [sys.executable, "-m", "alloyhub_agent", "simulate", "--mqtt-url", args.mqtt_url,
                                 "--agent-id", agent_id, "--points-per-second", str(args.rate),
                                 "--buffer", os.path.join(tmp, "buffer.db")]),
            "bare": (bare_id, [sys.executable, "-m", "benchmarks.agent_footprint", "--baseline-publisher",
                               "--mqtt-url", args.mqtt_url, "--agent-id", bare_id, "--rate", str(args.rate)]),
        }
        for name, (aid, cmd) in runs.items():
            counter = Counter(u.hostname or "127.0.0.1", u.port or 1883, aid)
            try:
                results[name] = measure(cmd, env, counter, args.warmup, args.seconds)
            finally:
                counter.close(clear_retained=f"ah/v1/{aid}/state")
            r = results[name]
            print(f"{name:>5}: rss {r['rss_mb']:.1f} MB (mean {r['rss_mean_mb']:.1f}), "
                  f"cpu {r['cpu_pct']:.2f} % of a core, {r['points_per_s']:.0f} points/s delivered", flush=True)
    a, b = results["agent"], results["bare"]
    print(f"agent / bare paho publisher: rss x{a['rss_mb'] / b['rss_mb']:.2f}, "
          f"cpu x{a['cpu_pct'] / max(b['cpu_pct'], 0.01):.2f}")
    print(f"targets: rss < 60 MB {'ok' if a['rss_mb'] < 60 else 'MISSED'}, "
          f"cpu < 5 % {'ok' if a['cpu_pct'] < 5 else 'MISSED'}")
    print(f"RESULT agent rss_mb={a['rss_mb']:.1f} cpu_pct={a['cpu_pct']:.2f} points_per_s={a['points_per_s']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
