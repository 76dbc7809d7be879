"""Customers and orders through the API: entry, edits with ETags and history,
the lifecycle (legal and illegal moves), outbox events, bad input."""
from __future__ import annotations

import uuid

import pytest

from alloyhub.tenants.orders import services as orders
from tests.tenants.mes.conftest import due

PROBLEM = "application/problem+json"


def _order(owner, plant, lines=None, **fields):
    lines = lines if lines is not None else [{"product_id": str(plant.product_id), "quantity": 20, "due_date": due(0)}]
    response = owner.post("/api/v1/orders", json={"customer_id": str(plant.customer_id), "lines": lines, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_customers(plant, owner):
    made = owner.post("/api/v1/customers", json={"code": "nbauto", "name": "Ningbo Auto", "email": "a@nb.example.com",
                                                 "transit_days": 2})
    assert made.status_code == 201 and made.get_json()["code"] == "NBAUTO"
    url = f"/api/v1/customers/{made.get_json()['id']}"
    assert owner.patch(url, json={"phone": "123"}).status_code == 428
    changed = owner.patch(url, json={"phone": "123"}, headers={"If-Match": owner.get(url).headers["ETag"]})
    assert changed.get_json()["phone"] == "123"
    assert owner.post("/api/v1/customers", json={"code": "NBAUTO", "name": "Again"}).status_code == 422
    assert owner.post("/api/v1/customers", json={"code": "X", "name": "X", "email": "nope"}).status_code == 422
    assert [c["code"] for c in owner.get("/api/v1/customers?q=ningbo").get_json()["items"]] == ["NBAUTO"]
    # A customer with orders stays (inactive at most); one without can go.
    _order(owner, plant)
    assert owner.delete(f"/api/v1/customers/{plant.customer_id}").status_code == 409
    assert owner.delete(url).status_code == 204


def test_enter_an_order(plant, owner):
    body = _order(owner, plant, customer_po="PO-1", lines=[
        {"product_id": str(plant.product_id), "quantity": 20, "due_date": due(0)},
        {"product_id": str(plant.product_id), "quantity": 4, "quantity_unit": "coils", "due_date": due(7),
         "priority": 4}])
    assert body["status"] == "draft" and body["number"].startswith("SO-") and body["customer_code"] == "C1"
    assert [(li["line_no"], li["status"], li["priority"]) for li in body["lines"]] == [(1, "draft", 2),
                                                                                      (2, "draft", 4)]
    second = _order(owner, plant)
    assert int(second["number"].rsplit("-", 1)[1]) == int(body["number"].rsplit("-", 1)[1]) + 1
    history = owner.get(f"/api/v1/orders/{body['id']}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["created"] and history[0]["user_id"] == str(plant.made.owner_id)


@pytest.mark.parametrize("line, field", [
    ({"quantity": -5}, "lines.0.quantity"),
    ({"quantity": 0}, "lines.0.quantity"),
    ({"product_id": str(uuid.uuid4())}, "lines.0.product_id"),
    ({"quantity_unit": "coils", "quantity": 2.5}, "lines.0.quantity"),
])
def test_bad_lines_create_nothing(plant, owner, snapshot, line, field):
    before = snapshot(plant.made.tenant_id)
    values = {"product_id": str(plant.product_id), "quantity": 20, "due_date": due(0), **line}
    response = owner.post("/api/v1/orders", json={"customer_id": str(plant.customer_id), "lines": [values]})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert field in response.get_json()["errors"], response.get_json()
    assert snapshot(plant.made.tenant_id) == before


def test_unknown_customer_and_taken_number(plant, owner, snapshot):
    _order(owner, plant, number="SO-X-1")
    before = snapshot(plant.made.tenant_id)
    assert "customer_id" in owner.post("/api/v1/orders", json={"customer_id": str(uuid.uuid4())}).get_json()["errors"]
    taken = owner.post("/api/v1/orders", json={"customer_id": str(plant.customer_id), "number": "SO-X-1"})
    assert taken.status_code == 422 and "number" in taken.get_json()["errors"]
    assert snapshot(plant.made.tenant_id) == before


def test_list_filters_and_pagination(plant, owner):
    ids = [_order(owner, plant, customer_po=f"PO-{i}")["id"] for i in range(5)]
    owner.post(f"/api/v1/orders/{ids[0]}/confirm", json={})
    page = owner.get("/api/v1/orders?limit=2").get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    seen = [o["id"] for o in page["items"]]
    while page["next_cursor"]:
        page = owner.get(f"/api/v1/orders?limit=2&cursor={page['next_cursor']}").get_json()
        seen += [o["id"] for o in page["items"]]
    assert seen == list(reversed(ids))  # newest first, each once
    assert [o["id"] for o in owner.get("/api/v1/orders?status=confirmed").get_json()["items"]] == [ids[0]]
    assert [o["customer_po"] for o in owner.get("/api/v1/orders?q=po-3").get_json()["items"]] == ["PO-3"]
    assert len(owner.get(f"/api/v1/orders?due_from={due(0)}&due_to={due(0)}").get_json()["items"]) == 5
    assert owner.get(f"/api/v1/orders?due_from={due(1)}").get_json()["items"] == []
    assert owner.get("/api/v1/orders?status=nonsense").status_code == 422


def test_the_whole_lifecycle(plant, owner):
    order = _order(owner, plant)
    url = f"/api/v1/orders/{order['id']}"
    confirmed = owner.post(f"{url}/confirm", json={"note": "Agreed by phone"})
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"
    assert confirmed.get_json()["confirmed_at"]
    for status in ("planned", "in_production", "finished", "in_stock", "shipped", "delivered"):
        moved = owner.post(f"{url}/transition", json={"status": status})
        assert moved.status_code == 200, moved.get_json()
        assert moved.get_json()["status"] == status and moved.get_json()["lines"][0]["status"] == status
    statuses = [(h["from_status"], h["to_status"]) for h in owner.get(f"{url}/history?limit=100").get_json()["items"]
                if h["action"] == "status" and h["line_id"] is None]
    assert statuses[::-1] == [("draft", "confirmed"), ("confirmed", "planned"), ("planned", "in_production"),
                              ("in_production", "finished"), ("finished", "in_stock"), ("in_stock", "shipped"),
                              ("shipped", "delivered")]
    topics = [t for t, _ in plant.events()]
    assert topics.count("order.status_changed") == 7
    assert {"order.confirmed", "order.planned", "order.in_production", "order.finished", "order.in_stock",
            "order.shipped", "order.delivered"} <= set(topics)
    assert "order.line_status_changed" in topics


@pytest.mark.parametrize("steps, target", [
    ([], "shipped"),                         # a draft cannot be shipped
    ([], "planned"),                         # nor planned before it is confirmed
    (["confirmed"], "in_production"),        # no production without a plan
    (["confirmed", "planned", "in_production"], "cancelled"),  # too late to cancel
    (["confirmed", "planned", "in_production", "finished"], "planned"),
])
def test_illegal_moves_are_409_and_change_nothing(plant, owner, snapshot, steps, target):
    order = _order(owner, plant)
    url = f"/api/v1/orders/{order['id']}"
    for step in steps:
        assert owner.post(f"{url}/transition", json={"status": step}).status_code == 200
    before = snapshot(plant.made.tenant_id)
    status_before = owner.get(url).get_json()["status"]
    body = {"status": target} if target != "cancelled" else None
    response = (owner.post(f"{url}/transition", json=body) if body
                else owner.post(f"{url}/cancel", json={"reason": "Customer changed mind"}))
    assert response.status_code == 409 and response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["type"].endswith("/illegal-transition")
    assert "Line 1" in problem["detail"] and "cannot become" in problem["detail"]
    assert problem["to_status"] == target and isinstance(problem["allowed"], list)
    assert owner.get(url).get_json()["status"] == status_before
    assert snapshot(plant.made.tenant_id) == before


def test_confirm_twice_and_confirm_needs_a_routing(plant, owner, app, tenant_factory):
    order = _order(owner, plant)
    assert owner.post(f"/api/v1/orders/{order['id']}/confirm", json={}).status_code == 200
    again = owner.post(f"/api/v1/orders/{order['id']}/confirm", json={})
    assert again.status_code == 409 and "only a draft" in again.get_json()["detail"]
    empty = _order(owner, plant, lines=[])
    assert owner.post(f"/api/v1/orders/{empty['id']}/confirm", json={}).status_code == 422
    unrouted = owner.post("/api/v1/products", json={"code": "NOROUTE", "alloy": "1060", "temper": "O",
                                                    "gauge_mm": 1, "width_mm": 1000, "coil_weight_t": 5}).get_json()
    draft = _order(owner, plant, lines=[{"product_id": unrouted["id"], "quantity": 5, "due_date": due(0)}])
    refused = owner.post(f"/api/v1/orders/{draft['id']}/confirm", json={})
    assert refused.status_code == 422 and "no routing" in refused.get_json()["errors"]["lines.0.product_id"][0]
    assert owner.get(f"/api/v1/orders/{draft['id']}").get_json()["status"] == "draft"


def test_cancel_with_reason_and_events(plant, owner):
    order = _order(owner, plant)
    url = f"/api/v1/orders/{order['id']}"
    owner.post(f"{url}/confirm", json={})
    assert owner.post(f"{url}/cancel", json={"reason": ""}).status_code == 422
    done = owner.post(f"{url}/cancel", json={"reason": "Customer withdrew"})
    assert done.status_code == 200 and done.get_json()["status"] == "cancelled"
    assert done.get_json()["cancel_reason"] == "Customer withdrew"
    cancelled = [p for t, p in plant.events() if t == "order.cancelled"]
    assert cancelled and cancelled[0]["number"] == order["number"]
    assert owner.post(f"{url}/cancel", json={"reason": "again"}).status_code == 409


def test_order_status_follows_its_lines(plant, owner):
    """Scheduling and production move single lines; the order shows the least advanced."""
    order_id = plant.order([{"quantity": 10.0}, {"quantity": 15.0}], confirm=True)
    first, second = plant.line_ids(order_id)
    with plant.scope():
        orders.mark_planned(first)
        assert orders.get_order(order_id).status == "confirmed"
        orders.mark_planned(second)
        assert orders.get_order(order_id).status == "planned"
        orders.mark_in_production(first)
        assert orders.get_order(order_id).status == "planned"
        orders.cancel_line(orders.get_line(second), "Stock covers it")
        assert orders.get_order(order_id).status == "in_production"
        orders.mark_finished(first)
        orders.mark_in_stock(first)
        orders.mark_shipped(first)
        orders.mark_delivered(first)
        assert orders.get_order(order_id).status == "delivered"
        with pytest.raises(orders.IllegalTransition):
            orders.mark_planned(first)
        orders.db.session.rollback()
    line_events = [p for t, p in plant.events() if t == "order.line_status_changed"]
    assert [(p["line_no"], p["to_status"]) for p in line_events][:2] == [(1, "planned"), (2, "planned")]


def test_edits_with_etag_history_and_events(plant, owner):
    order = _order(owner, plant)
    url = f"/api/v1/orders/{order['id']}"
    etag = owner.get(url).headers["ETag"]
    assert owner.patch(url, json={"customer_po": "NEW"}).status_code == 428
    assert owner.patch(url, json={"customer_po": "NEW"}, headers={"If-Match": '"x"'}).status_code == 412
    assert owner.patch(url, json={"customer_po": "NEW"}, headers={"If-Match": etag}).status_code == 200
    assert owner.patch(url, json={"notes": "late"}, headers={"If-Match": etag}).status_code == 412  # stale
    owner.post(f"{url}/confirm", json={})
    line_url = f"/api/v1/order-lines/{order['lines'][0]['id']}"
    line_etag = owner.get(line_url).headers["ETag"]
    changed = owner.patch(line_url, json={"quantity": 25, "due_date": due(3)}, headers={"If-Match": line_etag})
    assert changed.status_code == 200 and changed.get_json()["quantity"] == 25
    assert owner.patch(line_url, json={"quantity": 30}, headers={"If-Match": line_etag}).status_code == 412
    history = owner.get(f"{url}/history").get_json()["items"]
    line_change = next(h for h in history if h["action"] == "line_changed")
    assert line_change["changes"] == {"quantity": [20.0, 25.0], "due_date": [due(0), due(3)]}
    assert line_change["user_id"] == str(plant.made.owner_id) and line_change["line_no"] == 1
    header_change = next(h for h in history if h["action"] == "changed")
    assert header_change["changes"] == {"customer_po": [None, "NEW"]}
    changed_events = [p for t, p in plant.events() if t == "order.changed"]
    # Drafts are internal: only the change after confirmation is announced.
    assert len(changed_events) == 1 and changed_events[0]["changes"]["quantity"] == [20.0, 25.0]
    # Once planned, the quantity is fixed, the due date not.
    owner.post(f"{url}/transition", json={"status": "planned"})
    etag = owner.get(line_url).headers["ETag"]
    refused = owner.patch(line_url, json={"quantity": 40}, headers={"If-Match": etag})
    assert refused.status_code == 409 and "can no longer change" in refused.get_json()["detail"]
    assert owner.patch(line_url, json={"due_date": due(5)}, headers={"If-Match": etag}).status_code == 200


def test_lines_added_and_removed(plant, owner):
    order = _order(owner, plant)
    url = f"/api/v1/orders/{order['id']}"
    added = owner.post(f"{url}/lines", json={"product_id": str(plant.product_id), "quantity": 3,
                                             "quantity_unit": "coils", "due_date": due(1)})
    assert added.status_code == 201 and added.get_json()["line_no"] == 2
    assert owner.delete(f"/api/v1/order-lines/{added.get_json()['id']}").status_code == 204
    owner.post(f"{url}/confirm", json={})
    confirmed_line = owner.post(f"{url}/lines", json={"product_id": str(plant.product_id), "quantity": 3,
                                                      "due_date": due(1)}).get_json()
    assert confirmed_line["status"] == "confirmed" and confirmed_line["line_no"] == 3
    refused = owner.delete(f"/api/v1/order-lines/{confirmed_line['id']}")
    assert refused.status_code == 409 and "cancel it" in refused.get_json()["detail"]
    cancelled = owner.post(f"/api/v1/order-lines/{confirmed_line['id']}/cancel", json={"reason": "Too much"})
    assert cancelled.get_json()["status"] == "cancelled"
    actions = [h["action"] for h in owner.get(f"{url}/history?limit=200").get_json()["items"]]
    assert {"line_added", "line_removed", "status"} <= set(actions)


def test_drafts_delete_confirmed_do_not(plant, owner):
    draft = _order(owner, plant)
    assert owner.delete(f"/api/v1/orders/{draft['id']}").status_code == 204
    kept = _order(owner, plant)
    owner.post(f"/api/v1/orders/{kept['id']}/confirm", json={})
    assert owner.delete(f"/api/v1/orders/{kept['id']}").status_code == 409


def test_viewers_read_planners_write(plant, app, make_client):
    from tests.factories import ApiClient, TenantFactory

    viewer = ApiClient(make_client()).sign_in(TenantFactory(app).add_member(plant.made, "viewer"))
    planner = ApiClient(make_client()).sign_in(TenantFactory(app).add_member(plant.made, "planner"))
    assert viewer.get("/api/v1/orders").status_code == 200
    body = {"customer_id": str(plant.customer_id), "lines": []}
    assert viewer.post("/api/v1/orders", json=body).status_code == 403
    assert planner.post("/api/v1/orders", json=body).status_code == 201
