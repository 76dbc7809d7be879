"""``alloyhub-agent``: enroll, run, simulate, status."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from . import __version__
from .agent import Agent
from .buffer import read_stats
from .enroll import EnrollError, enroll
from .settings import DEFAULT_PATH, Settings
from .sources.simulator import FAULTS, default_tags


def _run_agent(agent: Agent, config: dict | None = None) -> int:
    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.run(stop, config)

    asyncio.run(main())
    return 0


def cmd_enroll(args) -> int:
    try:
        s = enroll(args.url, args.token, args.config)
    except EnrollError as e:
        print(f"enrolment failed: {e}", file=sys.stderr)
        return 2
    print(f"enrolled as agent {s.agent_id}; settings written to {s.path}")
    return 0


def cmd_run(args) -> int:
    try:
        settings = Settings.from_file(args.config)
    except FileNotFoundError:
        print(f"no settings at {args.config}: run `alloyhub-agent enroll` first", file=sys.stderr)
        return 2
    return _run_agent(Agent(settings))


def simulate_config(points_per_second: float, seed: int, faults: list[str], period_ms: int = 100) -> dict:
    return {
        "version": 0,
        "sources": [{"name": "sim", "kind": "simulator", "seed": seed, "faults": faults,
                     "tags": default_tags(points_per_second, period_ms)}],
        "allow_write": [f"sim.fault.{f}" for f in FAULTS],
    }


def cmd_simulate(args) -> int:
    settings = Settings(agent_id=args.agent_id, mqtt_url=args.mqtt_url, buffer_path=args.buffer,
                        username=args.username, password=args.password,
                        max_buffer_points=args.max_buffer_points, heartbeat_s=args.heartbeat,
                        compress=not args.no_compress)
    cfg = simulate_config(args.points_per_second, args.seed, args.fault or [], args.period_ms)
    agent = Agent(settings, drain_timeout_s=args.drain_timeout)
    return _run_agent(agent, cfg)


def cmd_status(args) -> int:
    path = args.buffer
    if not path:
        try:
            path = Settings.from_file(args.config).buffer_path
        except FileNotFoundError:
            print(f"no settings at {args.config}; give --buffer PATH", file=sys.stderr)
            return 2
    try:
        st = read_stats(path)
    except FileNotFoundError:
        print(f"no buffer at {path}", file=sys.stderr)
        return 2
    info = {"buffer": os.path.abspath(path), "depth": st.depth, "loose": st.loose,
            "batches_unacked": st.batches, "dropped": st.dropped, "next_seq": st.next_seq}
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k}: {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alloyhub-agent", description="AlloyHub plant agent")
    p.add_argument("--version", action="version", version=__version__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("enroll", help="exchange a one-time token for this agent's credentials")
    e.add_argument("--url", required=True, help="AlloyHub base URL, e.g. https://alloyhub.example.com")
    e.add_argument("--token", required=True)
    e.add_argument("--config", default=DEFAULT_PATH)
    e.set_defaults(fn=cmd_enroll)

    r = sub.add_parser("run", help="run with the enrolled settings")
    r.add_argument("--config", default=DEFAULT_PATH)
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("simulate", help="run the simulated rolling line only (demos, tests)")
    s.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    s.add_argument("--agent-id", default="sim-agent")
    s.add_argument("--username")
    s.add_argument("--password")
    s.add_argument("--points-per-second", type=float, default=100.0)
    s.add_argument("--period-ms", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--fault", action="append", choices=FAULTS, help="start with this fault (repeatable)")
    s.add_argument("--buffer", default="alloyhub-agent-sim.db")
    s.add_argument("--max-buffer-points", type=int, default=2_000_000)
    s.add_argument("--heartbeat", type=float, default=10.0)
    s.add_argument("--drain-timeout", type=float, default=5.0)
    s.add_argument("--no-compress", action="store_true")
    s.set_defaults(fn=cmd_simulate)

    st = sub.add_parser("status", help="buffer depth, dropped points, next seq")
    st.add_argument("--config", default=DEFAULT_PATH)
    st.add_argument("--buffer", help="buffer file (instead of the one in the settings)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
