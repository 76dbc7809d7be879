"""THE PROOF: the real simulator agent (`alloyhub-agent simulate`, from
agents/) → a Mosquitto of our own → `alloyhub ingest` (a subprocess) →
PostgreSQL, while the broker, the ingest and the agent are each SIGKILLed
twice and restarted. At the end every point the agent generated is stored
exactly once.

What the agent generated is known independently of the pipeline: before the
agent first opens its buffer, the test adds a trigger to the buffer's SQLite
schema that copies every appended point into a `ledger` table, in the same
SQLite transaction as the append. Points still in the agent's buffer at the
end (not yet acknowledged) may or may not be stored, never twice; every
other ledger point must be in PostgreSQL exactly once, and PostgreSQL must
hold nothing else for the agent.

The broker saves its sessions, subscriptions and queued messages after every
change (`autosave_on_changes`), as a production broker carrying telemetry
must: with the default save-every-N-seconds, a SIGKILL loses what the broker
had already acknowledged to the agent since its last save, a limit of the
broker's persistence, not of this pipeline. It is killed only while the ingest
is connected, so its persistent session exists to queue into.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.tenants.test_ingest import make_agent

ROOT = Path(__file__).resolve().parents[2]
AGENT_BIN = Path(sys.executable).parent / "alloyhub-agent"
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc, timeout=20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("mosquitto exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not listen")


class Procs:
    """The three processes of the stream, each restartable."""

    def __init__(self, tmp: Path, port: int, env: dict, agent_id, client_id: str):
        self.tmp, self.port, self.env, self.agent_id, self.client_id = tmp, port, env, agent_id, client_id
        self.broker = self.ingest = self.agent = None
        self.logs = {name: open(tmp / f"{name}.log", "ab") for name in ("broker", "ingest", "agent")}  # noqa: SIM115

    def start_broker(self):
        self.broker = subprocess.Popen([MOSQUITTO, "-c", str(self.tmp / "mosquitto.conf")],
                                       stdout=self.logs["broker"], stderr=self.logs["broker"])
        _wait_port(self.port, self.broker)

    def start_ingest(self):
        self.ingest = subprocess.Popen([sys.executable, "-m", "alloyhub.cli", "ingest", "--client-id", self.client_id],
                                       cwd=ROOT, env=self.env, stdout=self.logs["ingest"], stderr=self.logs["ingest"])

    def start_agent(self):
        self.agent = subprocess.Popen(
            [str(AGENT_BIN), "simulate", "--mqtt-url", f"mqtt://127.0.0.1:{self.port}", "--agent-id",
             str(self.agent_id), "--points-per-second", "300", "--buffer", str(self.tmp / "buffer.db"),
             "--heartbeat", "2", "--drain-timeout", "5"],
            stdout=self.logs["agent"], stderr=self.logs["agent"])

    def wait_subscribed(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while b"subscribed to" not in (self.tmp / "ingest.log").read_bytes():
            if self.ingest.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the ingest did not subscribe: "
                                   + (self.tmp / "ingest.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)

    def kill(self, name: str):
        proc = getattr(self, name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self):
        for proc in (self.agent, self.ingest, self.broker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for f in self.logs.values():
            f.close()


def _prepare_buffer(path: Path) -> None:
    """The agent's own schema, plus the ledger that records every appended point."""
    from alloyhub_agent import buffer

    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(buffer._SCHEMA)
    db.executescript("""
        CREATE TABLE ledger (id INTEGER PRIMARY KEY, tag TEXT NOT NULL, ts TEXT NOT NULL);
        CREATE TRIGGER ledger_append AFTER INSERT ON points BEGIN
            INSERT INTO ledger (id, tag, ts) VALUES (new.id, new.tag, new.ts);
        END;
    """)
    db.commit()
    db.close()


def _key(tag: str, ts) -> tuple[str, datetime]:
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    return tag, ts.astimezone(timezone.utc)


def _buffer_state(path: Path) -> tuple[Counter, Counter]:
    """(every point generated, the points still held by the agent)."""
    import json

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ledger = Counter(_key(t, ts) for t, ts in db.execute("SELECT tag, ts FROM ledger"))
        held = Counter(_key(t, ts) for t, ts in db.execute("SELECT tag, ts FROM points"))
        for (points,) in db.execute("SELECT points FROM batches"):
            held.update(_key(p["tag"], p["ts"]) for p in json.loads(points))
        dropped = dict(db.execute("SELECT key, value FROM meta"))["dropped"]
    finally:
        db.close()
    assert dropped == 0, "the agent dropped points (buffer cap): the test would prove nothing"
    return ledger, held


