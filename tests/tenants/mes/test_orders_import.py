"""Importing orders from CSV and Excel: all rows or none, every bad row named."""
from __future__ import annotations

import io

from openpyxl import Workbook

from tests.tenants.mes.conftest import due

PROBLEM = "application/problem+json"


def _upload(owner, name: str, data: bytes, query: str = ""):
    return owner.client.post(f"/api/v1/orders/import{query}", data={"file": (io.BytesIO(data), name)},
                             headers={"X-CSRFToken": owner.token}, content_type="multipart/form-data")


def _csv(rows: list[list]) -> bytes:
    return "\n".join(",".join(str(c) for c in row) for row in rows).encode()


HEADER = ["order_number", "customer", "customer_po", "product", "quantity", "unit", "due_date", "priority", "notes"]


def test_csv_import_groups_rows_into_orders(plant, owner):
    data = _csv([HEADER,
                 ["IMP-1", "c1", "PO-77", "p1", "20", "t", due(0), "high", "first"],
                 ["IMP-1", "C1", "PO-77", "P1", "3", "coils", due(5), "2", ""],
                 ["", "C1", "", "P1", "12.5", "", due(9), "", ""]])
    response = _upload(owner, "orders.csv", data)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["lines"] == 3 and body["orders"][0] == "IMP-1" and body["orders"][1].startswith("SO-")
    imported = owner.get("/api/v1/orders?q=IMP-1").get_json()["items"][0]
    assert imported["status"] == "draft" and imported["customer_po"] == "PO-77"
    assert [(li["quantity"], li["quantity_unit"], li["priority"]) for li in imported["lines"]] == [
        (20.0, "t", 3), (3.0, "coils", 2)]
    history = owner.get(f"/api/v1/orders/{imported['id']}/history").get_json()["items"]
    assert history[0]["note"] == "Imported from orders.csv."


def test_a_bad_row_imports_nothing(plant, owner, snapshot):
    before = snapshot(plant.made.tenant_id)
    data = _csv([HEADER,
                 ["IMP-2", "C1", "", "P1", "20", "t", due(0), "", ""],
                 ["IMP-2", "C1", "", "NOPE", "-4", "kg", "2001-01-01", "9", ""],
                 ["IMP-3", "ZZ", "", "P1", "abc", "t", "soon", "", ""]])
    response = _upload(owner, "orders.csv", data)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["detail"] == "2 rows have errors; nothing was imported."
    problems = {(r["row"], r["column"]) for r in body["rows"]}
    assert problems == {(3, "product"), (3, "quantity"), (3, "unit"), (3, "due_date"), (3, "priority"),
                        (4, "customer"), (4, "quantity"), (4, "due_date")}
    assert any("Unknown product NOPE" in r["message"] for r in body["rows"])
    assert any("in the past" in r["message"] for r in body["rows"])
    assert "row 3" in body["errors"] and "row 4" in body["errors"]
    assert snapshot(plant.made.tenant_id) == before


def test_existing_order_number_and_missing_columns(plant, owner, snapshot):
    plant.order(number="TAKEN-1")
    before = snapshot(plant.made.tenant_id)
    taken = _upload(owner, "o.csv", _csv([HEADER, ["TAKEN-1", "C1", "", "P1", "5", "t", due(0), "", ""]]))
    assert taken.status_code == 422 and "exists already" in taken.get_json()["rows"][0]["message"]
    missing = _upload(owner, "o.csv", _csv([["customer", "quantity"], ["C1", "5"]]))
    assert missing.status_code == 422 and "product" in missing.get_json()["detail"]
    empty = _upload(owner, "o.csv", b"")
    assert empty.status_code == 422
    garbage = _upload(owner, "o.xlsx", b"PK\x03\x04 not really a workbook")
    assert garbage.status_code == 422 and "Excel" in garbage.get_json()["detail"]
    assert snapshot(plant.made.tenant_id) == before


def test_excel_with_chinese_headers_and_confirm(plant, owner):
    book = Workbook()
    sheet = book.active
    sheet.append(["订单号", "客户", "产品", "数量", "单位", "交期", "优先级"])
    from datetime import date

    sheet.append(["XL-1", "C1", "P1", 30, "吨", date.fromisoformat(due(2)), "紧急"])
    sheet.append(["XL-1", "C1", "P1", 2, "卷", due(4), 1])
    buffer = io.BytesIO()
    book.save(buffer)
    response = _upload(owner, "订单.xlsx", buffer.getvalue(), "?confirm=true")
    assert response.status_code == 201, response.get_json()
    order = owner.get("/api/v1/orders?q=XL-1").get_json()["items"][0]
    assert order["status"] == "confirmed"
    assert [(li["quantity"], li["quantity_unit"], li["due_date"], li["priority"]) for li in order["lines"]] == [
        (30.0, "t", due(2), 4), (2.0, "coils", due(4), 1)]
    assert any(t == "order.confirmed" for t, _ in plant.events())


def test_confirming_import_needs_routed_products(plant, owner, snapshot):
    owner.post("/api/v1/products", json={"code": "RAW", "alloy": "1060", "temper": "O", "gauge_mm": 1,
                                         "width_mm": 1000, "coil_weight_t": 5})
    before = snapshot(plant.made.tenant_id)
    response = _upload(owner, "o.csv", _csv([HEADER, ["R-1", "C1", "", "RAW", "5", "t", due(0), "", ""]]),
                       "?confirm=true")
    assert response.status_code == 422 and "no routing" in response.get_json()["rows"][0]["message"]
    assert snapshot(plant.made.tenant_id) == before
    draft_only = _upload(owner, "o.csv", _csv([HEADER, ["R-1", "C1", "", "RAW", "5", "t", due(0), "", ""]]))
    assert draft_only.status_code == 201


def test_import_needs_a_file(owner):
    response = owner.client.post("/api/v1/orders/import", data={}, headers={"X-CSRFToken": owner.token},
                                 content_type="multipart/form-data")
    assert response.status_code == 422 and response.mimetype == PROBLEM
