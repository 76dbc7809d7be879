"""Factories for the equipment, products and orders routes' arguments (the
cross-tenant probe): each makes the object in the given company as its owner."""
from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from tests.probe import BODIES, as_owner, factory, pop


def _tag() -> str:
    return secrets.token_hex(3).upper()


def _unit(kind="cold_mill", **caps):
    from alloyhub.tenants.equipment import services as equipment

    site = db.session.scalar(select(Site).order_by(Site.created_at))
    area = equipment.create_area(site_id=site.id, code=f"A{_tag()}", name="Probe area")
    line = equipment.create_line(area_id=area.id, code=f"L{_tag()}", name="Probe line")
    return equipment.create_unit(line_id=line.id, code=f"U{_tag()}", name="Probe unit", kind=kind, **caps)


def _product(routed=True):
    from alloyhub.tenants.products import services as products

    product = products.create_product(code=f"P{_tag()}", alloy="1060", temper="O", gauge_mm=1.0, width_mm=1000,
                                       coil_weight_t=5.0)
    if routed:
        unit = _unit()
        products.set_routing(product, [{"process": "cold_roll", "rate": 10.0, "units": [{"unit_id": unit.id}]}])
    return product


def _order():
    from alloyhub.tenants.orders import services as orders

    customer = orders.create_customer(code=f"C{_tag()}", name="Probe customer")
    return orders.create_order(customer_id=customer.id, lines=[
        {"product_id": _product().id, "quantity": 10.0, "due_date": date(2031, 1, 1)}])


def _made(make):
    def run(app, made):
        ctx = as_owner(app, made)
        try:
            return make().id
        finally:
            pop(ctx)

    return run


def _area():
    from alloyhub.tenants.equipment import services as equipment

    site = db.session.scalar(select(Site).order_by(Site.created_at))
    return equipment.create_area(site_id=site.id, code=f"A{_tag()}", name="Probe area")


@factory("area_id")
def make_area(app, made):
    return _made(_area)(app, made)


@factory("line_id")
def make_line(app, made):
    from alloyhub.tenants.equipment import services as equipment

    return _made(lambda: equipment.get_line(_unit().line_id))(app, made)


@factory("unit_id")
def make_unit(app, made):
    return _made(_unit)(app, made)


@factory("calendar_id")
def make_calendar(app, made):
    from alloyhub.tenants.equipment import services as equipment

    return _made(lambda: equipment.create_calendar(name=f"Probe {_tag()}", shifts=[
        {"weekday": 0, "start": "06:00", "end": "14:00"}]))(app, made)


@factory("downtime_id")
def make_downtime(app, made):
    from alloyhub.tenants.equipment import services as equipment

    start = datetime(2031, 1, 6, 8, tzinfo=timezone.utc)
    return _made(lambda: equipment.create_downtime(unit_id=_unit().id, starts_at=start,
                                                   ends_at=start + timedelta(hours=8), reason="probe"))(app, made)


@factory("unit_tag_id")
def make_unit_tag(app, made):
    from alloyhub.tenants.agents.models import Agent
    from alloyhub.tenants.equipment import services as equipment

    def make():
        agent = Agent(name=f"Probe agent {_tag()}", status="active")
        db.session.add(agent)
        db.session.flush()
        return equipment.add_unit_tag(_unit(), agent_id=agent.id, tag="mill.speed", running_above=5.0)

    return _made(make)(app, made)


@factory("product_id")
def make_product(app, made):
    return _made(_product)(app, made)


@factory("setup_rule_id")
def make_setup_rule(app, made):
    from alloyhub.tenants.products import services as products

    return _made(lambda: products.create_setup_rule(kind="width_up", minutes=30.0, threshold=50.0))(app, made)


@factory("customer_id")
def make_customer(app, made):
    from alloyhub.tenants.orders import services as orders

    return _made(lambda: orders.create_customer(code=f"C{_tag()}", name="Probe customer"))(app, made)


@factory("order_id")
def make_order(app, made):
    return _made(_order)(app, made)


@factory("order_line_id")
def make_order_line(app, made):
    return _made(lambda: _order().lines[0])(app, made)


_ANY = str(uuid.uuid4())
BODIES.update({
    ("equipment_api.UnitTags", "POST"): {"agent_id": _ANY, "tag": "probe.tag"},
    ("equipment_api.UnitDowntimes", "POST"): {"starts_at": "2031-01-06T08:00:00Z", "ends_at": "2031-01-06T16:00:00Z"},
    ("products_api.Routing", "PUT"): {"operations": []},
    ("orders_api.OrderLines", "POST"): {"product_id": _ANY, "quantity": 1.0, "due_date": "2031-01-01"},
    ("orders_api.LineCancel", "POST"): {"reason": "probe"},
    ("orders_api.OrderCancel", "POST"): {"reason": "probe"},
    ("orders_api.OrderTransition", "POST"): {"status": "planned"},
})
