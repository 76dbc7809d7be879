"""The promised-date check on a crafted plant whose answer can be worked out
by hand: one mill on a day shift, a known load ahead, set-up and downtime."""
from __future__ import annotations

import math
from datetime import date, datetime, timezone

import pytest

from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.orders import promising
from alloyhub.tenants.orders import services as orders
from alloyhub.tenants.products import services as products

MONDAY_8 = datetime(2031, 1, 6, 8, tzinfo=timezone.utc)


@pytest.fixture
def mill(plant):
    """Mill M1 works Mon-Fri 08:00-16:00 UTC at 10 t/h (yield 100 %); product Q
    (1xxx) runs on it alone. Committed ahead: 160 t of Q due 2031-02-01 = 16 h.
    Customer T has 2 days of transit."""
    with plant.scope():
        calendar = equipment.create_calendar(name="Day", timezone="UTC", shifts=[
            {"weekday": d, "start": "08:00", "end": "16:00"} for d in range(5)])
        m1 = equipment.create_unit(line_id=plant.line_id, code="M1", name="Mill", kind="cold_mill",
                                   calendar_id=calendar.id)
        q = products.create_product(code="Q", alloy="1060", temper="O", gauge_mm=1.0, width_mm=1000,
                                    coil_weight_t=5.0)
        products.set_routing(q, [{"process": "cold_roll", "rate": 10.0, "units": [{"unit_id": m1.id}]}])
        customer = orders.create_customer(code="T", name="Transit two", transit_days=2)
        ahead = orders.create_order(customer_id=customer.id, lines=[
            {"product_id": q.id, "quantity": 160.0, "due_date": date(2031, 2, 1)}])
        orders.confirm_order(ahead)
        return {"m1": m1.id, "q": q.id, "customer": customer.id}


def _promise(plant, mill, tonnes, *, due_date=None, transit=2):
    with plant.scope():
        product = products.get_product(mill["q"])
        return promising.promise(product, tonnes, due_date=due_date, transit_days=transit, now=MONDAY_8)


def test_load_ahead_and_calendar(plant, mill):
    """16 h ahead = Monday and Tuesday; 40 t (4 h) runs Wednesday 08-12; +2 days: Friday."""
    p = _promise(plant, mill, 40.0, due_date=date(2031, 1, 9))
    (step,) = p.steps
    assert step.unit_code == "M1" and step.queued_hours == 16
    assert step.free_at == datetime(2031, 1, 7, 16, tzinfo=timezone.utc)
    assert step.start == datetime(2031, 1, 8, 8, tzinfo=timezone.utc)
    assert step.end == datetime(2031, 1, 8, 12, tzinfo=timezone.utc)
    assert p.promised_date == date(2031, 1, 10)
    assert p.ahead_lines == 1 and p.ahead_tonnes == 160
    assert p.on_time is False and p.days_late == 1
    assert p.bottleneck is step and step.wait_hours == 48
    text = "\n".join(str(line) for line in p.explanation)
    assert "Load ahead: 1 committed lines, 160.0 t." in text
    assert "Bottleneck: M1 (cold_roll): the line waits 48.0 h for it." in text
    assert "Late: due 2031-01-09, 1 days late." in text


def test_planned_downtime_and_set_up_push_it_later(plant, mill):
    with plant.scope():
        equipment.create_downtime(unit_id=mill["m1"], starts_at=datetime(2031, 1, 8, 8, tzinfo=timezone.utc),
                                  ends_at=datetime(2031, 1, 8, 16, tzinfo=timezone.utc), reason="Roll change")
    # Wednesday is gone: Thursday 08-12, delivered Saturday.
    assert _promise(plant, mill, 40.0).promised_date == date(2031, 1, 11)
    with plant.scope():
        other = products.create_product(code="Q5", alloy="5052", temper="H32", gauge_mm=1.0, width_mm=1000,
                                        coil_weight_t=5.0)
        products.set_routing(other, [{"process": "cold_roll", "rate": 10.0, "units": [{"unit_id": mill["m1"]}]}])
        products.create_setup_rule(kind="alloy_family_change", minutes=240)
        # The line's own change-over from the last job queued on M1 (1xxx → 5xxx): 4 h more.
        p = promising.promise(other, 40.0, transit_days=0, now=MONDAY_8)
    (step,) = p.steps
    assert step.setup_minutes == 240
    assert step.start == datetime(2031, 1, 9, 8, tzinfo=timezone.utc)
    assert step.end == datetime(2031, 1, 9, 16, tzinfo=timezone.utc)


