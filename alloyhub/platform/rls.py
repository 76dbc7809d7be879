"""SQL for row-level security, layer two of tenant isolation. Used by
migrations: every tenant-owned table gets `enable(table)` in the migration
that creates it."""
from __future__ import annotations

from .config import APP_DB_ROLE

FUNCTIONS = """
CREATE OR REPLACE FUNCTION app_tenant_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION app_is_system() RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;
"""


def create_app_role(password: str, role: str = APP_DB_ROLE) -> str:
    """The role the application connects as: it owns nothing and has no BYPASSRLS."""
    quoted = password.replace("'", "''")
    return f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
    CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '{quoted}';
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};
"""


def grant_tables(tables: list[str], role: str = APP_DB_ROLE) -> str:
    names = ", ".join(tables)
    return f"GRANT SELECT, INSERT, UPDATE, DELETE ON {names} TO {role};"


def enable(table: str, using: str = "tenant_id = app_tenant_id()", *, extra_using: str | None = None) -> str:
    """ENABLE and FORCE RLS with one policy for every command."""
    condition = f"({using})" + (f" OR ({extra_using})" if extra_using else "")
    return f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition});
"""


def disable(table: str) -> str:
    return f"DROP POLICY IF EXISTS tenant_isolation ON {table}; ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
