"""Alembic environment: runs as the owner (DATABASE_URL), never as the app role."""
from alembic import context
from sqlalchemy import create_engine

from alloyhub.models import UNMANAGED_TABLE_PREFIXES, metadata
from alloyhub.platform import config as app_config

cfg = app_config.load()
url = context.config.attributes.get("database_url") or cfg["DATABASE_URL"]
context.config.attributes.setdefault("app_db_password", cfg["APP_DB_PASSWORD"])


def include_object(obj, name, type_, reflected, compare_to):
    """Tables a room manages in SQL of its own (telemetry's partitions) are not
    in the ORM metadata; autogenerate must not propose dropping them."""
    table = obj.table.name if type_ in ("index", "column", "unique_constraint", "foreign_key_constraint") else name
    if reflected and compare_to is None and table and table.startswith(UNMANAGED_TABLE_PREFIXES):
        return False
    return True


def run_migrations_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
