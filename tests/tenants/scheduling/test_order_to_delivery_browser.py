"""The whole plant path in Chromium, as its people do it: the sales clerk
enters and confirms an order, the planner solves and publishes a schedule,
the operators report both operations on the shop-floor page by scanning
coil labels, the warehouse ships and delivers the finished coil. The order
follows at every step without anyone moving it by hand."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import PASSWORD
from tests.tenants.mes.conftest import FAR


def _two_step_routing(plant):
    """Cold roll on CM1, then pack on PK1: short enough to walk in a browser."""
    from alloyhub.tenants.products import services as products

    with plant.scope():
        product = products.get_product(plant.product_id)
        products.set_routing(product, [
            {"process": "cold_roll", "rate": 10.0, "yield_pct": 99.0, "units": [{"unit_id": plant.units["CM1"]}]},
            {"process": "pack", "rate": 40.0, "units": [{"unit_id": plant.units["PK1"]}]},
        ])


def _warehouse(plant) -> None:
    from alloyhub.tenants.inventory import services as inventory

    with plant.scope():
        warehouse = inventory.create_warehouse(site_id=plant.site_id, code="FG", name="Finished goods")
        plant.location_id = inventory.create_location(warehouse, code="A-01").id
        inventory.receive([{"coil_no": "E2E-HB", "alloy": "3003", "temper": "F", "gauge_mm": 3.0,
                            "width_mm": 1020, "weight_kg": 5200}], location_id=plant.location_id)


def _line_status(plant, order_id) -> str:
    (line_id,) = plant.line_ids(order_id)
    from alloyhub.tenants.orders import services as orders

    with plant.scope():
        return orders.get_line(line_id).status


def _report(page, live_server, unit, scanned, out_coil, weight, *, to_stock: bool):
    """On the unit's station: scan, start, finish, record the output coil."""
    page.goto(f"{live_server}/production/floor?pick=1")  # this tablet moves between units
    page.locator(f'[data-testid="pick-unit"][data-unit="{unit}"]').click()
    scan = page.get_by_test_id("scan")
    scan.fill(f"{live_server}/inventory/c/{scanned}")
    scan.press("Enter")
    expect(page.get_by_test_id("scanned-coil")).to_contain_text(scanned)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "started")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("finish").click()
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "finished")
    form = page.get_by_test_id("output-form")
    expect(form.get_by_test_id("in_coil-0")).to_have_value(scanned)
    for name, value in (("out_coil-0", out_coil), ("out_weight-0", weight), ("out_gauge-0", "1.0"),
                        ("out_width-0", "1000")):
        form.get_by_test_id(name).fill(value)
    if to_stock:
        form.get_by_test_id("output-location").select_option(label="FG/A-01")
    form.get_by_test_id("report-output").click()
    expect(page.get_by_test_id("made-coil")).to_have_text(out_coil)


def test_confirm_schedule_publish_produce_ship_deliver(live_server, new_context, plant, run_jobs):
    from alloyhub.tenants.inventory import services as inventory

    _two_step_routing(plant)
    _warehouse(plant)
    page = new_context().new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(plant.made.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")

    # Sales: one line of 5 t (one coil), confirmed.
    page.goto(f"{live_server}/orders/new")
    page.get_by_test_id("customer").select_option(label="C1 · Customer one")
    page.get_by_test_id("customer_po").fill("PO-E2E")
    page.get_by_test_id("line-0-product").select_option(label="P1")
    page.get_by_test_id("line-0-quantity").fill("5")
    page.get_by_test_id("line-0-due_date").fill(FAR.isoformat())
    page.get_by_test_id("save-confirm").click()
    expect(page.get_by_test_id("order-status")).to_have_attribute("data-status", "confirmed")
    order_url = page.url
    order_id = order_url.rstrip("/").rsplit("/", 1)[-1]

    # Planning: solve, publish; the line is planned and two work orders are out.
    page.goto(f"{live_server}/scheduling/")
    page.get_by_test_id("version-name").fill("E2E plan")
    page.get_by_test_id("time-limit").fill("2")
    page.get_by_test_id("solve").click()
    assert run_jobs() == 1
    expect(page.get_by_test_id("version-status")).to_have_text("Solved", timeout=20_000)
    expect(page.get_by_test_id("gantt-op")).to_have_count(2)
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("version-status")).to_have_text("Published")
    assert _line_status(plant, order_id) == "planned"

    # The hot band is set aside for the line, so its label finds the work order.
    (line_id,) = plant.line_ids(order_id)
    with plant.scope():
        inventory.reserve([inventory.get_coil_by_number("E2E-HB").id], line_id)

    # Shop floor: cold rolling leaves the coil at the mill, packing puts it in stock.
    _report(page, live_server, "CM1", "E2E-HB", "E2E-CR", "5100", to_stock=False)
    assert _line_status(plant, order_id) == "in_production"
    _report(page, live_server, "PK1", "E2E-CR", "E2E-PK", "5090", to_stock=True)
    assert _line_status(plant, order_id) == "in_stock"

    # The warehouse ships the finished coil; then the customer signs for it.
    page.goto(f"{live_server}/inventory/shipments")
    page.get_by_test_id("customer_name").fill("Customer one")
    page.get_by_test_id("create-shipment").click()
    scan = page.get_by_test_id("add-coil-no")
    scan.fill("E2E-PK")
    scan.press("Enter")
    expect(page.locator('[data-testid="shipment-item"][data-coil="E2E-PK"]')).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("confirm-shipment").click()
    expect(page.get_by_test_id("shipment-status")).to_have_attribute("data-status", "shipped")
    assert _line_status(plant, order_id) == "shipped"
    page.get_by_test_id("received_by").fill("张三")
    page.get_by_test_id("deliver").click()
    expect(page.get_by_test_id("shipment-status")).to_have_attribute("data-status", "delivered")

    page.goto(order_url)
    expect(page.get_by_test_id("order-status")).to_have_attribute("data-status", "delivered")
    # The delivered coil's ancestry runs back to the hot band through both operations.
    with plant.scope():
        graph = inventory.ancestry("coil", inventory.get_coil_by_number("E2E-PK").id)
    assert {"E2E-HB", "E2E-CR"} <= {n["label"] for n in graph["nodes"]}
    assert [s["operation"] for s in graph["route"]] == ["cold_roll", "pack"]
    assert errors == []
