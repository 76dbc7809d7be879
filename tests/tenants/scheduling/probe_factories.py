"""Factories for the scheduling routes' arguments (the cross-tenant probe):
a solved schedule version of one confirmed order line, one of its
operations, and a unit-down disruption, each made in the given company."""
from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from tests.probe import BODIES, as_owner, factory, pop


def _tag() -> str:
    return secrets.token_hex(3).upper()


def _plant_version():
    from alloyhub.tenants.equipment import services as equipment
    from alloyhub.tenants.orders import services as orders
    from alloyhub.tenants.products import services as products
    from alloyhub.tenants.scheduling import services

    site = db.session.scalar(select(Site).order_by(Site.created_at))
    area = equipment.create_area(site_id=site.id, code=f"A{_tag()}", name="Probe area")
    line = equipment.create_line(area_id=area.id, code=f"L{_tag()}", name="Probe line")
    unit = equipment.create_unit(line_id=line.id, code=f"U{_tag()}", name="Probe unit", kind="cold_mill")
    product = products.create_product(code=f"P{_tag()}", alloy="1060", temper="O", gauge_mm=1.0, width_mm=1000,
                                       coil_weight_t=5.0)
    products.set_routing(product, [{"process": "cold_roll", "rate": 10.0, "units": [{"unit_id": unit.id}]}])
    customer = orders.create_customer(code=f"C{_tag()}", name="Probe customer")
    order = orders.create_order(customer_id=customer.id, lines=[
        {"product_id": product.id, "quantity": 10.0, "due_date": date(2031, 1, 1)}])
    orders.confirm_order(order)
    version = services.create_version(time_limit=1, enqueue=False)
    return services.solve(version.id), unit


def _run(app, made, make):
    ctx = as_owner(app, made)
    try:
        return make()
    finally:
        pop(ctx)


@factory("version_id")
def make_version(app, made):
    return _run(app, made, lambda: _plant_version()[0].id)


@factory("scheduled_operation_id")
def make_operation(app, made):
    return _run(app, made, lambda: _plant_version()[0].operations[0].id)


@factory("disruption_id")
def make_disruption(app, made):
    from alloyhub.tenants.scheduling import services

    def make():
        _, unit = _plant_version()
        now = datetime.now(timezone.utc)
        return services.mark_down(unit_id=unit.id, starts_at=now, ends_at=now + timedelta(hours=2)).id

    return _run(app, made, make)


BODIES.update({
    ("scheduling_api.OperationMove", "POST"): {"unit_id": "00000000-0000-0000-0000-000000000001",
                                               "start": "2031-01-06T08:00:00Z"},
})
