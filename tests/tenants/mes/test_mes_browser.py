"""In Chromium: the equipment tree's badges follow the live state by
themselves (htmx), a routing is built in the editor, an order is entered and
confirmed in the browser, its promised date comes in place (htmx), and the
customer opens the tracking link without signing in."""
from __future__ import annotations

import json

from playwright.sync_api import expect

from alloyhub.platform.db import utcnow
from tests.factories import PASSWORD
from tests.tenants.mes.conftest import due


def _signed_in(new_context, live_server, email, **context):
    page = new_context(**context).new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")
    return page, errors


def test_live_badges_refresh_by_themselves(app, live_server, new_context, plant):
    from alloyhub.platform.jobs import redis
    from tests.tenants.mes.test_equipment_api import _agent

    agent_id = _agent(plant)
    with plant.scope():
        from alloyhub.tenants.equipment import services as equipment

        equipment.add_unit_tag(equipment.get_unit(plant.units["CM1"]), agent_id=agent_id, tag="mill.speed",
                               running_above=5.0)
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)
    page.goto(f"{live_server}/equipment")
    badge = page.get_by_test_id("state-CM1")
    expect(badge).to_have_attribute("data-state", "unknown")
    key = f"ah:latest:{plant.made.tenant_id}:{agent_id}"
    try:
        with app.app_context():
            redis().hset(key, "mill.speed", json.dumps({"v": 250.0, "ts": utcnow().isoformat(), "q": "good"}))
        expect(badge).to_have_attribute("data-state", "running", timeout=25_000)
        expect(badge).to_have_text("Running")
    finally:
        with app.app_context():
            redis().delete(key)
    assert errors == []


def test_routing_order_promise_and_tracking(live_server, new_context, plant):
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)
    # A new product routed in the editor: cold roll on CM1, then pack on PK1.
    page.goto(f"{live_server}/products")
    page.get_by_test_id("code").fill("WEB-1")
    page.get_by_test_id("alloy").fill("1060")
    page.get_by_test_id("temper").fill("O")
    page.get_by_test_id("gauge_mm").fill("1")
    page.get_by_test_id("width_mm").fill("1000")
    page.get_by_test_id("coil_weight_t").fill("5")
    page.get_by_test_id("add-product").click()
    page.get_by_test_id("op-0-process").select_option("cold_roll")
    page.get_by_test_id("op-0-rate").fill("10")
    page.get_by_test_id("op-0-unit-CM1").check()
    page.get_by_test_id("op-1-process").select_option("pack")
    page.get_by_test_id("op-1-rate").fill("40")
    page.get_by_test_id("save-routing").click()
    # Packing without a unit: refused in place, the rows kept.
    expect(page.get_by_test_id("routing-errors")).to_contain_text("has no eligible unit")
    page.get_by_test_id("op-1-unit-PK1").check()
    page.get_by_test_id("save-routing").click()
    expect(page.get_by_test_id("flash")).to_contain_text("routing of WEB-1 is saved")
    # Enter and confirm an order for it.
    page.goto(f"{live_server}/orders/new")
    page.get_by_test_id("customer").select_option(label="C1 · Customer one")
    page.get_by_test_id("customer_po").fill("PO-BROWSER")
    page.get_by_test_id("line-0-product").select_option(label="WEB-1")
    page.get_by_test_id("line-0-quantity").fill("20")
    page.get_by_test_id("line-0-due_date").fill(due(0))
    page.get_by_test_id("save-confirm").click()
    expect(page.get_by_test_id("order-status")).to_have_attribute("data-status", "confirmed")
    page.get_by_test_id("promise-1").click()
    expect(page.get_by_test_id("promised-date")).to_contain_text("Earliest delivery")
    expect(page.get_by_test_id("promise")).to_contain_text("CM1")
    token = page.get_by_test_id("tracking-url").get_attribute("href").split("/track/")[1]
    # The customer, not signed in, in Chinese.
    customer = new_context(locale="zh-CN").new_page()
    customer.goto(f"{live_server}/track/{token}")
    expect(customer.get_by_test_id("tracking-status")).to_have_text("已确认")
    expect(customer.get_by_test_id("tracking-line")).to_have_count(1)
    assert errors == []
