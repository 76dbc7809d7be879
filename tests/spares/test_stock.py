"""A plant's own spare-parts stock: the API (CRUD, ETags, stock moves that
add up), the CSV/Excel import (all or nothing), bad input, permissions and
the plan."""
from __future__ import annotations

import io
import uuid

import openpyxl
import pytest
from sqlalchemy import text

from tests.spares.conftest import put

ZH = {"Accept-Language": "zh-CN"}


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def _count(owner_engine, table, tenant_id):
    with owner_engine.connect() as conn:
        return conn.execute(text(f"select count(*) from {table} where tenant_id = :t"), {"t": tenant_id}).scalar()


def test_part_crud_with_etag_and_moves(company):
    a = company()
    api = a.api
    site = api.get("/api/v1/spare-sites").get_json()[0]
    created = api.post("/api/v1/spare-parts", json={
        "part_number": "6205-2RS", "manufacturer": "SKF", "description": "Deep groove ball bearing",
        "category": "Bearings", "equipment_models": ["CM-1450", "Slitter S2"], "condition": "new", "quantity": 6,
        "min_stock": 2, "location": "Store A / shelf 3", "unit_price": "85.50", "site_id": site["id"]})
    assert created.status_code == 201, created.get_json()
    part = created.get_json()
    assert (part["part_number_norm"], part["quantity"], part["unit_price"], part["below_minimum"]) == \
        ("62052RS", 6, "85.50", False)
    url = f"/api/v1/spare-parts/{part['id']}"
    etag = api.get(url).headers["ETag"]
    _problem(api.patch(url, json={"min_stock": 8}), 428)
    _problem(api.patch(url, json={"min_stock": 8}, headers={"If-Match": '"stale"'}), 412)
    patched = api.patch(url, json={"min_stock": 8, "quantity": 5}, headers={"If-Match": etag})
    assert patched.status_code == 200 and patched.get_json()["below_minimum"] is True
    # Moves: the initial stock, the correction, then one used.
    assert api.post(f"{url}/moves", json={"delta": -2, "note": "replaced CM-1450 drive side"}).status_code == 201
    _problem(api.post(f"{url}/moves", json={"delta": -4}), 409)
    _problem(api.post(f"{url}/moves", json={"delta": 0}), 422)
    moves = api.get(f"{url}/moves").get_json()["items"]
    assert [(m["delta"], m["quantity_after"], m["reason"]) for m in moves] == [
        (-2, 3, "adjust"), (-1, 5, "adjust"), (6, 6, "initial")]
    assert sum(m["delta"] for m in moves) == api.get(url).get_json()["quantity"] == 3
    listed = api.get("/api/v1/spare-parts?q=6205%202RS").get_json()["items"]
    assert [p["id"] for p in listed] == [part["id"]]
    assert [p["id"] for p in api.get("/api/v1/spare-parts?below_min=true").get_json()["items"]] == [part["id"]]
    assert api.delete(url).status_code == 204
    _problem(api.get(url), 404)


def test_bad_parts_are_refused_and_change_nothing(company, owner_engine):
    a = company()
    before = _count(owner_engine, "spares_parts", a.id)
    cases = [
        ({"part_number": "", "condition": "new"}, {"part_number"}),
        ({"part_number": "---"}, {"part_number"}),
        ({"part_number": "X1", "quantity": -1, "min_stock": "a"}, {"quantity", "min_stock"}),
        ({"part_number": "X1", "condition": "broken", "unit_price": "-3"}, {"condition", "unit_price"}),
        ({"part_number": "X1", "site_id": str(uuid.uuid4())}, {"site_id"}),
        ({"part_number": "X1", "currency": "yuan", "bogus": 1}, {"currency", "bogus"}),
        ({"part_number": "X1", "unit_price": "NaN"}, {"unit_price"}),
        ({"part_number": "X1", "equipment_models": ["m"] * 31}, {"equipment_models"}),
    ]
    for body, fields in cases:
        errors = _problem(a.api.post("/api/v1/spare-parts", json=body), 422)["errors"]
        assert fields <= set(errors), (body, errors)
    _problem(a.api.post("/api/v1/spare-parts", data="[", content_type="application/json"), 400)
    _problem(a.api.get("/api/v1/spare-parts?condition=broken"), 422)
    _problem(a.api.get(f"/api/v1/spare-parts/{uuid.uuid4()}"), 404)
    assert _count(owner_engine, "spares_parts", a.id) == before


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode("utf-8-sig")


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_import_csv_and_excel_creates_then_updates(company):
    a = company()
    csv_data = _csv([
        ["part_number", "manufacturer", "description", "category", "equipment_models", "condition", "quantity",
         "min_stock", "unit_price", "site"],
        ["6205-2RS", "SKF", "Deep groove ball bearing", "Bearings", "CM-1450;S2", "new", "6", "2", "85.5", "MAIN"],
        ["22220 EK", "FAG", "Spherical roller bearing", "Bearings", "", "used", "1", "", "", ""],
    ])
    done = a.api.post("/api/v1/spare-parts/import", data={"file": (io.BytesIO(csv_data), "stock.csv")},
                      content_type="multipart/form-data")
    assert done.status_code == 201, done.get_json()
    assert done.get_json() == {"created": 2, "updated": 0}
    # The same part again, in Excel with Chinese headers: an update, the difference a stock move.
    xlsx = _xlsx([["零件号", "制造商", "描述", "状态", "数量", "厂区"],
                  ["6205 2RS", "SKF", "Deep groove ball bearing, 25x52x15", "新", 9, "MAIN"],
                  ["62052RS", "SKF", "Same bearing, refurbished", "翻新", 2, "MAIN"]])
    done = a.api.post("/api/v1/spare-parts/import", data={"file": (io.BytesIO(xlsx), "stock.xlsx")},
                      content_type="multipart/form-data")
    assert done.get_json() == {"created": 1, "updated": 1}, done.get_json()
    parts = a.api.get("/api/v1/spare-parts?q=62052RS").get_json()["items"]
    assert sorted((p["condition"], p["quantity"]) for p in parts) == [("new", 9), ("refurbished", 2)]
    new = next(p for p in parts if p["condition"] == "new")
    moves = a.api.get(f"/api/v1/spare-parts/{new['id']}/moves").get_json()["items"]
    assert [m["delta"] for m in moves] == [3, 6]


