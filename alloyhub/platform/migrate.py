"""Apply the Alembic migrations (as the database owner)."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str, app_db_password: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["app_db_password"] = app_db_password
    return cfg


def upgrade(database_url: str, app_db_password: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url, app_db_password), revision)


@contextlib.contextmanager
def temporary_database(server_url: str, prefix: str, app_db_password: str = "alloyhub-app"):
    """A new database on the server of `server_url`, migrated to head, dropped
    afterwards; yields its owner URL. For test runs and benchmarks."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        upgrade(url, app_db_password)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist yet."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (url.database,)).fetchone()
        if not exists:
            conn.execute(f'create database "{url.database}"')
