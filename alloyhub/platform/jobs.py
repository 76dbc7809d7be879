"""Background jobs on RQ: one way to declare them, named queues, and the
worker loop that also relays the outbox.

    from alloyhub.platform.jobs import job

    @job("default")
    def rebuild_index(tenant_id): ...

    rebuild_index.enqueue(tenant_id)
"""
from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from redis import Redis

log = logging.getLogger(__name__)
QUEUES = ("high", "default", "low")


def init_app(app) -> None:
    app.extensions["redis"] = Redis.from_url(app.config["REDIS_URL"])


def redis() -> Redis:
    return current_app.extensions["redis"]


def queue(name: str = "default"):
    from rq import Queue

    return Queue(name, connection=redis())


class _Job:
    def __init__(self, fn, queue_name: str):
        self.fn = fn
        self.queue_name = queue_name
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def enqueue(self, *args, **kwargs):
        return queue(self.queue_name).enqueue(f"{self.fn.__module__}.{self.fn.__name__}", *args, **kwargs)


def job(queue_name: str = "default"):
    """Declare an RQ job. The function runs inside an app context in the worker."""

    def decorator(fn):
        return _Job(fn, queue_name)

    return decorator


# Periodic checks the worker runs in a loop of their own: name -> (function, seconds).
PERIODIC: dict[str, tuple] = {}


def every(seconds: float):
    """Declare a periodic job: the worker calls it (in an app context) every `seconds`."""

    def decorator(fn):
        PERIODIC[f"{fn.__module__}.{fn.__name__}"] = (fn, seconds)
        return fn

    return decorator


def run_worker(app, *, burst: bool = False, relay_interval: float = 1.0) -> None:
    """`alloyhub worker`: an RQ worker plus the outbox relay, in one process."""
    from rq import Worker

    stop = threading.Event()
    relay = threading.Thread(target=_relay_loop, args=(app, stop, relay_interval), name="outbox-relay", daemon=True)
    relay.start()
    if not burst:
        threading.Thread(target=_periodic_loop, args=(app, stop), name="periodic", daemon=True).start()
    try:
        with app.app_context():
            worker = Worker([queue(n) for n in QUEUES], connection=redis())
            worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
        relay.join(timeout=5)


def _relay_loop(app, stop: threading.Event, interval: float) -> None:
    from . import outbox

    while not stop.is_set():
        try:
            with app.app_context():
                delivered = outbox.relay_once()
        except Exception:  # the relay must survive a database hiccup
            log.exception("outbox relay failed; retrying")
            delivered = 0
        if not delivered:
            stop.wait(interval)


def _periodic_loop(app, stop: threading.Event) -> None:
    due: dict[str, float] = {}
    while not stop.is_set():
        for name, (fn, seconds) in list(PERIODIC.items()):
            if time.monotonic() < due.get(name, 0):
                continue
            due[name] = time.monotonic() + seconds
            try:
                with app.app_context():
                    fn()
            except Exception:  # a failing check runs again next time
                log.exception("periodic job %s failed", name)
        stop.wait(1.0)
