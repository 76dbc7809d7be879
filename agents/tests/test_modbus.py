"""Modbus TCP source against a pymodbus server started in the test."""
import asyncio
import struct

import pytest
from agent_helpers import free_port
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from alloyhub_agent.agent import Agent
from alloyhub_agent.settings import Settings
from alloyhub_agent.sources.modbus import (
    ModbusSource,
    build_blocks,
    decode,
    encode,
    parse_address,
)
from alloyhub_agent.tags import TagSpec


class Plc:
    """A Modbus device: 64 holding, 64 input registers, 16 coils, 16 discrete inputs.
    Every request is logged as (function code, address, count); ``hr``/``co`` hold values
    the test sets, ``delay`` slows reads down to let requests queue up."""

    def __init__(self):
        self.port = free_port()
        self.requests: list[tuple[int, int, int]] = []
        self.hr: dict[int, int] = {}
        self.ir: dict[int, int] = {}
        self.written: list[tuple[int, int, list]] = []
        self.delay = 0.0
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=64, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=64, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self.action,
        )
        self.server = ModbusTcpServer(device, address=("127.0.0.1", self.port))

    async def action(self, fc, start, address, count, regs, set_values):
        self.requests.append((fc, address, count))
        if set_values is not None:
            self.written.append((fc, address, list(set_values)))
            return None
        if self.delay:
            await asyncio.sleep(self.delay)
        table = self.hr if fc == 3 else self.ir if fc == 4 else {}
        for a, v in table.items():
            if 0 <= a - start < len(regs):
                regs[a - start] = v
        return None

    def set_float(self, table: dict, addr: int, value: float, word_order="big"):
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        table[addr], table[addr + 1] = (hi, lo) if word_order == "big" else (lo, hi)

    async def __aenter__(self):
        await self.server.serve_forever(background=True)
        return self

    async def __aexit__(self, *exc):
        await self.server.shutdown()


def source_cfg(port, tags, **kw):
    return {"name": "plc1", "kind": "modbus", "host": "127.0.0.1", "port": port, "unit": 1,
            "tags": tags, **kw}


def test_addresses_and_codecs():
    assert parse_address("hr:10") == ("hr", 10)
    assert parse_address("40001") == ("hr", 0)
    assert parse_address("30010") == ("ir", 9)
    assert parse_address("00003") == ("co", 2)
    assert parse_address("10001") == ("di", 0)
    with pytest.raises(ValueError):
        parse_address("xx:1")
    for dt, v in [("int16", -2), ("uint16", 65535), ("int32", -70000), ("uint32", 4_000_000_000),
                  ("float32", 12.5), ("bool", True)]:
        for wo in ("big", "little"):
            assert decode(encode(v, dt, wo), dt, wo) == v
    assert encode(1.0, "float32", "big") == [0x3F80, 0] and encode(1.0, "float32", "little") == [0, 0x3F80]


def test_adjacent_tags_are_read_in_one_block():
    specs = [TagSpec.from_dict(d) for d in [
        {"tag": "a", "address": "hr:0", "data_type": "float32"},
        {"tag": "b", "address": "hr:2", "data_type": "int16"},
        {"tag": "c", "address": "hr:3", "data_type": "uint32"},
        {"tag": "d", "address": "hr:20", "data_type": "int16"},  # far away: a second request
        {"tag": "e", "address": "ir:0", "data_type": "uint16"},
        {"tag": "f", "address": "co:0", "data_type": "bool"},
        {"tag": "g", "address": "co:1", "data_type": "bool"},
    ]]
    blocks = [(b.table, b.start, b.count, [s.tag for s, _ in b.tags]) for b in build_blocks(specs)]
    assert blocks == [("hr", 0, 5, ["a", "b", "c"]), ("hr", 20, 1, ["d"]), ("ir", 0, 1, ["e"]),
                      ("co", 0, 2, ["f", "g"])]
    assert len(build_blocks(specs, max_gap=16)) == 3  # with slack, hr:20 joins the first block


def test_block_reads_scaling_and_types():
    async def main():
        async with Plc() as plc:
            plc.set_float(plc.hr, 0, 612.5)  # mill speed, float32 high word first
            plc.hr[2] = 0xFFF6  # int16 -10 -> scaled
            plc.hr[3], plc.hr[4] = 0x0001, 0x0000  # uint32 little word order: 1
            plc.ir[0] = 1234  # strip tension in 0.1 kN
            got = []
            src = ModbusSource(source_cfg(plc.port, [
                {"tag": "speed", "address": "hr:0", "data_type": "float32", "unit": "m/min"},
                {"tag": "offset_t", "address": "hr:2", "data_type": "int16", "scale": 0.5, "offset": 100},
                {"tag": "count", "address": "hr:3", "data_type": "uint32", "word_order": "little"},
                {"tag": "tension", "address": "ir:0", "data_type": "uint16", "scale": 0.1, "unit": "kN"},
                {"tag": "running", "address": "co:0", "data_type": "bool"},
            ]), got.extend)
            src.device.start()
            for blocks in src.groups.values():
                got.extend(await src.poll(blocks))
            await src.close()
            return plc.requests, {p[0]: p for p in got}, src

    requests, points, src = asyncio.run(main())
    assert sorted(requests) == [(1, 0, 1), (3, 0, 5), (4, 0, 1)]  # three requests for five tags
    assert points["speed"][2] == 612.5 and points["speed"][3] == "good"
    assert points["offset_t"][2] == 95.0
    assert points["count"][2] == 1
    assert points["tension"][2] == pytest.approx(123.4)
    assert points["running"][2] is False
    assert points["speed"][1].endswith("Z")
    assert src.health()["ok"]


