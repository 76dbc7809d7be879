"""Embedded services for one machine: PostgreSQL, Redis and an MQTT broker
with their data under var/ (ALLOYHUB_VAR_DIR).

    services = EmbeddedServices(var_dir)
    urls = services.start()      # {"DATABASE_URL": ..., "REDIS_URL": ..., "MQTT_URL": ...}
    ...
    services.stop()

A service whose URL is already given (DATABASE_URL, REDIS_URL, MQTT_URL in
`env`, by default the process environment) is not started; its URL is passed
through, so production-like setups and CI use the real ones.

Layout of the var directory:
    embedded.lock        held while the services run: one owner at a time
    ports.json           the ports chosen the first time, reused later
    pg/                  PostgreSQL data directory (+ alloyhub.conf, rewritten at each start)
    postgres.log         the server's log
    redis/               appendonly.aof, dump.rdb, redis.conf, redis.log
    mosquitto/           mosquitto.db, mosquitto.conf, mosquitto.log
                         (or no directory: the amqtt broker keeps nothing)

As root, PostgreSQL runs as the system user `embedded_postgres` and
Mosquitto as `mosquitto`; their directories belong to them, and the parents
get the execute bit for others (pass through, no listing).
"""
from __future__ import annotations

import atexit
import fcntl
import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from . import _process
from .mqtt import broker_for
from .postgres import EmbeddedPostgres
from .redis import EmbeddedRedis

log = logging.getLogger(__name__)


class AlreadyRunning(RuntimeError):
    """Another process holds this var directory's services."""


class EmbeddedServices:
    def __init__(self, var_dir: Path | str, *, env: dict | None = None, durable: bool = True,
                 database: str = "alloyhub", prefer_mosquitto: bool = True):
        self.var_dir = Path(var_dir).expanduser().resolve()
        self.env = os.environ if env is None else env
        self.durable = durable
        self.database = database
        self.prefer_mosquitto = prefer_mosquitto
        self.urls: dict[str, str] = {}
        self.started: dict[str, object] = {}  # name -> service, in start order
        self._lock_fd: int | None = None
        self._stop_lock = threading.Lock()

    def start(self) -> dict[str, str]:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        atexit.register(self.stop)
        ports = _process.PortBook(self.var_dir / "ports.json")
        plan = [
            # Each service picks its port (ports.port_for) only after it has
            # stopped whatever a crashed run left holding the old one.
            ("DATABASE_URL", "postgres",
             lambda: EmbeddedPostgres(self.var_dir / "pg", lambda: ports.port_for("postgres"),
                                      durable=self.durable, database=self.database)),
            ("REDIS_URL", "redis",
             lambda: EmbeddedRedis(self.var_dir / "redis", lambda: ports.port_for("redis"))),
            ("MQTT_URL", "mqtt",
             lambda: broker_for(self.var_dir / "mosquitto", lambda: ports.port_for("mqtt"),
                                prefer_mosquitto=self.prefer_mosquitto)),
        ]
        try:
            for var, name, make in plan:
                given = self.env.get(var)
                if given:
                    log.info("%s is set: using it instead of an embedded %s", var, name)
                    self.urls[var] = given
                    continue
                service = make()
                self.urls[var] = service.start()
                self.started[name] = service
                log.info("embedded %s at %s", service.kind, self.urls[var])
        except BaseException:
            self.stop()
            raise
        return dict(self.urls)

    def stop(self) -> None:
        """Stop what this object started, newest first. Safe to call twice."""
        with self._stop_lock:
            for name, service in reversed(list(self.started.items())):
                try:
                    service.stop()
                except Exception:  # keep stopping the others
                    log.exception("could not stop the embedded %s", name)
            self.started.clear()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
        atexit.unregister(self.stop)

    def _take_lock(self) -> None:
        # A lock held by a crashed run is released by the kernel with its
        # process, so it never blocks a restart; a live second `alloyhub up`
        # on the same data gets a clear error instead of corrupting it.
        fd = os.open(self.var_dir / "embedded.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"another process is running the embedded services of {self.var_dir}") from None
        self._lock_fd = fd


def start_for_tests() -> dict[str, str]:
    """Throwaway services for a test run that was given no URLs: data in a
    temporary directory, everything stopped and removed at interpreter exit."""
    tmp = Path(tempfile.mkdtemp(prefix="alloyhub-test-services-"))
    services = EmbeddedServices(tmp / "var", durable=False, database="postgres")

    def cleanup() -> None:
        services.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    # A test run stopped with SIGTERM should clean up as well as one that ends.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    urls = services.start()
    atexit.register(cleanup)
    return urls


def _exit_on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise SystemExit(128 + signum)
