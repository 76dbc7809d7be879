"""Products, routings (with the impossible ones refused) and set-up rules."""
from __future__ import annotations

import math

import pytest

from alloyhub.tenants.products import services as products
from alloyhub.tenants.products.models import Product

PROBLEM = "application/problem+json"


def test_product_in_the_plants_words(owner):
    made = owner.post("/api/v1/products", json={"code": "5052-h32-1.5", "alloy": "aa5052", "temper": "h32",
                                                "gauge_mm": 1.5, "width_mm": 1500, "coil_weight_t": 6,
                                                "gauge_tol_mm": 0.05})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert (body["code"], body["alloy"], body["alloy_family"], body["temper"]) == ("5052-H32-1.5", "AA5052", "5xxx",
                                                                                    "H32")
    assert body["spec"] == "AA5052-H32 1.5 × 1500" and body["name"] == body["spec"] and body["has_routing"] is False
    copper = owner.post("/api/v1/products", json={"code": "T2-Y", "alloy": "T2", "temper": "Y", "gauge_mm": 2.6,
                                                  "width_mm": 2.6, "coil_weight_t": 1.5})
    assert copper.get_json()["alloy_family"] == "copper"
    brass = owner.post("/api/v1/products", json={"code": "C26800", "alloy": "C26800", "temper": "H02",
                                                 "gauge_mm": 0.8, "width_mm": 300, "coil_weight_t": 2})
    assert brass.get_json()["alloy_family"] == "brass"
    assert [p["code"] for p in owner.get("/api/v1/products?alloy_family=5xxx").get_json()["items"]] == ["5052-H32-1.5"]
    assert [p["code"] for p in owner.get("/api/v1/products?q=t2").get_json()["items"]] == ["T2-Y"]


@pytest.mark.parametrize("body, field", [
    ({"alloy": "XYZ"}, "alloy_family"),          # unknown designation, no family given
    ({"temper": "Y2"}, "temper"),                # a copper temper on aluminium
    ({"gauge_mm": -1}, "gauge_mm"),
    ({"width_mm": 0}, "width_mm"),
    ({"coil_weight_t": 1e9}, "coil_weight_t"),
    ({"code": "P1"}, "code"),                    # taken
])
def test_bad_products_are_refused(plant, owner, snapshot, body, field):
    before = snapshot(plant.made.tenant_id)
    values = {"code": "NEW", "alloy": "3003", "temper": "H14", "gauge_mm": 1.0, "width_mm": 1000,
              "coil_weight_t": 5, **body}
    response = owner.post("/api/v1/products", json=values)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert field in response.get_json()["errors"], response.get_json()
    assert snapshot(plant.made.tenant_id) == before


def test_unknown_alloy_with_its_family_is_fine(owner):
    response = owner.post("/api/v1/products", json={"code": "SPECIAL", "alloy": "PLANT-7", "alloy_family": "other",
                                                    "temper": "O", "gauge_mm": 1, "width_mm": 100,
                                                    "coil_weight_t": 1})
    assert response.status_code == 201


def test_routing_get_and_replace_with_etag(plant, owner):
    url = f"/api/v1/products/{plant.product_id}/routing"
    got = owner.get(url)
    ops = got.get_json()["operations"]
    assert [op["process"] for op in ops] == ["cold_roll", "anneal", "slit", "pack"]
    assert ops[0]["units"] == [{"unit_id": str(plant.units["CM1"]), "unit_code": "CM1", "rate": None}]
    assert ops[1]["anneal_recipe"] == "O-360"
    new_ops = [{"process": "cold_roll", "rate": 12.0, "rate_unit": "t_per_h", "yield_pct": 97.0,
                "units": [{"unit_id": str(plant.units["CM1"]), "rate": 15.0}]},
               {"process": "pack", "rate": 40.0, "units": [{"unit_id": str(plant.units["PK1"])}]}]
    assert owner.client.put(url, json={"operations": new_ops},
                            headers={"X-CSRFToken": owner.token}).status_code == 428
    assert owner.client.put(url, json={"operations": new_ops},
                            headers={"X-CSRFToken": owner.token, "If-Match": '"old"'}).status_code == 412
    done = owner.client.put(url, json={"operations": new_ops},
                            headers={"X-CSRFToken": owner.token, "If-Match": got.headers["ETag"]})
    assert done.status_code == 200, done.get_json()
    assert [op["seq"] for op in done.get_json()["operations"]] == [10, 20]
    assert done.get_json()["operations"][0]["units"][0]["rate"] == 15.0
    assert owner.get(f"/api/v1/products/{plant.product_id}/routing/check").get_json()["possible"] is True


