"""Fixtures of the inventory tests: a plant with a warehouse and locations,
its owner's API client, and a snapshot of everything the room stores (to
prove that a refused action changed nothing)."""
from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import select, text

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from alloyhub.tenants.inventory import services
from tests.factories import ApiClient

INVENTORY_TABLES = ["inv_warehouses", "inv_locations", "inv_heats", "inv_lots", "inv_coils", "inv_moves",
                    "inv_reservations", "inv_shipments", "inv_shipment_items", "inv_production_events", "inv_scrap",
                    "inv_genealogy_links", "outbox", "audit_log"]


class Stock:
    """One plant company with warehouse FG (locations A-01, A-02, DOCK) and
    shortcuts that act through the services as its owner."""

    def __init__(self, app, made):
        self.app, self.made = app, made
        with self.scope():
            site = db.session.scalar(select(Site).order_by(Site.created_at))
            self.site_id = site.id
            warehouse = services.create_warehouse(site_id=site.id, code="FG", name="Finished goods")
            self.warehouse_id = warehouse.id
            self.loc = {}
            for code in ("A-01", "A-02", "DOCK"):
                self.loc[code] = services.create_location(warehouse, code=code,
                                                          kind="dock" if code == "DOCK" else "storage").id

    @contextlib.contextmanager
    def scope(self):
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, self.made.owner_id, session=db.session):
            yield

    def receive(self, coil_no, *, location="A-01", alloy="5052", temper="H32", gauge_mm=1.2, width_mm=1250.0,
                weight_kg=5000.0, received_at=None, **extra):
        with self.scope():
            (coil,) = services.receive([{"coil_no": coil_no, "alloy": alloy, "temper": temper, "gauge_mm": gauge_mm,
                                         "width_mm": width_mm, "weight_kg": weight_kg, **extra}],
                                       location_id=self.loc[location], received_at=received_at)
            return coil.id

    def coil(self, coil_id):
        with self.scope():
            coil = services.get_coil(coil_id)
            return {"coil_no": coil.coil_no, "status": coil.status, "weight_kg": coil.weight_kg,
                    "location_id": coil.location_id, "shipment_id": coil.shipment_id, "unit_id": coil.unit_id}

    def coil_status(self, coil_no):
        with self.scope():
            return services.get_coil_by_number(coil_no).status

    def call(self, fn, *args, **kwargs):
        """Run a service as the owner; returns its result (ORM objects detached, ids fine)."""
        with self.scope():
            return fn(*args, **kwargs)


@pytest.fixture
def plant(app, tenant_factory):
    return Stock(app, tenant_factory())


@pytest.fixture
def owner(plant, make_client):
    return ApiClient(make_client()).sign_in(plant.made.owner_email)


@pytest.fixture
def snapshot(owner_engine):
    """Every inventory row of a tenant (and its outbox and audit entries), as comparable values."""

    def take(tenant_id):
        with owner_engine.connect() as conn:
            state = {}
            for table in INVENTORY_TABLES:
                rows = conn.execute(text(f"select * from {table} where tenant_id = :t order by id"),
                                    {"t": tenant_id}).mappings().all()
                state[table] = [dict(r) for r in rows]
        return state

    return take


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:800])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    return body
