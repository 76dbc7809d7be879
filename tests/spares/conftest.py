"""Fixtures of the spare-parts tests: companies on a plan with the spares
module, acting as their owner (services) or signed in (API, pages), raw SQL
as the application role, and the outbox relay (which feeds the search index)."""
from __future__ import annotations

import secrets
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from alloyhub.platform import outbox, tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site, Tenant
from tests.factories import ApiClient, sign_in


class Company:
    def __init__(self, app, made, make_client):
        self.app, self.made, self._make_client = app, made, make_client
        self.id = made.tenant_id
        self._api = None

    def act(self):
        return _Acting(self)

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(self._make_client()).sign_in(self.made.owner_email)
        return self._api

    def browser(self):
        client = self._make_client()
        sign_in(client, self.made.owner_email)
        return client

    @property
    def slug(self) -> str:
        with self.app.app_context():
            return db.session.scalar(select(Tenant.slug).where(Tenant.id == self.id))

    def site(self, region=None, lat=None, lon=None):
        """The main site, optionally placed."""
        from alloyhub.spares import stock

        with self.act():
            site = db.session.scalar(select(Site).order_by(Site.code))
            if region is not None or lat is not None:
                stock.set_site_location(site, region=region, latitude=lat, longitude=lon)
            return site.id

    def part(self, part_number="6205-2RS", *, share=None, shared_quantity=None, quantity=4, alliance_ids=None,
             terms=None, **fields):
        """A part in stock, shared when `share` is "subscribers" or "alliances"."""
        from alloyhub.spares import listings, stock

        fields.setdefault("manufacturer", "SKF")
        fields.setdefault("description", "Deep groove ball bearing")
        with self.act():
            part = stock.create_part(part_number=part_number, quantity=quantity, **fields)
            if share:
                listings.set_listing(part, visibility=share, alliance_ids=alliance_ids,
                                     shared_quantity=quantity if shared_quantity is None else shared_quantity,
                                     **(terms or {"sale_price": Decimal("120.00")}))
            return part.id

    def join(self, alliance: "Company"):
        from alloyhub.platform.sharing import services as sharing

        with alliance.act():
            row = sharing.invite_member(self.slug)
        with self.act():
            sharing.respond(sharing.get_membership(row.id), True)


class _Acting:
    def __init__(self, company):
        self.company = company

    def __enter__(self):
        self.ctx = self.company.app.test_request_context()
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


def put(api: ApiClient, url: str, body):
    return api.client.put(url, json=body, headers=api._headers())


def give_plan(app, tenant_id, plan="professional"):
    from alloyhub.platform.billing import services as billing

    with app.app_context():
        billing.override_plan(tenant_id, plan, reason="spares tests")


@pytest.fixture
def company(app, tenant_factory, make_client):
    """A company whose plan includes the spares module."""

    def make(kind: str = "plant", plan: str | None = "professional"):
        made = tenant_factory(kind)
        if kind == "plant" and plan:
            give_plan(app, made.tenant_id, plan)
        return Company(app, made, make_client)

    return make


@pytest.fixture
def relay(app):
    """Deliver the outbox (search index updates, notifications) now."""

    def run():
        with app.app_context():
            while outbox.relay_once():
                pass

    return run


@pytest.fixture
def app_sql(app):
    url = make_url(app.config["DATABASE_APP_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)

    def run(tenant_id, sql, params=()):
        conn.execute("select set_config('app.tenant_id', %s, false), set_config('app.user_id', '', false), "
                     "set_config('app.system', 'off', false)", (str(tenant_id) if tenant_id else "",))
        return conn.execute(sql, params)

    yield run
    conn.close()


@pytest.fixture
def tag():
    """A word of this test's own, to keep its search results apart from other tests'."""
    return "T" + secrets.token_hex(3).upper()