def test_a_bad_row_imports_nothing(company, owner_engine):
    a = company()
    before = _count(owner_engine, "spares_parts", a.id)
    data = _csv([["part_number", "condition", "quantity", "site"],
                 ["6205-2RS", "new", "2", ""],
                 ["", "new", "1", ""],
                 ["6206", "broken", "-1", "NOPE"]])
    body = _problem(a.api.post("/api/v1/spare-parts/import", data={"file": (io.BytesIO(data), "s.csv")},
                               content_type="multipart/form-data"), 422)
    assert set(body["errors"]) == {"row 3", "row 4"}
    assert any("site" in m for m in body["errors"]["row 4"]) and any("quantity" in m for m in body["errors"]["row 4"])
    for raw, name in ((b"garbage", "s.xlsx"), (b"\xff\xfe\x00bad", "s.pdf"), (b"a,b\n1,2", "s.csv")):
        _problem(a.api.post("/api/v1/spare-parts/import", data={"file": (io.BytesIO(raw), name)},
                            content_type="multipart/form-data"), 422)
    _problem(a.api.post("/api/v1/spare-parts/import", data={}, content_type="multipart/form-data"), 422)
    assert _count(owner_engine, "spares_parts", a.id) == before


def test_permissions_and_plan(company, tenant_factory, make_client):
    from tests.factories import ApiClient

    a = company()
    viewer = ApiClient(make_client()).sign_in(tenant_factory.add_member(a.made, "viewer"))
    assert viewer.get("/api/v1/spare-parts").status_code == 200
    _problem(viewer.post("/api/v1/spare-parts", json={"part_number": "X1"}), 403)
    fitter = ApiClient(make_client()).sign_in(tenant_factory.add_member(a.made, "maintenance"))
    assert fitter.post("/api/v1/spare-parts", json={"part_number": "X1"}).status_code == 201
    part_id = fitter.get("/api/v1/spare-parts").get_json()["items"][0]["id"]
    _problem(put(fitter, f"/api/v1/spare-parts/{part_id}/listing", {"visibility": "subscribers"}), 403)
    # A plant on the trial plan has no spares module.
    trial = company(plan=None)
    body = _problem(trial.api.get("/api/v1/spare-parts"), 403)
    assert body["type"].endswith("plan-required") and body["module"] == "spares"


def test_stock_pages_in_both_languages(company):
    a = company()
    a.part("6205-2RS", quantity=1, min_stock=3, category="Bearings")
    browser = a.browser()
    html = browser.get("/spares").get_data(as_text=True)
    assert 'data-testid="part-row"' in html and "6205-2RS" in html and 'data-testid="below-minimum"' in html
    zh = browser.get("/spares", headers=ZH).get_data(as_text=True)
    assert "<h1>备件</h1>" in zh and "低于最低库存" in zh and "导入库存" in zh
    assert "添加备件" in browser.get("/spares/parts/new", headers=ZH).get_data(as_text=True)
    assert "厂区位置" in browser.get("/spares/settings", headers=ZH).get_data(as_text=True)
