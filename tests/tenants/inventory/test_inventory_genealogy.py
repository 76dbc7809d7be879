"""Genealogy and production output: a crafted tree with casting, rolling,
slitting and joining; ancestry and descendants; yield per operation and
order line; cycles refused; the production room's entry point; and the
concurrency guarantees (two reservations at once leave exactly one)."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.tenants.inventory import services
from alloyhub.tenants.inventory.errors import DoubleBooking, GenealogyCycle
from tests.tenants.inventory.conftest import problem

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LINE = uuid.UUID("00000000-0000-4000-8000-00000000a001")
OTHER_LINE = uuid.UUID("00000000-0000-4000-8000-00000000a002")


def _step(plant, **kw):
    with plant.scope():
        event = services.record_production_output(**kw)
        return event.id, {c.coil_no: c.id for c in services.event_coils(event)}


@pytest.fixture
def tree(plant):
    """H1 (10 t) -hot roll-> M -cold roll-> C -slit-> S1 S2 S3; H2 -receipt-> N;
    S3 + N -join-> J. Returns the ids by name."""
    ids = {}
    with plant.scope():
        ids["H1"] = services.create_heat(heat_no="H1", alloy="5052", weight_kg=26000, cast_at=T0).id
    _, made = _step(plant, inputs=[{"heat_id": ids["H1"], "weight_kg": 10000}], operation="hot roll",
                    unit_id=uuid.UUID(int=1), at=T0 + timedelta(hours=1),
                    outputs=[{"coil_no": "M", "weight_kg": 9800, "gauge_mm": 6, "width_mm": 1300, "temper": "F"}],
                    scrap=[{"weight_kg": 150, "reason": "crop"}])
    ids.update(made)
    _, made = _step(plant, inputs=[{"coil_id": ids["M"]}], operation="cold roll", unit_id=uuid.UUID(int=2),
                    at=T0 + timedelta(hours=5), location_id=plant.loc["A-01"],
                    outputs=[{"coil_no": "C", "weight_kg": 9700, "gauge_mm": 1.2, "width_mm": 1300, "temper": "H32"}])
    ids.update(made)
    _, made = _step(plant, inputs=[{"coil_id": ids["C"]}], operation="slit", unit_id=uuid.UUID(int=3),
                    at=T0 + timedelta(hours=9), location_id=plant.loc["A-02"], order_line_id=LINE,
                    outputs=[{"coil_no": f"S{n}", "weight_kg": 3200, "gauge_mm": 1.2, "width_mm": 420}
                             for n in (1, 2, 3)],
                    scrap=[{"weight_kg": 100, "reason": "edge trim"}])
    ids.update(made)
    ids["N"] = plant.receive("N", heat_no="H2", weight_kg=3000, gauge_mm=1.2, width_mm=420,
                             received_at=T0 + timedelta(hours=2))
    with plant.scope():
        ids["H2"] = services.heat_by_number("H2").id
    _, made = _step(plant, inputs=[{"coil_id": ids["S3"]}, {"coil_id": ids["N"]}], operation="join",
                    unit_id=uuid.UUID(int=4), at=T0 + timedelta(hours=12), location_id=plant.loc["A-02"],
                    order_line_id=LINE,
                    outputs=[{"coil_no": "J", "weight_kg": 6150, "gauge_mm": 1.2, "width_mm": 420}],
                    scrap=[{"weight_kg": 40, "reason": "weld seam"}])
    ids.update(made)
    return ids


def test_production_consumes_inputs_and_makes_outputs(plant, tree, owner):
    for name in ("M", "C", "S3", "N"):
        coil = plant.coil(tree[name])
        assert (name, coil["status"], coil["weight_kg"]) == (name, "consumed", 0.0)
    for name in ("S1", "S2", "J"):
        assert plant.coil(tree[name])["status"] == "available"
    s1 = owner.get(f"/api/v1/inventory/coils/{tree['S1']}").get_json()
    assert (s1["alloy"], s1["temper"], s1["heat_no"], s1["order_line_id"], s1["origin"]) == (
        "5052", "H32", "H1", str(LINE), "production")
    # J joins two heats: no single heat.
    assert owner.get(f"/api/v1/inventory/coils/{tree['J']}").get_json()["heat_id"] is None
    kinds = [m["kind"] for m in owner.get(f"/api/v1/inventory/coils/{tree['C']}/moves").get_json()["items"]]
    assert kinds == ["output", "issue", "consume"]
    kinds = [m["kind"] for m in owner.get(f"/api/v1/inventory/coils/{tree['M']}/moves").get_json()["items"]]
    assert kinds == ["output", "consume"]  # stayed at the unit between the two steps


def test_ancestry_of_a_joined_coil(plant, tree, owner):
    graph = owner.get(f"/api/v1/inventory/coils/{tree['J']}/ancestry").get_json()
    labels = {(n["kind"], n["label"]): n["depth"] for n in graph["nodes"]}
    assert labels == {("coil", "J"): 0, ("coil", "S3"): 1, ("coil", "N"): 1, ("coil", "C"): 2, ("heat", "H2"): 2,
                      ("coil", "M"): 3, ("heat", "H1"): 4}
    edges = sorted((link["parent_label"], link["child_label"], link["operation"]) for link in graph["links"])
    assert edges == [("C", "S3", "slit"), ("H1", "M", "hot roll"), ("H2", "N", "cast"), ("M", "C", "cold roll"),
                     ("N", "J", "join"), ("S3", "J", "join")]
    route = [(s["operation"], s["unit_id"], s["inputs"], s["outputs"]) for s in graph["route"]]
    assert route == [
        ("hot roll", str(uuid.UUID(int=1)), ["H1"], ["M"]),
        ("cast", None, ["H2"], ["N"]),  # received with its heat number: linked at receipt
        ("cold roll", str(uuid.UUID(int=2)), ["M"], ["C"]),
        ("slit", str(uuid.UUID(int=3)), ["C"], ["S3"]),
        ("join", str(uuid.UUID(int=4)), ["N", "S3"], ["J"]),
    ]
    times = [s["at"] for s in graph["route"]]
    assert times == sorted(times)
    # A slit sibling's ancestry stops at its mother coil's line: no J, no N.
    s1 = owner.get(f"/api/v1/inventory/coils/{tree['S1']}/ancestry").get_json()
    assert sorted(n["label"] for n in s1["nodes"]) == ["C", "H1", "M", "S1"]


def test_descendants_of_heats_and_coils(plant, tree, owner):
    h1 = owner.get(f"/api/v1/inventory/heats/{tree['H1']}/descendants").get_json()
    assert sorted(c["label"] for c in h1["coils"]) == ["C", "J", "M", "S1", "S2", "S3"]
    assert {c["label"]: c["depth"] for c in h1["coils"]} == {"M": 1, "C": 2, "S1": 3, "S2": 3, "S3": 3, "J": 4}
    h2 = owner.get(f"/api/v1/inventory/heats/{tree['H2']}/descendants").get_json()
    assert sorted(c["label"] for c in h2["coils"]) == ["J", "N"]
    c = owner.get(f"/api/v1/inventory/coils/{tree['C']}/descendants").get_json()
    assert sorted(n["label"] for n in c["coils"]) == ["J", "S1", "S2", "S3"]
    with plant.scope():
        assert sorted(n["label"] for n in services.descendant_coils(tree["H2"])) == ["J", "N"]
        nested = services.tree(services.ancestry("coil", tree["J"]), upward=True)
    assert sorted(b["node"]["label"] for b in nested["branches"]) == ["N", "S3"]


def test_yield_per_operation_and_order_line(plant, tree, owner):
    rows = {r["key"]: r for r in owner.get("/api/v1/inventory/yield").get_json()["items"]}
    assert {k: r["yield_pct"] for k, r in rows.items()} == {
        "cold roll": round(100 * 9700 / 9800, 2), "hot roll": 98.0, "join": round(100 * 6150 / 6200, 2),
        "slit": round(100 * 9600 / 9700, 2)}
    assert (rows["slit"]["input_kg"], rows["slit"]["output_kg"], rows["slit"]["scrap_kg"], rows["slit"]["loss_kg"]) == (
        9700, 9600, 100, 0)
    assert rows["hot roll"]["loss_kg"] == 50
    by_line = owner.get("/api/v1/inventory/yield?group_by=order_line").get_json()["items"]
    assert by_line == [{"key": str(LINE), "steps": 2, "input_kg": 15900.0, "output_kg": 15750.0, "scrap_kg": 140.0,
                        "loss_kg": 10.0, "yield_pct": round(100 * 15750 / 15900, 2)}]
    problem(owner.get("/api/v1/inventory/yield?group_by=colour"), 422)
    steps = owner.get("/api/v1/inventory/production?operation=slit").get_json()["items"]
    assert len(steps) == 1 and steps[0]["inputs"][0]["no"] == "C" and len(steps[0]["outputs"]) == 3
    assert owner.get(f"/api/v1/inventory/production/{steps[0]['id']}").get_json()["scrap_weight_kg"] == 100


def test_cyclic_genealogy_is_refused_and_changes_nothing(plant, tree, owner, snapshot):
    before = snapshot(plant.made.tenant_id)
    body = problem(owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "coil", "parent_id": str(tree["J"]), "child_kind": "heat", "child_id": str(tree["H1"]),
        "operation": "remelt"}), 422)
    assert body["type"].endswith("/genealogy-cycle") and "J" in body["detail"] and "child_id" in body["errors"]
    problem(owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "coil", "parent_id": str(tree["S1"]), "child_kind": "coil", "child_id": str(tree["C"]),
        "operation": "rewind"}), 422)
    problem(owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "coil", "parent_id": str(tree["S1"]), "child_kind": "coil", "child_id": str(tree["S1"]),
        "operation": "rewind"}), 422)
    problem(owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "coil", "parent_id": str(uuid.uuid4()), "child_kind": "coil", "child_id": str(tree["S1"]),
        "operation": "rewind"}), 422)
    problem(owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "heat", "parent_id": str(tree["S1"]), "child_kind": "coil", "child_id": str(tree["S2"]),
        "operation": "x"}), 422)  # S1 is not a heat
    duplicate = problem(owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "coil", "parent_id": str(tree["C"]), "child_kind": "coil", "child_id": str(tree["S1"]),
        "operation": "slit"}), 409)
    assert duplicate["type"].endswith("/coil-double-booked") or duplicate["status"] == 409
    assert snapshot(plant.made.tenant_id) == before
    # A link that closes no cycle is fine, and shows in the ancestry.
    x = plant.receive("X")
    made = owner.post("/api/v1/inventory/genealogy/links", json={
        "parent_kind": "coil", "parent_id": str(tree["S1"]), "child_kind": "coil", "child_id": str(x),
        "operation": "rewind", "at": (T0 + timedelta(days=1)).isoformat()})
    assert made.status_code == 201, made.get_json()
    labels = sorted(n["label"] for n in owner.get(f"/api/v1/inventory/coils/{x}/ancestry").get_json()["nodes"])
    assert labels == ["C", "H1", "M", "S1", "X"]
    links = owner.get(f"/api/v1/inventory/genealogy/links?node_id={x}").get_json()["items"]
    assert [(link["operation"], link["parent_id"]) for link in links] == [("rewind", str(tree["S1"]))]


def test_bad_production_steps_change_nothing(plant, tree, owner, snapshot):
    quarantined = plant.receive("PQ", weight_kg=2000)
    owner.post(f"/api/v1/inventory/coils/{quarantined}/quarantine", json={"reason": "oil stains"})
    before = snapshot(plant.made.tenant_id)
    out = {"weight_kg": 1000, "gauge_mm": 1.2, "width_mm": 200}
    cases = [
        # Heavier out than in.
        ({"operation": "slit", "inputs": [{"coil_id": str(tree["S1"])}],
          "outputs": [{"coil_no": "Z1", **out, "weight_kg": 3000}, {"coil_no": "Z2", **out, "weight_kg": 300}]}, 422),
        # An input already consumed.
        ({"operation": "slit", "inputs": [{"coil_id": str(tree["M"])}], "outputs": [{"coil_no": "Z1", **out}]}, 409),
        # A quarantined input.
        ({"operation": "slit", "inputs": [{"coil_id": str(quarantined)}], "outputs": [{"coil_no": "Z1", **out}]},
         409),
        # A coil number in use, and one given twice.
        ({"operation": "slit", "inputs": [{"coil_id": str(tree["S1"])}], "outputs": [{"coil_no": "S2", **out}]}, 422),
        ({"operation": "slit", "inputs": [{"coil_id": str(tree["S1"])}],
          "outputs": [{"coil_no": "Z1", **out}, {"coil_no": "Z1", **out}]}, 422),
        # Scrap without a reason; the same input twice; nothing named.
        ({"operation": "slit", "inputs": [{"coil_id": str(tree["S1"])}], "outputs": [{"coil_no": "Z1", **out}],
          "scrap": [{"weight_kg": 5, "reason": " "}]}, 422),
        ({"operation": "join", "inputs": [{"coil_id": str(tree["S1"])}, {"coil_id": str(tree["S1"])}],
          "outputs": [{"coil_no": "Z1", **out}]}, 422),
        ({"operation": "slit", "inputs": [{}], "outputs": [{"coil_no": "Z1", **out}]}, 422),
        ({"operation": "slit", "inputs": [{"coil_id": str(uuid.uuid4())}], "outputs": [{"coil_no": "Z1", **out}]},
         422),
        ({"operation": " ", "inputs": [{"coil_id": str(tree["S1"])}], "outputs": [{"coil_no": "Z1", **out}]}, 422),
        # The second input is refused after the first was checked: still nothing changes.
        ({"operation": "join", "inputs": [{"coil_id": str(tree["S1"])}, {"coil_id": str(quarantined)}],
          "outputs": [{"coil_no": "Z1", **out}]}, 409),
    ]
    for body, status in cases:
        problem(owner.post("/api/v1/inventory/production", json=body), status)
    assert snapshot(plant.made.tenant_id) == before


def test_partial_consumption_leaves_the_rest_at_the_unit(plant, owner):
    coil = plant.receive("PC", weight_kg=5000)
    made = owner.post("/api/v1/inventory/production", json={
        "operation": "cut to length", "inputs": [{"coil_id": str(coil), "weight_kg": 1500}],
        "outputs": [{"coil_no": "PC-A", "weight_kg": 1490, "gauge_mm": 1.2, "width_mm": 1250,
                     "location_id": str(plant.loc["A-02"])}], "scrap": [{"weight_kg": 10, "reason": "crop"}]})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["input_weight_kg"] == 1500
    rest = plant.coil(coil)
    assert (rest["status"], rest["weight_kg"], rest["location_id"]) == ("issued", 3500.0, None)
    back = owner.post(f"/api/v1/inventory/coils/{coil}/transfer", json={"location_id": str(plant.loc["A-01"])})
    assert back.get_json()["status"] == "available" and back.get_json()["weight_kg"] == 3500


def test_production_room_can_wrap_the_step_in_its_own_transaction(plant, snapshot):
    """commit=False: the caller decides. Rolled back, it leaves nothing."""
    coil = plant.receive("W", weight_kg=2000)
    before = snapshot(plant.made.tenant_id)
    with plant.scope():
        services.record_production_output(inputs=[{"coil_id": coil}], operation="slit", commit=False,
                                          outputs=[{"coil_no": "W-1", "weight_kg": 1990, "gauge_mm": 1, "width_mm": 9}])
        db.session.rollback()
    assert snapshot(plant.made.tenant_id) == before
    with plant.scope():
        services.record_production_output(inputs=[{"coil_id": coil}], operation="slit", commit=False,
                                          outputs=[{"coil_no": "W-1", "weight_kg": 1990, "gauge_mm": 1, "width_mm": 9}])
        db.session.commit()
    assert plant.coil(coil)["status"] == "consumed"


def test_a_reserved_input_goes_only_to_work_for_its_line(plant, owner, snapshot):
    coil = plant.receive("RS", weight_kg=2000)
    plant.call(services.reserve, [coil], LINE)
    before = snapshot(plant.made.tenant_id)
    body = {"operation": "slit", "inputs": [{"coil_id": str(coil)}],
            "outputs": [{"coil_no": "RS-1", "weight_kg": 1990, "gauge_mm": 1, "width_mm": 9}]}
    problem(owner.post("/api/v1/inventory/production", json={**body, "order_line_id": str(OTHER_LINE)}), 409)
    problem(owner.post("/api/v1/inventory/production", json=body), 409)
    assert snapshot(plant.made.tenant_id) == before
    assert owner.post("/api/v1/inventory/production", json={**body, "order_line_id": str(LINE)}).status_code == 201
    statuses = [r["status"] for r in owner.get(f"/api/v1/inventory/reservations?coil_id={coil}").get_json()["items"]]
    assert statuses == ["fulfilled"]


# ---------------------------------------------------------------- concurrency

def _in_thread(plant, fn, results, start=None):
    def run():
        with plant.app.app_context(), tenancy.scoped(plant.made.tenant_id, plant.made.owner_id, session=db.session):
            if start is not None:
                start.wait(10)
            try:
                fn()
                results.append("ok")
            except (DoubleBooking, GenealogyCycle) as exc:
                db.session.rollback()
                results.append(type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                results.append(repr(exc))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_concurrent_reservations_of_one_coil_leave_exactly_one(plant, owner_engine):
    coil = plant.receive("CR-1")
    start, results = threading.Barrier(6), []
    threads = [_in_thread(plant, lambda line=uuid.uuid4(): services.reserve([coil], line), results, start)  # noqa: B008
               for _ in range(6)]
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["DoubleBooking"] * 5 + ["ok"], results
    with owner_engine.connect() as conn:
        active = conn.execute(text("select count(*) from inv_reservations where coil_id = :c and status = 'active'"),
                              {"c": coil}).scalar()
    assert active == 1
    assert plant.coil(coil)["status"] == "reserved"


def _wait_for_lock_waiter(owner_engine, timeout=15.0):
    deadline = time.monotonic() + timeout
    with owner_engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("select count(*) from pg_stat_activity where datname = current_database() "
                                        "and wait_event_type = 'Lock'")).scalar()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the second transaction never waited for the row lock")


def test_a_reservation_waits_for_the_coils_row_lock(plant, owner_engine):
    """Deterministic: A holds the coil's lock, B's reservation waits for it,
    A reserves and commits, B then sees the coil reserved (409)."""
    coil = plant.receive("CR-2")
    results = []
    with plant.scope():
        services.lock_coils([coil])  # A: the row lock, held until commit
        waiter = _in_thread(plant, lambda: services.reserve([coil], OTHER_LINE), results)
        _wait_for_lock_waiter(owner_engine)
        services.reserve([coil], LINE)  # A reserves and commits
    waiter.join(30)
    assert results == ["DoubleBooking"]
    with plant.scope():
        (reservation,) = db.session.scalars(services.reservations_query(coil_id=coil)).all()
        assert reservation.order_line_id == LINE


def test_concurrent_links_cannot_close_a_cycle(plant, owner_engine):
    """A -> B and B -> A at the same time: the genealogy lock lets one in."""
    a, b = plant.receive("CY-A"), plant.receive("CY-B")
    start, results = threading.Barrier(2), []
    threads = [
        _in_thread(plant, lambda: services.add_link(parent_kind="coil", parent_id=a, child_kind="coil", child_id=b,
                                                    operation="rewind"), results, start),
        _in_thread(plant, lambda: services.add_link(parent_kind="coil", parent_id=b, child_kind="coil", child_id=a,
                                                    operation="rewind"), results, start),
    ]
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["GenealogyCycle", "ok"], results
    with owner_engine.connect() as conn:
        links = conn.execute(text("select count(*) from inv_genealogy_links where tenant_id = :t "
                                  "and operation = 'rewind'"), {"t": plant.made.tenant_id}).scalar()
    assert links == 1


def test_the_ledger_is_append_only_for_the_application(plant, app):
    """The application role may add moves, never change or remove them."""
    import psycopg
    from sqlalchemy.engine import make_url

    plant.receive("AO-1")
    url = make_url(app.config["DATABASE_APP_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    for sql in ("update inv_moves set reason = 'forged'", "delete from inv_moves",
                "delete from inv_genealogy_links", "update inv_production_events set operation = 'x'"):
        with psycopg.connect(url) as conn:
            conn.execute("select set_config('app.tenant_id', %s, false)", (str(plant.made.tenant_id),))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
