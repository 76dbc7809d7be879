"""The alarm pages: list (with htmx acknowledge/shelve), detail with history,
rules and maintenance; empty states; Chinese."""
from __future__ import annotations

import re

import pytest

from tests.factories import csrf_token, sign_in
from tests.tenants.test_alarms_engine import Plant

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def plant(app, tenant_factory):
    return Plant(app, tenant_factory())


@pytest.fixture
def browser(plant, make_client):
    client = make_client()
    sign_in(client, plant.made.owner_email)
    return client


def _rule_id_in(html: str) -> str:
    return re.search(r"/alarms/rules/([0-9a-f-]{36})", html).group(1)


def test_empty_states_explain_what_to_do(tenant_factory, make_client):
    client = make_client()
    sign_in(client, tenant_factory().owner_email)
    html = client.get("/alarms").get_data(as_text=True)
    assert 'data-testid="no-agents"' in html and "alloyhub-agent" in html
    assert 'data-testid="no-agents"' in client.get("/alarms/rules").get_data(as_text=True)
    zh = client.get("/alarms", headers=ZH).get_data(as_text=True)
    assert "<h1>报警</h1>" in zh and "还没有代理" in zh


def test_alarm_list_acknowledge_with_htmx_and_badge(plant, browser):
    alarm_id = plant.rule(limit=100.0, priority="critical", name="Bearing hot")
    html = browser.get("/alarms").get_data(as_text=True)
    assert 'data-testid="no-alarms"' in html  # nothing needs attention yet
    plant.feed((0, 150.0))
    html = browser.get("/alarms").get_data(as_text=True)
    assert "Bearing hot" in html and "prio-critical" in html and 'data-state="active_unacked"' in html
    assert 'data-testid="nav-badge-alarms">1<' in html
    token = csrf_token(browser, "/alarms")
    row = browser.post(f"/alarms/{alarm_id}/ack", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert row.status_code == 200
    row_html = row.get_data(as_text=True)
    assert row_html.lstrip().startswith("<tr") and 'data-state="active_acked"' in row_html
    assert 'data-testid="nav-badge-alarms"' not in browser.get("/alarms").get_data(as_text=True)
    # Filters: by priority and state.
    assert "Bearing hot" not in browser.get("/alarms?priority=low&state=all").get_data(as_text=True)
    assert "Bearing hot" in browser.get("/alarms?state=active_acked").get_data(as_text=True)
    assert browser.get("/alarms?agent_id=nonsense").status_code == 400


def test_shelve_form_and_detail_history(plant, browser):
    alarm_id = plant.rule(limit=100.0, name="Tension high")
    plant.feed((0, 150.0))
    token = csrf_token(browser, "/alarms")
    refused = browser.post(f"/alarms/{alarm_id}/shelve", data={"csrf_token": token, "reason": "", "minutes": "30"})
    assert refused.status_code == 302 and plant.state() == "active_unacked"
    done = browser.post(f"/alarms/{alarm_id}/shelve",
                        data={"csrf_token": token, "reason": "probe swap", "minutes": "30", "next": "/alarms"})
    assert done.status_code == 302 and done.headers["Location"] == "/alarms"
    html = browser.get(f"/alarms/{alarm_id}").get_data(as_text=True)
    assert 'data-testid="alarm-state">Shelved<' in html and "probe swap" in html
    assert len(re.findall('data-testid="history-row"', html)) == 2
    assert f"Owner {plant.made.owner_email.split('@')[0].removeprefix('owner-')}" in html  # who shelved it
    zh = browser.get(f"/alarms/{alarm_id}", headers=ZH).get_data(as_text=True)
    assert "已搁置" in zh and "历史" in zh
    browser.post(f"/alarms/{alarm_id}/unshelve", data={"csrf_token": token})
    assert plant.state() == "active_unacked"


def test_rules_page_add_edit_delete(plant, browser):
    token = csrf_token(browser, "/alarms/rules")
    form = {"csrf_token": token, "agent_id": str(plant.agent_id), "name": "Gauge low", "kind": "low",
            "priority": "high", "tag": "exit.gauge", "limit": "0.95", "deadband": "0.01", "on_delay_s": "3",
            "timeout_s": "", "enabled": "on"}
    bad = browser.post("/alarms/rules", data={**form, "limit": "thin"})
    assert bad.status_code == 422 and 'data-testid="error-limit"' in bad.get_data(as_text=True)
    bad = browser.post("/alarms/rules", data={**form, "limit": ""}, headers=ZH)
    assert bad.status_code == 422 and "请输入限值。" in bad.get_data(as_text=True)
    assert browser.post("/alarms/rules", data=form).status_code == 302
    html = browser.get("/alarms/rules").get_data(as_text=True)
    assert "Gauge low" in html and "exit.gauge" in html
    rule_id = _rule_id_in(html)
    assert 'value="0.95"' in browser.get(f"/alarms/rules/{rule_id}").get_data(as_text=True)
    saved = browser.post(f"/alarms/rules/{rule_id}", data={**form, "name": "Gauge too thin", "enabled": ""})
    assert saved.status_code == 302
    html = browser.get("/alarms/rules").get_data(as_text=True)
    assert "Gauge too thin" in html and "Disabled" in html
    assert "报警规则" in browser.get("/alarms/rules", headers=ZH).get_data(as_text=True)
    assert browser.post(f"/alarms/rules/{rule_id}/delete", data={"csrf_token": token}).status_code == 302
    html = browser.get("/alarms/rules").get_data(as_text=True)
    assert "is deleted" in html and 'data-testid="rule-row"' not in html


def test_maintenance_from_the_rules_page(plant, browser):
    plant.rule(limit=100.0)
    token = csrf_token(browser, "/alarms/rules")
    bad = browser.post("/alarms/maintenance", data={"csrf_token": token, "agent_id": str(plant.agent_id),
                                                     "hours": "-3"})
    assert bad.status_code == 422
    ok = browser.post("/alarms/maintenance", data={"csrf_token": token, "agent_id": str(plant.agent_id),
                                                    "hours": "2", "reason": "roll change"})
    assert ok.status_code == 302 and plant.state() == "suppressed"
    html = browser.get("/alarms/rules").get_data(as_text=True)
    assert "roll change" in html
    window_id = re.search(r"/alarms/maintenance/([0-9a-f-]{36})/end", html).group(1)
    browser.post(f"/alarms/maintenance/{window_id}/end", data={"csrf_token": token})
    assert plant.state() == "normal"


def test_people_without_the_permission_see_no_buttons(plant, tenant_factory, make_client):
    alarm_id = plant.rule(limit=100.0)
    plant.feed((0, 150.0))
    client = make_client()
    sign_in(client, tenant_factory.add_member(plant.made, "viewer"))
    html = client.get("/alarms").get_data(as_text=True)
    assert f'id="alarm-{alarm_id}"' in html and 'data-testid="ack"' not in html
    assert 'data-testid="add-rule"' not in client.get("/alarms/rules").get_data(as_text=True)
    token = csrf_token(client, "/alarms")
    assert client.post(f"/alarms/{alarm_id}/ack", data={"csrf_token": token}).status_code == 403
    assert client.get(f"/alarms/rules/{plant.rule_id}").status_code == 403
