"""OPC UA source (asyncua): one subscription per source, monitored items per tag
(sampling interval = the tag's period). The server's source timestamp and status code
are carried on each point. A supervisor probes the session every second; when the
server goes away it reconnects with backoff and subscribes again from scratch."""
from __future__ import annotations

import asyncio
import logging
import time

from asyncua import Client, ua

from ..tags import TagSpec
from .base import Source, SourceError, period_groups

log = logging.getLogger(__name__)


def quality_of(status) -> str:
    if status is None or status.is_good():
        return "good"
    if status.is_uncertain():
        return "uncertain"
    return "bad"


class _Handler:
    def __init__(self, source: "OpcUaSource"):
        self.source = source

    def datachange_notification(self, node, val, data) -> None:
        self.source.on_change(node, val, data)

    def status_change_notification(self, status) -> None:
        self.source.lost.set()


class OpcUaSource(Source):
    kind = "opcua"

    def __init__(self, cfg: dict, emit):
        super().__init__(cfg, emit)
        self.url = cfg["url"]
        self.username = cfg.get("username")
        self.password = cfg.get("password")
        self.timeout = float(cfg.get("timeout_s", 4.0))
        self.probe_s = float(cfg.get("probe_s", 1.0))
        self.client: Client | None = None
        self._by_node: dict[str, TagSpec] = {}
        self.lost = asyncio.Event()
        self.subscribed = 0  # how many times the subscription was (re)created
        self._pending: list = []  # notifications of one publish response, buffered together

    def on_change(self, node, val, data) -> None:
        spec = self._by_node.get(node.nodeid.to_string())
        if spec is None:
            return
        dv = data.monitored_item.Value
        ts = dv.SourceTimestamp or dv.ServerTimestamp
        ts = ts.timestamp() if ts is not None else time.time()
        raw = val
        if isinstance(raw, (list, tuple, bytes)) or raw is None:
            raw = str(raw)
        elif not isinstance(raw, (int, float, bool, str)):
            raw = str(raw)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.sample(spec, raw, quality_of(dv.StatusCode), ts, time.time(), self._pending)

    def _flush(self) -> None:
        out, self._pending = self._pending, []
        self.emit(out)

    async def _connect(self) -> Client:
        client = Client(self.url, timeout=self.timeout)
        if self.username:
            client.set_user(self.username)
            client.set_password(self.password or "")
        self.lost = asyncio.Event()

        async def on_lost(exc):  # asyncua calls this when the transport goes away
            self.lost.set()

        client.connection_lost_callback = on_lost
        await client.connect()
        self.client = client
        handler = _Handler(self)
        groups = period_groups(self.tags)
        sub = await client.create_subscription(min(groups) if groups else 1000, handler)
        self._by_node = {}
        for period, specs in groups.items():
            nodes = []
            for spec in specs:
                node = client.get_node(spec.address)
                self._by_node[node.nodeid.to_string()] = spec
                nodes.append(node)
            # a fresh subscription delivers the current value first: report it even if unchanged
            for spec in specs:
                self.reporter.forget(spec.tag)
            await sub.subscribe_data_change(nodes, sampling_interval=period)
        self.subscribed += 1
        return client

    async def run(self) -> None:
        backoff = 0.5
        while True:
            client = None
            try:
                client = await self._connect()
                self.set_ok()
                backoff = 0.5
                while not self.lost.is_set():
                    try:
                        await asyncio.wait_for(self.lost.wait(), self.probe_s)
                    except asyncio.TimeoutError:
                        await asyncio.wait_for(client.nodes.server_state.read_value(), self.timeout)
                        await self._keepalive(client)
                raise SourceError("connection to the OPC UA server lost")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure means: reconnect
                self.set_error(e if str(e) else f"{type(e).__name__} ({self.url})")
            finally:
                if client is not None:
                    await self._disconnect(client)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _keepalive(self, client: Client) -> None:
        """A subscription is silent while a value holds still: re-read the tags not reported
        for their keep-alive period and report them as of now."""
        now = time.time()
        stale = []
        for spec in self.tags:
            last = self.reporter.last.get(spec.tag)
            if last is not None and now - last.reported_at >= spec.keepalive_s:
                stale.append(spec)
        if not stale:
            return
        dvs = await client.read_attributes([client.get_node(s.address) for s in stale], ua.AttributeIds.Value)
        out: list = []
        for spec, dv in zip(stale, dvs):
            raw = dv.Value.Value if dv.Value is not None else None
            if isinstance(raw, (int, float, bool, str)):
                self.sample(spec, raw, quality_of(dv.StatusCode), now, now, out)
        self.emit(out)

    async def _disconnect(self, client: Client) -> None:
        self.client = None
        try:
            await asyncio.wait_for(client.disconnect(), 2.0)
        except BaseException:  # noqa: BLE001 - the server may already be gone
            try:
                client.disconnect_socket()
            except Exception:  # noqa: BLE001
                pass

    async def write(self, tag: str, value):
        spec = self.by_tag.get(tag)
        if spec is None:
            raise SourceError(f"tag {tag} is not mapped in source {self.name}")
        if self.client is None:
            raise SourceError(f"source {self.name} is not connected")
        node = self.client.get_node(spec.address)
        vtype = await node.read_data_type_as_variant_type()
        raw = spec.to_raw(value)
        if vtype in (ua.VariantType.Float, ua.VariantType.Double):
            raw = float(raw)
        elif vtype == ua.VariantType.Boolean:
            raw = bool(raw)
        elif vtype != ua.VariantType.String:
            raw = int(raw)
        await node.write_value(ua.DataValue(ua.Variant(raw, vtype)))
        return {"written": raw}

    async def close(self) -> None:
        if self.client is not None:
            await self._disconnect(self.client)