def _put(owner, plant, ops):
    url = f"/api/v1/products/{plant.product_id}/routing"
    etag = owner.get(url).headers["ETag"]
    return owner.client.put(url, json={"operations": ops}, headers={"X-CSRFToken": owner.token, "If-Match": etag})


@pytest.mark.parametrize("case, expect", [
    ("no_unit", "has no eligible unit"),
    ("wrong_process", "does not run cold_roll"),
    ("too_wide", "takes strip up to 800 mm wide, not 1000 mm"),
    ("wrong_family", "does not take 3xxx alloys"),
    ("thicker", "rolling cannot thicken"),
    ("coil_too_heavy", "does not fit a 4 t load"),
    ("ends_wider", "add a slitting operation"),
    ("no_cycle", "give the furnace cycle"),
    ("no_rate", "give its rate"),
])
def test_impossible_routings_are_refused_and_change_nothing(plant, owner, snapshot, app, case, expect):
    from alloyhub.tenants.equipment import services as equipment

    with plant.scope():
        narrow = equipment.create_unit(line_id=plant.line_id, code="CMN", name="Narrow mill", kind="cold_mill",
                                       max_width_mm=800)
        copper_only = equipment.create_unit(line_id=plant.line_id, code="CMC", name="Copper mill",
                                            kind="cold_mill", alloy_families=["copper"])
        small = equipment.create_unit(line_id=plant.line_id, code="AFS", name="Small furnace",
                                      kind="annealing_furnace", batch_capacity_t=4)
        units = {"CMN": str(narrow.id), "CMC": str(copper_only.id), "AFS": str(small.id)}
    units.update({k: str(v) for k, v in plant.units.items()})
    roll = {"process": "cold_roll", "rate": 10.0, "units": [{"unit_id": units["CM1"]}]}
    pack = {"process": "pack", "rate": 40.0, "units": [{"unit_id": units["PK1"]}]}
    ops = {
        "no_unit": [{**roll, "units": []}, pack],
        "wrong_process": [{**roll, "units": [{"unit_id": units["SL1"]}]}, pack],
        "too_wide": [{**roll, "units": [{"unit_id": units["CMN"]}]}, pack],
        "wrong_family": [{**roll, "units": [{"unit_id": units["CMC"]}]}, pack],
        "thicker": [{**roll, "out_gauge_mm": 2.0}, {**roll, "out_gauge_mm": 3.0}, {**roll}, pack],
        "coil_too_heavy": [roll, {"process": "anneal", "anneal_recipe": "X", "anneal_cycle_h": 10,
                                  "units": [{"unit_id": units["AFS"]}]}, pack],
        "ends_wider": [{**roll, "out_width_mm": 1100}, pack],
        "no_cycle": [roll, {"process": "anneal", "anneal_recipe": "X", "units": [{"unit_id": units["AF1"]}]}, pack],
        "no_rate": [{**roll, "rate": None}, pack],
    }[case]
    before = snapshot(plant.made.tenant_id)
    routing_before = owner.get(f"/api/v1/products/{plant.product_id}/routing").get_json()
    response = _put(owner, plant, ops)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["detail"].startswith("The routing is impossible")
    assert expect in body["detail"] + " ".join(m for msgs in body["errors"].values() for m in msgs), body
    assert snapshot(plant.made.tenant_id) == before
    assert owner.get(f"/api/v1/products/{plant.product_id}/routing").get_json() == routing_before


