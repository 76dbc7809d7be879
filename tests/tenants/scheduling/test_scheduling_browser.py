"""In Chromium: a planner solves a schedule (the page shows progress and
reloads when the RQ job is done), clicks an operation on the Gantt and
locks it, moves another and re-solves, then publishes the new version,
which releases work orders."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from alloyhub.platform.db import db
from tests.factories import PASSWORD


def _signed_in(new_context, live_server, email):
    page = new_context().new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")
    return page, errors


def test_solve_lock_move_and_publish_on_the_gantt(live_server, new_context, plant, run_jobs):
    from alloyhub.tenants.production.models import WorkOrder

    plant.order([{"quantity": 20.0}, {"quantity": 10.0}], confirm=True)
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)
    page.goto(f"{live_server}/scheduling/")
    page.get_by_test_id("version-name").fill("Browser plan")
    page.get_by_test_id("time-limit").fill("2")
    page.get_by_test_id("solve").click()
    expect(page.get_by_test_id("progress")).to_be_visible()
    assert run_jobs() == 1
    expect(page.get_by_test_id("version-status")).to_have_text("Solved", timeout=20_000)
    expect(page.get_by_test_id("gantt-op")).to_have_count(8)

    page.get_by_test_id("zoom-hour").click()
    ops = page.locator('[data-testid="gantt-op"]')
    ops.first.click()
    expect(page.get_by_test_id("op-panel")).to_be_visible()
    page.get_by_test_id("lock").click()
    expect(page.locator('[data-testid="gantt-op"][data-locked="1"]')).to_have_count(1)
    solved_url = page.url

    page.locator('[data-testid="gantt-op"][data-locked="0"]').last.click()
    start = page.get_by_test_id("move-start").input_value()
    assert start
    page.get_by_test_id("move").click()
    page.wait_for_url(lambda url: url != solved_url and "/scheduling/versions/" in url)
    expect(page.get_by_test_id("progress")).to_be_visible()
    assert run_jobs() == 1
    expect(page.get_by_test_id("version-status")).to_have_text("Solved", timeout=20_000)
    expect(page.locator('[data-testid="gantt-op"][data-locked="1"]')).to_have_count(2)

    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("version-status")).to_have_text("Published")
    expect(page.get_by_test_id("flash")).to_contain_text("is published")
    with plant.scope():
        assert len(list(db.session.scalars(select(WorkOrder).where(WorkOrder.status == "released")))) == 8
    assert errors == []
