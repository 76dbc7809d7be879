"""Modbus TCP source (pymodbus).

Addresses: ``hr:100`` holding register, ``ir:100`` input register, ``co:5`` coil,
``di:5`` discrete input (0-based), or the classic 1-based 40001/30001/00001/10001 forms.
Data types int16/uint16/int32/uint32/float32 (32-bit: two registers, ``word_order``
"big" = high word first, the default, or "little") and bool (coils and discrete inputs,
or a register that is non-zero).

Tags of one table and one period that sit next to each other are read in one request
(``max_gap`` registers of slack allowed, 0 by default; at most 125 registers or 2000 bits).
Each device gets one request at a time through a priority queue: writes before polls.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import struct
import time
from collections import deque
from dataclasses import dataclass, field

from pymodbus.client import AsyncModbusTcpClient

from ..tags import TagSpec
from .base import Source, SourceError, period_groups

log = logging.getLogger(__name__)

TABLES = ("hr", "ir", "co", "di")
BIT_TABLES = ("co", "di")
MAX_REGS, MAX_BITS = 125, 2000
PRIO_WRITE, PRIO_READ = 0, 1
WIDTH = {"int16": 1, "uint16": 1, "bool": 1, "int32": 2, "uint32": 2, "float32": 2}


def parse_address(address: str) -> tuple[str, int]:
    a = address.strip().lower()
    if ":" in a:
        table, _, num = a.partition(":")
        if table not in TABLES:
            raise ValueError(f"unknown Modbus table {table!r} in {address!r} (hr, ir, co, di)")
        return table, int(num)
    n = int(a)
    for base, table in ((40001, "hr"), (30001, "ir"), (10001, "di"), (1, "co")):
        if n >= base:
            return table, n - base
    raise ValueError(f"bad Modbus address {address!r}")


@dataclass
class Block:
    table: str
    start: int
    count: int
    tags: list = field(default_factory=list)  # (spec, offset within the block)


def build_blocks(specs: list[TagSpec], max_gap: int = 0) -> list[Block]:
    """Group tags into contiguous read requests, per table, in address order."""
    by_table: dict[str, list[tuple[int, int, TagSpec]]] = {}
    for s in specs:
        table, addr = parse_address(s.address)
        width = 1 if table in BIT_TABLES else WIDTH[s.data_type]
        by_table.setdefault(table, []).append((addr, width, s))
    blocks: list[Block] = []
    for table in TABLES:
        items = sorted(by_table.get(table, []), key=lambda x: x[0])
        limit = MAX_BITS if table in BIT_TABLES else MAX_REGS
        cur: Block | None = None
        for addr, width, spec in items:
            if cur is not None and addr <= cur.start + cur.count + max_gap \
                    and max(cur.start + cur.count, addr + width) - cur.start <= limit:
                cur.count = max(cur.count, addr + width - cur.start)
            else:
                cur = Block(table, addr, width)
                blocks.append(cur)
            cur.tags.append((spec, addr - cur.start))
    return blocks


def decode(words: list[int], data_type: str, word_order: str = "big"):
    if data_type in ("int16", "uint16", "bool"):
        w = words[0] & 0xFFFF
        if data_type == "bool":
            return w != 0
        return w - 0x10000 if data_type == "int16" and w >= 0x8000 else w
    hi, lo = (words[0], words[1]) if word_order != "little" else (words[1], words[0])
    raw = struct.pack(">HH", hi & 0xFFFF, lo & 0xFFFF)
    if data_type == "float32":
        return float(f"{struct.unpack('>f', raw)[0]:.7g}")
    return struct.unpack(">i" if data_type == "int32" else ">I", raw)[0]


def encode(value, data_type: str, word_order: str = "big") -> list[int]:
    if data_type == "bool":
        return [1 if value else 0]
    if data_type in ("int16", "uint16"):
        v = int(value)
        lo, hi = (-0x8000, 0x7FFF) if data_type == "int16" else (0, 0xFFFF)
        if not lo <= v <= hi:
            raise SourceError(f"value {value} out of range for {data_type}")
        return [v & 0xFFFF]
    if data_type == "float32":
        raw = struct.pack(">f", float(value))
    else:
        try:
            raw = struct.pack(">i" if data_type == "int32" else ">I", int(value))
        except struct.error:
            raise SourceError(f"value {value} out of range for {data_type}") from None
    hi, lo = struct.unpack(">HH", raw)
    return [hi, lo] if word_order != "little" else [lo, hi]


class ModbusDevice:
    """One TCP connection, one request at a time, writes first. Sources that name the same
    host and port (several sources on one PLC, or units behind one gateway) share it."""

    _shared: dict = {}  # (event loop, host, port) -> ModbusDevice

    @classmethod
    def acquire(cls, host: str, port: int, timeout: float) -> "ModbusDevice":
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        key = (loop, host, port)
        dev = cls._shared.get(key)
        if dev is None:
            dev = cls._shared[key] = cls(host, port, timeout)
            dev._key = key
        dev.users += 1
        return dev

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port = host, port
        self.users = 0
        self._key = None
        self.timeout = timeout
        self.client: AsyncModbusTcpClient | None = None  # made in the event loop that uses it
        self.queue: asyncio.PriorityQueue = asyncio.PriorityQueue()
        self._order = itertools.count()
        self.requests = 0
        self.log: deque = deque(maxlen=2000)  # labels of executed requests, in order
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name=f"modbus {self.host}:{self.port}")

    async def call(self, priority: int, label: str, fn):
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put((priority, next(self._order), label, fn, fut))
        return await fut

    async def _work(self) -> None:
        self.client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout, retries=0,
                                           reconnect_delay=0)
        while True:
            _prio, _n, label, fn, fut = await self.queue.get()
            if fut.done():
                continue
            try:
                if not self.client.connected:
                    await self.client.connect()
                    if not self.client.connected:
                        raise SourceError(f"cannot connect to Modbus device {self.host}:{self.port}")
                rr = await fn(self.client)
                self.requests += 1
                self.log.append(label)
                if rr.isError():
                    raise SourceError(f"{label}: device answered {rr}")
                if not fut.done():
                    fut.set_result(rr)
            except asyncio.CancelledError:
                if not fut.done():
                    fut.cancel()
                raise
            except Exception as e:  # noqa: BLE001 - the caller decides
                if not isinstance(e, SourceError):
                    self.client.close()
                if not fut.done():
                    fut.set_exception(e if isinstance(e, SourceError) else SourceError(f"{label}: {e}"))

    async def release(self) -> None:
        """A source is done with the device; the last one closes it."""
        self.users -= 1
        if self.users <= 0:
            if self._key is not None and ModbusDevice._shared.get(self._key) is self:
                del ModbusDevice._shared[self._key]
            await self.close()

    async def close(self) -> None:
        if self._worker:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
        if self.client is not None:
            self.client.close()


class ModbusSource(Source):
    kind = "modbus"

    def __init__(self, cfg: dict, emit):
        super().__init__(cfg, emit)
        self.host = cfg.get("host", "127.0.0.1")
        self.port = int(cfg.get("port", 502))
        self.unit = int(cfg.get("unit", 1))
        self.word_order = cfg.get("word_order", "big")
        self.device = ModbusDevice.acquire(self.host, self.port, float(cfg.get("timeout_s", 2.0)))
        self._released = False
        max_gap = int(cfg.get("max_gap", 0))
        self.groups = {p: build_blocks(specs, max_gap) for p, specs in period_groups(self.tags).items()}
        for spec in self.tags:
            parse_address(spec.address)  # fail early on a bad address

    def _order(self, spec: TagSpec) -> str:
        return spec.word_order or self.word_order

    async def read_block(self, block: Block):
        unit = self.unit
        label = f"read {block.table}:{block.start}+{block.count}"
        fn = {
            "hr": lambda c: c.read_holding_registers(block.start, count=block.count, device_id=unit),
            "ir": lambda c: c.read_input_registers(block.start, count=block.count, device_id=unit),
            "co": lambda c: c.read_coils(block.start, count=block.count, device_id=unit),
            "di": lambda c: c.read_discrete_inputs(block.start, count=block.count, device_id=unit),
        }[block.table]
        rr = await self.device.call(PRIO_READ, label, fn)
        return rr.bits if block.table in BIT_TABLES else rr.registers

    async def poll(self, blocks: list[Block]) -> list:
        out: list = []
        for block in blocks:
            try:
                data = await self.read_block(block)
            except SourceError as e:
                self.set_error(e)
                now = time.time()
                for spec, _off in block.tags:  # tell the cloud once that the value went bad
                    last = self.reporter.last.get(spec.tag)
                    if last is not None and last.quality != "bad":
                        self.sample(spec, last.value, "bad", now, now, out)
                continue
            ts = time.time()
            for spec, off in block.tags:
                if block.table in BIT_TABLES:
                    raw = bool(data[off])
                else:
                    raw = decode(data[off:off + WIDTH[spec.data_type]], spec.data_type, self._order(spec))
                self.sample(spec, raw, "good", ts, ts, out)
            self.set_ok()
        return out

    async def _poll_loop(self, period_ms: int, blocks: list[Block]) -> None:
        period = period_ms / 1000.0
        next_at = time.monotonic()
        while True:
            self.emit(await self.poll(blocks))
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:  # the device is slower than the period: do not pile up
                next_at = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    async def run(self) -> None:
        self.device.start()
        tasks = [asyncio.create_task(self._poll_loop(p, b)) for p, b in self.groups.items()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def write(self, tag: str, value):
        spec = self.by_tag.get(tag)
        if spec is None:
            raise SourceError(f"tag {tag} is not mapped in source {self.name}")
        table, addr = parse_address(spec.address)
        unit = self.unit
        if table == "co":
            bit = bool(value)
            fn = lambda c: c.write_coil(addr, bit, device_id=unit)  # noqa: E731
            written = bit
        elif table == "hr":
            words = encode(spec.to_raw(value), spec.data_type, self._order(spec))
            if len(words) == 1:
                fn = lambda c: c.write_register(addr, words[0], device_id=unit)  # noqa: E731
            else:
                fn = lambda c: c.write_registers(addr, words, device_id=unit)  # noqa: E731
            written = words
        else:
            raise SourceError(f"tag {tag} is in a read-only table ({table})")
        self.device.start()
        await self.device.call(PRIO_WRITE, f"write {table}:{addr}", fn)
        self.reporter.forget(tag)  # report the new value at the next poll
        return {"written": written}

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await self.device.release()
