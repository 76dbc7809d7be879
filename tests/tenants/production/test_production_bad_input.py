"""Bad input answers a clear problem (409 / 422 / 404) and changes nothing:
starting a finished work order, a double start on a unit, routing order,
negative weights, output heavier than input, a coil already consumed, a
pause without a reason, a bad publication, another company's work orders."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.factories import ApiClient
from tests.tenants.production.conftest import problem

BASE = "/api/v1/production/work-orders"


@pytest.fixture
def planned(shop):
    line = shop.order_line()
    wos = shop.publish(line)
    shop.receive("IN-1", 10000.0)
    return line, wos


def _unchanged(shop, snapshot, call):
    before = snapshot(shop.made.tenant_id)
    response = call()
    assert snapshot(shop.made.tenant_id) == before
    return response


def test_starting_a_finished_work_order_is_refused(shop, owner, snapshot, planned):
    line, wos = planned
    first = wos[(line, 0)]
    owner.post(f"{BASE}/{first}/start")
    owner.post(f"{BASE}/{first}/finish")
    body = problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{first}/start")), 409)
    assert body["detail"].endswith("is finished: it cannot be started.") and body["number"]
    problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{first}/resume")), 409)
    problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{first}/finish")), 409)
    problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{first}/pause", json={"reason": "setup"})), 409)


def test_a_unit_runs_one_work_order_at_a_time(shop, owner, snapshot):
    a, b = shop.order_line(), shop.order_line()
    wos = shop.publish(a, b)
    assert owner.post(f"{BASE}/{wos[(a, 0)]}/start").status_code == 200
    body = problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wos[(b, 0)]}/start")), 409)
    assert "CM1 is running work order" in body["detail"] and body["running"] == shop.wo(wos[(a, 0)])["number"]
    # Paused, the unit is free; resuming the first is then refused while the second runs.
    owner.post(f"{BASE}/{wos[(a, 0)]}/pause", json={"reason": "material_wait"})
    assert owner.post(f"{BASE}/{wos[(b, 0)]}/start").status_code == 200
    problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wos[(a, 0)]}/resume")), 409)
    assert owner.post(f"{BASE}/{wos[(a, 0)]}/start").status_code == 409  # paused, not released


def test_operations_run_in_routing_order(shop, owner, snapshot, planned):
    line, wos = planned
    body = problem(_unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wos[(line, 1)]}/start")), 409)
    assert "has not started yet: operations run in routing order" in body["detail"]
    assert body["type"].endswith("/routing-order")
    assert shop.line_status(line) == "planned"


def test_a_pause_needs_a_reason_from_the_list(shop, owner, snapshot, planned):
    line, wos = planned
    wo = wos[(line, 0)]
    owner.post(f"{BASE}/{wo}/start")
    for body in ({}, {"reason": "coffee"}, {"reason": "other"}, {"reason": "other", "note": "  "}):
        response = _unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wo}/pause", json=body))
        errors = problem(response, 422)["errors"]
        assert "reason" in errors or "note" in errors
    assert owner.post(f"{BASE}/{wo}/pause", json={"reason": "other", "note": "fire drill"}).status_code == 200


@pytest.mark.parametrize("body, status, field", [
    ({"inputs": [{"coil_no": "IN-1"}], "outputs": [{"coil_no": "X-1", "weight_kg": -5, "gauge_mm": 1, "width_mm": 1000}]},
     422, "outputs"),
    ({"inputs": [{"coil_no": "IN-1", "weight_kg": -1}], "outputs": []}, 422, "inputs"),
    ({"inputs": [{"coil_no": "IN-1"}], "outputs": [], "scrap": [{"weight_kg": 0, "reason": "x"}]}, 422, "scrap"),
    ({"inputs": [{"coil_no": "IN-1"}], "outputs": [{"coil_no": "X-1", "weight_kg": 12000, "gauge_mm": 1,
                                                    "width_mm": 1000}]}, 422, "outputs"),
    ({"inputs": [{"coil_no": "NOT-THERE"}], "outputs": [{"coil_no": "X-1", "weight_kg": 10, "gauge_mm": 1,
                                                         "width_mm": 1000}]}, 422, "inputs.0.coil_no"),
    ({"inputs": [{"coil_no": "IN-1", "heat_no": "H-1"}], "outputs": []}, 422, "inputs.0"),
    ({"inputs": [], "outputs": []}, 422, "inputs"),
    ({"inputs": [{"coil_no": "IN-1"}], "outputs": [{"coil_no": "X 1", "weight_kg": 10, "gauge_mm": 1,
                                                    "width_mm": 1000}]}, 422, "outputs.0.coil_no"),
    ({"inputs": [{"coil_no": "IN-1"}], "outputs": [{"coil_no": "IN-1", "weight_kg": 10, "gauge_mm": 1,
                                                    "width_mm": 1000}]}, 422, "outputs.0.coil_no"),
])
def test_bad_output_reports_change_nothing(shop, owner, snapshot, planned, body, status, field):
    line, wos = planned
    wo = wos[(line, 0)]
    owner.post(f"{BASE}/{wo}/start")
    response = _unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wo}/output", json=body))
    found = problem(response, status)
    assert any(key == field or key.startswith(field + ".") for key in found.get("errors") or {}), found


def test_output_heavier_than_input_says_so(shop, owner, snapshot, planned):
    line, wos = planned
    wo = wos[(line, 0)]
    owner.post(f"{BASE}/{wo}/start")
    response = _unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wo}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "X-1", "weight_kg": 9000, "gauge_mm": 1, "width_mm": 1000}],
        "scrap": [{"weight_kg": 2000, "reason": "cobble"}]}))
    assert "more than the 10000.0 kg that went in" in problem(response, 422)["detail"]


def test_a_consumed_coil_cannot_go_in_again(shop, owner, snapshot, planned):
    line, wos = planned
    wo = wos[(line, 0)]
    owner.post(f"{BASE}/{wo}/start")
    assert owner.post(f"{BASE}/{wo}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "CR-1", "weight_kg": 9900, "gauge_mm": 1, "width_mm": 1000}]}).status_code == 201
    response = _unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wo}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "CR-2", "weight_kg": 100, "gauge_mm": 1, "width_mm": 1000}]}))
    assert "IN-1" in problem(response, 409)["detail"]


def test_output_of_a_work_order_not_started_is_refused(shop, owner, snapshot, planned):
    line, wos = planned
    response = _unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wos[(line, 0)]}/output", json={
        "inputs": [{"coil_no": "IN-1"}],
        "outputs": [{"coil_no": "CR-1", "weight_kg": 9900, "gauge_mm": 1, "width_mm": 1000}]}))
    assert problem(response, 409)["detail"].endswith("is released: it cannot be reported.")


def test_bad_publications_change_nothing(shop, snapshot):
    from alloyhub.platform.errors import ValidationFailed
    from alloyhub.tenants.production import services

    line = shop.order_line()
    good = shop.operations(line)
    cases = [
        [{**good[0], "step": 7}],
        [{**good[0], "operation": "hot_roll"}],
        [{**good[0], "unit_id": shop.units["SL1"]}],
        [{**good[0], "order_line_id": uuid.uuid4()}],
        [{**good[0], "planned_end": good[0]["planned_start"] - timedelta(hours=1)}],
        [{**good[0], "planned_start": good[0]["planned_start"].replace(tzinfo=None)}],
        [{**good[0], "planned_input_kg": -1}],
        [{**good[0], "planned_output_kg": float("nan")}],
        [good[0], good[0]],
        ["not an object"],
    ]
    for ops in cases:
        before = snapshot(shop.made.tenant_id)
        with shop.scope():
            with pytest.raises(ValidationFailed) as refused:
                services.publish_plan(uuid.uuid4(), ops)
            from alloyhub.platform.db import db

            db.session.rollback()
        assert refused.value.errors, ops
        assert snapshot(shop.made.tenant_id) == before
    with shop.scope(), pytest.raises(ValidationFailed):
        services.publish_plan("not-a-uuid", good)


def test_a_cancelled_line_cannot_run(shop, owner, snapshot):
    from alloyhub.tenants.orders import services as orders

    line = shop.order_line()
    wos = shop.publish(line)
    shop.call(lambda: orders.cancel_line(orders.get_line(line), "customer changed his mind"))
    response = _unchanged(shop, snapshot, lambda: owner.post(f"{BASE}/{wos[(line, 0)]}/start"))
    assert "is cancelled" in problem(response, 409)["detail"]


def test_another_companys_work_orders_are_not_found(shop, owner, tenant_factory, make_client, app, snapshot, planned):
    from tests.tenants.production.conftest import give_plan

    line, wos = planned
    other = tenant_factory()
    give_plan(app, other.tenant_id)
    stranger = ApiClient(make_client()).sign_in(other.owner_email)
    wo = wos[(line, 0)]
    before = snapshot(shop.made.tenant_id)
    for method, url, body in (("get", f"{BASE}/{wo}", None), ("post", f"{BASE}/{wo}/start", None),
                              ("post", f"{BASE}/{wo}/pause", {"reason": "setup"}),
                              ("post", f"{BASE}/{wo}/output", {"inputs": [{"coil_no": "IN-1"}]}),
                              ("get", f"{BASE}/{wo}/pauses", None),
                              ("get", f"/api/v1/production/units/{shop.units['CM1']}/queue", None),
                              ("get", f"/production/work-orders/{wo}", None),
                              ("get", f"/production/floor/{shop.units['CM1']}", None)):
        response = getattr(stranger, method)(url, json=body) if body is not None else getattr(stranger, method)(url)
        assert response.status_code == 404, (url, response.status_code)
    assert stranger.get(BASE).get_json()["items"] == []
    assert snapshot(shop.made.tenant_id) == before


def test_the_plan_gates_the_room(tenant_factory, make_client):
    made = tenant_factory()  # trial: the Starter modules, no production
    client = ApiClient(make_client()).sign_in(made.owner_email)
    assert problem(client.get(BASE), 403)["module"] == "production"


def test_viewers_read_but_do_not_execute(shop, app, tenant_factory, make_client, planned):
    line, wos = planned
    email = tenant_factory.add_member(shop.made, "viewer")
    viewer = ApiClient(make_client()).sign_in(email)
    assert viewer.get(f"{BASE}/{wos[(line, 0)]}").status_code == 200
    assert problem(viewer.post(f"{BASE}/{wos[(line, 0)]}/start"), 403)["permission"] == "production.execute"
    operator = ApiClient(make_client()).sign_in(tenant_factory.add_member(shop.made, "operator"))
    assert operator.post(f"{BASE}/{wos[(line, 0)]}/start").status_code == 200


def test_bad_query_arguments_are_400_or_422(owner):
    assert owner.get(f"{BASE}?status=nonsense").status_code == 422
    assert owner.get(f"{BASE}?cursor=%%%").status_code == 400
    assert owner.get(f"{BASE}/not-a-uuid").status_code == 404
    assert owner.get("/api/v1/production/yields?group_by=colour").status_code == 422
    assert owner.get(f"{BASE}?since=2031-01-01T00:00:00Z&until=2031-12-31T00:00:00Z").status_code == 200
