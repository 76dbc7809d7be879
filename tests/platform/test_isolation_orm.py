"""Tenant isolation, layer one alone: the ORM scoping.

Runs against a database of its own, migrated and then stripped of row-level
security, so whatever isolation remains is the ORM's doing (and the other
tests of the run, which share the main test database, are not affected).
"""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.orm import sessionmaker

from alloyhub.platform import migrate, tenancy
from alloyhub.platform.config import app_database_url
from alloyhub.platform.db import utcnow
from alloyhub.platform.identity.models import Invitation, Membership, MembershipRole, Role, Site, Tenant, User

SCOPED_MODELS = [Site, Role, Membership, MembershipRole, Invitation]


@pytest.fixture(scope="module")
def rls_free_database(service_urls):
    """A fresh database, migrated, with RLS disabled on every tenant table."""
    with migrate.temporary_database(service_urls["DATABASE_URL"], "alloyhub_orm_only") as owner_url:
        owner = create_engine(owner_url)
        with owner.begin() as conn:
            tables = conn.execute(text(
                "select c.table_name from information_schema.columns c join information_schema.tables t "
                "using (table_schema, table_name) where c.column_name = 'tenant_id' "
                "and c.table_schema = 'public' and t.table_type = 'BASE TABLE'"
            )).scalars().all()
            for table in tables:
                conn.execute(text(f"alter table {table} no force row level security"))
                conn.execute(text(f"alter table {table} disable row level security"))
            still_on = conn.execute(text(
                "select relname from pg_class where relname = any(:t) and (relrowsecurity or relforcerowsecurity)"
            ), {"t": list(tables)}).scalars().all()
        owner.dispose()
        assert set(tables) >= {t.__tablename__ for t in SCOPED_MODELS}
        assert still_on == []
        yield app_database_url(owner_url, password="alloyhub-app")


@pytest.fixture(scope="module")
def Session(rls_free_database):  # noqa: N802 - a session class
    tenancy.ensure_hooks()
    engine = create_engine(rls_free_database)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def _make_tenant(Session, label: str) -> dict:
    """A tenant with one of each scoped object, made through the ORM as the app role."""
    tag = secrets.token_hex(3)
    with Session() as session:
        tenant = Tenant(id=uuid.uuid4(), name=f"{label} {tag}", slug=f"{label.lower()}-{tag}")
        user = User(email=f"{label.lower()}-{tag}@example.com", name=label)
        session.add_all([tenant, user])
        session.flush()
        with tenancy.scoped(tenant.id, user.id, session=session):
            role = Role(key="viewer", name="Viewer", permissions=["tenant.read"])
            site = Site(name=f"{label} plant", code="MAIN")
            membership = Membership(user_id=user.id)
            session.add_all([role, site, membership])
            session.flush()
            link = MembershipRole(membership_id=membership.id, role_id=role.id)
            invitation = Invitation(email=f"new-{tag}@example.com", role_id=role.id, token_hash=secrets.token_hex(32),
                                    expires_at=utcnow() + timedelta(days=1))
            session.add_all([link, invitation])
            session.commit()
        return {"tenant": tenant.id, "user": user.id, Site: site.id, Role: role.id, Membership: membership.id,
                Invitation: invitation.id, MembershipRole: (membership.id, role.id)}


@pytest.fixture(scope="module")
def tenants(Session):
    return _make_tenant(Session, "Alpha"), _make_tenant(Session, "Beta")


def test_rls_really_is_off_here(Session, tenants):
    """The control: bypassing the ORM filter shows both tenants' rows, so the
    tests below would see A's rows if the ORM did not filter them."""
    a, b = tenants
    with Session() as session, tenancy.scoped(b["tenant"], session=session):
        for model in SCOPED_MODELS:
            seen = set(session.scalars(select(model.tenant_id).execution_options(skip_tenant_filter=True)))
            assert {a["tenant"], b["tenant"]} <= seen, model.__name__


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m.__name__)
def test_queries_under_b_never_return_a(Session, tenants, model):
    a, b = tenants
    with Session() as session, tenancy.scoped(b["tenant"], b["user"], session=session):
        rows = session.scalars(select(model)).unique().all()
        assert rows and {r.tenant_id for r in rows} == {b["tenant"]}
        # Looking A's object up by its id finds nothing either.
        assert session.get(model, a[model]) is None
        if model is not MembershipRole:
            assert session.scalars(select(model).where(model.id == a[model])).first() is None


def test_relationships_and_joins_are_filtered(Session, tenants):
    a, b = tenants
    with Session() as session, tenancy.scoped(b["tenant"], b["user"], session=session):
        joined = session.execute(
            select(Membership.id, Role.id).join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .join(Role, Role.id == MembershipRole.role_id)
        ).all()
        assert joined == [(b[Membership], b[Role])]
        membership = session.get(Membership, b[Membership])
        assert [r.id for r in membership.roles] == [b[Role]]


def test_bulk_update_and_delete_under_b_leave_a_alone(Session, tenants):
    a, b = tenants
    with Session() as session, tenancy.scoped(b["tenant"], b["user"], session=session):
        session.execute(update(Site).values(address="touched by B"))
        session.execute(delete(Invitation))
        session.commit()
    with Session() as session, tenancy.scoped(a["tenant"], a["user"], session=session):
        site = session.get(Site, a[Site])
        assert site.address is None
        assert session.get(Invitation, a[Invitation]) is not None


def test_inserts_are_stamped_with_the_current_tenant(Session, tenants):
    a, b = tenants
    with Session() as session:
        with tenancy.scoped(b["tenant"], b["user"], session=session):
            site = Site(name="Annealing", code=f"AN{secrets.token_hex(2)}")
            session.add(site)
            session.commit()
        assert site.tenant_id == b["tenant"]
        stored = session.execute(text("select tenant_id from sites where id = :i"), {"i": site.id}).scalar()
        assert stored == b["tenant"]


def test_insert_into_another_tenant_is_refused(Session, tenants):
    a, b = tenants
    with Session() as session, tenancy.scoped(b["tenant"], b["user"], session=session):
        with pytest.raises(tenancy.TenantMismatch):
            session.add(Site(tenant_id=a["tenant"], name="Forged", code="FORGED"))
        session.rollback()


def test_insert_without_a_tenant_is_refused(Session, tenants):
    with Session() as session, tenancy.scoped(None, session=session):
        with pytest.raises(tenancy.TenantMismatch):
            session.add(Site(name="Orphan", code="ORPHAN"))
        session.rollback()


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m.__name__)
def test_no_tenant_in_scope_returns_nothing(Session, tenants, model):
    a, b = tenants
    with Session() as session, tenancy.scoped(None, session=session):
        assert session.scalars(select(model)).unique().all() == []
        assert session.get(model, a[model]) is None