def test_every_problem_is_listed_at_once(plant, owner):
    ops = [{"process": "cold_roll", "units": []}, {"process": "anneal", "units": []}]
    errors = _put(owner, plant, ops).get_json()["errors"]
    assert set(errors) >= {"operations.0.rate", "operations.0.units", "operations.1.anneal_recipe",
                           "operations.1.anneal_cycle_h", "operations.1.units"}


def test_unit_of_another_company_is_no_unit(plant, owner, app, tenant_factory):
    from tests.tenants.mes.conftest import Plant

    other = Plant(app, tenant_factory(), routed=False)
    response = _put(owner, plant, [{"process": "pack", "rate": 1.0, "units": [{"unit_id": str(other.units["PK1"])}]}])
    assert response.status_code == 422
    assert "no such unit" in " ".join(response.get_json()["errors"]["operations.0.units"])


def test_spec_change_its_routing_cannot_make_is_refused(plant, owner, snapshot):
    url = f"/api/v1/products/{plant.product_id}"
    before = snapshot(plant.made.tenant_id)
    response = owner.patch(url, json={"width_mm": 1800}, headers={"If-Match": owner.get(url).headers["ETag"]})
    assert response.status_code == 422 and "1800" in response.get_json()["detail"]
    assert owner.get(url).get_json()["width_mm"] == 1000
    assert snapshot(plant.made.tenant_id) == before
    ok = owner.patch(url, json={"width_mm": 1200}, headers={"If-Match": owner.get(url).headers["ETag"]})
    assert ok.status_code == 200


def test_product_on_an_order_cannot_be_deleted(plant, owner):
    plant.order()
    response = owner.delete(f"/api/v1/products/{plant.product_id}")
    assert response.status_code == 409 and "order lines" in response.get_json()["detail"]
    fresh = owner.post("/api/v1/products", json={"code": "GONE", "alloy": "1060", "temper": "O", "gauge_mm": 1,
                                                 "width_mm": 1000, "coil_weight_t": 5}).get_json()
    assert owner.delete(f"/api/v1/products/{fresh['id']}").status_code == 204


