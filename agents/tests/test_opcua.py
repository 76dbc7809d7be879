"""OPC UA source against an asyncua server in the test, including a server restart."""
import asyncio
import logging
import time
from datetime import datetime, timezone

from agent_helpers import free_port
from asyncua import Server, ua

from alloyhub_agent.sources.opcua import OpcUaSource

logging.getLogger("asyncua").setLevel(logging.ERROR)


async def start_server(port: int):
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/alloyhub/")
    idx = await server.register_namespace("urn:alloyhub:test-plc")
    mill = await server.nodes.objects.add_object(idx, "Mill")
    speed = await mill.add_variable(ua.NodeId("Mill.Speed", idx), "Speed", ua.Variant(0.0, ua.VariantType.Double))
    running = await mill.add_variable(ua.NodeId("Mill.Running", idx), "Running", False)
    await speed.set_writable()
    await running.set_writable()
    await server.start()
    return server, speed, running


async def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_subscription_timestamps_quality_and_resubscribe_after_server_restart():
    async def main():
        port = free_port()
        server, speed, running = await start_server(port)
        got = []
        src = OpcUaSource({"name": "opc", "kind": "opcua", "url": f"opc.tcp://127.0.0.1:{port}/alloyhub/",
                           "probe_s": 0.3, "timeout_s": 2,
                           "tags": [{"tag": "mill.speed", "address": "ns=2;s=Mill.Speed", "period_ms": 100,
                                     "scale": 2.0, "unit": "m/min"},
                                    {"tag": "mill.running", "address": "ns=2;s=Mill.Running", "period_ms": 100,
                                     "keepalive_s": 1}]},
                          got.extend)
        task = asyncio.create_task(src.run())
        try:
            await wait_until(lambda: {p[0] for p in got} == {"mill.speed", "mill.running"})
            assert src.ok and src.subscribed == 1
            # the value holds still: the keep-alive reports it again, as of the time it was re-read
            await wait_until(lambda: len([p for p in got if p[0] == "mill.running"]) >= 2, timeout=5)
            first, again = [p for p in got if p[0] == "mill.running"][:2]
            assert again[2] is False and again[1] > first[1]
            stamp = datetime(2026, 11, 23, 8, 0, 0, 250000, tzinfo=timezone.utc)
            await speed.write_value(ua.DataValue(ua.Variant(300.0, ua.VariantType.Double), SourceTimestamp=stamp))
            await wait_until(lambda: any(p[0] == "mill.speed" and p[2] == 600.0 for p in got))
            p = [p for p in got if p[0] == "mill.speed" and p[2] == 600.0][0]
            assert p[1] == "2026-11-23T08:00:00.250Z" and p[3] == "good"  # the source's own timestamp
            await speed.write_value(ua.DataValue(ua.Variant(301.0, ua.VariantType.Double),
                                                 StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)))
            await wait_until(lambda: any(p[2] == 602.0 and p[3] == "uncertain" for p in got))

            # writes from the cloud go through the same session
            assert await src.write("mill.running", True) == {"written": True}
            await wait_until(lambda: any(p[0] == "mill.running" and p[2] is True for p in got))

            await server.stop()  # the PLC restarts
            await wait_until(lambda: not src.ok)
            assert src.last_error
            server, speed, running = await start_server(port)
            await wait_until(lambda: src.ok and src.subscribed == 2, timeout=20)
            n = len(got)
            await speed.write_value(ua.DataValue(ua.Variant(420.0, ua.VariantType.Double)))
            await wait_until(lambda: any(p[2] == 840.0 for p in got[n:]))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await src.close()
            await server.stop()

    asyncio.run(main())
