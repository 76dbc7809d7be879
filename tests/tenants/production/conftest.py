"""Fixtures of the production tests: a plant company on the professional
plan with a cold line (CM1 cold mill, AF1 furnace, SL1 slitter), product P1
(3003-H14 1.0 × 1000) routed CM1 → AF1 → SL1, a finished-goods warehouse,
a confirmed order, and a schedule published through `publish_plan` as the
scheduling room would; plus a snapshot of every table the room touches (to
prove that a refused action changed nothing)."""
from __future__ import annotations

import contextlib
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from tests.factories import ApiClient

TABLES = ["production_work_orders", "production_pauses", "order_lines", "order_history", "inv_coils", "inv_moves",
          "inv_production_events", "inv_scrap", "inv_genealogy_links", "outbox", "audit_log"]
T0 = datetime(2031, 3, 3, 6, 0, tzinfo=timezone.utc)


def give_plan(app, tenant_id, plan="professional"):
    from alloyhub.platform.billing import services as billing

    with app.app_context():
        billing.override_plan(tenant_id, plan, reason="production tests")


class Shop:
    def __init__(self, app, made):
        from alloyhub.tenants.equipment import services as equipment
        from alloyhub.tenants.inventory import services as inventory
        from alloyhub.tenants.orders import services as orders
        from alloyhub.tenants.products import services as products

        self.app, self.made = app, made
        with self.scope():
            site = db.session.scalar(select(Site).order_by(Site.created_at))
            area = equipment.create_area(site_id=site.id, code="COLD", name="Cold rolling")
            line = equipment.create_line(area_id=area.id, code="CRL", name="Cold line")
            self.units = {}
            for code, kind, caps in (
                    ("CM1", "cold_mill", dict(max_width_mm=1700, min_gauge_mm=0.15, max_gauge_mm=8)),
                    ("AF1", "annealing_furnace", dict(batch_capacity_t=40, batch_capacity_coils=4)),
                    ("SL1", "slitter", dict(max_width_mm=1700))):
                self.units[code] = equipment.create_unit(line_id=line.id, code=code, name=f"Unit {code}", kind=kind,
                                                         **caps).id
            product = products.create_product(code="P1", alloy="3003", temper="H14", gauge_mm=1.0, width_mm=1000,
                                               coil_weight_t=5.0)
            products.set_routing(product, [
                {"process": "cold_roll", "rate": 10.0, "yield_pct": 98.0, "units": [{"unit_id": self.units["CM1"]}]},
                {"process": "anneal", "anneal_recipe": "O-360", "anneal_cycle_h": 20.0,
                 "units": [{"unit_id": self.units["AF1"]}]},
                {"process": "slit", "rate": 20.0, "units": [{"unit_id": self.units["SL1"]}]},
            ])
            self.product_id = product.id
            self.customer_id = orders.create_customer(code="C1", name="Customer one").id
            warehouse = inventory.create_warehouse(site_id=site.id, code="FG", name="Finished goods")
            self.loc = {code: inventory.create_location(warehouse, code=code).id for code in ("A-01", "A-02")}

    @contextlib.contextmanager
    def scope(self):
        with self.app.app_context(), tenancy.scoped(self.made.tenant_id, self.made.owner_id, session=db.session):
            yield

    def call(self, fn, *args, **kwargs):
        with self.scope():
            return fn(*args, **kwargs)

    def order_line(self, tonnes=10.0):
        """A confirmed order with one line of P1; the line's id."""
        from alloyhub.tenants.orders import services as orders

        with self.scope():
            order = orders.create_order(customer_id=self.customer_id, lines=[
                {"product_id": self.product_id, "quantity": tonnes, "quantity_unit": "t",
                 "due_date": date(2031, 4, 1)}])
            orders.confirm_order(order)
            return order.lines[0].id

    def operations(self, line_id, *, start=T0, steps=(0, 1, 2), **override):
        names, units = ("cold_roll", "anneal", "slit"), ("CM1", "AF1", "SL1")
        ops = []
        for k in steps:
            ops.append({"order_line_id": line_id, "step": k, "operation": names[k], "unit_id": self.units[units[k]],
                        "planned_start": start + timedelta(hours=8 * k),
                        "planned_end": start + timedelta(hours=8 * k + 6),
                        "planned_input_kg": 10000.0 - 100 * k, "planned_output_kg": 9900.0 - 100 * k,
                        "batch_key": "AF1-L1" if k == 1 else None, **override})
        return ops

    def publish(self, *line_ids, schedule_id=None, ops=None):
        """Publish a schedule version as the scheduling room does: work
        orders, lines planned, one commit. {(line_id, step): work order id}."""
        from alloyhub.tenants.orders import services as orders
        from alloyhub.tenants.production import services

        schedule_id = schedule_id or uuid.uuid4()
        with self.scope():
            operations = ops if ops is not None else [op for line in line_ids for op in self.operations(line)]
            made = services.publish_plan(schedule_id, operations)
            for line_id in {op["order_line_id"] for op in operations}:
                line = orders.get_line(line_id)
                if line.status == "confirmed":
                    orders.mark_planned(line, commit=False)
            db.session.commit()
            return {(wo.order_line_id, wo.step): wo.id for wo in made}

    def receive(self, coil_no, weight_kg=10000.0, *, alloy="3003", temper="F", gauge_mm=2.0, width_mm=1020.0):
        from alloyhub.tenants.inventory import services as inventory

        with self.scope():
            (coil,) = inventory.receive([{"coil_no": coil_no, "alloy": alloy, "temper": temper, "gauge_mm": gauge_mm,
                                          "width_mm": width_mm, "weight_kg": weight_kg}], location_id=self.loc["A-01"])
            return coil.id

    def wo(self, wo_id):
        from alloyhub.tenants.production import services

        with self.scope():
            wo = services.get_work_order(wo_id)
            return {"number": wo.number, "status": wo.status, "output_kg": wo.output_kg, "input_kg": wo.input_kg,
                    "actual_start": wo.actual_start, "actual_end": wo.actual_end, "unit_id": wo.unit_id,
                    "planned_start": wo.planned_start, "schedule_id": wo.schedule_id}

    def line_status(self, line_id):
        from alloyhub.tenants.orders import services as orders

        with self.scope():
            return orders.get_line(line_id).status

    def coil(self, coil_no):
        from alloyhub.tenants.inventory import services as inventory

        with self.scope():
            coil = inventory.get_coil_by_number(coil_no)
            return {"id": coil.id, "status": coil.status, "weight_kg": coil.weight_kg, "location_id": coil.location_id,
                    "work_order_id": coil.work_order_id, "order_line_id": coil.order_line_id, "temper": coil.temper}

    def ancestry(self, coil_no):
        from alloyhub.tenants.inventory import services as inventory

        with self.scope():
            coil = inventory.get_coil_by_number(coil_no)
            graph = inventory.ancestry("coil", coil.id)
            return {"nodes": [n["label"] for n in graph["nodes"]], "route": graph["route"]}


@pytest.fixture
def shop(app, tenant_factory):
    made = tenant_factory()
    give_plan(app, made.tenant_id)
    return Shop(app, made)


@pytest.fixture
def owner(shop, make_client):
    return ApiClient(make_client()).sign_in(shop.made.owner_email)


@pytest.fixture
def snapshot(owner_engine):
    def take(tenant_id):
        with owner_engine.connect() as conn:
            return {t: [dict(r) for r in conn.execute(text(f"select * from {t} where tenant_id = :t order by id"),
                                                      {"t": tenant_id}).mappings()] for t in TABLES}

    return take


def problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:800])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    return body
