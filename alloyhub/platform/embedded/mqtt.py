"""The MQTT broker: a Mosquitto process with a generated config when the
`mosquitto` binary is installed (the broker production uses), else the
pure-Python amqtt broker in a thread of this process (fine for a demo, slow
for anything else)."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable

from . import _process


def mosquitto_binary() -> str | None:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


DYNSEC_PLUGINS = ("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                  "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
                  "/usr/lib/mosquitto_dynamic_security.so", "/usr/local/lib/mosquitto_dynamic_security.so")
DYNSEC_ADMIN = "admin"


def dynsec_plugin() -> str | None:
    return next((p for p in DYNSEC_PLUGINS if os.path.exists(p)), None)


MAX_QUEUED_MESSAGES = 1_000_000


def broker_for(data_dir: Path, port: Callable[[], int], *, prefer_mosquitto: bool = True):
    binary = mosquitto_binary() if prefer_mosquitto else None
    return Mosquitto(data_dir, port, binary) if binary else AmqttBroker(port)


class Mosquitto:
    kind = "mosquitto"

    def __init__(self, data_dir: Path, port: Callable[[], int], binary: str):
        self.data_dir = data_dir
        self._choose_port = port
        self.port: int | None = None
        self.binary = binary
        self.pid_file = data_dir / "mosquitto.pid"
        self.proc = None

    @property
    def url(self) -> str:
        return f"mqtt://{_process.HOST}:{self.port}"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        old = _process.leftover(self.pid_file, self.binary)
        if old is not None:
            _process.stop_process(old)
        self.port = self._choose_port()
        dynsec = self._dynamic_security()
        account = self._account()
        lines = [
            "# Written by alloyhub at each start; edits are lost.",
            f"listener {self.port} {_process.HOST}",
            # Loopback only, for the demo: anonymous clients (the platform's
            # own processes, a demo agent) may do anything; enrolled agents
            # log in and the dynamic-security plugin limits each to its own
            # topics, as in production (where anonymous access is off).
            "allow_anonymous true",
            *dynsec,
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_interval 60",
            # The ingest's persistent session keeps what arrives while it is
            # away (a restart, a long pause); Mosquitto's default cap of 1000
            # queued messages would drop the rest, already acknowledged to the agent.
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = _process.spawn([self.binary, "-c", str(conf)], log_path=self.data_dir / "mosquitto.log",
                                   **_process.as_user(account))
        _process.write_pid(self.pid_file, self.proc.pid)
        _process.wait_for_port(self.port, 20, self.proc)
        return self.url

    def _dynamic_security(self) -> list[str]:
        """Load the dynamic-security plugin with an admin account kept in the
        data directory, and hand its credentials to the platform (through the
        environment the web, worker and ingest children inherit), so that
        enrolling an agent creates its broker client and role. Without the
        plugin the broker stays open and the platform says access control is off."""
        plugin = dynsec_plugin()
        ctrl = shutil.which("mosquitto_ctrl") or shutil.which("mosquitto_ctrl", path="/usr/bin:/usr/local/bin")
        if plugin is None or ctrl is None:
            return []
        state = self.data_dir / "dynamic-security.json"
        secret = self.data_dir / "dynsec-admin-password"
        if not state.exists() or not secret.exists():
            state.unlink(missing_ok=True)
            password = secrets.token_urlsafe(24)
            subprocess.run([ctrl, "dynsec", "init", str(state), DYNSEC_ADMIN, password], check=True,
                           capture_output=True)
            # Anonymous clients keep the open demo broker's rights; roles
            # (each agent's) deny everything outside their own topics.
            doc = json.loads(state.read_text())
            doc["defaultACLAccess"] = {"publishClientSend": True, "publishClientReceive": True,
                                       "subscribe": True, "unsubscribe": True}
            state.write_text(json.dumps(doc, indent=2))
            secret.write_text(password)
            secret.chmod(0o600)
        os.environ.setdefault("MQTT_ADMIN_USERNAME", DYNSEC_ADMIN)
        os.environ.setdefault("MQTT_ADMIN_PASSWORD", secret.read_text().strip())
        return [f"plugin {plugin}", f"plugin_opt_config_file {state}"]

    def _account(self):
        """As root, Mosquitto runs as the `mosquitto` user (Debian's package
        creates it), which then owns its persistence directory. We switch
        users ourselves rather than let Mosquitto drop privileges, because
        that drop would clear the die-with-parent signal."""
        account = _process.run_as_user("mosquitto")
        if account is not None:
            _process.make_traversable(self.data_dir.parent)
            _process.chown_tree(self.data_dir, account.pw_uid, account.pw_gid)
        return account

    def stop(self) -> None:
        if self.proc is not None:
            _process.stop_process(self.proc)  # SIGTERM: it saves its persistence file
            self.proc = None
        self.pid_file.unlink(missing_ok=True)


# Broker access control for amqtt: the same rule as Mosquitto's dynamic security.
AMQTT_ACCESS_MODULE = "alloyhub.tenants.agents.amqtt_access"


class AmqttBroker:
    """amqtt needs an event loop; it gets one of its own in a daemon thread, so
    the caller stays synchronous. It keeps nothing across restarts."""

    kind = "amqtt"

    def __init__(self, port: Callable[[], int]):
        self._choose_port = port
        self.port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.broker = None

    @property
    def url(self) -> str:
        return f"mqtt://{_process.HOST}:{self.port}"

    def start(self) -> str:
        self.port = self._choose_port()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._start_broker())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self.thread.start()
        ready.wait(30)
        if failure:
            raise RuntimeError(f"the amqtt broker did not start: {failure[0]}") from failure[0]
        if not ready.is_set():
            raise TimeoutError("the amqtt broker did not start within 30 s")
        # Listening once start() has returned; no probe connection, which
        # amqtt would log as an error.
        return self.url

    async def _start_broker(self) -> None:
        from amqtt.broker import Broker

        self.broker = Broker({
            "listeners": {"default": {"type": "tcp", "bind": f"{_process.HOST}:{self.port}"}},
            "plugins": self._plugins(),
        })
        await self.broker.start()

    @staticmethod
    def _plugins() -> dict:
        """The agents room's access plugins (named, not imported: the platform
        does not import rooms) when it is installed, else an open broker."""
        if importlib.util.find_spec(AMQTT_ACCESS_MODULE) is None:
            return {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        return {f"{AMQTT_ACCESS_MODULE}.AgentAuthPlugin": {"allow_anonymous": True},
                f"{AMQTT_ACCESS_MODULE}.AgentTopicPlugin": {}}

    def stop(self) -> None:
        if self.loop is None or self.thread is None:
            return
        if self.broker is not None:
            future = asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop)
            try:
                future.result(10)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop = self.thread = self.broker = None
