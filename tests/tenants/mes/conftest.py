"""Fixtures of the equipment, products and orders tests: a plant company
with a small aluminium line (caster, hot mill, cold mill, furnace, slitter,
packing), a product with its routing, a customer, and shortcuts that act
through the services as the company's owner."""
from __future__ import annotations

import contextlib
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from alloyhub.platform.outbox import OutboxEvent
from tests.factories import ApiClient

MES_TABLES = ["equipment_areas", "equipment_lines", "equipment_units", "equipment_calendars", "equipment_shifts",
              "equipment_downtimes", "equipment_unit_tags", "products", "routing_operations",
              "routing_operation_units", "setup_rules", "customers", "customer_orders", "order_lines",
              "order_history", "outbox"]
FAR = date(2031, 3, 3)  # due dates far enough ahead never to be in the past


class Plant:
    """One plant company: site MAIN → area COLD → line CRL with units CM1
    (cold mill), AF1 (furnace, 40 t / 4 coils), SL1 (slitter), PK1 (packing);
    product P1 (3003-H14 1.0 × 1000, 5 t coils) routed CM1 → AF1 → SL1 → PK1;
    customer C1."""

    def __init__(self, app, made, *, routed: bool = True):
        from alloyhub.tenants.equipment import services as equipment
        from alloyhub.tenants.orders import services as orders
        from alloyhub.tenants.products import services as products

        self.app, self.made = app, made
        with self.scope():
            site = db.session.scalar(select(Site).order_by(Site.created_at))
            self.site_id = site.id
            self.area_id = equipment.create_area(site_id=site.id, code="COLD", name="Cold rolling").id
            self.line_id = equipment.create_line(area_id=self.area_id, code="CRL", name="Cold line").id
            self.units = {}
            for code, kind, caps in (
                    ("CM1", "cold_mill", dict(max_width_mm=1700, min_gauge_mm=0.15, max_gauge_mm=8)),
                    ("AF1", "annealing_furnace", dict(batch_capacity_t=40, batch_capacity_coils=4)),
                    ("SL1", "slitter", dict(max_width_mm=1700)),
                    ("PK1", "packing", {})):
                self.units[code] = equipment.create_unit(line_id=self.line_id, code=code, name=code, kind=kind,
                                                         **caps).id
            product = products.create_product(code="P1", alloy="3003", temper="H14", gauge_mm=1.0, width_mm=1000,
                                               coil_weight_t=5.0)
            self.product_id = product.id
            if routed:
                products.set_routing(product, self.routing())
            self.customer_id = orders.create_customer(code="C1", name="Customer one", transit_days=1).id

    def routing(self, **overrides) -> list[dict]:
        ops = [
            {"process": "cold_roll", "rate": 10.0, "yield_pct": 98.0, "units": [{"unit_id": self.units["CM1"]}]},
            {"process": "anneal", "anneal_recipe": "O-360", "anneal_cycle_h": 20.0,
             "units": [{"unit_id": self.units["AF1"]}]},
            {"process": "slit", "rate": 20.0, "units": [{"unit_id": self.units["SL1"]}]},
            {"process": "pack", "rate": 40.0, "units": [{"unit_id": self.units["PK1"]}]},
        ]
        return ops

    @contextlib.contextmanager
    def scope(self):
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, self.made.owner_id, session=db.session):
            yield

    def order(self, lines=None, *, confirm=False, **fields):
        from alloyhub.tenants.orders import services as orders

        lines = lines if lines is not None else [{"quantity": 20.0}]
        with self.scope():
            order = orders.create_order(customer_id=self.customer_id, lines=[
                {"product_id": self.product_id, "due_date": FAR, "quantity_unit": "t", **line} for line in lines],
                **fields)
            if confirm:
                orders.confirm_order(order)
            return order.id

    def line_ids(self, order_id):
        from alloyhub.tenants.orders.models import OrderLine

        with self.scope():
            return list(db.session.scalars(select(OrderLine.id).where(OrderLine.order_id == order_id)
                                           .order_by(OrderLine.line_no)))

    def status(self, order_id):
        from alloyhub.tenants.orders.models import Order

        with self.scope():
            return db.session.scalar(select(Order.status).where(Order.id == order_id))

    def events(self, topic_prefix="order."):
        with self.app.app_context(), tenancy.system_context(db.session):
            return [(e.topic, e.payload) for e in db.session.scalars(
                select(OutboxEvent).where(OutboxEvent.tenant_id == self.made.tenant_id,
                                          OutboxEvent.topic.like(topic_prefix + "%"))
                .order_by(OutboxEvent.created_at))]


@pytest.fixture
def plant(app, tenant_factory):
    return Plant(app, tenant_factory())


@pytest.fixture
def owner(plant, make_client):
    return ApiClient(make_client()).sign_in(plant.made.owner_email)


@pytest.fixture
def snapshot(owner_engine):
    """Row counts of every MES table of a company, to show a refusal changed nothing."""

    def take(tenant_id):
        with owner_engine.connect() as conn:
            return {t: conn.execute(text(f"select count(*) from {t} where tenant_id = :t"), {"t": tenant_id}).scalar()
                    for t in MES_TABLES}

    return take


def due(days: int) -> str:
    return (FAR + timedelta(days=days)).isoformat()