def test_a_line_due_earlier_goes_first(plant, mill):
    """An existing committed line due before the 160 t line waits for nothing."""
    with plant.scope():
        order = orders.create_order(customer_id=mill["customer"], lines=[
            {"product_id": mill["q"], "quantity": 40.0, "due_date": date(2031, 1, 20)}])
        orders.confirm_order(order)
        p = promising.promise_line(order.lines[0], now=MONDAY_8)
    assert p.ahead_lines == 0 and p.steps[0].start == MONDAY_8
    assert p.promised_date == date(2031, 1, 8) and p.on_time is True
    assert "No unit makes the line wait" in " ".join(str(x) for x in p.explanation)


def test_two_eligible_units_take_the_earliest(plant, mill):
    with plant.scope():
        m2 = equipment.create_unit(line_id=plant.line_id, code="M2", name="Mill 2", kind="cold_mill")
        q = products.get_product(mill["q"])
        products.set_routing(q, [{"process": "cold_roll", "rate": 10.0,
                                  "units": [{"unit_id": mill["m1"]}, {"unit_id": m2.id, "rate": 5.0}]}])
        p = promising.promise(q, 40.0, transit_days=0, now=MONDAY_8)
    # The 160 t ahead went to the unit where it adds least: M1 (16 h) rather than M2 (32 h);
    # M2 runs around the clock and is free: 40 t at 5 t/h = 8 h → Monday 16:00.
    (step,) = p.steps
    assert step.unit_code == "M2" and step.end == datetime(2031, 1, 6, 16, tzinfo=timezone.utc)


def test_furnace_batches_and_yields_through_a_routing(plant):
    """Plant P1: CM1 10 t/h (98 %), AF1 20 h loads of 40 t / 4 coils, SL1 20 t/h, PK1 40 t/h,
    all around the clock, nothing ahead."""
    with plant.scope():
        p = promising.promise(products.get_product(plant.product_id), 19.6, transit_days=1, now=MONDAY_8)
    roll, anneal, slit, pack = p.steps
    assert math.isclose(roll.input_t, 20.0) and math.isclose(roll.hours, 2.0)
    assert anneal.hours == 20.0  # 19.6 t = 4 coils of 5 t: one load
    assert slit.start == anneal.end
    assert abs((pack.end - MONDAY_8).total_seconds() - (2 + 20 + 19.6 / 20 + 19.6 / 40) * 3600) < 1
    assert p.promised_date == date(2031, 1, 8)


def test_promise_api(plant, owner):
    order_id = plant.order([{"quantity": 20.0}], confirm=True)
    (line_id,) = plant.line_ids(order_id)
    response = owner.get(f"/api/v1/order-lines/{line_id}/promised-date")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [s["unit_code"] for s in body["steps"]] == ["CM1", "AF1", "SL1", "PK1"]
    assert body["transit_days"] == 1 and body["explanation"] and body["on_time"] is True
    quote = owner.post("/api/v1/promised-date", json={"product_id": str(plant.product_id), "quantity": 4,
                                                      "quantity_unit": "coils", "customer_id": str(plant.customer_id)})
    assert quote.status_code == 200 and quote.get_json()["tonnes"] == 20 and quote.get_json()["ahead_lines"] == 1
    assert owner.post("/api/v1/promised-date", json={"product_id": str(plant.product_id),
                                                     "quantity": -1}).status_code == 422
    unrouted = owner.post("/api/v1/products", json={"code": "RAW", "alloy": "1060", "temper": "O", "gauge_mm": 1,
                                                    "width_mm": 1000, "coil_weight_t": 5}).get_json()
    refused = owner.post("/api/v1/promised-date", json={"product_id": unrouted["id"], "quantity": 5})
    assert refused.status_code == 409 and "no routing" in refused.get_json()["detail"]
