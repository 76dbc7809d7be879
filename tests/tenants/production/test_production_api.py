"""The API of the production room: work orders made by a publication, the
shop-floor lifecycle with its rules, output through the inventory room
(genealogy, yields), the order line following, actual against planned."""
from __future__ import annotations

import uuid
from datetime import timedelta

from tests.tenants.production.conftest import T0, problem


def _flow(shop, owner):
    line = shop.order_line()
    wos = shop.publish(line)
    shop.receive("IN-1", 10000.0)
    return line, wos


def test_publication_makes_released_work_orders_numbered_by_day(shop, owner):
    line, wos = _flow(shop, owner)
    assert len(wos) == 3 and shop.line_status(line) == "planned"
    page = owner.get(f"/api/v1/production/work-orders?order_line_id={line}").get_json()
    assert [(w["step"], w["operation"], w["status"]) for w in page["items"]] == [
        (0, "cold_roll", "released"), (1, "anneal", "released"), (2, "slit", "released")]
    numbers = [w["number"] for w in page["items"]]
    assert all(n.startswith("WO-") and len(n) == len("WO-20310303-0001") for n in numbers)
    assert len(set(numbers)) == 3 and sorted(numbers) == numbers
    assert page["items"][1]["batch_key"] == "AF1-L1"
    one = owner.get(f"/api/v1/production/work-orders/{wos[(line, 0)]}").get_json()
    assert one["variance"]["start_deviation_min"] is None and one["pauses"] == []
    assert one["variance"]["planned_duration_min"] == 360.0


def test_the_whole_lifecycle_with_output_genealogy_and_order_status(shop, owner):
    line, wos = _flow(shop, owner)
    cold, anneal, slit = wos[(line, 0)], wos[(line, 1)], wos[(line, 2)]
    base = "/api/v1/production/work-orders"

    started = owner.post(f"{base}/{cold}/start")
    assert started.status_code == 200, started.get_data(as_text=True)
    assert started.get_json()["status"] == "started" and started.get_json()["actual_start"]
    assert shop.line_status(line) == "in_production"

    paused = owner.post(f"{base}/{cold}/pause", json={"reason": "crane_wait", "note": "crane 2 busy"})
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    resumed = owner.post(f"{base}/{cold}/resume")
    assert resumed.status_code == 200 and resumed.get_json()["status"] == "started"
    pauses = owner.get(f"{base}/{cold}/pauses").get_json()
    assert [(p["reason"], p["note"], p["resumed_at"] is not None) for p in pauses] == [
        ("crane_wait", "crane 2 busy", True)]

    report = owner.post(f"{base}/{cold}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "CR-1", "weight_kg": 9800.0, "gauge_mm": 1.02, "width_mm": 1020.0}],
        "scrap": [{"weight_kg": 150.0, "reason": "edge crack"}]})
    assert report.status_code == 201, report.get_data(as_text=True)
    assert report.get_json()["work_order_id"] == str(cold)
    assert owner.post(f"{base}/{cold}/finish").get_json()["status"] == "finished"
    assert shop.coil("IN-1")["status"] == "consumed"
    assert shop.coil("CR-1")["status"] == "issued"  # stays at the unit for the next operation

    # The furnace takes the cold-rolled coil; the slitter makes two coils into stock.
    for wo, inputs, outputs in (
            (anneal, [{"coil_no": "CR-1"}], [{"coil_no": "AN-1", "weight_kg": 9780.0, "gauge_mm": 1.02,
                                               "width_mm": 1020.0}]),
            (slit, [{"coil_no": "http://localhost/inventory/c/AN-1"}],
             [{"coil_no": "SL-1", "weight_kg": 4850.0, "gauge_mm": 1.0, "width_mm": 1000.0},
              {"coil_no": "SL-2", "weight_kg": 4850.0, "gauge_mm": 1.0, "width_mm": 1000.0}])):
        assert owner.post(f"{base}/{wo}/start").status_code == 200
        assert owner.post(f"{base}/{wo}/finish").status_code == 200
        body = {"inputs": inputs, "outputs": outputs}
        if wo == slit:
            body["location_id"] = str(shop.loc["A-02"])
        assert owner.post(f"{base}/{wo}/output", json=body).status_code == 201
    assert shop.line_status(line) == "in_stock"
    assert shop.coil("SL-1")["status"] == "available" and shop.coil("SL-1")["temper"] == "H14"
    assert shop.coil("SL-2")["order_line_id"] == line and shop.coil("SL-2")["work_order_id"] == slit
    family = shop.ancestry("SL-1")
    assert {"IN-1", "CR-1", "AN-1", "SL-1"} <= set(family["nodes"])
    assert [s["operation"] for s in family["route"]] == ["cold_roll", "anneal", "slit"]

    detail = owner.get(f"{base}/{cold}").get_json()
    assert detail["output_kg"] == 9800.0 and detail["input_kg"] == 10000.0 and detail["scrap_kg"] == 150.0
    assert detail["variance"]["yield_pct"] == 98.0
    assert detail["variance"]["output_deviation_kg"] == round(9800.0 - 9900.0, 3)
    assert detail["variance"]["start_deviation_min"] is not None

    yields = owner.get("/api/v1/production/yields?group_by=operation").get_json()["items"]
    by_op = {r["key"]: r for r in yields}
    assert by_op["cold_roll"]["yield_pct"] == 98.0 and by_op["slit"]["output_kg"] == 9700.0
    per_line = owner.get("/api/v1/production/yields?group_by=order_line").get_json()["items"]
    assert per_line[0]["key"] == str(line) and per_line[0]["label"].endswith("/1")

    state = shop.call(lambda: __import__("alloyhub.tenants.production.services", fromlist=["x"]).execution_state())
    assert state[(line, 0)].status == "finished" and state[(line, 0)].output_kg == 9800.0
    assert state[(line, 2)].actual_end is not None