def test_writes_go_before_queued_polls():
    async def main():
        async with Plc() as plc:
            plc.delay = 0.2
            src = ModbusSource(source_cfg(plc.port, [
                {"tag": "sp", "address": "hr:10", "data_type": "float32", "scale": 0.01},
                {"tag": "a", "address": "hr:0", "data_type": "int16"},
                {"tag": "b", "address": "ir:0", "data_type": "int16"},
                {"tag": "pump", "address": "co:3", "data_type": "bool"},
            ], max_gap=0), lambda p: None)
            src.device.start()
            blocks = [b for bl in src.groups.values() for b in bl]
            first = asyncio.create_task(src.read_block(blocks[0]))
            await asyncio.sleep(0.05)  # the first read is on the wire now
            reads = [asyncio.create_task(src.read_block(b)) for b in blocks for _ in range(2)]
            await asyncio.sleep(0.01)
            w1 = asyncio.create_task(src.write("sp", 12.5))
            w2 = asyncio.create_task(src.write("pump", True))
            await asyncio.gather(first, *reads, w1, w2)
            await src.close()
            return plc, src, w1.result()

    plc, src, result = asyncio.run(main())
    fcs = [fc for fc, _a, _c in plc.requests]
    # the first read was already running; both writes come right after it, before the queued reads
    assert fcs[1:3] == [16, 5], plc.requests
    assert len([fc for fc in fcs if fc in (1, 2, 3, 4)]) == 1 + 2 * 4  # every queued read still ran
    assert fcs.index(16) < fcs.index(5) < min(i for i, fc in enumerate(fcs) if i > 0 and fc in (1, 3, 4))
    assert plc.written[0] == (16, 10, list(encode(1250.0, "float32")))
    assert plc.written[1] == (5, 3, [True])
    assert result == {"written": encode(1250.0, "float32")}
    assert list(src.device.log)[1:3] == ["write hr:10", "write co:3"]


def test_write_command_needs_the_allow_list_and_reaches_the_plc(tmp_path):
    async def main():
        async with Plc() as plc:
            settings = Settings(agent_id="a1", mqtt_url="mqtt://127.0.0.1:1", buffer_path=str(tmp_path / "b.db"))
            agent = Agent(settings)
            await agent.apply_config({"version": 1, "allow_write": ["setpoint"], "sources": [source_cfg(plc.port, [
                {"tag": "setpoint", "address": "hr:5", "data_type": "int16", "scale": 0.1},
                {"tag": "speed", "address": "hr:6", "data_type": "int16"},
            ])]}, persist=False)
            refused = await agent.handle_command({"id": "c1", "kind": "write", "tag": "speed", "value": 3})
            done = await agent.handle_command({"id": "c2", "kind": "write", "tag": "setpoint", "value": 42.5})
            again = await agent.handle_command({"id": "c2", "kind": "write", "tag": "setpoint", "value": 42.5})
            unknown = await agent.handle_command({"id": "c3", "kind": "restart_source", "source": "nope"})
            restarted = await agent.handle_command({"id": "c4", "kind": "restart_source", "source": "plc1"})
            await asyncio.sleep(0.3)
            polled = agent.buffer.depth
            for name in list(agent.sources):
                await agent._stop_source(name)
            agent.buffer.close()
            return plc, refused, done, again, unknown, restarted, polled

    plc, refused, done, again, unknown, restarted, polled = asyncio.run(main())
    assert refused == {"id": "c1", "ok": False, "error": "tag 'speed' is not in allow_write"}
    assert done == {"id": "c2", "ok": True, "result": {"written": [425]}}
    assert again == done and [w for w in plc.written if w[0] == 6] == [(6, 5, [425])]  # executed once
    assert unknown["ok"] is False and "nope" in unknown["error"]
    assert restarted["ok"] is True
    assert polled > 0  # the restarted source polls into the buffer


def test_unreachable_device_marks_the_source_bad():
    async def main():
        src = ModbusSource(source_cfg(free_port(), [{"tag": "a", "address": "hr:0", "data_type": "int16"}],
                                      timeout_s=0.5), lambda p: None)
        src.device.start()
        for blocks in src.groups.values():
            await src.poll(blocks)
        await src.close()
        return src.health()

    health = asyncio.run(main())
    assert health["ok"] is False and health["last_error"]


def test_sources_on_one_plc_share_its_single_connection():
    async def main():
        async with Plc() as plc:
            a = ModbusSource(dict(source_cfg(plc.port, [{"tag": "a", "address": "hr:0", "data_type": "int16"}]),
                                  name="a"), lambda p: None)
            b = ModbusSource(dict(source_cfg(plc.port, [{"tag": "b", "address": "hr:1", "data_type": "int16"}]),
                                  name="b"), lambda p: None)
            assert a.device is b.device
            a.device.start()
            await asyncio.gather(a.read_block(a.groups[1000][0]), b.read_block(b.groups[1000][0]))
            await a.close()
            assert not a.device._worker.done()  # b still uses it
            await b.read_block(b.groups[1000][0])
            await b.close()
            assert a.device._worker.done() and a.device.users == 0
            return plc.requests

    assert len(asyncio.run(main())) == 3
