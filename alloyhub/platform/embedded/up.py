"""`alloyhub up`: the whole platform on one machine.

Embedded services (or the ones named by DATABASE_URL / REDIS_URL / MQTT_URL)
→ database and migrations → demo data → the web server and an RQ worker as
child processes → the URL and the demo logins. Ctrl-C or SIGTERM stops the
children first, then the services they were using.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import AlreadyRunning, EmbeddedServices, _process

ROOT = Path(__file__).resolve().parents[3]  # where wsgi.py lives


class ChildExited(RuntimeError):
    pass


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    # SIGTERM takes the same path as Ctrl-C: every `finally` below runs. A
    # second signal (a second Ctrl-C, or one sent to the whole process group)
    # must not interrupt the orderly shutdown that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def run(host: str = "127.0.0.1", port: int = 5000) -> int:
    from alloyhub.platform import config

    # Set both explicitly: a shell starts background jobs with SIGINT ignored,
    # and Python would then never raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    for noisy in ("alembic.runtime.plugins", "amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    var_dir = Path(config.load()["ALLOYHUB_VAR_DIR"])
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base_url = os.environ.get("BASE_URL") or f"http://{shown_host}:{port}"
    if not _process.port_is_free(port, "0.0.0.0" if shown_host != host else host):
        print(f"Port {port} is in use; choose another with `alloyhub up --port N`.", file=sys.stderr)
        return 2

    services = EmbeddedServices(var_dir)
    children: dict[str, subprocess.Popen] = {}
    try:
        _say(f"Starting services (data in {var_dir}) …")
        urls = services.start()
        for name, url in urls.items():
            os.environ.setdefault(name, url)
        os.environ["BASE_URL"] = base_url
        for name in ("postgres", "redis", "mqtt"):
            service = services.started.get(name)
            _say(f"  {service.kind if service else name + ' (given)':<10} {_url_for(name, urls)}")

        _say("Applying database migrations …")
        _migrate()
        _say("Loading demo data …")
        created = _seed(base_url)
        _say(f"  added {len(created)} items" if created else "  already there; kept as it is")

        children["web"] = _process.spawn(_gunicorn_args(host, port), env=_child_env())
        children["worker"] = _process.spawn([sys.executable, "-m", "alloyhub.cli", "worker"], env=_child_env())
        # One ingest: telemetry from the broker into PostgreSQL. A fixed client id,
        # so a restarted `up` resumes the broker session and gets what was queued.
        # Its periodic counters go to var/ingest.log, not over the banner.
        children["ingest"] = _process.spawn([sys.executable, "-m", "alloyhub.cli", "ingest", "--client-id",
                                             "ingest-embedded"], log_path=var_dir / "ingest.log", env=_child_env())
        _wait_for_web(f"http://{shown_host}:{port}/signin", children)
        _wait_for_outbox(children)
        agent = _start_demo_agent(base_url, var_dir)
        if agent is not None:
            children["agent"] = agent
        _banner(base_url, var_dir)
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    raise ChildExited(f"the {name} process exited with status {child.returncode}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("\nStopping …")
        return 0
    except ChildExited as exc:
        _say(f"\n{exc}; stopping everything.")
        return 1
    except AlreadyRunning as exc:
        _say(f"{exc}: is `alloyhub up` running in another terminal? (or set ALLOYHUB_VAR_DIR)")
        return 2
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave a server behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            _process.stop_process(child, timeout=20, sig=None)
        services.stop()
        _say("Stopped.")


def _gunicorn_args(host: str, port: int) -> list[str]:
    from gunicorn.config import Config

    args = [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "--bind", f"{host}:{port}",
            "--workers", "2", "--threads", "4", "--graceful-timeout", "10"]
    if "control_socket" in Config().settings:
        # Newer gunicorn opens a control socket in ~/.gunicorn, shared by
        # every gunicorn of the user; nothing here uses it.
        args.append("--no-control-socket")
    return [*args, "wsgi:app"]


def _say(text: str) -> None:
    print(text, flush=True)


def _url_for(name: str, urls: dict) -> str:
    return urls[{"postgres": "DATABASE_URL", "redis": "REDIS_URL", "mqtt": "MQTT_URL"}[name]]


def _child_env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _migrate() -> None:
    from alloyhub.platform import config, migrate

    cfg = config.load()
    migrate.ensure_database(cfg["DATABASE_URL"])
    migrate.upgrade(cfg["DATABASE_URL"], cfg["APP_DB_PASSWORD"])


def _seed(base_url: str) -> list[str]:
    from alloyhub import create_app
    from alloyhub.platform import seed
    from alloyhub.platform.db import db

    app = create_app()
    with app.app_context():
        report = seed.seed(base_url)
    db.dispose(app)  # the children open their own connections
    return report.created


def _start_demo_agent(base_url: str, var_dir: Path) -> subprocess.Popen | None:
    """The demo plant's simulated line: enrolled once through the public
    enrolment endpoint, as a plant PC would, then run on every `up`. Its
    buffer and settings live in var/agent/, its log in var/agent/agent.log."""
    binary = shutil.which("alloyhub-agent", path=str(Path(sys.executable).parent)) or shutil.which("alloyhub-agent")
    if binary is None:
        _say("  no simulated agent: the agent distribution is not installed (`make agent`)")
        return None
    agent_dir = var_dir / "agent"
    settings = agent_dir / "agent.json"
    if not settings.exists():
        token = _demo_enrolment_token()
        if token is None:
            _say("  no simulated agent: the demo plant has none (revoked or removed)")
            return None
        enrolled = subprocess.run([binary, "enroll", "--url", base_url, "--token", token, "--config", str(settings)],
                                  capture_output=True, text=True, env=_child_env())
        if enrolled.returncode != 0:
            _say(f"  the simulated agent could not enrol: {(enrolled.stderr or enrolled.stdout).strip()}")
            return None
    _say(f"Simulated plant agent running (log: {agent_dir / 'agent.log'})")
    return _process.spawn([binary, "run", "--config", str(settings)], log_path=agent_dir / "agent.log",
                          env=_child_env())


def _demo_enrolment_token() -> str | None:
    """Asked of the `alloyhub` command, which knows the rooms (the platform
    does not import them)."""
    answer = subprocess.run([sys.executable, "-m", "alloyhub.cli", "demo-agent-token"], capture_output=True,
                            text=True, env=_child_env())
    return answer.stdout.strip() or None if answer.returncode == 0 else None


def _wait_for_web(url: str, children: dict, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                raise ChildExited(f"the {name} process exited with status {child.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise ChildExited(f"the web server did not answer at {url} within {timeout:.0f} s")


def _wait_for_outbox(children: dict, timeout: float = 15) -> None:
    """Let the worker print the demo's invitation mails before the banner, so
    the logins table is the last thing on the screen."""
    from sqlalchemy import create_engine, text

    from alloyhub.platform import config

    engine = create_engine(config.load()["DATABASE_URL"])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and children["worker"].poll() is None:
            with engine.connect() as conn:
                pending = conn.execute(text(
                    "select count(*) from outbox where sent_at is null and next_attempt_at <= now()")).scalar()
            if not pending:
                time.sleep(0.5)  # the last mail is still being printed
                return
            time.sleep(0.3)
    finally:
        engine.dispose()


def _banner(base_url: str, var_dir: Path) -> None:
    from alloyhub.platform import seed

    bar = "=" * 78
    _say(f"\n{bar}\n  AlloyHub is running at  {base_url}\n"
         f"  API docs:               {base_url}/api/docs\n{bar}\n")
    _say("Demo logins (one password for all):\n")
    _say(seed.format_logins())
    _say("\n陈静 Chen Jing belongs to both plants: the company switcher is in the top bar.\n"
         "A pending invitation waits for new.operator@eastchina-al.example.com; mails are printed\n"
         "by the worker above (set MAIL_SERVER to send them).\n"
         "华东铝业's simulated cold-rolling line sends telemetry through the broker: see Agents and\n"
         f"Live data in the navigation (agent log {var_dir / 'agent' / 'agent.log'}, ingest log {var_dir / 'ingest.log'}).\n"
         f"\nData lives in {var_dir} and is kept between runs. Press Ctrl-C to stop.\n")
