"""The `alloyhub` command: up, seed, web, worker, ingest, db, search, schedule."""
from __future__ import annotations

import argparse
import logging
import sys


def _app():
    from alloyhub import create_app

    return create_app()


def cmd_db_upgrade(args) -> None:
    from alloyhub.platform import config, migrate

    cfg = config.load()
    migrate.ensure_database(cfg["DATABASE_URL"])
    migrate.upgrade(cfg["DATABASE_URL"], cfg["APP_DB_PASSWORD"], args.revision)


def cmd_worker(args) -> None:
    from alloyhub.platform import jobs

    jobs.run_worker(_app(), burst=args.burst)


def cmd_ingest(args) -> None:
    from alloyhub.tenants.telemetry import ingest

    ingest.run(_app(), client_id=args.client_id, share_group=args.share_group,
               receive_maximum=args.receive_maximum)


def cmd_web(args) -> None:
    _app().run(host=args.host, port=args.port, threaded=True, use_reloader=False)


def cmd_up(args) -> int:
    from alloyhub.platform.embedded import up

    return up.run(host=args.host, port=args.port)


def cmd_demo_agent_token(args) -> int:
    """Print a fresh enrolment token for the demo plant's simulated agent (used by `up`)."""
    from alloyhub.platform.db import db
    from alloyhub.tenants.agents import demo

    app = _app()
    with app.app_context():
        token = demo.demo_plant_enrolment_token()
    db.dispose(app)
    if token is None:
        return 1
    print(token)
    return 0


def cmd_search_reindex(args) -> int:
    from alloyhub.platform import search
    from alloyhub.platform.db import db

    app = _app()
    with app.app_context():
        names = [args.index] if args.index else sorted(search.INDEXES)
        unknown = [n for n in names if n not in search.INDEXES]
        if unknown:
            print(f"No such index: {', '.join(unknown)}; there are: {', '.join(sorted(search.INDEXES))}")
            return 1
        for name in names:
            print(f"{name}: {search.reindex(name)} documents ({search.backend().name})")
    db.dispose(app)
    return 0


def cmd_schedule_solve_fjs(args) -> int:
    import json

    from alloyhub.tenants.scheduling.engine import cpsat, fjs
    from alloyhub.tenants.scheduling.engine.model import ProblemError

    try:
        problem = fjs.load(args.file)
    except (OSError, ProblemError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    result = cpsat.solve(problem, "makespan", time_limit=args.time_limit, workers=args.workers)
    if not result.feasible:
        print(f"no schedule ({result.status}): {result.reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"makespan": result.kpis.makespan, "status": result.status,
                          "operations": [{"job": s.job, "op": s.op, "machine": s.machine, "start": s.start,
                                          "end": s.end} for s in result.operations]}))
    else:
        print(f"{problem.name}: makespan {result.kpis.makespan} ({result.status}, {result.wall_time:.1f} s)")
        print("\n".join(result.explanation))
    return 0


def cmd_seed(args) -> None:
    from alloyhub.platform import seed
    from alloyhub.platform.db import db

    app = _app()
    with app.app_context():
        report = seed.seed(app.config["BASE_URL"])
    db.dispose(app)
    print("\n".join(f"added {item}" for item in report.created) or "The demo data is there already; nothing added.")
    print()
    print(seed.format_logins())


def cmd_billing_sync(args) -> int:
    from alloyhub.platform.billing import stripe_client

    app = _app()
    with app.app_context():
        if not app.config.get("STRIPE_API_KEY"):
            print("STRIPE_API_KEY is not set: billing is off, plans are assigned in the operator admin.")
            return 1
        created = stripe_client.sync_catalogue()
    print("\n".join(f"created {item}" for item in created) or "Stripe has every product and price already.")
    return 0


def cmd_broker_setup(args) -> int:
    from alloyhub.tenants.agents import broker

    app = _app()
    access = broker.access_for(app.config)
    if not access.enabled:
        print(f"Broker access control is off: {access.status()['reason']}.")
        return 1
    access.ensure_service_client()
    print(f"The broker's service client {app.config['MQTT_SERVICE_USERNAME']} and its role are in place.")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="alloyhub", description="AlloyHub platform")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database migrations").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)

    worker = sub.add_parser("worker", help="run an RQ worker and the outbox relay")
    worker.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    worker.set_defaults(func=cmd_worker)

    ingest = sub.add_parser("ingest", help="consume telemetry from the MQTT broker into PostgreSQL")
    ingest.add_argument("--client-id", default=None,
                        help="MQTT client id, stable across restarts so the broker resumes the session "
                             "(default: $INGEST_CLIENT_ID or ingest-<hostname>)")
    ingest.add_argument("--share-group", default="ingest",
                        help="shared-subscription group; the processes of one group split the load")
    ingest.add_argument("--receive-maximum", type=int, default=10_000,
                        help="unacknowledged messages the broker may hand this process (1-65535)")
    ingest.set_defaults(func=cmd_ingest)

    web = sub.add_parser("web", help="run the web server (development; use gunicorn wsgi:app in production)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=5000)
    web.set_defaults(func=cmd_web)

    up_cmd = sub.add_parser("up", help="the whole platform on this machine: embedded services, demo data, "
                                       "web server and worker")
    up_cmd.add_argument("--host", default="127.0.0.1", help="address the web server binds (default 127.0.0.1)")
    up_cmd.add_argument("--port", type=int, default=5000, help="port of the web server (default 5000)")
    up_cmd.set_defaults(func=cmd_up)

    seed_cmd = sub.add_parser("seed", help="add the demo companies and people (idempotent)")
    seed_cmd.set_defaults(func=cmd_seed)
    search_cmd = sub.add_parser("search", help="search indexes").add_subparsers(dest="search_command", required=True)
    reindex = search_cmd.add_parser("reindex", help="rebuild search indexes from their source tables")
    reindex.add_argument("--index", default=None, help="one index (default: every one)")
    reindex.set_defaults(func=cmd_search_reindex)
    schedule = sub.add_parser("schedule", help="the scheduling engine").add_subparsers(dest="schedule_command",
                                                                                      required=True)
    solve_fjs = schedule.add_parser("solve-fjs", help="solve a flexible job-shop instance (.fjs) for makespan")
    solve_fjs.add_argument("file", help="instance in the .fjs format (Brandimarte)")
    solve_fjs.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    solve_fjs.add_argument("--workers", type=int, default=2, help="CP-SAT workers (default 2)")
    solve_fjs.add_argument("--json", action="store_true",
                           help='print {"makespan", "operations": [{job, op, machine, start, end}]}, zero-based')
    solve_fjs.set_defaults(func=cmd_schedule_solve_fjs)
    sub.add_parser("demo-agent-token", help="a fresh enrolment token for the demo plant's simulated agent"
                   ).set_defaults(func=cmd_demo_agent_token)

    billing = sub.add_parser("billing", help="Stripe billing").add_subparsers(dest="billing_command", required=True)
    billing.add_parser("sync", help="create Stripe products and prices from the plans (idempotent)"
                       ).set_defaults(func=cmd_billing_sync)

    broker_cmd = sub.add_parser("broker", help="MQTT broker access control (Mosquitto dynamic security)"
                                ).add_subparsers(dest="broker_command", required=True)
    broker_cmd.add_parser("setup", help="create or update the platform's service client and role (idempotent)"
                          ).set_defaults(func=cmd_broker_setup)

    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
