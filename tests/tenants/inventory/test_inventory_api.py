"""/api/v1/inventory: warehouses and locations, receipts, moves, adjustments,
quarantine, issue, reservations, FIFO, shipments and packing lists, the
order line hook; refused actions answer problem+json and change nothing."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from alloyhub.tenants.inventory import services
from tests.tenants.inventory.conftest import problem


def _receipt(plant, *coils, location="A-01", reference=None):
    return {"location_id": str(plant.loc[location]), "reference": reference,
            "coils": [{"coil_no": no, "alloy": "5052", "temper": "H32", "gauge_mm": 1.2, "width_mm": 1250,
                       "weight_kg": 5000, **extra} for no, extra in coils]}


def test_warehouses_and_locations_with_etag(plant, owner):
    listed = owner.get("/api/v1/inventory/warehouses").get_json()["items"]
    assert [w["code"] for w in listed] == ["FG"]
    created = owner.post("/api/v1/inventory/warehouses", json={"site_id": str(plant.site_id), "code": "rm",
                                                               "name": "Raw material"})
    assert created.status_code == 201, created.get_json()
    warehouse = created.get_json()
    assert warehouse["code"] == "RM"
    problem(owner.post("/api/v1/inventory/warehouses", json={"site_id": str(plant.site_id), "code": "RM",
                                                             "name": "Again"}), 422)
    bad = problem(owner.post("/api/v1/inventory/warehouses", json={"site_id": str(uuid.uuid4()), "code": "X",
                                                                   "name": "No site"}), 422)
    assert bad["errors"] == {"site_id": ["No such site."]}

    url = f"/api/v1/inventory/warehouses/{warehouse['id']}"
    etag = owner.get(url).headers["ETag"]
    problem(owner.patch(url, json={"name": "Raw"}), 428)
    problem(owner.patch(url, json={"name": "Raw"}, headers={"If-Match": '"stale"'}), 412)
    patched = owner.patch(url, json={"name": "Raw coils"}, headers={"If-Match": etag})
    assert patched.status_code == 200 and patched.get_json()["name"] == "Raw coils"

    loc = owner.post(f"{url}/locations", json={"code": "r-1", "capacity_coils": 1, "kind": "storage"})
    assert loc.status_code == 201, loc.get_json()
    location = loc.get_json()
    assert location["code"] == "R-1" and location["capacity_coils"] == 1 and location["warehouse_code"] == "RM"
    problem(owner.post(f"{url}/locations", json={"code": "R-1"}), 422)
    problem(owner.post(f"{url}/locations", json={"code": "R-2", "kind": "attic"}), 422)
    codes = [x["code"] for x in owner.get(f"{url}/locations").get_json()["items"]]
    assert codes == ["R-1"]
    loc_url = f"/api/v1/inventory/locations/{location['id']}"
    etag = owner.get(loc_url).headers["ETag"]
    patched = owner.patch(loc_url, json={"capacity_coils": 2, "name": "Rack 1"}, headers={"If-Match": etag})
    assert patched.get_json()["capacity_coils"] == 2


def test_receipt_creates_coils_moves_heat_lot_and_genealogy(plant, owner):
    body = _receipt(plant, ("C-1", {"heat_no": "H-1", "lot_no": "L-1", "length_m": 800}),
                    ("C-2", {"heat_no": "H-1", "lot_no": "L-1"}), reference="DN-77")
    response = owner.post("/api/v1/inventory/receipts", json=body)
    assert response.status_code == 201, response.get_json()
    coils = response.get_json()["items"]
    assert [(c["coil_no"], c["status"], c["heat_no"], c["lot_no"], c["location"]) for c in coils] == [
        ("C-1", "available", "H-1", "L-1", "FG/A-01"), ("C-2", "available", "H-1", "L-1", "FG/A-01")]
    moves = owner.get(f"/api/v1/inventory/coils/{coils[0]['id']}/moves").get_json()["items"]
    assert [(m["kind"], m["to_location"], m["weight_after_kg"], m["reason"]) for m in moves] == [
        ("receipt", "FG/A-01", 5000.0, "DN-77")]
    heat = owner.get("/api/v1/inventory/heats?q=H-1").get_json()["items"][0]
    tree = owner.get(f"/api/v1/inventory/heats/{heat['id']}/descendants").get_json()
    assert sorted(c["label"] for c in tree["coils"]) == ["C-1", "C-2"]
    by_lot = owner.get("/api/v1/inventory/stock/lots").get_json()["items"]
    assert [(r["lot_no"], r["coils"], r["weight_kg"]) for r in by_lot] == [("L-1", 2, 10000.0)]
    assert owner.get("/api/v1/inventory/coils/by-number/C-2").get_json()["id"] == coils[1]["id"]
    problem(owner.get("/api/v1/inventory/coils/by-number/C-404"), 404)


def test_bad_receipts_change_nothing(plant, owner, snapshot):
    plant.receive("TAKEN")
    before = snapshot(plant.made.tenant_id)
    body = _receipt(plant, ("NEW-1", {}), ("TAKEN", {}), ("NEW-1", {"weight_kg": 5}))
    errors = problem(owner.post("/api/v1/inventory/receipts", json=body), 422)["errors"]
    assert errors == {"coils.1.coil_no": ["Another coil already has this number."],
                      "coils.0.coil_no": ["This coil number appears twice."],
                      "coils.2.coil_no": ["This coil number appears twice."]}
    problem(owner.post("/api/v1/inventory/receipts", json=_receipt(plant, ("N", {"weight_kg": -5}))), 422)
    problem(owner.post("/api/v1/inventory/receipts", json=_receipt(plant, ("N", {"weight_kg": "heavy"}))), 422)
    body = _receipt(plant, ("N", {}))
    body["location_id"] = str(uuid.uuid4())
    assert problem(owner.post("/api/v1/inventory/receipts", json=body), 422)["errors"] == {
        "location_id": ["No such location."]}
    problem(owner.post("/api/v1/inventory/receipts", json={"coils": []}), 422)
    assert snapshot(plant.made.tenant_id) == before


def test_location_capacity_is_respected(plant, owner, snapshot):
    with plant.scope():
        warehouse = services.get_warehouse(plant.warehouse_id)
        small = services.create_location(warehouse, code="S-1", capacity_coils=1, capacity_kg=6000).id
    first = owner.post("/api/v1/inventory/receipts", json={**_receipt(plant, ("S-A", {})), "location_id": str(small)})
    assert first.status_code == 201
    other = plant.receive("S-C")
    before = snapshot(plant.made.tenant_id)
    full = problem(owner.post("/api/v1/inventory/receipts",
                              json={**_receipt(plant, ("S-B", {})), "location_id": str(small)}), 409)
    assert full["type"].endswith("/location-full") and "at most 1 coils" in full["detail"]
    problem(owner.post(f"/api/v1/inventory/coils/{other}/transfer", json={"location_id": str(small)}), 409)
    assert snapshot(plant.made.tenant_id) == before
    assert plant.coil(other)["location_id"] == plant.loc["A-01"]


def test_transfer_adjust_quarantine_and_audit(plant, owner):
    coil = plant.receive("T-1")
    moved = owner.post(f"/api/v1/inventory/coils/{coil}/transfer", json={"location_id": str(plant.loc["A-02"]),
                                                                        "reason": "re-stack"})
    assert moved.status_code == 200 and moved.get_json()["location"] == "FG/A-02"
    problem(owner.post(f"/api/v1/inventory/coils/{coil}/transfer", json={"location_id": str(plant.loc["A-02"])}),
            422)
    adjusted = owner.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"delta_kg": -120.5,
                                                                          "reason": "re-weighed"})
    assert adjusted.status_code == 200 and adjusted.get_json()["weight_kg"] == 4879.5
    quarantined = owner.post(f"/api/v1/inventory/coils/{coil}/quarantine", json={"reason": "surface marks"})
    assert quarantined.get_json()["status"] == "quarantined"
    problem(owner.post(f"/api/v1/inventory/coils/{coil}/quarantine", json={"reason": "again"}), 409)
    lifted = owner.post(f"/api/v1/inventory/coils/{coil}/release-quarantine", json={"reason": "passed inspection"})
    assert lifted.get_json()["status"] == "available" and lifted.get_json()["quarantine_reason"] is None
    kinds = [m["kind"] for m in owner.get(f"/api/v1/inventory/coils/{coil}/moves").get_json()["items"]]
    assert kinds == ["receipt", "transfer", "adjustment", "quarantine", "release"]
    ledger = owner.get("/api/v1/inventory/moves?kind=adjustment").get_json()["items"]
    assert [(m["coil_no"], m["weight_delta_kg"], m["reason"]) for m in ledger] == [("T-1", -120.5, "re-weighed")]
    audit = owner.get("/api/v1/audit?action=inventory.adjusted").get_json()["items"]
    assert audit and audit[0]["details"]["reason"] == "re-weighed"


def test_negative_stock_is_refused_and_changes_nothing(plant, owner, snapshot):
    coil = plant.receive("NEG-1", weight_kg=1000)
    before = snapshot(plant.made.tenant_id)
    body = problem(owner.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"delta_kg": -1000.5,
                                                                               "reason": "dropped"}), 422)
    assert body["type"].endswith("/negative-stock") and body["coil_no"] == "NEG-1"
    assert "delta_kg" in body["errors"]
    problem(owner.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"weight_kg": -1, "reason": "x"}), 422)
    no_reason = problem(owner.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"delta_kg": -1, "reason": " "}),
                        422)
    assert "reason" in no_reason["errors"]
    problem(owner.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"delta_kg": -1}), 422)
    # Consuming more than the coil weighs, through production output.
    consume = problem(owner.post("/api/v1/inventory/production", json={
        "operation": "slit", "inputs": [{"coil_id": str(coil), "weight_kg": 1200}],
        "outputs": [{"coil_no": "NEG-1A", "weight_kg": 1100, "gauge_mm": 1.2, "width_mm": 600}]}), 422)
    assert consume["type"].endswith("/negative-stock")
    assert snapshot(plant.made.tenant_id) == before
    # Down to exactly zero is allowed: the coil is used up.
    zero = owner.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"weight_kg": 0, "reason": "scrapped"})
    assert zero.status_code == 200 and zero.get_json()["status"] == "consumed"


def test_reservations_release_and_double_booking(plant, owner, snapshot):
    a, b = plant.receive("R-1"), plant.receive("R-2")
    line, other_line = str(uuid.uuid4()), str(uuid.uuid4())
    made = owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(a), str(b)], "order_line_id": line})
    assert made.status_code == 201, made.get_json()
    reservations = made.get_json()["items"]
    assert {r["coil_no"] for r in reservations} == {"R-1", "R-2"}
    assert plant.coil(a)["status"] == "reserved"

    before = snapshot(plant.made.tenant_id)
    again = problem(owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(a)],
                                                                       "order_line_id": other_line}), 409)
    assert again["type"].endswith("/coil-double-booked") and again["coil_no"] == "R-1"
    assert again["order_line_id"] == line
    # All or nothing: a free coil next to a booked one is not reserved either.
    c = plant.receive("R-3")
    before = snapshot(plant.made.tenant_id)
    problem(owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(c), str(b)],
                                                               "order_line_id": other_line}), 409)
    assert snapshot(plant.made.tenant_id) == before
    assert plant.coil(c)["status"] == "available"

    listed = owner.get(f"/api/v1/inventory/reservations?order_line_id={line}").get_json()["items"]
    assert len(listed) == 2
    released = owner.post(f"/api/v1/inventory/reservations/{reservations[0]['id']}/release", json={"note": "cut"})
    assert released.status_code == 200 and released.get_json()["status"] == "released"
    problem(owner.post(f"/api/v1/inventory/reservations/{reservations[0]['id']}/release", json={}), 409)
    assert plant.coil(reservations[0]["coil_id"])["status"] == "available"


def test_quarantined_or_issued_coils_cannot_be_booked(plant, owner, snapshot):
    q = plant.receive("Q-1")
    owner.post(f"/api/v1/inventory/coils/{q}/quarantine", json={"reason": "porosity"})
    i = plant.receive("I-1")
    unit = str(uuid.uuid4())
    issued = owner.post(f"/api/v1/inventory/coils/{i}/issue", json={"unit_id": unit})
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    assert issued.get_json()["location_id"] is None and issued.get_json()["unit_id"] == unit
    before = snapshot(plant.made.tenant_id)
    line = str(uuid.uuid4())
    body = problem(owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(q)], "order_line_id": line}),
                   409)
    assert body["type"].endswith("/coil-unavailable") and "quarantined" in body["detail"]
    twice = problem(owner.post(f"/api/v1/inventory/coils/{i}/issue", json={}), 409)
    assert twice["type"].endswith("/coil-double-booked") and "issued to production" in twice["detail"]
    problem(owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(i)], "order_line_id": line}), 409)
    problem(owner.post(f"/api/v1/inventory/coils/{q}/issue", json={}), 409)
    assert snapshot(plant.made.tenant_id) == before
    # The issued coil comes back into stock by a transfer (a return).
    back = owner.post(f"/api/v1/inventory/coils/{i}/transfer", json={"location_id": str(plant.loc["A-02"])})
    assert back.get_json()["status"] == "available"
    kinds = [m["kind"] for m in owner.get(f"/api/v1/inventory/coils/{i}/moves").get_json()["items"]]
    assert kinds == ["receipt", "issue", "return"]


def test_a_reserved_coil_is_issued_only_for_its_line(plant, owner, snapshot):
    coil = plant.receive("RI-1")
    line = str(uuid.uuid4())
    owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(coil)], "order_line_id": line})
    before = snapshot(plant.made.tenant_id)
    problem(owner.post(f"/api/v1/inventory/coils/{coil}/issue", json={"order_line_id": str(uuid.uuid4())}), 409)
    problem(owner.post(f"/api/v1/inventory/coils/{coil}/issue", json={}), 409)
    assert snapshot(plant.made.tenant_id) == before
    issued = owner.post(f"/api/v1/inventory/coils/{coil}/issue", json={"order_line_id": line})
    assert issued.get_json()["status"] == "issued"
    statuses = [r["status"] for r in owner.get(f"/api/v1/inventory/reservations?coil_id={coil}").get_json()["items"]]
    assert statuses == ["fulfilled"]


def test_fifo_suggests_the_oldest_matching_coils(plant, owner):
    now = datetime.now(UTC)
    plant.receive("F-NEW", received_at=now - timedelta(days=1), weight_kg=3000)
    plant.receive("F-OLD", received_at=now - timedelta(days=30), weight_kg=3000)
    plant.receive("F-MID", received_at=now - timedelta(days=10), weight_kg=3000, gauge_mm=1.25)
    plant.receive("F-WIDE", received_at=now - timedelta(days=40), width_mm=1500)
    plant.receive("F-3003", received_at=now - timedelta(days=50), alloy="3003")
    plant.receive("F-OTHER-TEMPER", received_at=now - timedelta(days=60), temper="O")
    reserved = plant.receive("F-RESERVED", received_at=now - timedelta(days=70))
    owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(reserved)], "order_line_id": str(uuid.uuid4())})
    url = "/api/v1/inventory/fifo?alloy=5052&temper=H32&gauge_mm=1.2&gauge_tol_mm=0.05&width_mm=1250&width_tol_mm=10"
    result = owner.get(url).get_json()
    assert [i["coil"]["coil_no"] for i in result["items"]] == ["F-OLD", "F-MID", "F-NEW"]
    assert [i["cumulative_kg"] for i in result["items"]] == [3000, 6000, 9000]
    result = owner.get(url + "&quantity_kg=5000").get_json()
    assert [i["coil"]["coil_no"] for i in result["items"]] == ["F-OLD", "F-MID"] and result["covered"] is True
    result = owner.get(url + "&quantity_kg=50000").get_json()
    assert result["covered"] is False and result["total_kg"] == 9000
    tight = owner.get("/api/v1/inventory/fifo?alloy=5052&gauge_mm=1.2&gauge_tol_mm=0.01&temper=H32").get_json()
    assert [i["coil"]["coil_no"] for i in tight["items"]] == ["F-WIDE", "F-OLD", "F-NEW"]
    problem(owner.get("/api/v1/inventory/fifo?alloy=5052&gauge_tol_mm=-1"), 422)
    problem(owner.get("/api/v1/inventory/fifo"), 422)


def test_shipment_lifecycle_with_packing_list_and_events(plant, owner, app):
    line = str(uuid.uuid4())
    a = plant.receive("S-1", heat_no="HS-1", lot_no="LS-1", length_m=900)
    b = plant.receive("S-2", weight_kg=4200.25)
    owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(a)], "order_line_id": line})
    order = str(uuid.uuid4())
    created = owner.post("/api/v1/inventory/shipments", json={"customer_name": "无锡某公司 Wuxi Customer",
                                                               "order_id": order, "carrier": "SF",
                                                               "warehouse_id": str(plant.warehouse_id)})
    assert created.status_code == 201, created.get_json()
    shipment = created.get_json()
    assert shipment["status"] == "draft" and shipment["shipment_no"].startswith("SH")
    url = f"/api/v1/inventory/shipments/{shipment['id']}"
    added = owner.post(f"{url}/items", json={"coil_id": str(a)})
    assert added.status_code == 201
    assert added.get_json()["items"][0]["order_line_id"] == line  # from its reservation
    added = owner.post(f"{url}/items", json={"coil_no": "https://plant.example/inventory/c/S-2",
                                             "order_line_id": line})
    assert [i["coil_no"] for i in added.get_json()["items"]] == ["S-1", "S-2"]
    etag = owner.get(url).headers["ETag"]
    patched = owner.patch(url, json={"vehicle_no": "苏B12345"}, headers={"If-Match": etag})
    assert patched.status_code == 200 and patched.get_json()["vehicle_no"] == "苏B12345"

    packing = owner.get(f"{url}/packing-list").get_json()
    assert packing["coils"] == 2 and packing["total_weight_kg"] == 9200.25
    assert [(r["coil_no"], r["heat_no"], r["lot_no"]) for r in packing["rows"]] == [
        ("S-1", "HS-1", "LS-1"), ("S-2", None, None)]
    csv = owner.get(f"{url}/packing-list.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("n,coil_no,lot_no") and lines[1].startswith("1,S-1,LS-1,HS-1")
    assert lines[-1].split(",")[1] == "TOTAL" and "9200.25" in lines[-1]

    confirmed = owner.post(f"{url}/confirm")
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert body["status"] == "shipped" and [i["weight_kg"] for i in body["items"]] == [5000.0, 4200.25]
    assert plant.coil(a)["status"] == plant.coil(b)["status"] == "shipped"
    assert plant.coil(a)["location_id"] is None
    assert [r["status"] for r in owner.get(f"/api/v1/inventory/reservations?coil_id={a}").get_json()["items"]] == [
        "fulfilled"]
    problem(owner.post(f"{url}/confirm"), 409)
    problem(owner.post(f"{url}/items", json={"coil_id": str(plant.receive("S-3"))}), 409)
    problem(owner.post(f"{url}/cancel", json={}), 409)
    delivered = owner.post(f"{url}/deliver", json={"received_by": "Li Lei"})
    assert delivered.get_json()["status"] == "delivered" and delivered.get_json()["received_by"] == "Li Lei"
    problem(owner.post(f"{url}/deliver", json={}), 409)

    kinds = [m["kind"] for m in owner.get(f"/api/v1/inventory/coils/{a}/moves").get_json()["items"]]
    assert kinds == ["receipt", "shipment"]
    from sqlalchemy import select

    from alloyhub.platform import tenancy
    from alloyhub.platform.db import db
    from alloyhub.platform.outbox import OutboxEvent

    with app.app_context(), tenancy.system_context(db.session):
        topics = list(db.session.scalars(select(OutboxEvent.topic).where(
            OutboxEvent.tenant_id == plant.made.tenant_id, OutboxEvent.topic.like("inventory.shipment.%"))
            .order_by(OutboxEvent.created_at)))
        shipped = db.session.scalar(select(OutboxEvent).where(OutboxEvent.tenant_id == plant.made.tenant_id,
                                                              OutboxEvent.topic == "inventory.shipment.shipped"))
        assert {c["coil_no"] for c in shipped.payload["coils"]} == {"S-1", "S-2"}
    assert topics == ["inventory.shipment.created", "inventory.shipment.shipped", "inventory.shipment.delivered"]

    where = owner.get(f"/api/v1/inventory/line-location?order_line_id={line}").get_json()
    assert [(c["coil_no"], c["status"], c["shipment_status"]) for c in where["coils"]] == [
        ("S-1", "shipped", "delivered"), ("S-2", "shipped", "delivered")]
    assert where["summary"]["delivered"]["coils"] == 2


def test_double_booking_on_shipments_changes_nothing(plant, owner, snapshot):
    line, other_line = str(uuid.uuid4()), str(uuid.uuid4())
    reserved = plant.receive("D-1")
    owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(reserved)], "order_line_id": line})
    quarantined = plant.receive("D-2")
    owner.post(f"/api/v1/inventory/coils/{quarantined}/quarantine", json={"reason": "scratches"})
    free = plant.receive("D-3")
    first = owner.post("/api/v1/inventory/shipments", json={"customer_name": "A"}).get_json()
    second = owner.post("/api/v1/inventory/shipments", json={"customer_name": "B"}).get_json()
    owner.post(f"/api/v1/inventory/shipments/{first['id']}/items", json={"coil_id": str(free)})
    before = snapshot(plant.made.tenant_id)
    # On another shipment already.
    on_other = problem(owner.post(f"/api/v1/inventory/shipments/{second['id']}/items", json={"coil_id": str(free)}),
                       409)
    assert on_other["type"].endswith("/coil-double-booked") and first["shipment_no"] in on_other["detail"]
    # Reserved for another order line.
    wrong_line = problem(owner.post(f"/api/v1/inventory/shipments/{second['id']}/items",
                                    json={"coil_id": str(reserved), "order_line_id": other_line}), 409)
    assert wrong_line["type"].endswith("/coil-double-booked") and wrong_line["order_line_id"] == line
    # Quarantined.
    q = problem(owner.post(f"/api/v1/inventory/shipments/{second['id']}/items", json={"coil_id": str(quarantined)}),
                409)
    assert q["type"].endswith("/coil-unavailable")
    # On a shipment: cannot be reserved or issued either.
    problem(owner.post("/api/v1/inventory/reservations", json={"coil_ids": [str(free)], "order_line_id": line}), 409)
    problem(owner.post(f"/api/v1/inventory/coils/{free}/issue", json={}), 409)
    problem(owner.post(f"/api/v1/inventory/shipments/{second['id']}/confirm"), 422)  # nothing on it
    problem(owner.post(f"/api/v1/inventory/shipments/{second['id']}/items", json={"coil_no": "NOPE"}), 422)
    assert snapshot(plant.made.tenant_id) == before


def test_shipping_a_coil_quarantined_after_it_was_added_is_refused(plant, owner, snapshot):
    good, bad = plant.receive("SQ-1"), plant.receive("SQ-2")
    shipment = owner.post("/api/v1/inventory/shipments", json={"customer_name": "C"}).get_json()
    url = f"/api/v1/inventory/shipments/{shipment['id']}"
    owner.post(f"{url}/items", json={"coil_id": str(good)})
    owner.post(f"{url}/items", json={"coil_id": str(bad)})
    owner.post(f"/api/v1/inventory/coils/{bad}/quarantine", json={"reason": "found a crack"})
    before = snapshot(plant.made.tenant_id)
    body = problem(owner.post(f"{url}/confirm"), 409)
    assert body["type"].endswith("/coil-unavailable") and body["coil_no"] == "SQ-2"
    assert "quarantined" in body["detail"] and "found a crack" in body["detail"]
    assert snapshot(plant.made.tenant_id) == before
    assert plant.coil(good)["status"] == "available"
    # Off the shipment, the rest ships.
    removed = owner.delete(f"{url}/items/{bad}")
    assert [i["coil_no"] for i in removed.get_json()["items"]] == ["SQ-1"]
    assert owner.post(f"{url}/confirm").get_json()["status"] == "shipped"
    assert plant.coil(bad)["status"] == "quarantined" and plant.coil(bad)["shipment_id"] is None


def test_cancelled_shipment_frees_its_coils(plant, owner):
    coil = plant.receive("X-1")
    shipment = owner.post("/api/v1/inventory/shipments", json={"customer_name": "C", "shipment_no": "SH-MANUAL-1"})
    assert shipment.get_json()["shipment_no"] == "SH-MANUAL-1"
    url = f"/api/v1/inventory/shipments/{shipment.get_json()['id']}"
    owner.post(f"{url}/items", json={"coil_id": str(coil)})
    cancelled = owner.post(f"{url}/cancel", json={"reason": "customer postponed"})
    assert cancelled.get_json()["status"] == "cancelled" and cancelled.get_json()["items"] == []
    assert plant.coil(coil)["shipment_id"] is None
    again = owner.post("/api/v1/inventory/shipments", json={"customer_name": "D"}).get_json()
    assert owner.post(f"/api/v1/inventory/shipments/{again['id']}/items", json={"coil_id": str(coil)}).status_code == 201
    problem(owner.post("/api/v1/inventory/shipments", json={"customer_name": "E", "shipment_no": "SH-MANUAL-1"}), 422)


def test_line_location_hook_for_the_orders_room(plant, owner):
    line = uuid.uuid4()
    a, b, c = plant.receive("LL-1"), plant.receive("LL-2", location="A-02"), plant.receive("LL-3")
    plant.call(services.reserve, [a, b], line)
    with plant.scope():
        shipment = services.create_shipment(customer_name="C")
        services.add_to_shipment(shipment, b)
        where = services.line_location(line)
    assert [(r["coil_no"], r["status"], r["location"], r["reserved"], r["shipment_no"]) for r in where["coils"]] == [
        ("LL-1", "reserved", "FG/A-01", True, None), ("LL-2", "reserved", "FG/A-02", True, shipment.shipment_no)]
    assert where["summary"] == {"reserved": {"coils": 2, "weight_kg": 10000.0}}
    assert services.line_location  # the orders room calls it with an app context and a tenant scope
    api = owner.get(f"/api/v1/inventory/line-location?order_line_id={line}").get_json()
    assert [r["coil_no"] for r in api["coils"]] == ["LL-1", "LL-2"] and api["total_weight_kg"] == 10000.0
    assert owner.get(f"/api/v1/inventory/line-location?order_line_id={uuid.uuid4()}").get_json()["coils"] == []
    problem(owner.get("/api/v1/inventory/line-location"), 422)
    assert c


def test_stock_list_filters_and_pagination(plant, owner):
    for n in range(5):
        plant.receive(f"P-{n}", gauge_mm=1.0 + n / 10, width_mm=1000 + n * 100)
    plant.receive("P-3003", alloy="3003")
    page = owner.get("/api/v1/inventory/coils?limit=2&alloy=5052").get_json()
    seen = [c["coil_no"] for c in page["items"]]
    while page["next_cursor"]:
        page = owner.get(f"/api/v1/inventory/coils?limit=2&alloy=5052&cursor={page['next_cursor']}").get_json()
        seen += [c["coil_no"] for c in page["items"]]
    assert sorted(seen) == [f"P-{n}" for n in range(5)]
    ranged = owner.get("/api/v1/inventory/coils?gauge_min=1.15&gauge_max=1.35&alloy=5052").get_json()["items"]
    assert sorted(c["coil_no"] for c in ranged) == ["P-2", "P-3"]
    wide = owner.get("/api/v1/inventory/coils?width_min=1250&alloy=5052").get_json()["items"]
    assert sorted(c["coil_no"] for c in wide) == ["P-3", "P-4"]
    at = owner.get(f"/api/v1/inventory/coils?location_id={plant.loc['A-01']}&q=P-").get_json()["items"]
    assert len(at) == 6
    problem(owner.get("/api/v1/inventory/coils?status=lost"), 422)
    problem(owner.get("/api/v1/inventory/coils?cursor=garbage"), 400)


def test_permissions_by_role(plant, app, tenant_factory, make_client):
    from tests.factories import ApiClient

    viewer = ApiClient(make_client()).sign_in(tenant_factory.add_member(plant.made, "viewer"))
    operator = ApiClient(make_client()).sign_in(tenant_factory.add_member(plant.made, "operator"))
    coil = plant.receive("PERM-1")
    assert viewer.get("/api/v1/inventory/coils").status_code == 200
    problem(viewer.post(f"/api/v1/inventory/coils/{coil}/transfer", json={"location_id": str(plant.loc["A-02"])}),
            403)
    assert operator.post(f"/api/v1/inventory/coils/{coil}/transfer",
                         json={"location_id": str(plant.loc["A-02"])}).status_code == 200
    problem(operator.post(f"/api/v1/inventory/coils/{coil}/adjust", json={"delta_kg": -1, "reason": "x"}), 403)
    problem(operator.post("/api/v1/inventory/shipments", json={"customer_name": "X"}), 403)
    problem(operator.post("/api/v1/inventory/warehouses", json={"site_id": str(plant.site_id), "code": "Z",
                                                                "name": "Z"}), 403)
