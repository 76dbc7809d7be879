"""Fixtures shared by the tenant rooms' tests.

`dynsec_broker`: a Mosquitto of our own on a free port with the
dynamic-security plugin and an admin account, for tests of broker access
control (the machine's Mosquitto is anonymous and must not be touched).
`dynsec_app`: an app on the same test database whose MQTT settings point at
that broker with the admin and service credentials, so services, outbox
handlers and the ingest loop talk to the controlled broker.
`ingestor`: an ingest without MQTT, for tests that call `process()` directly.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

@pytest.fixture
def ingestor(app):
    from alloyhub.tenants.telemetry import ingest

    settings = ingest.settings_from_app(app, client_id=f"test-ingest-{secrets.token_hex(3)}")
    ing = ingest.Ingestor(settings, app)  # no MQTT: process() is called directly
    yield ing
    ing.conn.close()


DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


@dataclass
class DynsecBroker:
    port: int
    admin_password: str
    service_password: str
    proc: subprocess.Popen
    conf: Path

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def restart(self) -> None:
        """Stop (SIGTERM, the plugin saves its JSON) and start again on the same port."""
        self.proc.terminate()
        self.proc.wait(10)
        self.proc = _start(self.conf, self.port)


def _mosquitto() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(conf: Path, port: int) -> subprocess.Popen:
    log = open(conf.parent / "mosquitto.log", "ab")  # noqa: SIM115 - kept open for the process
    proc = subprocess.Popen([_mosquitto(), "-c", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {(conf.parent / 'mosquitto.log').read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not listen within 20 s")


@pytest.fixture(scope="session")
def dynsec_broker():
    if _mosquitto() is None or not os.path.exists(DYNSEC_PLUGIN):
        pytest.skip("mosquitto with the dynamic-security plugin is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="alloyhub-dynsec-"))
    tmp.chmod(0o755)
    admin_password = secrets.token_urlsafe(16)
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(tmp / "dynsec.json"), "admin", admin_password],
                   check=True, capture_output=True)
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text("\n".join([
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"plugin {DYNSEC_PLUGIN}",
        f"plugin_opt_config_file {tmp / 'dynsec.json'}",
        "persistence false",
        # As root Mosquitto would switch to the `mosquitto` user; the files are ours.
        "user root" if os.geteuid() == 0 else "",
        "log_dest stderr",
        "log_type error", "log_type warning", "log_type notice",
    ]) + "\n")
    broker = DynsecBroker(port, admin_password, secrets.token_urlsafe(16), _start(conf, port), conf)
    yield broker
    broker.proc.terminate()
    try:
        broker.proc.wait(10)
    except subprocess.TimeoutExpired:
        broker.proc.kill()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def dynsec_app(app, dynsec_broker):
    """An app on the test database whose broker is the dynsec Mosquitto; the
    service client (ingest, down-link) exists on it."""
    from alloyhub import create_app
    from alloyhub.tenants.agents import broker

    config = {k: app.config[k] for k in ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "SECRET_KEY", "BASE_URL")}
    config.update({
        "TESTING": True,
        "MQTT_URL": dynsec_broker.url,
        "MQTT_ADMIN_USERNAME": "admin",
        "MQTT_ADMIN_PASSWORD": dynsec_broker.admin_password,
        "MQTT_SERVICE_USERNAME": "alloyhub-ingest",
        "MQTT_SERVICE_PASSWORD": dynsec_broker.service_password,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
    })
    application = create_app(config)
    broker.access_for(application.config).ensure_service_client()
    return application
