"""Tenant isolation, layer two alone: PostgreSQL row-level security.

These tests bypass the ORM entirely: raw SQL as the application role, with no
WHERE clause on tenant_id. Whatever they see is what RLS lets through.
"""
from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from alloyhub.platform.config import APP_DB_ROLE

# Tables whose rows belong to one tenant and that the tests below fill for two.
FILLED_TABLES = ["sites", "roles", "memberships", "membership_roles"]


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def app_conn(app):
    """A raw connection as the application role (DATABASE_APP_URL), no ORM."""
    with psycopg.connect(_libpq(app.config["DATABASE_APP_URL"])) as conn:
        yield conn


@pytest.fixture
def two_tenants(tenant_factory, app):
    a, b = tenant_factory(), tenant_factory()
    # A site of B's own, so B sees more than the defaults.
    from alloyhub.platform import tenancy
    from alloyhub.platform.db import db
    from alloyhub.platform.identity import services

    with app.app_context(), tenancy.scoped(b.tenant_id, b.owner_id, session=db.session):
        services.create_site(name="Cold mill", code="CM")
    return a, b


def _as_tenant(conn, tenant_id) -> None:
    conn.execute("select set_config('app.tenant_id', %s, false)", (str(tenant_id),))
    conn.execute("select set_config('app.user_id', '', false)")
    conn.execute("select set_config('app.system', 'off', false)")


@pytest.mark.parametrize("table", FILLED_TABLES)
def test_app_role_sees_only_the_current_tenants_rows(app_conn, two_tenants, owner_engine, table):
    a, b = two_tenants
    with owner_engine.connect() as owner:
        # The owner is not subject to RLS here (not FORCEd for superusers): the rows of A really exist.
        a_rows = owner.execute(text(f"select count(*) from {table} where tenant_id = :t"), {"t": a.tenant_id}).scalar()
        b_rows = owner.execute(text(f"select count(*) from {table} where tenant_id = :t"), {"t": b.tenant_id}).scalar()
    assert a_rows > 0 and b_rows > 0
    _as_tenant(app_conn, b.tenant_id)
    tenants = [r[0] for r in app_conn.execute(f"select tenant_id from {table}").fetchall()]
    assert tenants, f"{table}: B sees none of its own rows"
    assert set(tenants) == {b.tenant_id}, f"{table}: tenant B sees rows of other tenants"
    assert len(tenants) == b_rows


def test_app_role_with_no_tenant_sees_nothing(app_conn, two_tenants):
    """Every table with a tenant_id, including those added later."""
    tables = [r[0] for r in app_conn.execute(
        "select table_name from information_schema.columns where column_name = 'tenant_id' "
        "and table_schema = 'public' order by table_name").fetchall()]
    assert {"sites", "roles", "memberships", "invitations", "audit_log", "outbox"} <= set(tables)
    app_conn.execute("select set_config('app.tenant_id', '', false)")
    app_conn.execute("select set_config('app.user_id', '', false)")
    app_conn.execute("select set_config('app.system', 'off', false)")
    visible = {t: app_conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}
    assert {t: n for t, n in visible.items() if n} == {}


def test_app_role_cannot_write_into_another_tenant(app_conn, two_tenants):
    a, b = two_tenants
    _as_tenant(app_conn, b.tenant_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute(
            "insert into sites (id, tenant_id, name, code, timezone) values (%s, %s, 'Forged', 'FORGED', 'UTC')",
            (uuid.uuid4(), a.tenant_id),
        )
    app_conn.rollback()
    _as_tenant(app_conn, b.tenant_id)
    # Nor move one of its own rows into A, nor touch A's rows.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("update sites set tenant_id = %s", (a.tenant_id,))
    app_conn.rollback()
    _as_tenant(app_conn, b.tenant_id)
    updated = app_conn.execute("update sites set name = 'hijacked' where tenant_id = %s", (a.tenant_id,)).rowcount
    deleted = app_conn.execute("delete from roles where tenant_id = %s", (a.tenant_id,)).rowcount
    assert (updated, deleted) == (0, 0)
    app_conn.commit()


def test_app_role_is_not_privileged(app, owner_engine):
    url = make_url(app.config["DATABASE_APP_URL"])
    assert url.username == APP_DB_ROLE
    with owner_engine.connect() as owner:
        role = owner.execute(text(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = :r"
        ), {"r": APP_DB_ROLE}).one()
        owned = owner.execute(text(
            "select c.relname from pg_class c join pg_roles r on r.oid = c.relowner "
            "join pg_namespace n on n.oid = c.relnamespace where r.rolname = :r and n.nspname = 'public'"
        ), {"r": APP_DB_ROLE}).scalars().all()
    assert tuple(role) == (False, False, False, False)
    assert owned == [], f"the app role owns {owned}; owners bypass RLS unless it is forced"


def test_every_tenant_table_has_forced_rls(owner_engine):
    """Covers tables added by later migrations automatically."""
    with owner_engine.connect() as owner:
        rows = owner.execute(text("""
            select c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (select count(*) from pg_policy p where p.polrelid = c.oid) as policies
            from information_schema.columns col
            join pg_class c on c.relname = col.table_name
            join pg_namespace n on n.oid = c.relnamespace and n.nspname = col.table_schema
            where col.column_name = 'tenant_id' and col.table_schema = 'public' and c.relkind in ('r', 'p')
            order by c.relname
        """)).all()
    names = [r.relname for r in rows]
    assert {"sites", "roles", "memberships", "membership_roles", "invitations", "audit_log", "outbox"} <= set(names)
    unprotected = [r.relname for r in rows if not (r.relrowsecurity and r.relforcerowsecurity and r.policies)]
    assert unprotected == [], f"tables with tenant_id but without ENABLE+FORCE row-level security: {unprotected}"


def test_audit_log_grants_are_append_only(owner_engine):
    """The app role may not UPDATE or DELETE the audit log (append-only)."""
    with owner_engine.connect() as owner:
        privileges = set(owner.execute(text(
            "select privilege_type from information_schema.role_table_grants "
            "where grantee = :r and table_name = 'audit_log'"
        ), {"r": APP_DB_ROLE}).scalars())
    assert privileges == {"SELECT", "INSERT"}


def test_app_role_cannot_update_or_delete_audit_log(app_conn, two_tenants):
    a, _ = two_tenants
    _as_tenant(app_conn, a.tenant_id)
    assert app_conn.execute("select count(*) from audit_log").fetchone()[0] > 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("update audit_log set action = 'tampered'")
    app_conn.rollback()
    _as_tenant(app_conn, a.tenant_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("delete from audit_log")
    app_conn.rollback()
    _as_tenant(app_conn, a.tenant_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute("truncate audit_log")
    app_conn.rollback()
