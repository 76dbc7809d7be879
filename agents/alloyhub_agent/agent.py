"""The agent: sources -> SQLite buffer -> MQTT (QoS 1), plus the down-link and the heartbeat.

Threads: the asyncio loop owns the sources, the buffer and all decisions; paho's network
thread only hands PUBACKs and incoming messages over with ``call_soon_threadsafe``.

Publishing: batches leave in seq order; at most ``window`` of them are in flight. A batch
is deleted from the buffer only when its PUBACK arrives. While the link is down paho keeps
the in-flight messages and re-sends them (same mid, DUP) after reconnecting; batches left
in the buffer by an earlier process are re-sent first, with their stored seq and points.
The window grows while PUBACKs come back quickly and halves when they lag, so a backlog
drains as fast as the broker takes it without piling messages up in memory.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import socket
import time
import zlib

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from . import __version__
from .buffer import Batch, Buffer
from .settings import Settings
from .sources import Source, SourceError, make_source
from .tags import now_iso

log = logging.getLogger(__name__)

CT_JSON, CT_ZLIB = "application/json", "application/json+zlib"
RETRY_S = 5.0  # pause after the broker refused a batch


class Window:
    """Additive increase while PUBACKs keep up, multiplicative decrease when they lag."""

    def __init__(self, initial: float = 2, minimum: float = 1, maximum: float = 64,
                 slow_s: float = 1.0):
        self.initial, self.minimum, self.maximum, self.slow_s = initial, minimum, maximum, slow_s
        self.size = initial
        self._backed_off_at = 0.0

    def reset(self) -> None:
        self.size = self.initial

    def on_ack(self, rtt: float) -> None:
        if rtt < self.slow_s:
            self.size = min(self.maximum, self.size + 1.0 / self.size)

    def on_lag(self, oldest_age: float, now: float) -> None:
        if oldest_age > self.slow_s and now - self._backed_off_at > self.slow_s:
            self.size = max(self.minimum, self.size / 2)
            self._backed_off_at = now

    @property
    def limit(self) -> int:
        return max(1, int(self.size))


class Agent:
    def __init__(self, settings: Settings, *, default_allow_write: list[str] | None = None,
                 drain_timeout_s: float = 5.0):
        self.s = settings
        self.buffer = Buffer(settings.buffer_path, settings.max_buffer_points)
        self.window = Window()
        self.sources: dict[str, Source] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self.config: dict = {}
        self.allow_write: set[str] = set(default_allow_write or [])
        self.drain_timeout_s = drain_timeout_s
        self.inflight: dict[int, tuple[int, float]] = {}  # mid -> (seq, first sent)
        self._acked: list[int] = []
        self._cursor = 0  # highest seq handed to paho by this process
        self._hold_until = 0.0  # no publishing before (after the broker refused a batch)
        self._last_formed = time.monotonic()
        self._handled_cmds: collections.OrderedDict = collections.OrderedDict()
        self.connected = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._downlink_tasks: set[asyncio.Task] = set()
        self._sources_lock: asyncio.Lock | None = None  # config changes and restarts, one at a time
        self.client = self._make_client()

    # -- MQTT ---------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.s
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id,
                        protocol=mqtt.MQTTv5)
        if s.username:
            c.username_pw_set(s.username, s.password)
        host, port, tls = s.broker
        if tls:
            c.tls_set(ca_certs=s.ca_file)
        c.will_set(s.topic("state"), json.dumps({"online": False}), qos=1, retain=True)
        c.max_inflight_messages_set(int(self.window.maximum) + 16)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=1, max_delay=5)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        return c

    def _call(self, fn, *args) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # loop closed meanwhile
                pass

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        client.subscribe([(self.s.topic("cmd"), 1), (self.s.topic("config"), 1)])
        self._call(self._connected)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._call(self._disconnected, str(reason_code))

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._call(self._puback, mid, reason_code.value if reason_code is not None else 0)

    def _on_message(self, client, userdata, msg):
        self._call(self._downlink, msg.topic, msg.payload)

    def _connected(self) -> None:
        log.info("connected to %s", self.s.mqtt_url)
        self.connected = True
        self.window.reset()
        now = time.monotonic()  # paho re-sends what was in flight now: age it from here
        self.inflight = {mid: (seq, now) for mid, (seq, _sent) in self.inflight.items()}
        self.publish_state()
        self._kick()

    def _disconnected(self, reason: str) -> None:
        if self.connected and not self._stopping:
            log.warning("link to the broker lost (%s); buffering", reason)
        self.connected = False

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _puback(self, mid: int, reason: int = 0) -> None:
        entry = self.inflight.pop(mid, None)
        if entry is None:
            return  # state, events and acks are not tracked
        seq, sent = entry
        if reason >= 0x80:  # the broker refused the batch (e.g. not authorised): keep it, retry later
            log.warning("broker refused batch %d (reason 0x%02x); retrying in %.0f s", seq, reason, RETRY_S)
            self._cursor = min(self._cursor, seq - 1)
            self._hold_until = time.monotonic() + RETRY_S
            self.window.reset()
            return
        self.window.on_ack(time.monotonic() - sent)
        self._acked.append(seq)
        self._kick()

    # -- points in ------------------------------------------------------------
    def on_points(self, points: list) -> None:
        dropped = self.buffer.append(points)
        if dropped:
            log.warning("buffer full (%d points): dropped the %d oldest", self.buffer.max_points, dropped)
        if self.buffer.loose >= self.s.batch_max_points:
            self._kick()

    # -- publishing -------------------------------------------------------------
    def _payload(self, batch: Batch) -> tuple[bytes, Properties]:
        body = (f'{{"agent":{json.dumps(self.s.agent_id)},"seq":{batch.seq},"sent_at":"{now_iso()}",'
                f'"points":{batch.points_json}}}').encode()
        props = Properties(PacketTypes.PUBLISH)
        if self.s.compress:
            body = zlib.compress(body, 6)
            props.ContentType = CT_ZLIB
        else:
            props.ContentType = CT_JSON
        return body, props

    def _next_batch(self) -> Batch | None:
        stored = self.buffer.batches_after(self._cursor, limit=1)
        if stored:
            return stored[0]  # left by an earlier run (or formed and not yet sent): same seq, same points
        now = time.monotonic()
        if self.buffer.loose >= self.s.batch_max_points or (
                self.buffer.loose and (now - self._last_formed >= self.s.flush_interval_s or self._stopping)):
            self._last_formed = now
            return self.buffer.form_batch(self.s.batch_max_points)
        return None

    def pump(self) -> None:
        """Settle PUBACKs, adapt the window, send what the window allows."""
        if self._acked:
            self.buffer.ack_many(self._acked)
            self._acked.clear()
        now = time.monotonic()
        if not self.connected or now < self._hold_until:
            return
        if self.inflight:
            oldest = min(sent for _seq, sent in self.inflight.values())
            self.window.on_lag(now - oldest, now)
        while len(self.inflight) < self.window.limit:
            batch = self._next_batch()
            if batch is None:
                break
            body, props = self._payload(batch)
            info = self.client.publish(self.s.topic("telemetry"), body, qos=1, properties=props)
            self.inflight[info.mid] = (batch.seq, time.monotonic())
            self._cursor = max(self._cursor, batch.seq)

    async def _publisher(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                self.pump()
            except Exception:  # noqa: BLE001 - keep publishing whatever happens
                log.exception("publisher step failed")

    # -- state and events -----------------------------------------------------------
    def state(self) -> dict:
        return {
            "online": True,
            "ts": now_iso(),
            "agent_version": __version__,
            "hostname": socket.gethostname(),
            "config_version": self.config.get("version"),
            "buffer_depth": self.buffer.depth,
            "dropped": self.buffer.dropped,
            "next_seq": self.buffer.next_seq,
            "inflight": len(self.inflight),
            "window": round(self.window.size, 2),
            "sources": {name: src.health() for name, src in self.sources.items()},
        }

    def publish_state(self) -> None:
        if self.connected:
            self.client.publish(self.s.topic("state"), json.dumps(self.state()), qos=1, retain=True)

    def event(self, kind: str, **fields) -> None:
        log.info("event %s %s", kind, fields)
        if self.connected:
            self.client.publish(self.s.topic("events"),
                                json.dumps({"ts": now_iso(), "kind": kind, **fields}), qos=1)

    async def _heartbeat(self) -> None:
        last_ok = {}
        while True:
            await asyncio.sleep(self.s.heartbeat_s)
            for name, src in self.sources.items():
                if last_ok.get(name) != src.ok:
                    if name in last_ok:
                        self.event("source_ok" if src.ok else "source_error", source=name,
                                   error=src.last_error)
                    last_ok[name] = src.ok
            self.publish_state()

    # -- sources and config ------------------------------------------------------------
    def _start_source(self, src: Source) -> None:
        self.sources[src.name] = src

        async def runner():
            try:
                await src.run()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a broken source must not stop the agent
                log.exception("source %s stopped", src.name)
                src.set_error(e)

        self._tasks[src.name] = asyncio.create_task(runner(), name=f"source {src.name}")

    async def _stop_source(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        src = self.sources.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if src is not None:
            try:
                await src.close()
            except Exception:  # noqa: BLE001
                log.debug("closing source %s", name, exc_info=True)

    def _lock(self) -> asyncio.Lock:
        if self._sources_lock is None:
            self._sources_lock = asyncio.Lock()
        return self._sources_lock

    async def apply_config(self, cfg: dict, persist: bool = True) -> None:
        """Replace the sources by the config's; the buffer is never touched."""
        async with self._lock():
            await self._apply_config(cfg, persist)

    async def _apply_config(self, cfg: dict, persist: bool) -> None:
        new = [make_source(sc, self.on_points) for sc in cfg.get("sources") or []]  # validates
        names = [s.name for s in new]
        if len(set(names)) != len(names):
            raise ValueError("two sources with the same name")
        for name in list(self.sources):
            await self._stop_source(name)
        for src in new:
            self._start_source(src)
        self.config = cfg
        self.allow_write = set(cfg.get("allow_write") or [])
        if persist and self.s.path:
            self.s.config = cfg
            self.s.save()
        log.info("config version %s applied: %d source(s)", cfg.get("version"), len(new))

    async def restart_source(self, name: str) -> None:
        async with self._lock():
            src = self.sources.get(name)
            if src is None:
                raise SourceError(f"no source named {name!r}")
            await self._stop_source(name)
            self._start_source(make_source(src.cfg, self.on_points))

    # -- down-link ------------------------------------------------------------------
    def _downlink(self, topic: str, payload: bytes) -> None:
        task = asyncio.ensure_future(self._handle_downlink(topic, payload))
        self._downlink_tasks.add(task)
        task.add_done_callback(self._downlink_tasks.discard)

    async def _handle_downlink(self, topic: str, payload: bytes) -> None:
        try:
            msg = json.loads(payload or b"null")
        except ValueError:
            self.event("downlink_rejected", topic=topic, error="payload is not JSON")
            return
        if topic == self.s.topic("config"):
            await self._config_message(msg)
        elif topic == self.s.topic("cmd"):
            ack = await self.handle_command(msg)
            self.client.publish(self.s.topic("cmd/ack"), json.dumps(ack), qos=1)

    async def _config_message(self, cfg) -> None:
        if not isinstance(cfg, dict):
            self.event("config_rejected", error="config must be an object")
            return
        if self.config and cfg.get("version") == self.config.get("version"):
            return  # the retained config again, after a reconnect
        try:
            await self.apply_config(cfg)
        except Exception as e:  # noqa: BLE001 - keep the old config running
            log.warning("config version %s rejected: %s", cfg.get("version"), e)
            self.event("config_rejected", version=cfg.get("version"), error=str(e))
            return
        self.event("config_applied", version=cfg.get("version"))
        self.publish_state()

    async def handle_command(self, cmd) -> dict:
        if not isinstance(cmd, dict) or not cmd.get("id"):
            return {"id": (cmd or {}).get("id") if isinstance(cmd, dict) else None, "ok": False,
                    "error": "a command needs an id"}
        cid = str(cmd["id"])
        if cid in self._handled_cmds:  # a redelivered command is not executed twice
            return self._handled_cmds[cid]
        ack = {"id": cid, **(await self._execute(cmd))}
        self._handled_cmds[cid] = ack
        while len(self._handled_cmds) > 1000:
            self._handled_cmds.popitem(last=False)
        return ack

    async def _execute(self, cmd: dict) -> dict:
        kind = cmd.get("kind")
        try:
            if kind == "write":
                tag = cmd.get("tag")
                if tag not in self.allow_write:
                    return {"ok": False, "error": f"tag {tag!r} is not in allow_write"}
                src = next((s for s in self.sources.values() if s.owns(tag)), None)
                if src is None:
                    return {"ok": False, "error": f"no source maps tag {tag!r}"}
                result = await asyncio.wait_for(src.write(tag, cmd.get("value")), 10.0)
                self.event("tag_written", tag=tag, value=cmd.get("value"), command=cmd.get("id"))
                return {"ok": True, "result": result}
            if kind == "restart_source":
                await self.restart_source(str(cmd.get("source")))
                return {"ok": True, "result": {"restarted": cmd.get("source")}}
            return {"ok": False, "error": f"unknown command kind {kind!r}"}
        except asyncio.TimeoutError:
            return {"ok": False, "error": "timed out"}
        except (SourceError, ValueError, TypeError) as e:
            return {"ok": False, "error": str(e)}

    # -- life cycle -----------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None, config: dict | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        stop = stop or asyncio.Event()
        initial = config if config is not None else self.s.config
        if initial:
            await self.apply_config(initial, persist=False)
        host, port, _tls = self.s.broker
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()
        helpers = [asyncio.create_task(self._publisher(), name="publisher"),
                   asyncio.create_task(self._heartbeat(), name="heartbeat")]
        try:
            await stop.wait()
        finally:
            await self._shutdown(helpers)

    async def _shutdown(self, helpers: list[asyncio.Task]) -> None:
        for name in list(self.sources):
            await self._stop_source(name)
        self._stopping = True  # flush the last loose points too
        deadline = time.monotonic() + self.drain_timeout_s
        while time.monotonic() < deadline and self.connected and (self.buffer.depth or self.inflight):
            self._kick()
            await asyncio.sleep(0.05)
        for t in helpers:
            t.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if self._acked:
            self.buffer.ack_many(self._acked)
            self._acked.clear()
        if self.connected:
            off = dict(self.state(), online=False)
            self.client.publish(self.s.topic("state"), json.dumps(off), qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.buffer.close()
        log.info("stopped; %d point(s) left in the buffer", self.buffer.depth)
