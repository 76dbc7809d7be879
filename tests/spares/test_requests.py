"""Requests between companies: every workflow step (buy, quote, counter-offer
with an interchangeable part, borrow and return, exchange with the core),
cancellation at each stage, concurrent requests for the last unit, stock on
both sides adding up, notifications, ratings and reply times, and a third
company that can see nothing of it."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.factories import ApiClient


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def _ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    return response.get_json()


def held(owner_engine, tenant_id, number_norm) -> int:
    """Units a company holds of a part number (every condition), from the database itself."""
    with owner_engine.connect() as conn:
        return conn.execute(text("select coalesce(sum(quantity), 0) from spares_parts where tenant_id = :t "
                                 "and part_number_norm = :n"), {"t": tenant_id, "n": number_norm}).scalar()


def moves_add_up(owner_engine, tenant_id) -> bool:
    with owner_engine.connect() as conn:
        bad = conn.execute(text("""
            select p.id from spares_parts p left join spares_stock_moves m on m.part_id = p.id
            where p.tenant_id = :t group by p.id, p.quantity having coalesce(sum(m.delta), 0) <> p.quantity"""),
            {"t": tenant_id}).all()
    return bad == []


def available(api, listing_id) -> int:
    return api.get(f"/api/v1/spares-catalogue/{listing_id}").get_json()["available"]


def step(api, request_id, action, body=None, status=200):
    response = api.post(f"/api/v1/spare-requests/{request_id}/{action}", json=body or {})
    if status != 200:
        return _problem(response, status)
    return _ok(response)


@pytest.fixture
def trio(company):
    holder, requester, stranger = company(), company(), company()
    holder.site(region="Jiangsu", lat=31.49, lon=120.31)
    return holder, requester, stranger


def test_buy_from_request_to_rating_with_stock_on_both_sides(trio, owner_engine, relay, tag):
    a, b, c = trio
    number = f"6205-2RS-{tag}"
    norm = number.replace("-", "")
    listing = a.part(number, share="subscribers", quantity=6, shared_quantity=4, terms={"sale_price": Decimal("85.00")})
    before = held(owner_engine, a.id, norm) + held(owner_engine, b.id, norm)
    req = _ok(b.api.post("/api/v1/spare-requests", json={
        "listing_id": str(listing), "kind": "buy", "quantity": 3, "urgency": "line_down", "note": "Mill 2 is down"}),
        201)
    assert (req["status"], req["unit_price"], req["holder_id"]) == ("requested", "85.00", str(a.id))
    assert available(b.api, listing) == 1  # 3 of 4 reserved at once
    # A third company sees nothing of it, and cannot act on it.
    _problem(c.api.get(f"/api/v1/spare-requests/{req['id']}"), 404)
    _problem(c.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}), 404)
    _problem(c.api.get(f"/api/v1/spare-requests/{req['id']}/messages"), 404)
    assert c.api.get("/api/v1/spare-requests").get_json()["items"] == []
    # The wrong side cannot take the other's step.
    _problem(b.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}), 403)
    step(a.api, req["id"], "accept")
    step(a.api, req["id"], "ship", {"tracking": "SF1234567"})
    assert held(owner_engine, a.id, norm) == 3  # the holder's stock went down on shipment
    assert available(b.api, listing) == 1  # shared 4 - 3 shipped
    step(b.api, req["id"], "receive")
    after = held(owner_engine, a.id, norm) + held(owner_engine, b.id, norm)
    assert (held(owner_engine, b.id, norm), after) == (3, before)
    assert moves_add_up(owner_engine, a.id) and moves_add_up(owner_engine, b.id)
    done = b.api.get(f"/api/v1/spare-requests/{req['id']}").get_json()
    assert done["status"] == "completed" and done["tracking"] == "SF1234567"
    # The shared record: one conversation, system events in order, seen alike by both.
    _ok(a.api.post(f"/api/v1/spare-requests/{req['id']}/messages", json={"body": "Packed with the certificate"}), 201)
    log_a = a.api.get(f"/api/v1/spare-requests/{req['id']}/messages").get_json()["items"]
    log_b = b.api.get(f"/api/v1/spare-requests/{req['id']}/messages").get_json()["items"]
    assert log_a == log_b
    assert [(m["kind"], m["event"]) for m in log_a] == [
        ("event", "requested"), ("event", "accepted"), ("event", "shipped"), ("event", "received"),
        ("message", None)]
    assert log_a[0]["body"] == "Mill 2 is down"
    # Ratings both ways, once each.
    _ok(b.api.post(f"/api/v1/spare-requests/{req['id']}/ratings", json={"score": 5, "comment": "fast"}), 201)
    _ok(a.api.post(f"/api/v1/spare-requests/{req['id']}/ratings", json={"score": 4}), 201)
    _problem(a.api.post(f"/api/v1/spare-requests/{req['id']}/ratings", json={"score": 4}), 409)
    assert len(b.api.get(f"/api/v1/spare-requests/{req['id']}/ratings").get_json()) == 2
    # Each step notified the other company; the holder's standing shows on its listings.
    relay()
    notices_a = [n["event"] for n in a.api.get("/api/v1/spare-notifications").get_json()["items"]]
    notices_b = [n["event"] for n in b.api.get("/api/v1/spare-notifications").get_json()["items"]]
    assert {"requested", "received", "rated"} <= set(notices_a)
    assert {"accepted", "shipped", "message", "rated"} <= set(notices_b)
    assert _ok(a.api.post("/api/v1/spare-notifications/read"))["marked"] >= 3
    entry = b.api.get(f"/api/v1/spares-catalogue/{listing}").get_json()
    assert entry["median_first_reply_s"] is not None and entry["rating"] == 5.0


def test_price_on_request_becomes_a_quote(trio, tag):
    a, b, _ = trio
    listing = a.part(f"WR-{tag}", share="subscribers", quantity=2, terms={"price_on_request": True})
    req = _ok(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                         "quantity": 1}), 201)
    assert req["unit_price"] is None
    _problem(a.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}), 409)
    errors = step(a.api, req["id"], "counter", {"note": "let me check"}, 422)["errors"]
    assert "price" in errors
    quote = step(a.api, req["id"], "counter", {"price": "18500.00", "note": "work roll, ground"})
    assert (quote["status"], quote["offer_price"]) == ("countered", "18500.00")
    accepted = step(b.api, req["id"], "accept-offer")
    assert (accepted["status"], accepted["unit_price"], accepted["offer_price"]) == ("accepted", "18500.00", None)


def test_an_interchangeable_part_only_with_the_requesters_approval(trio, tag):
    a, b, _ = trio
    listing = a.part(f"6205-{tag}", share="subscribers", quantity=2)
    req = _ok(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                         "quantity": 2}), 201)
    offer = step(a.api, req["id"], "counter", {"alternate": "FAG 6205-2RSR", "quantity": 1})
    assert offer["status"] == "countered" and offer["part_label"].endswith(f"6205-{tag}")  # not substituted yet
    assert available(b.api, listing) == 1  # the reservation follows the offered quantity
    accepted = step(b.api, req["id"], "accept-offer")
    assert accepted["quantity"] == 1 and "FAG 6205-2RSR" in accepted["part_label"]
    assert "approved" in accepted["part_label"]


def test_borrow_and_return(trio, owner_engine, tag):
    a, b, _ = trio
    number = f"HC-{tag}"
    norm = number.replace("-", "")
    listing = a.part(number, share="subscribers", quantity=2, terms={"loan_daily_fee": Decimal("50"), "loan_max_days": 30})
    _problem(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "borrow",
                                                        "quantity": 1}), 422)  # for how long?
    _problem(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                        "quantity": 1}), 422)  # not offered for sale
    req = _ok(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "borrow",
                                                         "quantity": 1, "loan_days": 14}), 201)
    step(a.api, req["id"], "accept")
    shipped = step(a.api, req["id"], "ship")
    assert shipped["return_due"] is not None
    step(b.api, req["id"], "receive")
    assert (held(owner_engine, a.id, norm), held(owner_engine, b.id, norm)) == (1, 1)
    assert b.api.get(f"/api/v1/spare-requests/{req['id']}").get_json()["status"] == "received"
    step(b.api, req["id"], "send-back", {"tracking": "EMS99"})
    assert (held(owner_engine, a.id, norm), held(owner_engine, b.id, norm)) == (1, 0)  # in transit
    step(a.api, req["id"], "confirm-return")
    assert (held(owner_engine, a.id, norm), held(owner_engine, b.id, norm)) == (2, 0)
    assert available(b.api, listing) == 2  # shared again
    assert moves_add_up(owner_engine, a.id) and moves_add_up(owner_engine, b.id)


def test_exchange_with_core_return(trio, owner_engine, tag):
    a, b, _ = trio
    number = f"GB-{tag}"
    norm = number.replace("-", "")
    listing = a.part(number, share="subscribers", quantity=1, terms={"exchange_fee": Decimal("9000"), "core_return_days": 21})
    req = _ok(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "exchange",
                                                         "quantity": 1}), 201)
    assert req["core_return_days"] == 21
    for actor, action in ((a, "accept"), (a, "ship"), (b, "receive"), (b, "send-back"), (a, "confirm-return")):
        step(actor.api, req["id"], action)
    assert b.api.get(f"/api/v1/spare-requests/{req['id']}").get_json()["status"] == "completed"
    with owner_engine.connect() as conn:
        rows = conn.execute(text("select condition, quantity from spares_parts where tenant_id = :t and "
                                 "part_number_norm = :n order by condition"), {"t": a.id, "n": norm}).all()
    assert [tuple(r) for r in rows] == [("new", 0), ("used", 1)]  # the core is in, to be refurbished
    assert held(owner_engine, b.id, norm) == 1


@pytest.mark.parametrize("stage", ["requested", "countered", "accepted_by_requester", "accepted_by_holder",
                                   "declined", "shipped"])
def test_cancellation_at_each_stage(trio, owner_engine, tag, stage):
    a, b, _ = trio
    number = f"C-{tag}"
    listing = a.part(number, share="subscribers", quantity=3)
    req = _ok(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                         "quantity": 2}), 201)
    assert available(b.api, listing) == 1
    if stage == "countered":
        step(a.api, req["id"], "counter", {"price": "100"})
    if stage.startswith("accepted") or stage == "shipped":
        step(a.api, req["id"], "accept")
    if stage == "shipped":
        step(a.api, req["id"], "ship")
        _problem(b.api.post(f"/api/v1/spare-requests/{req['id']}/cancel", json={}), 409)
        _problem(a.api.post(f"/api/v1/spare-requests/{req['id']}/cancel", json={}), 409)
        return
    if stage == "declined":
        done = step(a.api, req["id"], "decline", {"note": "needed ourselves"})
        assert done["status"] == "declined"
        _problem(b.api.post(f"/api/v1/spare-requests/{req['id']}/cancel", json={}), 409)
    elif stage == "accepted_by_holder":
        assert step(a.api, req["id"], "cancel", {"note": "found damaged"})["status"] == "cancelled"
    else:
        if stage == "requested":
            _problem(a.api.post(f"/api/v1/spare-requests/{req['id']}/cancel", json={}), 409)  # holder declines
        assert step(b.api, req["id"], "cancel")["status"] == "cancelled"
    assert available(b.api, listing) == 3  # the reservation is released
    assert held(owner_engine, a.id, number.replace("-", "")) == 3


def test_concurrent_requests_for_the_last_unit(company, make_client, tag):
    a = company()
    listing = a.part(f"LAST-{tag}", share="subscribers", quantity=1)
    requesters = [company() for _ in range(4)]
    clients = [ApiClient(make_client()).sign_in(r.made.owner_email) for r in requesters]
    barrier = threading.Barrier(len(clients))
    statuses = []

    def ask(api):
        barrier.wait()
        response = api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                            "quantity": 1})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=ask, args=(api,)) for api in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201, 409, 409, 409]
    assert available(clients[0], listing) == 0


def test_bad_requests_change_nothing(trio, owner_engine, tag):
    a, b, c = trio
    listing = a.part(f"B-{tag}", share="subscribers", quantity=2)
    private = a.part(f"P-{tag}")
    for body, status in (
        ({"listing_id": str(listing), "kind": "buy", "quantity": 0}, 422),
        ({"listing_id": str(listing), "kind": "steal", "quantity": 1}, 422),
        ({"listing_id": str(listing), "kind": "buy", "quantity": 3}, 409),
        ({"listing_id": str(listing), "kind": "buy", "quantity": 1, "needed_by": "2001-01-01"}, 422),
        ({"listing_id": str(private), "kind": "buy", "quantity": 1}, 404),
        ({"kind": "buy", "quantity": 1}, 422),
    ):
        _problem(b.api.post("/api/v1/spare-requests", json=body), status)
    _problem(a.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                        "quantity": 1}), 409)  # one's own part
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from spares_requests where tenant_id = :t"),
                            {"t": a.id}).scalar() == 0


def test_request_pages_in_both_languages(trio, tag):
    a, b, _ = trio
    listing = a.part(f"PG-{tag}", share="subscribers", quantity=2)
    req = _ok(b.api.post("/api/v1/spare-requests", json={"listing_id": str(listing), "kind": "buy",
                                                         "quantity": 1}), 201)
    browser = a.browser()
    html = browser.get("/spares/requests?role=incoming").get_data(as_text=True)
    assert req["number"] in html and 'data-testid="request-row"' in html
    page = browser.get(f"/spares/requests/{req['id']}").get_data(as_text=True)
    assert 'data-testid="action-accept"' in page and 'data-event="requested"' in page
    zh = browser.get(f"/spares/requests/{req['id']}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "接受" in zh and "对话" in zh
    other = b.browser()
    assert 'data-testid="action-cancel"' in other.get(f"/spares/requests/{req['id']}").get_data(as_text=True)
