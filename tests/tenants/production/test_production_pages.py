"""The pages: the unit picker remembers the unit, the station shows the
queue and finds the work order of a scanned coil, actions and the output
form work without JavaScript, refusals are shown with their status (in
Chinese too), the planners' list and detail show actual against planned."""
from __future__ import annotations

import re

import pytest

from tests.factories import csrf_token, sign_in


@pytest.fixture
def browser_client(shop, make_client):
    client = make_client()
    sign_in(client, shop.made.owner_email)
    return client


@pytest.fixture
def planned(shop):
    line = shop.order_line()
    wos = shop.publish(line)
    shop.receive("IN-1", 10000.0)
    return line, wos


def test_the_floor_remembers_the_unit(shop, browser_client, planned):
    picker = browser_client.get("/production/floor")
    assert picker.status_code == 200
    html = picker.get_data(as_text=True)
    assert 'data-unit="CM1"' in html and 'data-unit="SL1"' in html
    station = browser_client.get(f"/production/floor/{shop.units['CM1']}")
    assert station.status_code == 200 and "production_unit=" in station.headers["Set-Cookie"]
    again = browser_client.get("/production/floor")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/production/floor/{shop.units['CM1']}")
    assert browser_client.get("/production/floor?pick=1").status_code == 200
    assert browser_client.get("/production/").status_code == 302


def test_scan_start_pause_resume_finish_and_report_without_javascript(shop, browser_client, planned):
    line, wos = planned
    cm1 = shop.units["CM1"]
    token = csrf_token(browser_client, f"/production/floor/{cm1}")
    html = browser_client.get(f"/production/floor/{cm1}").get_data(as_text=True)
    assert html.count('data-testid="queue-item"') == 1 and 'data-testid="camera-scan"' in html and " hidden " in html

    # The raw coil (no work order made it, no reservation) feeds nothing yet: the operator picks.
    picked = browser_client.post(f"/production/floor/{cm1}/scan", data={"scanned": "IN-1", "csrf_token": token})
    assert picked.status_code == 200
    assert "choose the work order it goes into" in picked.get_data(as_text=True)
    wo = wos[(line, 0)]
    number = shop.wo(wo)["number"]
    assert f'data-number="{number}"' in picked.get_data(as_text=True)

    def act(action, **data):
        return browser_client.post(f"/production/work-orders/{wo}/{action}",
                                   data={"csrf_token": token, "station": str(cm1), "coil": "IN-1", **data})

    started = act("start")
    assert started.status_code == 303 and f"wo={wo}" in started.headers["Location"]
    assert shop.wo(wo)["status"] == "started"
    station = browser_client.get(started.headers["Location"]).get_data(as_text=True)
    assert 'data-status="started"' in station and 'value="IN-1"' in station
    refused = act("pause")
    assert refused.status_code == 422 and "Choose a reason from the list." in refused.get_data(as_text=True)
    assert act("pause", reason="breakdown", note="hydraulics").status_code == 303
    assert shop.wo(wo)["status"] == "paused"
    assert act("start").status_code == 409
    assert act("resume").status_code == 303 and act("finish").status_code == 303
    reported = act("output", **{"in_coil-0": "IN-1", "out_coil-0": "CR-1", "out_weight-0": "9,850",
                                "out_gauge-0": "1.01", "out_width-0": "1020", "scrap_weight-0": "100",
                                "scrap_reason-0": "head and tail", "location_id": str(shop.loc["A-01"])})
    assert reported.status_code == 303, reported.get_data(as_text=True)[:2000]
    assert shop.coil("CR-1")["status"] == "available" and shop.wo(wo)["output_kg"] == 9850.0
    page = browser_client.get(reported.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="made-coil"' in page and "CR-1" in page


def test_bad_output_form_keeps_what_was_typed(shop, browser_client, planned):
    line, wos = planned
    wo = wos[(line, 0)]
    token = csrf_token(browser_client, "/production/work-orders")
    browser_client.post(f"/production/work-orders/{wo}/start", data={"csrf_token": token})
    response = browser_client.post(f"/production/work-orders/{wo}/output", data={
        "csrf_token": token, "in_coil-0": "IN-1", "out_coil-0": "CR-1", "out_weight-0": "lots",
        "out_gauge-0": "1", "out_width-0": "1000"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a number." in html and 'value="lots"' in html
    heavy = browser_client.post(f"/production/work-orders/{wo}/output", data={
        "csrf_token": token, "in_coil-0": "IN-1", "out_coil-0": "CR-1", "out_weight-0": "20000",
        "out_gauge-0": "1", "out_width-0": "1000"})
    assert heavy.status_code == 422 and "more than the 10000.0 kg that went in" in heavy.get_data(as_text=True)
    assert shop.coil("IN-1")["status"] == "available"


def test_list_detail_and_yields(shop, browser_client, planned, owner):
    line, wos = planned
    wo = wos[(line, 0)]
    owner.post(f"/api/v1/production/work-orders/{wo}/start")
    owner.post(f"/api/v1/production/work-orders/{wo}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "CR-1", "weight_kg": 9500, "gauge_mm": 1.0, "width_mm": 1020}]})
    listing = browser_client.get("/production/work-orders?status=open").get_data(as_text=True)
    assert listing.count('data-testid="wo-row"') == 3
    started_only = browser_client.get("/production/work-orders?status=started").get_data(as_text=True)
    assert started_only.count('data-testid="wo-row"') == 1
    assert browser_client.get("/production/work-orders?status=bogus").status_code == 400
    assert browser_client.get("/production/work-orders?unit_id=nope").status_code == 400
    detail = browser_client.get(f"/production/work-orders/{wo}").get_data(as_text=True)
    assert re.search(r'data-testid="detail-yield">95 %', detail)
    assert 'data-coil="CR-1"' in detail
    yields = browser_client.get("/production/yields?group_by=operation").get_data(as_text=True)
    assert 'data-key="cold_roll"' in yields and "95 %" in yields
    assert browser_client.get("/production/yields?group_by=colour").status_code == 400


def test_refusals_are_shown_in_chinese(shop, browser_client, planned):
    line, wos = planned
    token = csrf_token(browser_client, "/production/work-orders")
    zh = {"Accept-Language": "zh-CN"}
    response = browser_client.post(f"/production/work-orders/{wos[(line, 1)]}/start", data={"csrf_token": token},
                                   headers=zh)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "尚未开始" in html and "工艺路线顺序" in html
    floor = browser_client.get("/production/floor?pick=1", headers=zh).get_data(as_text=True)
    assert "车间执行" in floor
