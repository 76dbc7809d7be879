"""Fixtures of the ledger's tests: a kind of object to share (the platform's
own sites, registered here as a test kind), companies, and raw connections
as the application role for the database layer alone."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from alloyhub.platform.sharing import services as sharing

KIND = "test.site"


def _owned(object_id) -> bool:
    return db.session.scalar(select(Site.id).where(Site.id == object_id)) is not None


def _describe(object_id) -> str:
    site = db.session.scalar(select(Site).where(Site.id == object_id)) if object_id else None
    return f"Site {site.code}" if site else "Every site"


sharing.register_kind(KIND, "test", owned=_owned, describe=_describe, title="Test site")


class Company:
    """A made tenant with helpers to act as it."""

    def __init__(self, app, made):
        self.app, self.made = app, made
        self.id = made.tenant_id

    def act(self):
        """An app context scoped to the company (as its owner)."""
        return _Acting(self)

    def site_id(self):
        with self.act():
            return db.session.scalar(select(Site.id))


class _Acting:
    def __init__(self, company):
        self.company = company

    def __enter__(self):
        self.ctx = self.company.app.app_context()
        self.ctx.push()
        self.scope = tenancy.scoped(self.company.id, self.company.made.owner_id, session=db.session)
        self.scope.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self.scope.__exit__(*exc)
            if exc[0] is None:
                db.session.commit()
            else:
                db.session.rollback()
        finally:
            self.ctx.pop()


@pytest.fixture
def company(app, tenant_factory):
    def make(kind: str = "plant"):
        return Company(app, tenant_factory(kind))

    return make


@pytest.fixture
def app_sql(app):
    """Raw SQL as the application role, acting as one company: whatever it
    sees is what row-level security lets through."""
    url = make_url(app.config["DATABASE_APP_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)

    def run(tenant_id, sql, params=()):
        conn.execute("select set_config('app.tenant_id', %s, false), set_config('app.user_id', '', false), "
                     "set_config('app.system', 'off', false)", (str(tenant_id) if tenant_id else "",))
        return conn.execute(sql, params)

    yield run
    conn.close()
