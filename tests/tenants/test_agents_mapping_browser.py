"""In Chromium: the tag mapping editor's buttons (add a source, add and
duplicate rows, the kind showing its own settings) and a save that makes
the next configuration version."""
from __future__ import annotations

from playwright.sync_api import expect

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.tenants.agents import services
from alloyhub.tenants.agents.models import Agent
from tests.factories import PASSWORD


def test_add_a_source_and_two_tags_then_save(app, tenant_factory, live_server, new_context):
    made = tenant_factory()
    with app.app_context(), tenancy.scoped(made.tenant_id, made.owner_id, session=db.session):
        agent, _secret, _token = services.create_agent(name="Press line agent")
        agent_id = agent.id
    page = new_context().new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/signin")
    page.get_by_test_id("email").fill(made.owner_email)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/agents/{agent_id}")

    page.get_by_test_id("add-source").click()
    card = page.get_by_test_id("source-card")
    expect(card).to_have_count(1)
    card.locator("[data-field=name]").fill("plc1")
    expect(card.locator("legend")).to_contain_text("plc1")
    # A new source is a Modbus PLC: its settings show, the OPC UA ones do not.
    expect(card.locator("[data-field=host]")).to_be_visible()
    expect(card.locator("[data-field=url]")).to_be_hidden()
    card.locator("[data-field=host]").fill("10.1.2.3")
    card.locator("[data-field=port]").fill("502")

    card.get_by_test_id("add-tag-row").click()
    rows = card.get_by_test_id("mapping-row")
    expect(rows).to_have_count(1)
    first = rows.nth(0)
    first.locator("[data-field=tag]").fill("press.force1")
    first.locator("[data-field=address]").fill("hr:10")
    first.locator("[data-field=unit]").fill("kN")
    first.locator("[data-field=period_ms]").fill("250")
    first.locator("[data-field=writable]").check()
    # Duplicating copies the row, the next name suggested.
    first.locator("[data-action=duplicate-row]").click()
    expect(rows).to_have_count(2)
    second = rows.nth(1)
    expect(second.locator("[data-field=tag]")).to_have_value("press.force2")
    expect(second.locator("[data-field=unit]")).to_have_value("kN")
    expect(second.locator("[data-field=writable]")).to_be_checked()
    second.locator("[data-field=address]").fill("hr:12")
    second.locator("[data-field=data_type]").select_option("int32")
    second.locator("[data-field=word_order]").select_option("little")
    second.locator("[data-field=writable]").uncheck()
    # A third row, removed again.
    card.get_by_test_id("add-tag-row").click()
    expect(rows).to_have_count(3)
    rows.nth(2).locator("[data-action=remove-row]").click()
    expect(rows).to_have_count(2)

    # Switching the kind shows the other settings (and back).
    card.locator("[data-role=kind]").select_option("opcua")
    expect(card.locator("[data-field=url]")).to_be_visible()
    expect(card.locator("[data-field=host]")).to_be_hidden()
    card.locator("[data-role=kind]").select_option("modbus")

    page.get_by_test_id("save-config").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Configuration version 1 is saved")
    page.screenshot(path="/tmp/agent-mapping.png", full_page=True)
    assert errors == []

    with app.app_context(), tenancy.scoped(made.tenant_id, session=db.session):
        saved = db.session.get(Agent, agent_id)
        assert saved.config_version == 1 and saved.allow_write == ["press.force1"]
        assert saved.config["sources"] == [{
            "name": "plc1", "kind": "modbus", "host": "10.1.2.3", "port": 502, "tags": [
                {"tag": "press.force1", "address": "hr:10", "data_type": "float32", "scale": 1.0, "offset": 0.0,
                 "unit": "kN", "period_ms": 250, "deadband": 0.0},
                {"tag": "press.force2", "address": "hr:12", "data_type": "int32", "scale": 1.0, "offset": 0.0,
                 "unit": "kN", "period_ms": 250, "deadband": 0.0, "word_order": "little"}]}]

    # A bad value comes back beside its field, the rest as typed; fixed, it saves as version 2.
    card = page.get_by_test_id("source-card")
    card.get_by_test_id("mapping-row").nth(1).locator("[data-field=period_ms]").fill("-5")
    page.get_by_test_id("save-config").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    bad = page.get_by_test_id("source-card").get_by_test_id("mapping-row").nth(1)
    expect(bad.get_by_test_id("error")).to_contain_text("Use a period from 10 ms")
    expect(bad.locator("[data-field=period_ms]")).to_have_value("-5")
    page.screenshot(path="/tmp/agent-mapping-error.png", full_page=True)
    bad.locator("[data-field=period_ms]").fill("100")
    page.get_by_test_id("save-config").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Configuration version 2 is saved")
    assert errors == []
