"""The inventory pages, in English and Chinese: every capability through the
browser (forms with CSRF), refused actions shown with the reason and
changing nothing."""
from __future__ import annotations

import re
import uuid

import pytest

from alloyhub.tenants.inventory import services
from tests.factories import csrf_token, sign_in

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def browser(plant, make_client):
    client = make_client()
    sign_in(client, plant.made.owner_email)
    return client


def _post(browser, url, data, **kw):
    token = csrf_token(browser, "/inventory")
    return browser.post(url, data={**data, "csrf_token": token}, **kw)


def test_empty_states_explain_what_to_do(tenant_factory, make_client):
    client = make_client()
    sign_in(client, tenant_factory().owner_email)
    html = client.get("/inventory").get_data(as_text=True)
    assert 'data-testid="no-coils"' in html and "/inventory/warehouses" in html
    assert 'data-testid="no-warehouses"' in client.get("/inventory/warehouses").get_data(as_text=True)
    assert 'data-testid="no-locations"' in client.get("/inventory/receipts/new").get_data(as_text=True)
    assert 'data-testid="no-shipments"' in client.get("/inventory/shipments").get_data(as_text=True)
    assert 'data-testid="no-heats"' in client.get("/inventory/heats").get_data(as_text=True)
    assert 'data-testid="no-yields"' in client.get("/inventory/genealogy").get_data(as_text=True)
    zh = client.get("/inventory", headers=ZH).get_data(as_text=True)
    assert "<h1>库存</h1>" in zh and "还没有库存卷" in zh
    assert 'data-nav="inventory"' in html


def test_warehouse_and_location_forms(plant, browser):
    response = _post(browser, "/inventory/warehouses", {"site_id": str(plant.site_id), "code": "wip",
                                                        "name": "Work in progress"})
    assert response.status_code == 303
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "WIP · Work in progress" in page and 'data-testid="no-locations"' in page
    warehouse_id = response.headers["Location"].rsplit("/", 1)[1]
    again = _post(browser, "/inventory/warehouses", {"site_id": str(plant.site_id), "code": "WIP", "name": "x"})
    assert again.status_code == 422 and "Another warehouse already uses this code." in again.get_data(as_text=True)
    bad = _post(browser, f"/inventory/warehouses/{warehouse_id}/locations", {"code": "W 1", "capacity_coils": "lots"})
    assert bad.status_code == 422 and "Enter a whole number of coils" in bad.get_data(as_text=True)
    ok = _post(browser, f"/inventory/warehouses/{warehouse_id}/locations", {"code": "w-1", "capacity_coils": "4",
                                                                          "kind": "staging"})
    assert ok.status_code == 303
    html = browser.get(f"/inventory/warehouses/{warehouse_id}").get_data(as_text=True)
    assert "<code>W-1</code>" in html and "4 coils" in html
    location_id = re.search(r"/inventory/locations/([0-9a-f-]{36})", html).group(1)
    saved = _post(browser, f"/inventory/locations/{location_id}", {"code": "W-1", "kind": "storage",
                                                                   "capacity_coils": "6", "active": "on"})
    assert saved.status_code == 303
    assert "6 coils" in browser.get(f"/inventory/warehouses/{warehouse_id}").get_data(as_text=True)
    renamed = _post(browser, f"/inventory/warehouses/{warehouse_id}", {"site_id": str(plant.site_id), "code": "WIP",
                                                                       "name": "WIP store", "active": "on"})
    assert renamed.status_code == 303
    assert "WIP store" in browser.get("/inventory/warehouses").get_data(as_text=True)