def _rule(owner, **fields):
    response = owner.post("/api/v1/setup-rules", json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _setup(owner, unit_id, a, b):
    response = owner.post("/api/v1/setup-time", json={"unit_id": str(unit_id), "from": a, "to": b})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_setup_rules_and_the_set_up_time(plant, owner):
    cm1 = plant.units["CM1"]
    _rule(owner, kind="alloy_family_change", minutes=45)
    _rule(owner, kind="alloy_family_change", minutes=120, from_value="5xxx", to_value="1xxx")
    _rule(owner, kind="width_up", minutes=60, threshold=50)
    _rule(owner, kind="width_down", minutes=15)
    _rule(owner, kind="gauge_jump", minutes=30, threshold=30, threshold_unit="pct")
    a = {"alloy": "3003", "temper": "H14", "width_mm": 1000, "gauge_mm": 1.0}
    # Same job again: nothing.
    assert _setup(owner, cm1, a, a)["minutes"] == 0
    # Another family: the general rule.
    assert _setup(owner, cm1, a, {**a, "alloy": "1060"})["minutes"] == 45
    # 5xxx -> 1xxx: the pair rule wins over the general one.
    five = {**a, "alloy": "5052"}
    answer = _setup(owner, cm1, five, {**a, "alloy": "1060"})
    assert answer["minutes"] == 120 and [r["minutes"] for r in answer["rules"]] == [120]
    # Width up by 40 mm: under the threshold; by 60 mm: a roll change.
    assert _setup(owner, cm1, a, {**a, "width_mm": 1040})["minutes"] == 0
    assert _setup(owner, cm1, a, {**a, "width_mm": 1060})["minutes"] == 60
    assert _setup(owner, cm1, a, {**a, "width_mm": 990})["minutes"] == 15
    # Gauge jump of 20 % vs 50 %.
    assert _setup(owner, cm1, a, {**a, "gauge_mm": 1.2})["minutes"] == 0
    assert _setup(owner, cm1, a, {**a, "gauge_mm": 1.5})["minutes"] == 30
    # Several changes at once: the largest counts (the unit's default) …
    both = {**a, "alloy": "1060", "width_mm": 1100, "gauge_mm": 1.5}
    assert _setup(owner, cm1, a, both)["minutes"] == 60
    # … or they add up.
    url = f"/api/v1/equipment/units/{cm1}"
    owner.patch(url, json={"setup_combine": "sum"}, headers={"If-Match": owner.get(url).headers["ETag"]})
    assert _setup(owner, cm1, a, both)["minutes"] == 45 + 60 + 30
    # A unit's own rule of a kind replaces the general one there only.
    _rule(owner, kind="width_up", minutes=90, threshold=30, unit_id=str(cm1))
    assert _setup(owner, cm1, a, {**a, "width_mm": 1040})["minutes"] == 90
    assert _setup(owner, plant.units["SL1"], a, {**a, "width_mm": 1040})["minutes"] == 0


def test_setup_minutes_for_the_scheduler(plant):
    """The function the scheduler calls: Products, dicts, ids; the calculator for many pairs."""
    with plant.scope():
        products.create_setup_rule(kind="temper_change", minutes=20)
        products.create_setup_rule(kind="product_change", minutes=5)
        p1 = products.get_product(plant.product_id)
        p2 = products.create_product(code="P2", alloy="3003", temper="O", gauge_mm=1.0, width_mm=1000,
                                     coil_weight_t=5)
        cm1 = plant.units["CM1"]
        assert products.setup_minutes(cm1, p1, p2) == 20
        assert products.setup_minutes(cm1, p1, p1) == 0
        assert products.setup_minutes(cm1, None, p2) == 0  # the first job on the unit
        assert products.setup_minutes(cm1, {"alloy": "3003", "temper": "H14", "width_mm": 1000, "gauge_mm": 1.0},
                                      {"alloy": "3003", "temper": "H24", "width_mm": 1000, "gauge_mm": 1.0}) == 20
        calc = products.setup_calculator(cm1)
        assert [r.kind for r, _ in calc.explain(p1, p2)] == ["temper_change", "product_change"]


def test_bad_setup_rules(owner, plant, snapshot):
    before = snapshot(plant.made.tenant_id)
    for body, field in (({"kind": "width_up", "minutes": -5}, "minutes"),
                        ({"kind": "temper_change", "minutes": 5, "threshold": 3}, "threshold"),
                        ({"kind": "width_up", "minutes": 5, "from_value": "5xxx"}, "from_value"),
                        ({"kind": "alloy_family_change", "minutes": 5, "from_value": "9xxx"}, "from_value"),
                        ({"kind": "alloy_family_change", "minutes": 5, "from_value": "5xxx", "to_value": "5xxx"},
                         "to_value")):
        response = owner.post("/api/v1/setup-rules", json=body)
        assert response.status_code == 422 and field in response.get_json()["errors"], (body, response.get_json())
    assert snapshot(plant.made.tenant_id) == before


def test_operation_hours(plant):
    """Flow at t/h and m/min, furnace loads limited by tonnes and coils."""
    with plant.scope():
        product = products.get_product(plant.product_id)   # 1.0 × 1000 mm, 5 t coils, 3xxx
        plan = products.routing_plan(product, 40.0)
        # Yields backwards: pack 100 %, slit 100 %, anneal 100 %, roll 98 %.
        assert math.isclose(plan[0].input_t, 40 / 0.98) and math.isclose(plan[-1].output_t, 40)
        assert math.isclose(products.operation_hours(plan[0], product), 40 / 0.98 / 10)
        furnace = products.equipment.get_unit(plant.units["AF1"])   # 40 t, 4 coils a load
        # 40 t of 5 t coils = 8 coils -> 2 loads (by coils) of 20 h.
        assert products.operation_hours(plan[1], product, furnace) == 40
        op = plan[0].operation
        op.rate_unit, op.rate = "m_per_min", 100.0
        # 1 m of 1.0 × 1000 mm 3xxx strip weighs 2.73 kg.
        metres = plan[0].input_t / (2.73 * 0.001 * 1.0)
        assert math.isclose(products.operation_hours(plan[0], product), metres / 100 / 60)
        products.db.session.rollback()
    assert isinstance(product, Product)
