"""Ingest throughput: N simulated agents, 10 points per message, QoS 1,
through the machine's broker into PostgreSQL via the real `alloyhub ingest`.

    python -m benchmarks.ingest [--agents 20] [--seconds 10] [--ingests 2] [--publishers 2]

Phases with the same publishers (separate processes, each driving some
of the agents as fast as the broker acknowledges):
1. baseline: the raw broker rate, publish → subscribe with no processing
   (the C `mosquitto_sub` with a shared subscription, counting messages);
2. ingest: the same load into `alloyhub ingest` processes (shared
   subscription) writing to a throw-away database; points/s stored end to
   end, from the first publish until the last point is committed;
3. the baseline again: on shared cores the machine's speed drifts within a
   run, so the ratio is taken against the mean of the two baselines.
Then it counts: points PUBACKed by the broker vs points in the database
(lost), and rows beyond one per (agent, tag, ts) (duplicated).

The broker: by default the machine's Mosquitto binary, started by the
benchmark on a free port with the machine's settings except one, the one a
broker in front of an ingest needs: no cap on the messages queued for a
persistent session (`max_queued_messages 0`). The machine's running instance
keeps its default cap of 1000 and silently drops the rest whenever the
publishers outrun the ingest for a moment ("Outgoing messages are being
dropped"); `--mqtt-url mqtt://127.0.0.1:1883` measures against it anyway and
then reports those drops as lost. `--rate` paces the publishers.

Last line: RESULT ingest points_per_s=… broker_msgs_per_s=… broker_points_per_s=… ratio=… lost=… duplicated=…
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import secrets
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POINTS_PER_MESSAGE = 10
TAGS = [f"line.t{i}" for i in range(POINTS_PER_MESSAGE)]


def _publisher(host: str, port: int, agents: list[str], seconds: float, seq_start: int, go, out,
               msgs_per_s: float = 0.0) -> None:
    """Publish batches for `agents` for `seconds`, each agent its own MQTT
    connection (as in a plant: the broker's per-client in-flight limit applies
    per agent); report (messages acked, elapsed, next seq)."""
    import threading

    import paho.mqtt.client as mqtt

    acked = [0]
    lock = threading.Lock()
    clients, windows = [], []
    for agent in agents:
        window = threading.Semaphore(200)  # queued + in flight per agent: memory bounded, broker kept busy

        def on_publish(client, userdata, mid, reason_code, properties, window=window):
            with lock:
                acked[0] += 1
            window.release()

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{agent}-{secrets.token_hex(2)}",
                             protocol=mqtt.MQTTv5)
        client.max_queued_messages_set(0)
        client.on_publish = on_publish
        client.connect(host, port)
        client.loop_start()
        clients.append(client)
        windows.append(window)
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    lanes = [(c, w, f"ah/v1/{a}/telemetry", f'{{"agent":"{a}","seq":') for c, w, a in zip(clients, windows, agents)]
    go.wait()
    start = time.monotonic()
    seq, sent = seq_start, 0
    while time.monotonic() - start < seconds:
        ts = (base + timedelta(milliseconds=seq)).isoformat()
        points = ",".join(f'{{"tag":"{t}","ts":"{ts}","v":{seq % 1000 + i * 0.5},"q":"good"}}'
                          for i, t in enumerate(TAGS))
        tail = f'{seq},"sent_at":"{ts}","points":[{points}]}}'
        for client, window, topic, head in lanes:
            window.acquire()
            client.publish(topic, head + tail, qos=1)
            sent += 1
        seq += 1
        if msgs_per_s:  # paced: no faster than the given rate
            ahead = sent / msgs_per_s - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    deadline = time.monotonic() + 60
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    for client in clients:
        client.loop_stop()
        client.disconnect()
    out.put((acked[0], elapsed, seq))


def _publish(host, port, agents, seconds, publishers, seq_start, on_started=None, points_per_s: float = 0.0):
    """Run the publisher processes; returns (messages acked, publish elapsed, next seq)."""
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    groups = [agents[i::publishers] for i in range(publishers)]
    groups = [g for g in groups if g]
    rate = points_per_s / POINTS_PER_MESSAGE / len(groups) if points_per_s else 0.0
    procs = [ctx.Process(target=_publisher, args=(host, port, g, seconds, seq_start, go, out, rate)) for g in groups]
    for p in procs:
        p.start()
    time.sleep(1.0)  # connected
    t0, wall0 = time.monotonic(), time.time()
    go.set()
    if on_started:
        on_started(t0)
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(10)
    return sum(r[0] for r in results), max(r[1] for r in results), max(r[2] for r in results), (t0, wall0)


def broker_baseline(host, port, agents, seconds, publishers) -> tuple[float, int, int]:
    """Raw broker rate: publish → a C subscriber (mosquitto_sub, shared group), no processing."""
    group = f"raw{secrets.token_hex(3)}"
    sub_args = ["mosquitto_sub", "-h", host, "-p", str(port), "-q", "1", "-V", "mqttv5", "-F", "x"]
    for a in agents:
        sub_args += ["-t", f"$share/{group}/ah/v1/{a}/telemetry"]
    sub = subprocess.Popen(sub_args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    counted = {"n": 0, "last": None}

    import threading

    def count():
        for _line in sub.stdout:
            counted["n"] += 1
            counted["last"] = time.monotonic()

    reader = threading.Thread(target=count, daemon=True)
    reader.start()
    acked, _elapsed, next_seq, (t0, _wall0) = _publish(host, port, agents, seconds, publishers, 1)
    deadline = time.monotonic() + 30
    while counted["n"] < acked and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.terminate()
    sub.wait(10)
    received = counted["n"]
    elapsed = (counted["last"] or time.monotonic()) - t0
    return received / elapsed, received, next_seq


def _setup(database_url: str, n_agents: int):
    """A tenant and N active agents with their ten tags in the catalogue."""
    from alloyhub import create_app
    from alloyhub.platform import tenancy
    from alloyhub.platform.config import app_database_url
    from alloyhub.platform.db import db
    from alloyhub.platform.identity import services as identity
    from alloyhub.tenants.agents.models import Agent, AgentTag

    app = create_app({"DATABASE_URL": database_url, "DATABASE_APP_URL": app_database_url(database_url,
                                                                                        password="alloyhub-app")})
    tag = secrets.token_hex(3)
    with app.app_context():
        _user, tenant = identity.sign_up(company_name=f"Bench {tag}", kind="plant", site_name=None,
                                         name="Bench", email=f"bench-{tag}@example.com", password="Rolling-mill-42")
        with tenancy.scoped(tenant.id, session=db.session):
            agents = [Agent(name=f"bench {i}", status="active", config={}, allow_write=[], health={})
                      for i in range(n_agents)]
            db.session.add_all(agents)
            db.session.flush()
            for a in agents:
                db.session.add_all(AgentTag(agent_id=a.id, tag=t, status="active", data_type="float") for t in TAGS)
            db.session.commit()
            ids = [str(a.id) for a in agents]
    db.dispose(app)
    return app, ids


def _count(database_url: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)) as c:
        return c.execute("select coalesce(sum(cardinality(tag)), 0) from telemetry_packs").fetchone()[0]


def _last_commit(database_url: str) -> float:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)) as c:
        return float(c.execute("select extract(epoch from max(received_at)) from telemetry_packs").fetchone()[0])


def _duplicates(database_url: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)) as c:
        return c.execute("select count(*) - count(distinct (agent_id, tag, ts)) from telemetry_points").fetchone()[0]


def ingest_run(database_url, app, mqtt_url, agents, seconds, publishers, ingests, seq_start, points_per_s=0.0):
    host, port = urlsplit(mqtt_url).hostname, urlsplit(mqtt_url).port or 1883
    group = f"bench{secrets.token_hex(3)}"
    env = {**os.environ, "DATABASE_URL": database_url, "DATABASE_APP_URL": app.config["DATABASE_APP_URL"],
           "MQTT_URL": mqtt_url, "REDIS_URL": app.config["REDIS_URL"], "SECRET_KEY": "bench"}
    import tempfile

    log = tempfile.TemporaryFile()  # the ingests' log: shows when they subscribed, and why one died
    procs = [subprocess.Popen([sys.executable, "-m", "alloyhub.cli", "ingest", "--client-id", f"{group}-{i}",
                               "--share-group", group, "--receive-maximum", "65535"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
             for i in range(ingests)]
    try:
        # The broker drops what nobody subscribes to: publish only once every
        # ingest has subscribed (a fixed pause lost points on a slow machine).
        deadline = time.monotonic() + 120
        while True:
            log.seek(0)
            text = log.read().decode(errors="replace")
            if text.count("subscribed to") >= ingests:
                break
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"ingest did not subscribe: {text[-2000:]}")
            time.sleep(0.1)
        time.sleep(1.0)  # the first maintenance pass (partitions) is done
        acked, _elapsed, _seq, (_t0, wall0) = _publish(host, port, agents, seconds, publishers, seq_start,
                                                       points_per_s=points_per_s)
        expected = acked * POINTS_PER_MESSAGE
        # Polled slowly (count(*) costs CPU the ingest needs); the end time is
        # the start of the last committing transaction (received_at = now()).
        deadline, stored, last_change, last = time.monotonic() + 180, 0, time.monotonic(), -1
        while time.monotonic() < deadline:
            stored = _count(database_url)
            now = time.monotonic()
            if stored != last:
                last, last_change = stored, now
            if stored >= expected or now - last_change > 15:
                break
            time.sleep(1.0)
        elapsed = _last_commit(database_url) - wall0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        _end_sessions(host, port, [f"{group}-{i}" for i in range(ingests)])
    return stored / elapsed, stored, expected


def _end_sessions(host: str, port: int, client_ids: list[str]) -> None:
    """End the ingests' persistent sessions, so that nothing published later
    is queued for them (it would load the broker in the second baseline)."""
    import paho.mqtt.client as mqtt

    for client_id in client_ids:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.connect(host, port, clean_start=True)  # session expiry 0: the session ends with this connection
        client.loop_start()
        time.sleep(0.2)
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--ingests", type=int, default=2, help="ingest processes (shared subscription)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="pace the ingest phase at this many points/s (default: as fast as the broker takes them)")
    parser.add_argument("--mqtt-url", default=None,
                        help="a running broker to use (default: a Mosquitto of the benchmark's own, see above)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args(argv)
    if shutil.which("mosquitto_sub") is None:
        print("mosquitto_sub (mosquitto-clients) is needed for the broker baseline", file=sys.stderr)
        return 2
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    from alloyhub.platform import migrate

    with contextlib.ExitStack() as stack:
        if args.mqtt_url is None:
            args.mqtt_url = stack.enter_context(ingest_broker())
        return _run(args, migrate)


@contextlib.contextmanager
def ingest_broker():
    """The machine's Mosquitto binary on a free port, configured for an ingest:
    persistent sessions keep every queued message (no drops)."""
    import socket
    import tempfile

    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        raise SystemExit("mosquitto is needed (Debian package mosquitto), or give --mqtt-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            # As /etc/mosquitto/mosquitto.conf (persistence on), plus no queue cap.
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    f"persistence true\npersistence_location {tmp}/\nlog_dest stderr\nlog_type error\n")
        proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


def _run(args, migrate) -> int:
    host, port = urlsplit(args.mqtt_url).hostname, urlsplit(args.mqtt_url).port or 1883
    with migrate.temporary_database(args.database_url, "alloyhub_bench") as database_url:
        app, agents = _setup(database_url, args.agents)
        print(f"{args.agents} agents x {POINTS_PER_MESSAGE} points/message, QoS 1, {args.publishers} publisher "
              f"processes, {args.seconds:.0f} s per phase, broker {args.mqtt_url}", flush=True)
        broker_rate, broker_msgs, next_seq = broker_baseline(host, port, agents, args.seconds, args.publishers)
        print(f"baseline: broker {broker_rate:,.0f} msgs/s = {broker_rate * POINTS_PER_MESSAGE:,.0f} points/s "
              f"({broker_msgs} messages, publish -> mosquitto_sub)", flush=True)
        points_per_s, stored, expected = ingest_run(database_url, app, args.mqtt_url, agents, args.seconds,
                                                    args.publishers, args.ingests, next_seq + 1, args.rate)
        duplicated = _duplicates(database_url)
        # The machine's speed drifts (shared cores): the baseline is measured
        # again after the ingest phase and the two are averaged.
        again, again_msgs, _ = broker_baseline(host, port, agents, args.seconds, args.publishers)
        print(f"baseline again: broker {again:,.0f} msgs/s ({again_msgs} messages)", flush=True)
        broker_rate = (broker_rate + again) / 2
    lost = max(0, expected - (stored - duplicated))
    ratio = points_per_s / (broker_rate * POINTS_PER_MESSAGE) if broker_rate else 0.0
    print(f"ingest:   {points_per_s:,.0f} points/s stored end to end with {args.ingests} ingest process(es) "
          f"({stored} stored of {expected} acknowledged by the broker)")
    print(f"ratio ingest/broker: {ratio:.2f}")
    print(f"RESULT ingest points_per_s={points_per_s:.0f} broker_msgs_per_s={broker_rate:.0f} "
          f"broker_points_per_s={broker_rate * POINTS_PER_MESSAGE:.0f} ratio={ratio:.2f} lost={lost} "
          f"duplicated={duplicated}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
