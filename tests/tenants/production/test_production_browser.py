"""In Chromium at tablet size (1024 × 768): the operator picks the unit,
scans a coil label with a keyboard-wedge scanner (typed + Enter), and the
work order it feeds opens; start, pause with a reason, resume, finish, then
the output form: the new coil is in stock with its genealogy, and the
order line has followed."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import PASSWORD


def test_scan_start_pause_resume_finish_report_on_a_tablet(live_server, new_context, shop):
    from alloyhub.tenants.inventory import services as inventory

    line = shop.order_line()
    wos = shop.publish(line)
    coil_id = shop.receive("TAB-IN", 10000.0)
    shop.call(lambda: inventory.reserve([coil_id], line))  # the planner set this coil aside for the line
    number = shop.wo(wos[(line, 0)])["number"]

    page = new_context(viewport={"width": 1024, "height": 768}, has_touch=True).new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(shop.made.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")

    page.locator('[data-nav="production"]').click()
    page.locator('[data-testid="pick-unit"][data-unit="CM1"]').click()
    expect(page.get_by_test_id("station-unit")).to_have_attribute("data-unit", "CM1")
    expect(page.get_by_test_id("queue-item")).to_have_count(1)
    has_detector = page.evaluate("'BarcodeDetector' in window")
    if has_detector:
        expect(page.get_by_test_id("camera-scan")).to_be_visible()
    else:
        expect(page.get_by_test_id("camera-scan")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024

    # The scanner types into the focused field and presses Enter.
    scan = page.get_by_test_id("scan")
    expect(scan).to_be_focused()
    page.keyboard.type(f"{live_server}/inventory/c/TAB-IN")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("work-order")).to_have_attribute("data-number", number)
    expect(page.get_by_test_id("scanned-coil")).to_contain_text("TAB-IN")
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "released")
    start = page.get_by_test_id("start")
    assert start.bounding_box()["height"] >= 44  # a gloved finger hits it
    start.click()
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "started")
    assert shop.line_status(line) == "in_production"

    page.get_by_test_id("pause-reason").select_option("breakdown")
    page.get_by_test_id("pause-note").fill("液压站报警")
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "paused")
    page.get_by_test_id("resume").click()
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "started")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("finish").click()
    expect(page.get_by_test_id("wo-status")).to_have_attribute("data-status", "finished")

    form = page.get_by_test_id("output-form")
    expect(page.get_by_test_id("in_coil-0")).to_have_value("TAB-IN")
    for name, value in (("out_coil-0", "TAB-CR1"), ("out_weight-0", "9850"), ("out_gauge-0", "1.02"),
                        ("out_width-0", "1020"), ("scrap_weight-0", "120"), ("scrap_reason-0", "切头尾")):
        form.get_by_test_id(name).fill(value)
    form.get_by_test_id("output-location").select_option(label="FG/A-02")
    form.get_by_test_id("report-output").click()
    expect(page.get_by_test_id("made-coil")).to_have_text("TAB-CR1")
    expect(page.get_by_test_id("wo-output")).to_contain_text("9,850")

    made = shop.coil("TAB-CR1")
    assert made["status"] == "available" and made["location_id"] == shop.loc["A-02"]
    assert shop.coil("TAB-IN")["status"] == "consumed"
    family = shop.ancestry("TAB-CR1")
    assert "TAB-IN" in family["nodes"] and [s["operation"] for s in family["route"]] == ["cold_roll"]

    # The planner's view of the same work order: the pause and actual against planned.
    page.get_by_test_id("work-order").get_by_role("link", name=number).click()
    expect(page.locator('[data-testid="pause-row"][data-reason="breakdown"]')).to_have_count(1)
    expect(page.get_by_test_id("detail-yield")).to_contain_text("98.5 %")
    page.locator('[data-testid="coil-made"][data-coil="TAB-CR1"]').get_by_role("link", name="TAB-CR1").click()
    expect(page.locator("body")).to_contain_text("TAB-IN")
    assert errors == []
