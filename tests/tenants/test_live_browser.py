"""In Chromium: the live page refreshes itself, the trend page draws with
uPlot from the history API and appends live values, and the alarm list
acknowledges in place with htmx."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.tenants.agents.models import AgentTag
from tests.factories import PASSWORD
from tests.tenants.test_alarms_engine import Plant


@pytest.fixture
def plant(app, tenant_factory):
    plant = Plant(app, tenant_factory())
    with app.app_context(), tenancy.scoped(plant.made.tenant_id, plant.made.owner_id, session=db.session):
        db.session.add(AgentTag(agent_id=plant.agent_id, tag="mill.speed", unit="m/min"))
        db.session.commit()
    return plant


@pytest.fixture
def latest(app, plant):
    """Write the telemetry room's latest-value hash for the plant's agent."""
    from alloyhub.platform.jobs import redis

    key = f"ah:latest:{plant.made.tenant_id}:{plant.agent_id}"

    def put(tag, value):
        with app.app_context():
            redis().hset(key, tag, json.dumps({"v": value, "ts": datetime.now(timezone.utc).isoformat(),
                                               "q": "good"}))

    yield put
    with app.app_context():
        redis().delete(key)


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


def test_live_page_refreshes_itself(live_server, new_context, plant, latest):
    latest("mill.speed", 401.5)
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)
    page.goto(f"{live_server}/live/{plant.agent_id}")
    cell = page.locator('[data-tag="mill.speed"] [data-testid="live-value"]')
    expect(cell).to_have_text("401.5")
    latest("mill.speed", 433.25)
    expect(cell).to_have_text("433.25")  # the next poll brings it, no reload
    assert errors == []


def test_trend_page_draws_and_appends_live_values(live_server, new_context, plant, latest):
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/api/v1/telemetry/history" in r.url else None)
    page.goto(f"{live_server}/live/{plant.agent_id}/trend?range=1d")
    expect(page.locator("#trend canvas")).to_have_count(1)
    expect(page.locator("#trend .u-legend")).to_contain_text("mill.speed")
    assert statuses == [200]
    page.get_by_label("Live").check()
    latest("mill.speed", 412.0)
    expect(page.locator("#trend-empty")).to_be_hidden()
    page.screenshot(path="/tmp/trend.png", full_page=True)
    # Zooming in asks the history API again for the narrower range, at a finer step.
    box = page.locator("#trend .u-over").bounding_box()
    with page.expect_response(lambda r: "/api/v1/telemetry/history" in r.url) as zoom:
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 50)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 50, steps=5)
        page.mouse.up()
    query = parse_qs(urlparse(zoom.value.url).query)
    assert zoom.value.status == 200 and int(query["step"][0]) < 60  # the 1 d view's minute rollup
    span = datetime.fromisoformat(query["to"][0]) - datetime.fromisoformat(query["from"][0])
    assert span.total_seconds() < 86400 / 2
    assert errors == []


def test_acknowledge_in_place(live_server, new_context, plant):
    alarm_id = plant.rule(limit=100.0, priority="critical", name="Bearing hot")
    plant.feed((0, 150.0))
    page, errors = _signed_in(new_context, live_server, plant.made.owner_email)
    page.goto(f"{live_server}/alarms")
    expect(page.get_by_test_id("nav-badge-alarms")).to_have_text("1")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f"#alarm-{alarm_id}")
    row.get_by_test_id("ack").click()
    expect(row).to_have_attribute("data-state", "active_acked")
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path="/tmp/alarms.png", full_page=True)
    assert errors == []


def test_add_a_rule_and_shelve_in_chinese(live_server, new_context, plant):
    page = new_context(locale="zh-CN").new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(plant.made.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.goto(f"{live_server}/alarms/rules")
    expect(page.locator("h1")).to_have_text("报警规则")
    page.get_by_test_id("name").fill("轧辊温度高")
    page.get_by_test_id("tag").fill("mill.speed")
    page.get_by_test_id("limit").fill("500")
    page.get_by_test_id("priority").select_option("critical")
    page.get_by_test_id("add-rule").click()
    expect(page.get_by_test_id("flash")).to_contain_text("已添加")
    page.screenshot(path="/tmp/rules-zh.png", full_page=True)
    plant.feed((0, 900.0), tag="mill.speed")
    page.goto(f"{live_server}/alarms")
    row = page.get_by_test_id("alarm-row")
    expect(row).to_have_attribute("data-state", "active_unacked")
    row.get_by_placeholder("原因").fill("更换热电偶")
    row.get_by_test_id("shelve").click()
    expect(row).to_have_attribute("data-state", "shelved")
    expect(row).to_contain_text("已搁置")
    page.screenshot(path="/tmp/alarms-zh.png", full_page=True)
    assert errors == []
