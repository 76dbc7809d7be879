"""The equipment, products and orders pages: every capability through the
browser's forms (with a session and CSRF token), refusals shown inline and
changing nothing, htmx partials, and every page in Chinese."""
from __future__ import annotations

import io
import json
import re

import pytest

from alloyhub.platform.db import utcnow
from tests.factories import csrf_token, sign_in
from tests.tenants.mes.conftest import due

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def browser(plant, make_client):
    client = make_client()
    sign_in(client, plant.made.owner_email)
    client.token = csrf_token(client, "/equipment")
    return client


def post(browser, url, data=None, **kw):
    return browser.post(url, data={"csrf_token": browser.token, **(data or {})}, **kw)


# ---------------------------------------------------------------- equipment

def test_empty_equipment_page_explains(tenant_factory, make_client):
    client = make_client()
    sign_in(client, tenant_factory().owner_email)
    html = client.get("/equipment").get_data(as_text=True)
    assert 'data-testid="no-units"' in html and 'data-testid="add-area"' in html
    zh = client.get("/equipment", headers=ZH).get_data(as_text=True)
    assert "<h1>设备</h1>" in zh and "添加区域" in zh


def test_build_the_tree_with_forms(plant, browser):
    html = browser.get("/equipment").get_data(as_text=True)
    assert 'data-unit="CM1"' in html and 'data-testid="state-CM1" data-state="unknown"' in html
    assert 'hx-get="/equipment/states"' in html
    response = post(browser, "/equipment/areas", {"site_id": str(plant.site_id), "code": "fin", "name": "Finishing",
                                                  "form": "area"})
    assert response.status_code == 302
    html = browser.get("/equipment").get_data(as_text=True)
    area_id = re.search(r'/equipment/areas/([0-9a-f-]{36})">FIN', html).group(1)
    assert post(browser, "/equipment/lines", {"area_id": area_id, "code": "FNL", "name": "Finishing line",
                                              "kind": "line", "form": "line"}).status_code == 302
    html = browser.get("/equipment").get_data(as_text=True)
    line_id = re.search(r'/equipment/lines/([0-9a-f-]{36})">FNL', html).group(1)
    made = post(browser, "/equipment/units", {"line_id": line_id, "code": "AF2", "name": "Furnace 2",
                                              "kind": "annealing_furnace", "batch_capacity_t": "30", "form": "unit"})
    assert made.status_code == 302 and "/equipment/units/" in made.headers["Location"]
    # A duplicate code is refused inline, nothing added.
    again = post(browser, "/equipment/units", {"line_id": line_id, "code": "af2", "name": "Dup",
                                               "kind": "slitter", "form": "unit"})
    assert again.status_code == 422 and 'data-testid="error-code"' in again.get_data(as_text=True)
    assert browser.get("/equipment").get_data(as_text=True).count('data-unit="AF2"') == 1
    # Edit pages of area and line.
    assert browser.get(f"/equipment/areas/{area_id}").status_code == 200
    saved = post(browser, f"/equipment/lines/{line_id}", {"area_id": area_id, "code": "FNL", "name": "Renamed",
                                                         "kind": "work_centre", "calendar_id": ""})
    assert saved.status_code == 302 and "Renamed" in browser.get("/equipment").get_data(as_text=True)
    refused = post(browser, f"/equipment/lines/{line_id}/delete")
    assert refused.status_code == 302  # it has a unit: flashed, kept
    assert "Renamed" in browser.get("/equipment").get_data(as_text=True)


