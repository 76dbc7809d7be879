"""In Chromium: coils scanned onto a shipment appear in place (htmx) and the
scan field is ready for the next; FIFO suggestions load in place and the
ticked coils are reserved; the shipment is confirmed and delivered."""
from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.factories import PASSWORD


def _signed_in(new_context, live_server, email, **kw):
    page = new_context(**kw).new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")
    return page, errors


def test_reserve_by_fifo_then_scan_onto_a_shipment_and_ship(live_server, new_context, plant):
    for n in (1, 2, 3):
        plant.receive(f"BR-{n}", weight_kg=2000)
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)

    page.goto(f"{live_server}/inventory/reservations")
    page.get_by_test_id("fifo-alloy").fill("5052")
    page.get_by_test_id("fifo-submit").click()
    rows = page.get_by_test_id("fifo-row")
    expect(rows).to_have_count(3)
    page.locator('[data-testid="fifo-row"][data-coil="BR-3"] input[type=checkbox]').uncheck()
    line = str(uuid.uuid4())
    page.get_by_test_id("reserve-line").fill(line)
    page.get_by_test_id("reserve-submit").click()
    expect(page.get_by_test_id("reservation-row")).to_have_count(2)
    expect(page.get_by_test_id("line-location")).to_contain_text("BR-1")

    page.goto(f"{live_server}/inventory/shipments")
    page.get_by_test_id("customer_name").fill("Browser Customer")
    page.get_by_test_id("create-shipment").click()
    expect(page.get_by_test_id("shipment-status")).to_have_attribute("data-status", "draft")
    scan = page.get_by_test_id("add-coil-no")
    for coil_no in ("BR-1", f"{live_server}/inventory/c/BR-2"):
        scan.fill(coil_no)
        scan.press("Enter")
        expect(page.locator(f'[data-testid="shipment-item"][data-coil="{coil_no.rsplit("/", 1)[-1]}"]')).to_be_visible()
        expect(scan).to_have_value("")
    scan.fill("NOT-A-COIL")
    scan.press("Enter")
    expect(page.get_by_test_id("shipment-items")).to_contain_text("No coil numbered NOT-A-COIL.")
    expect(page.get_by_test_id("shipment-item")).to_have_count(2)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("confirm-shipment").click()
    expect(page.get_by_test_id("shipment-status")).to_have_attribute("data-status", "shipped")
    page.get_by_test_id("received_by").fill("张三")
    page.get_by_test_id("deliver").click()
    expect(page.get_by_test_id("shipment-status")).to_have_attribute("data-status", "delivered")
    assert plant.coil_status("BR-1") == "shipped" and plant.coil_status("BR-3") == "available"
    assert errors == []