def test_republishing_retimes_released_and_keeps_begun_work(shop, owner):
    line, other = shop.order_line(), shop.order_line()
    first = shop.publish(line, other)
    wos = {k: v for k, v in first.items() if k[0] == line}
    first_other = {k: v for k, v in first.items() if k[0] == other}
    assert owner.post(f"/api/v1/production/work-orders/{wos[(line, 0)]}/start").status_code == 200
    before = shop.wo(wos[(line, 0)])
    later = shop.operations(line, start=T0 + timedelta(days=2))
    schedule = uuid.uuid4()
    again = shop.publish(ops=later, schedule_id=schedule)  # the other line is left out: cancelled
    assert set(again) == {(line, 1), (line, 2)} and again[(line, 1)] == wos[(line, 1)]
    kept = shop.wo(wos[(line, 0)])
    assert kept["status"] == "started" and kept["planned_start"] == T0 + timedelta(days=2) and kept["schedule_id"] == before["schedule_id"]
    assert shop.wo(wos[(line, 1)])["schedule_id"] == schedule
    assert {shop.wo(w)["status"] for w in first_other.values()} == {"cancelled"}
    open_ = owner.get(f"/api/v1/production/work-orders?order_line_id={other}&status=released").get_json()
    assert open_["items"] == []


def test_queue_and_scan_find_the_work_order_a_coil_feeds(shop, owner):
    line, wos = _flow(shop, owner)
    cm1 = shop.units["CM1"]
    base = "/api/v1/production/work-orders"
    owner.post(f"{base}/{wos[(line, 0)]}/start")
    owner.post(f"{base}/{wos[(line, 0)]}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "CR-9", "weight_kg": 9900.0, "gauge_mm": 1.0, "width_mm": 1020.0}]})
    queue = owner.get(f"/api/v1/production/units/{cm1}/queue").get_json()
    assert [w["number"] for w in queue["items"]] == [shop.wo(wos[(line, 0)])["number"]]
    af1 = shop.units["AF1"]
    found = owner.post(f"/api/v1/production/units/{af1}/scan",
                       json={"scanned": "http://localhost/inventory/c/CR-9"}).get_json()
    assert found["coil_no"] == "CR-9" and found["work_order"]["id"] == str(wos[(line, 1)])
    missing = owner.post(f"/api/v1/production/units/{af1}/scan", json={"scanned": "NOPE"})
    assert problem(missing, 422)["errors"]["scanned"]
    reasons = owner.get("/api/v1/production/pause-reasons").get_json()
    assert "breakdown" in [r["key"] for r in reasons]


def test_a_line_is_in_stock_once_its_last_coils_are_moved_into_stock(shop, owner, app):
    from alloyhub.platform.db import db
    from alloyhub.platform.outbox import relay_once
    from alloyhub.tenants.inventory import services as inventory

    line = shop.order_line()
    ops = shop.operations(line)
    wos = shop.publish(ops=ops)
    shop.receive("IN-7", 10000.0)
    base = "/api/v1/production/work-orders"
    coil = "IN-7"
    for step, made in ((0, "S0-7"), (1, "S1-7"), (2, "S2-7")):
        wo = wos[(line, step)]
        assert owner.post(f"{base}/{wo}/start").status_code == 200
        assert owner.post(f"{base}/{wo}/output", json={"inputs": [{"coil_no": coil}], "outputs": [
            {"coil_no": made, "weight_kg": 9000.0 - step, "gauge_mm": 1.0, "width_mm": 1000.0}]}).status_code == 201
        assert owner.post(f"{base}/{wo}/finish").status_code == 200
        coil = made
    assert shop.line_status(line) == "finished"  # the last coil is still at the slitter
    assert shop.coil("S2-7")["status"] == "issued"
    shop.call(lambda: inventory.transfer(inventory.get_coil_by_number("S2-7"), shop.loc["A-01"], "to the store"))
    with app.app_context():
        while relay_once():
            pass
        db.session.remove()
    assert shop.line_status(line) == "in_stock"