def test_receipt_form_and_stock_list(plant, browser):
    form = {"location_id": str(plant.loc["A-01"]), "reference": "DN-1",
            "coil_no-0": "PG-1", "alloy-0": "5052", "temper-0": "H32", "gauge_mm-0": "1.2", "width_mm-0": "1,250",
            "weight_kg-0": "5000", "heat_no-0": "PH-1", "lot_no-0": "PL-1",
            "coil_no-1": "PG-2", "alloy-1": "5052", "gauge_mm-1": "1.2", "width_mm-1": "1250", "weight_kg-1": "4800",
            "coil_no-2": "", "alloy-2": "", "gauge_mm-2": "", "width_mm-2": "", "weight_kg-2": ""}
    response = _post(browser, "/inventory/receipts/new", form)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    html = browser.get("/inventory").get_data(as_text=True)
    assert 'data-coil="PG-1"' in html and 'data-coil="PG-2"' in html and 'data-testid="stock-summary"' in html
    assert 'data-coil="PG-2"' not in browser.get("/inventory?q=PG-1").get_data(as_text=True)
    assert 'data-coil="PG-1"' in browser.get(f"/inventory?location_id={plant.loc['A-01']}&alloy=5052&gauge_min=1"
                                             ).get_data(as_text=True)
    assert browser.get("/inventory?status=boiling").status_code == 400
    assert browser.get("/inventory?gauge_min=thick").status_code == 400
    assert browser.get("/inventory?cursor=nonsense").status_code == 400
    lots = browser.get("/inventory/lots").get_data(as_text=True)
    assert 'data-lot="PL-1"' in lots
    # A bad row is reported on its field, nothing is received.
    bad = _post(browser, "/inventory/receipts/new", {**form, "coil_no-0": "PG-3", "weight_kg-1": "-3",
                                                     "coil_no-1": "PG-4"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Enter the weight (above zero)." in text
    assert 'data-coil="PG-3"' not in browser.get("/inventory").get_data(as_text=True)
    taken = _post(browser, "/inventory/receipts/new", {**form, "coil_no-1": "PG-9"})
    assert taken.status_code == 422 and "Another coil already has this number." in taken.get_data(as_text=True)


def test_find_and_scan_open_the_coil(plant, browser):
    coil = plant.receive("SCAN-1")
    found = browser.get("/inventory/find?q=http://plant.example/inventory/c/SCAN-1")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/inventory/coils/{coil}")
    scanned = browser.get("/inventory/c/SCAN-1")
    assert scanned.status_code == 200 and 'data-testid="coil-no">SCAN-1<' in scanned.get_data(as_text=True)
    assert browser.get("/inventory/c/NOPE").status_code == 404
    missing = browser.get("/inventory/find?q=NOPE", follow_redirects=True).get_data(as_text=True)
    assert "No coil numbered NOPE." in missing


def test_coil_page_actions(plant, browser, snapshot):
    coil = plant.receive("PA-1", weight_kg=3000)
    html = browser.get(f"/inventory/coils/{coil}").get_data(as_text=True)
    assert 'data-status="available"' in html and 'data-testid="transfer-form"' in html
    moved = _post(browser, f"/inventory/coils/{coil}/transfer", {"location_id": str(plant.loc["A-02"]),
                                                                "reason": "re-stack"})
    assert moved.status_code == 303
    assert plant.coil(coil)["location_id"] == plant.loc["A-02"]
    before = snapshot(plant.made.tenant_id)
    negative = _post(browser, f"/inventory/coils/{coil}/adjust", {"delta_kg": "-3000.5", "reason": "dropped"})
    assert negative.status_code == 422
    assert "Coil PA-1 weighs 3000.0 kg: it cannot lose 3000.5 kg." in negative.get_data(as_text=True)
    no_reason = _post(browser, f"/inventory/coils/{coil}/adjust", {"delta_kg": "-5", "reason": ""})
    assert no_reason.status_code == 422 and "Give the reason for the adjustment." in no_reason.get_data(as_text=True)
    assert snapshot(plant.made.tenant_id) == before
    assert _post(browser, f"/inventory/coils/{coil}/adjust", {"weight_kg": "2990", "reason": "re-weighed"}
                 ).status_code == 303
    assert _post(browser, f"/inventory/coils/{coil}/quarantine", {"reason": "dents"}).status_code == 303
    html = browser.get(f"/inventory/coils/{coil}").get_data(as_text=True)
    assert 'data-status="quarantined"' in html and "dents" in html and 'data-testid="release-quarantine-form"' in html
    refused = _post(browser, f"/inventory/coils/{coil}/reserve", {"order_line_id": str(uuid.uuid4())})
    assert refused.status_code == 409 and "is quarantined (dents)" in refused.get_data(as_text=True)
    assert _post(browser, f"/inventory/coils/{coil}/release-quarantine", {"reason": "ok"}).status_code == 303
    line = str(uuid.uuid4())
    assert _post(browser, f"/inventory/coils/{coil}/reserve", {"order_line_id": line}).status_code == 303
    html = browser.get(f"/inventory/coils/{coil}").get_data(as_text=True)
    assert 'data-testid="reserved-for"' in html and line in html
    issued = _post(browser, f"/inventory/coils/{coil}/issue", {"order_line_id": line, "unit_id": ""})
    assert issued.status_code == 303 and plant.coil(coil)["status"] == "issued"
    kinds = re.findall(r'data-testid="move-row" data-kind="(\w+)"', browser.get(f"/inventory/coils/{coil}")
                       .get_data(as_text=True))
    assert kinds == ["receipt", "transfer", "adjustment", "quarantine", "release", "issue"]
    assert 'data-kind="adjustment"' in browser.get("/inventory/moves?kind=adjustment").get_data(as_text=True)
    assert browser.get("/inventory/moves?kind=teleport").status_code == 400


def test_label_page_has_a_qr_code_with_the_coil_url(plant, browser):
    coil = plant.receive("LB-1", heat_no="LH-1", lot_no="LL-1")
    html = browser.get(f"/inventory/coils/{coil}/label").get_data(as_text=True)
    assert 'data-coil="LB-1"' in html and "<svg" in html and "http://localhost/inventory/c/LB-1" in html
    assert "LH-1" in html and "LL-1" in html
    plant.receive("LB-2", lot_no="LL-1")
    with plant.scope():
        lot_id = services.lot_by_number("LL-1").id
    many = browser.get(f"/inventory/labels?lot_id={lot_id}").get_data(as_text=True)
    assert many.count('data-testid="label"') == 2
    assert browser.get("/inventory/labels").status_code == 404
    assert browser.get(f"/inventory/labels?coil_id={uuid.uuid4()}").status_code == 404
    zh = browser.get(f"/inventory/coils/{coil}/label", headers=ZH).get_data(as_text=True)
    assert "净重" in zh and "打印" in zh


def test_qr_code_decodes_to_the_label_url(plant, browser):
    """The QR matrix segno draws is the one for the label's URL."""
    import segno

    coil = plant.receive("QR-1")
    html = browser.get(f"/inventory/coils/{coil}/label").get_data(as_text=True)
    expected = segno.make("http://localhost/inventory/c/QR-1", error="m").svg_inline(scale=4, dark="#000000",
                                                                                     light="#ffffff")
    assert expected in html


def test_fifo_and_reservations_pages(plant, browser):
    a = plant.receive("FR-1", weight_kg=2000)
    plant.receive("FR-2", weight_kg=2000)
    html = browser.get("/inventory/reservations?alloy=5052&gauge_mm=1.2&gauge_tol_mm=0.1&quantity_kg=1500"
                       ).get_data(as_text=True)
    assert re.findall(r'data-testid="fifo-row" data-coil="([^"]+)"', html) == ["FR-1"]
    partial = browser.get("/inventory/reservations?alloy=5052&fifo=1", headers={"HX-Request": "true"})
    assert partial.get_data(as_text=True).lstrip().startswith('<div id="fifo-results"')
    assert browser.get("/inventory/reservations?alloy=5052&gauge_tol_mm=-1").status_code == 422
    line = str(uuid.uuid4())
    made = _post(browser, "/inventory/reservations", {"order_line_id": line, "coil_id": [str(a)]})
    assert made.status_code == 303
    html = browser.get(f"/inventory/reservations?order_line_id={line}").get_data(as_text=True)
    assert 'data-testid="reservation-row" data-coil="FR-1"' in html and 'data-testid="line-location"' in html
    again = _post(browser, "/inventory/reservations", {"order_line_id": str(uuid.uuid4()), "coil_id": [str(a)]},
                  follow_redirects=True)
    assert "Coil FR-1 is already reserved for order line" in again.get_data(as_text=True)
    reservation = re.search(r"/inventory/reservations/([0-9a-f-]{36})/release", html).group(1)
    released = _post(browser, f"/inventory/reservations/{reservation}/release", {"next": "/inventory/reservations"})
    assert released.status_code == 303 and plant.coil(a)["status"] == "available"


def test_shipment_pages_from_draft_to_delivery(plant, browser, snapshot):
    good = plant.receive("SP-1", heat_no="SH-H1")
    bad = plant.receive("SP-2")
    created = _post(browser, "/inventory/shipments", {"customer_name": "苏州客户 Suzhou Customer",
                                                      "warehouse_id": str(plant.warehouse_id),
                                                      "planned_date": "2026-12-01"})
    assert created.status_code == 303
    url = created.headers["Location"]
    shipment_id = url.rsplit("/", 1)[1]
    # Add by scanning the label (htmx swaps the coil list).
    added = _post(browser, f"{url}/items", {"coil_no": "http://localhost/inventory/c/SP-1"},
                  headers={"HX-Request": "true"})
    assert added.status_code == 200
    assert added.get_data(as_text=True).lstrip().startswith('<div id="shipment-items"')
    assert 'data-coil="SP-1"' in added.get_data(as_text=True)
    assert _post(browser, f"{url}/items", {"coil_no": "SP-2"}).status_code == 303
    missing = _post(browser, f"{url}/items", {"coil_no": "SP-404"}, headers={"HX-Request": "true"})
    assert missing.status_code == 422 and "No coil numbered SP-404." in missing.get_data(as_text=True)
    plant.call(lambda: services.quarantine(services.get_coil(bad), "edge wave"))
    before = snapshot(plant.made.tenant_id)
    refused = _post(browser, f"{url}/confirm", {})
    assert refused.status_code == 409
    assert "Coil SP-2 is quarantined (edge wave): it cannot be shipped." in refused.get_data(as_text=True)
    assert snapshot(plant.made.tenant_id) == before
    assert _post(browser, f"{url}/items/{bad}/remove", {}).status_code == 303
    packing = browser.get(f"{url}/packing-list").get_data(as_text=True)
    assert packing.count('data-testid="pl-row"') == 1 and "SH-H1" in packing and "<svg" in packing
    csv = browser.get(f"{url}/packing-list.csv")
    assert csv.mimetype == "text/csv" and "SP-1" in csv.get_data(as_text=True)
    assert _post(browser, f"{url}/confirm", {}).status_code == 303
    html = browser.get(url).get_data(as_text=True)
    assert 'data-status="shipped"' in html and 'data-testid="deliver-form"' in html
    assert _post(browser, f"{url}/deliver", {"received_by": "王经理", "delivered_at": "2000-01-01T08:00"}
                 ).status_code == 422  # before it left
    assert _post(browser, f"{url}/deliver", {"received_by": "王经理"}).status_code == 303
    html = browser.get(url).get_data(as_text=True)
    assert 'data-status="delivered"' in html and "王经理" in html
    listed = browser.get("/inventory/shipments?status=delivered").get_data(as_text=True)
    assert shipment_id in listed
    assert plant.coil(good)["status"] == "shipped"


def test_genealogy_explorer_and_production_form(plant, browser):
    coil = plant.receive("GM-1", heat_no="GH-1", weight_kg=3000)
    form = {"operation": "slit", "location_id": str(plant.loc["A-02"]), "in_coil-0": "GM-1",
            "out_coil-0": "GS-1", "out_weight-0": "1490", "out_gauge-0": "1.2", "out_width-0": "600",
            "out_coil-1": "GS-2", "out_weight-1": "1490", "out_gauge-1": "1.2", "out_width-1": "600",
            "scrap_weight-0": "20", "scrap_reason-0": "edge trim"}
    too_heavy = _post(browser, "/inventory/production/new", {**form, "out_weight-1": "2000"})
    assert too_heavy.status_code == 422 and "more than the 3000.0 kg that went in" in too_heavy.get_data(as_text=True)
    assert plant.coil(coil)["status"] == "available"
    done = _post(browser, "/inventory/production/new", form)
    assert done.status_code == 303, done.get_data(as_text=True)[:3000]
    html = browser.get("/inventory/genealogy?coil=GS-2").get_data(as_text=True)
    assert 'data-testid="ancestry-result"' in html and 'data-label="GM-1"' in html and 'data-label="GH-1"' in html
    assert 'data-testid="route-step"' in html
    html = browser.get("/inventory/genealogy?heat=GH-1").get_data(as_text=True)
    assert 'data-label="GS-1"' in html and 'data-label="GS-2"' in html
    assert 'data-key="slit"' in html
    assert browser.get("/inventory/genealogy?coil=NOPE").status_code == 404
    assert browser.get("/inventory/genealogy?group_by=colour").status_code == 400
    # A cycle through the link form is refused with the reason.
    refused = _post(browser, "/inventory/genealogy/links", {"parent_kind": "coil", "parent": "GS-1",
                                                            "child_kind": "heat", "child": "GH-1",
                                                            "operation": "remelt"}, follow_redirects=True)
    assert "GS-1 descends from GH-1 already: the link would make a cycle." in refused.get_data(as_text=True)
    ok = _post(browser, "/inventory/genealogy/links", {"parent_kind": "coil", "parent": "GS-1", "child_kind": "coil",
                                                       "child": plant_receive(plant, "GX-1"), "operation": "rewind"})
    assert ok.status_code == 303
    heat_page = browser.get(re.search(r'href="(/inventory/heats/[0-9a-f-]{36})"', html).group(1)).get_data(as_text=True)
    assert heat_page.count('data-testid="heat-coil"') == 4  # GM-1, GS-1, GS-2, GX-1


def plant_receive(plant, coil_no):
    plant.receive(coil_no)
    return coil_no


def test_heat_form(plant, browser):
    bad = _post(browser, "/inventory/heats", {"heat_no": "HF-1", "alloy": "5052", "chemistry": "Si nought"})
    assert bad.status_code == 422 and "Write the chemistry as" in bad.get_data(as_text=True)
    bad = _post(browser, "/inventory/heats", {"heat_no": "HF-1", "alloy": "5052", "chemistry": "Mg 120"})
    assert bad.status_code == 422 and "between 0 and 100" in bad.get_data(as_text=True)
    ok = _post(browser, "/inventory/heats", {"heat_no": "HF-1", "alloy": "5052", "chemistry": "Si 0.08, Mg=2.5",
                                             "weight_kg": "25000", "cast_at": "2026-03-01T06:30"})
    assert ok.status_code == 303
    html = browser.get(ok.headers["Location"]).get_data(as_text=True)
    assert "Mg" in html and "2.5" in html and 'data-testid="no-heat-coils"' in html
    assert 'data-testid="heat-row"' in browser.get("/inventory/heats?q=HF").get_data(as_text=True)


def test_every_inventory_page_renders_in_chinese(plant, browser):
    coil = plant.receive("ZH-1", heat_no="ZH-H", lot_no="ZH-L")
    with plant.scope():
        shipment = services.create_shipment(customer_name="客户")
        services.add_to_shipment(shipment, coil)
        heat_id = services.heat_by_number("ZH-H").id
    token = csrf_token(browser, "/inventory")
    browser.post("/lang/zh_CN", data={"csrf_token": token})
    expected = {
        "/inventory": "库存", "/inventory/lots": "按批次的库存", "/inventory/warehouses": "仓库",
        f"/inventory/warehouses/{plant.warehouse_id}": "库位", f"/inventory/locations/{plant.loc['A-01']}": "这里的卷",
        f"/inventory/coils/{coil}": "来源", "/inventory/receipts/new": "入库", "/inventory/heats": "熔次",
        f"/inventory/heats/{heat_id}": "化学成分", "/inventory/reservations?alloy=5052": "先进先出",
        "/inventory/shipments": "发货", f"/inventory/shipments/{shipment.id}": "装箱单",
        f"/inventory/shipments/{shipment.id}/packing-list": "装箱单", "/inventory/genealogy?coil=ZH-1": "追溯",
        "/inventory/moves": "移动", "/inventory/production/new": "记录生产工序",
        f"/inventory/coils/{coil}/label": "净重",
    }
    for path, words in expected.items():
        response = browser.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert words in html, path
    assert "可用" in browser.get("/inventory").get_data(as_text=True)  # a status, translated