def _stored(owner_engine, agent_id) -> Counter:
    with owner_engine.connect() as c:
        rows = c.execute(text("select tag, ts from telemetry_points where agent_id = :a"), {"a": agent_id}).all()
    return Counter(_key(tag, ts) for tag, ts in rows)


@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
@pytest.mark.skipif(not AGENT_BIN.exists(), reason="alloyhub-agent is not installed (pip install -e ./agents)")
def test_every_generated_point_is_stored_exactly_once_through_kills(app, tenant_factory, owner_engine,
                                                                      service_urls):
    t = tenant_factory()
    agent_id = make_agent(app, t.tenant_id)
    tmp = Path(tempfile.mkdtemp(prefix="alloyhub-e2e-"))
    tmp.chmod(0o755)
    port = _free_port()
    (tmp / "mosquitto.conf").write_text("\n".join([
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {tmp}/",
        # Save after every change, not every second: a message acknowledged to the
        # agent but queued behind a slow ingest must survive the broker's SIGKILL.
        "autosave_on_changes true",
        "autosave_interval 1",
        "max_queued_messages 0",  # no cap on a session's queue while the ingest is away
        "user root" if os.geteuid() == 0 else "",
        "log_dest stderr",
    ]) + "\n")
    _prepare_buffer(tmp / "buffer.db")
    env = {**os.environ,
           "DATABASE_URL": app.config["DATABASE_URL"], "DATABASE_APP_URL": app.config["DATABASE_APP_URL"],
           "REDIS_URL": service_urls["REDIS_URL"], "MQTT_URL": f"mqtt://127.0.0.1:{port}",
           "SECRET_KEY": "e2e", "ALLOYHUB_VAR_DIR": str(tmp)}
    procs = Procs(tmp, port, env, agent_id, client_id=f"e2e-ingest-{port}")
    kills = Counter()
    try:
        procs.start_broker()
        procs.start_ingest()
        # Data flows only once the ingest's session and subscription exist (the
        # broker drops what nobody subscribes to); a slow start must not lose it.
        procs.wait_subscribed()
        time.sleep(1)  # and are saved (autosave_on_changes)
        procs.start_agent()
        # Each kill is followed by a restart; the broker is killed only while the
        # ingest has been connected for a while (see the module's docstring).
        for name in ("ingest", "agent", "broker", "ingest", "agent", "broker"):
            time.sleep(4)
            procs.kill(name)
            kills[name] += 1
            time.sleep(1.0)
            getattr(procs, f"start_{name}")()
        time.sleep(4)
        procs.agent.send_signal(signal.SIGTERM)  # stop generating; what it still holds is counted as held
        procs.agent.wait(20)
        ledger, held = _buffer_state(tmp / "buffer.db")
        deadline = time.monotonic() + 45
        while True:
            stored = _stored(owner_engine, agent_id)
            missing = ledger - stored - held
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        procs.stop_all()
    ingest_log = (tmp / "ingest.log").read_text(errors="replace")
    agent_log = (tmp / "agent.log").read_text(errors="replace")
    print(f"generated={sum(ledger.values())} stored={sum(stored.values())} held_by_agent={sum(held.values())} "
          f"kills={dict(kills)}")
    print("ingest status lines:", *[ln for ln in ingest_log.splitlines() if "received=" in ln][-3:], sep="\n  ")
    shutil.rmtree(tmp, ignore_errors=True)

    assert kills == {"ingest": 2, "agent": 2, "broker": 2}
    assert sum(ledger.values()) > 3000, "the stream was too short to prove anything"
    assert not missing, (f"{sum(missing.values())} generated points never stored; ingest log tail:\n"
                         f"{ingest_log[-3000:]}\nagent log tail:\n{agent_log[-2000:]}")
    duplicated = {k: n for k, n in stored.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} points stored more than once"
    assert not (stored - ledger), "points stored that the agent never generated"
    assert sum(held.values()) < sum(ledger.values()) / 2, f"the agent still holds {sum(held.values())} points"
