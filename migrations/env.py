"""Alembic environment: runs as the owner (DATABASE_URL), never as the app role."""
from alembic import context
from sqlalchemy import create_engine

from alloyhub.models import metadata
from alloyhub.platform import config as app_config

cfg = app_config.load()
url = context.config.attributes.get("database_url") or cfg["DATABASE_URL"]
context.config.attributes.setdefault("app_db_password", cfg["APP_DB_PASSWORD"])


def run_migrations_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