def test_unit_page_capabilities_tags_downtime(app, plant, browser):
    from tests.tenants.mes.test_equipment_api import _agent, _latest

    unit_url = f"/equipment/units/{plant.units['CM1']}"
    html = browser.get(unit_url).get_data(as_text=True)
    assert 'data-testid="unit-state"' in html and 'data-testid="process-cold_roll" checked' in html.replace("  ", " ")
    form = {"line_id": str(plant.line_id), "code": "CM1", "name": "Cold mill one", "kind": "cold_mill",
            "status": "active", "processes": ["cold_roll"], "alloy_families": ["3xxx", "1xxx"],
            "max_width_mm": "1600", "min_gauge_mm": "0.15", "max_gauge_mm": "8", "setup_combine": "sum",
            "down_when_agent_offline": "on", "down_on_alarm_priority": "high", "stale_after_s": "120"}
    assert post(browser, unit_url, form).status_code == 302
    html = browser.get(unit_url).get_data(as_text=True)
    assert "Cold mill one" in html and 'value="1600"' in html
    # Narrower than product P1 needs: refused with the routing named, nothing saved.
    refused = post(browser, unit_url, {**form, "max_width_mm": "900"})
    assert refused.status_code == 422 and "P1" in refused.get_data(as_text=True)
    assert 'value="1600"' in browser.get(unit_url).get_data(as_text=True)
    # Link a tag; the badge follows its value.
    agent_id = _agent(plant)
    assert post(browser, f"{unit_url}/tags", {"agent_id": str(agent_id), "tag": "mill.speed", "role": "speed",
                                              "running_above": "5"}).status_code == 302
    _latest(app, plant.made, agent_id, {"mill.speed": {"v": 300.0, "ts": utcnow().isoformat(), "q": "good"}})
    partial = browser.get(f"{unit_url}/state", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-state="running"' in partial and "300" in partial
    oob = browser.get("/equipment/states", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-swap-oob="true"' in oob and 'data-testid="state-CM1" data-state="running"' in oob
    bad_tag = post(browser, f"{unit_url}/tags", {"agent_id": str(agent_id), "tag": "", "role": "speed"})
    assert bad_tag.status_code == 422
    # Plan a downtime in the plant's time zone, then remove it.
    assert post(browser, f"{unit_url}/downtimes", {"starts_at": "2031-01-06T08:00", "ends_at": "2031-01-06T16:00",
                                                   "kind": "maintenance", "reason": "Bearing check"}).status_code == 302
    html = browser.get(unit_url).get_data(as_text=True)
    assert "Bearing check" in html and "2031-01-06 08:00" in html
    downtime_id = re.search(r"/equipment/downtimes/([0-9a-f-]{36})/delete", html).group(1)
    backwards = post(browser, f"{unit_url}/downtimes", {"starts_at": "2031-01-06T08:00", "ends_at": "2031-01-06T07:00"})
    assert backwards.status_code == 422
    post(browser, f"/equipment/downtimes/{downtime_id}/delete")
    assert "Bearing check" not in browser.get(unit_url).get_data(as_text=True)
    zh = browser.get(unit_url, headers=ZH).get_data(as_text=True)
    assert "能力" in zh and "计划停机" in zh and "运行中" in zh


def test_calendar_pages(plant, browser):
    assert post(browser, "/equipment/calendars", {"name": "Two shifts", "timezone": "Asia/Shanghai"}).status_code == 302
    html = browser.get("/equipment/calendars").get_data(as_text=True)
    calendar_id = re.search(r"/equipment/calendars/([0-9a-f-]{36})", html).group(1)
    url = f"/equipment/calendars/{calendar_id}"
    added = post(browser, f"{url}/shifts", {"weekdays": ["0", "1", "2", "3", "4"], "start": "06:00", "end": "14:00",
                                            "name": "Early"})
    assert added.status_code == 302
    html = browser.get(url).get_data(as_text=True)
    assert html.count('data-testid="shift-row"') == 5 and "40 working hours a week" in html
    overlap = post(browser, f"{url}/shifts", {"weekdays": ["0"], "start": "12:00", "end": "20:00"})
    assert overlap.status_code == 422 and "overlap" in overlap.get_data(as_text=True)
    no_day = post(browser, f"{url}/shifts", {"start": "14:00", "end": "22:00"})
    assert no_day.status_code == 422
    shift_id = re.search(r'name="shift_id" value="([0-9a-f-]{36})"', html).group(1)
    post(browser, f"{url}/shifts/remove", {"shift_id": shift_id})
    assert browser.get(url).get_data(as_text=True).count('data-testid="shift-row"') == 4
    zh = browser.get(url, headers=ZH).get_data(as_text=True)
    assert "班次" in zh and "周一" in zh


# ---------------------------------------------------------------- products

def test_product_pages_and_routing_editor(plant, browser):
    html = browser.get("/products").get_data(as_text=True)
    assert 'data-testid="product-row"' in html and "3003-H14 1 × 1000" in html
    bad = post(browser, "/products", {"code": "NEW", "alloy": "3003", "temper": "Y2", "gauge_mm": "1",
                                      "width_mm": "1000", "coil_weight_t": "5"})
    assert bad.status_code == 422 and 'data-testid="error-temper"' in bad.get_data(as_text=True)
    made = post(browser, "/products", {"code": "NEW", "alloy": "1060", "temper": "O", "gauge_mm": "1",
                                       "width_mm": "1000", "coil_weight_t": "5"})
    assert made.status_code == 302
    url = made.headers["Location"]
    page = browser.get(url).get_data(as_text=True)
    assert 'data-testid="routing"' in page and page.count('data-testid="op-row"') == 2  # two empty rows
    cm1, pk1 = plant.units["CM1"], plant.units["PK1"]
    # An operation without a unit: refused, the rows come back with the problem.
    refused = post(browser, f"{url}/routing", {"rows": "2", "op-0-process": "cold_roll", "op-0-rate": "10",
                                               "op-0-order": "1", "op-1-process": "pack", "op-1-rate": "40",
                                               "op-1-order": "2", "op-1-units": str(pk1)})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'data-testid="routing-errors"' in text and "no eligible unit" in text
    assert 'data-testid="op-error"' in text
    assert "has_routing" not in text and browser.get(url).get_data(as_text=True).count('name="op-') > 0
    # Reordered by the first column: pack typed as 1 goes… after, because 2 < 3.
    saved = post(browser, f"{url}/routing", {"rows": "2", "op-0-process": "pack", "op-0-rate": "40",
                                             "op-0-order": "3", "op-0-units": str(pk1),
                                             "op-1-process": "cold_roll", "op-1-rate": "10", "op-1-order": "2",
                                             "op-1-units": str(cm1), "op-1-yield_pct": "98"})
    assert saved.status_code == 302
    page = browser.get(url).get_data(as_text=True)
    selects = re.findall(r'data-testid="op-\d-process"[^>]*>(.*?)</select>', page, re.S)
    chosen = [re.search(r'<option value="(\w*)" selected', options) for options in selects]
    assert [m.group(1) for m in chosen if m] == ["cold_roll", "pack"]
    assert 'data-testid="strip-path"' in page
    zh = browser.get(url, headers=ZH).get_data(as_text=True)
    assert "工艺路线" in zh and "冷轧" in zh


def test_setup_rule_pages_and_calculator(plant, browser):
    assert post(browser, "/products/setup-rules", {"kind": "width_up", "minutes": "60", "threshold": "50",
                                                   "threshold_unit": "mm", "unit_id": ""}).status_code == 302
    bad = post(browser, "/products/setup-rules", {"kind": "temper_change", "minutes": "-3"})
    assert bad.status_code == 422
    html = browser.get("/products/setup-rules").get_data(as_text=True)
    assert html.count('data-testid="rule-row"') == 1
    rule_id = re.search(r"/products/setup-rules/([0-9a-f-]{36})\"", html).group(1)
    edited = post(browser, f"/products/setup-rules/{rule_id}", {"kind": "width_up", "minutes": "75", "threshold": "50",
                                                                "threshold_unit": "mm", "enabled": "on"})
    assert edited.status_code == 302
    with plant.scope():
        from alloyhub.tenants.products import services as products

        wide = products.create_product(code="WIDE", alloy="3003", temper="H14", gauge_mm=1.0, width_mm=1200,
                                       coil_weight_t=5).id
    answer = browser.get(f"/products/setup-rules?unit_id={plant.units['CM1']}&from={plant.product_id}&to={wide}")
    text = answer.get_data(as_text=True)
    assert 'data-testid="setup-answer"' in text and "75 minutes" in text
    zh = browser.get("/products/setup-rules", headers=ZH).get_data(as_text=True)
    assert "换产规则" in zh and "宽度增加" in zh


# ---------------------------------------------------------------- orders

def test_customer_pages(plant, browser):
    assert post(browser, "/customers", {"code": "nb", "name": "Ningbo", "transit_days": "2"}).status_code == 302
    html = browser.get("/customers").get_data(as_text=True)
    assert html.count('data-testid="customer-row"') == 2
    refused = post(browser, "/customers", {"code": "NB", "name": "Again"})
    assert refused.status_code == 422 and 'data-testid="error-code"' in refused.get_data(as_text=True)
    zh = browser.get("/customers", headers=ZH).get_data(as_text=True)
    assert "<h1>客户</h1>" in zh


def test_enter_confirm_and_move_an_order(plant, browser):
    form = {"customer_id": str(plant.customer_id), "customer_po": "PO-WEB", "line-0-product_id": str(plant.product_id),
            "line-0-quantity": "20", "line-0-quantity_unit": "t", "line-0-due_date": due(0), "line-0-priority": "3"}
    bad = post(browser, "/orders/new", {**form, "line-0-quantity": "-5"})
    assert bad.status_code == 422 and 'data-testid="error-lines.0.quantity"' in bad.get_data(as_text=True)
    made = post(browser, "/orders/new", {**form, "confirm": "1"})
    assert made.status_code == 302
    url = made.headers["Location"]
    html = browser.get(url).get_data(as_text=True)
    assert 'data-status="confirmed"' in html and 'data-testid="advance-planned"' in html
    assert 'data-testid="tracking-url"' in html and html.count('data-testid="history-row"') >= 2
    # An illegal move from the form: a flash, nothing changed.
    order_id = url.rsplit("/", 1)[1]
    post(browser, f"/orders/{order_id}/advance", {"status": "shipped"})
    html = browser.get(url).get_data(as_text=True)
    assert 'data-status="confirmed"' in html and "cannot become shipped" in html
    post(browser, f"/orders/{order_id}/advance", {"status": "planned"})
    assert 'data-status="planned"' in browser.get(url).get_data(as_text=True)
    # The promised-date button (htmx).
    line_id = plant.line_ids(order_id)[0]
    partial = browser.get(f"/orders/lines/{line_id}/promise", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-testid="promised-date"' in partial and "CM1" in partial
    assert browser.get(f"/orders/lines/{line_id}/promise").status_code == 200  # as a page
    # Change the due date; a stale version is refused.
    html = browser.get(url).get_data(as_text=True)
    version = re.search(r'name="version" value="([^"]+)"', html).group(1)
    ok = post(browser, f"/orders/lines/{line_id}", {"due_date": due(4), "priority": "2", "version": version})
    assert ok.status_code == 302
    stale = post(browser, f"/orders/lines/{line_id}", {"due_date": due(6), "priority": "2", "version": version})
    assert stale.status_code == 409 and "Someone changed this order" in stale.get_data(as_text=True)
    assert due(4) in browser.get(url).get_data(as_text=True)
    # Cancel with a reason.
    post(browser, f"/orders/{order_id}/cancel", {"reason": "Customer withdrew"})
    html = browser.get(url).get_data(as_text=True)
    assert 'data-status="cancelled"' in html and "Customer withdrew" in html
    zh = browser.get(url, headers=ZH).get_data(as_text=True)
    assert "已取消" in zh and "历史" in zh


def test_order_list_filters_and_pages(plant, browser):
    for i in range(27):
        plant.order(customer_po=f"PO-{i:02d}", confirm=(i == 0))
    html = browser.get("/orders").get_data(as_text=True)
    assert html.count('data-testid="order-row"') == 25 and 'data-testid="next-page"' in html
    next_url = re.search(r'href="(/orders\?cursor=[^"]+)" data-testid="next-page"', html).group(1)
    rest = browser.get(next_url.replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count('data-testid="order-row"') == 2
    confirmed = browser.get("/orders?status=confirmed").get_data(as_text=True)
    assert confirmed.count('data-testid="order-row"') == 1 and "PO-00" in confirmed
    assert browser.get("/orders?q=PO-13").get_data(as_text=True).count('data-testid="order-row"') == 1
    assert browser.get("/orders?due_from=nonsense").status_code == 400
    zh = browser.get("/orders", headers=ZH).get_data(as_text=True)
    assert "<h1>订单</h1>" in zh and "下一页" in zh


def test_import_page_with_error_report(plant, browser, snapshot):
    before = snapshot(plant.made.tenant_id)
    bad = b"customer,product,quantity,due_date\nC1,P1,-3," + due(0).encode() + b"\nC1,NOPE,5," + due(0).encode()
    response = browser.post("/orders/import", data={"csrf_token": browser.token,
                                                    "file": (io.BytesIO(bad), "orders.csv")},
                            content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.count('data-testid="import-error-row"') == 2
    assert "nothing was imported" in html and "Unknown product NOPE" in html
    assert snapshot(plant.made.tenant_id) == before
    good = b"customer,product,quantity,due_date\nC1,P1,5," + due(0).encode()
    done = browser.post("/orders/import", data={"csrf_token": browser.token, "confirm": "on",
                                                "file": (io.BytesIO(good), "orders.csv")},
                        content_type="multipart/form-data")
    assert done.status_code == 201 and 'data-testid="import-result"' in done.get_data(as_text=True)
    zh = browser.post("/orders/import", data={"csrf_token": browser.token, "file": (io.BytesIO(bad), "o.csv")},
                      content_type="multipart/form-data", headers=ZH).get_data(as_text=True)
    assert "未知产品 NOPE" in zh and "未导入任何数据" in zh


def test_quote_page(plant, browser):
    html = browser.get(f"/orders/promise?product_id={plant.product_id}&quantity=20&quantity_unit=t"
                       f"&customer_id={plant.customer_id}").get_data(as_text=True)
    assert 'data-testid="promised-date"' in html and "Load ahead: 0 committed lines" in html
    bad = browser.get(f"/orders/promise?product_id={plant.product_id}&quantity=-1").get_data(as_text=True)
    assert 'data-testid="promise-problem"' in bad
    zh = browser.get(f"/orders/promise?product_id={plant.product_id}&quantity=20", headers=ZH).get_data(as_text=True)
    assert "最早交货" in zh and "前方负荷" in zh


def test_nav_and_every_page_in_chinese(plant, browser):
    order_id = plant.order(confirm=True)
    pages = {"/equipment": "设备", "/equipment/calendars": "班次日历", "/products": "产品",
             "/products/setup-rules": "换产规则", "/customers": "客户", "/orders": "订单", "/orders/new": "新订单",
             "/orders/import": "导入订单", "/orders/promise": "我们最早何时能交货？",
             f"/orders/{order_id}": "客户跟踪链接", f"/equipment/units/{plant.units['AF1']}": "装炉量",
             f"/products/{plant.product_id}": "工艺路线", f"/customers/{plant.customer_id}": "最近的订单",
             f"/equipment/lines/{plant.line_id}": "班次日历", f"/equipment/areas/{plant.area_id}": "区域"}
    for path, words in pages.items():
        response = browser.get(path, headers=ZH)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert words in html, path
        assert 'data-nav="equipment"' in html and 'data-nav="orders"' in html, path
        untranslated = [w for w in ("Equipment", "Products", "Customers", "Save") if f">{w}<" in html]
        assert not untranslated, (path, untranslated)


def test_plan_without_orders_module_gets_the_upgrade_page(app, plant, browser):
    from alloyhub.platform.billing import services as billing

    with app.app_context():
        from alloyhub.platform import tenancy
        from alloyhub.platform.db import db

        with tenancy.system_context(db.session):
            sub = billing.subscription_of(plant.made.tenant_id)
            sub.plan_key = "partner"  # no "orders" module
            db.session.commit()
    assert browser.get("/equipment").status_code == 403
    api = browser.get("/api/v1/orders", headers={"Accept": "application/json"})
    assert api.status_code == 403 and json.loads(api.get_data())["module"] == "orders"
