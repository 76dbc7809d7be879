"""The `alloyhub` command: up, seed, web, worker, db."""
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


def cmd_web(args) -> None:
    _app().run(host=args.host, port=args.port, threaded=True, use_reloader=False)


def cmd_up(args) -> int:
    from alloyhub.platform.embedded import up

    return up.run(host=args.host, port=args.port)


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

    args = parser.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
