"""Payments of requests through Stripe Connect: the holder's Express account
and its onboarding, Checkout as a destination charge with the platform's
fee, the signed webhook marking the line paid (forged: 400 and nothing
changes; replayed: one effect), refunds on cancellation, "settle offline"
when billing is off or the holder has no connected account. Stripe is
localstripe (payments, refunds) behind the stand-in (accounts, account links,
Checkout): tests/platform/stripe_standin.py."""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import urllib.request
from sqlalchemy import text

from tests.platform.stripe_standin import (  # noqa: F401 - fixtures
    event, localstripe_url, signed, stripe_api, stripe_on, stripe_standin,
)

WEBHOOK = "/webhooks/stripe"


def _ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    return response.get_json()


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def _visit(url: str) -> str:
    """Follow Stripe's hosted page (the stand-in completes it) to where it sends the browser back."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 303
        return exc.headers["Location"]
    raise AssertionError("no redirect")


def connected(holder, standin):
    """The holder connects its account and finishes Stripe's onboarding."""
    link = _ok(holder.api.post("/api/v1/spare-payments/account/link"), 201)["url"]
    back = _visit(link)
    assert urlsplit(back).path == "/spares/payments/return"
    return _ok(holder.api.post("/api/v1/spare-payments/account/refresh"))


def payment_row(owner_engine, request_id):
    with owner_engine.connect() as conn:
        return conn.execute(text("select * from spares_payments where id = :i"), {"i": request_id}).mappings().first()


def deliver(client, evt: dict, **sign):
    body, headers = signed(evt, **sign)
    return client.post(WEBHOOK, data=body, headers=headers)


@pytest.fixture
def deal(company, stripe_on):
    """A holder with a connected account, a requester, and a request to buy 2 at 120.00."""
    holder, requester = company(), company()
    account = connected(holder, stripe_on)
    assert account["state"] == "enabled" and account["charges_enabled"]
    part = holder.part("6205-2RS", share="subscribers", quantity=5)
    req = _ok(requester.api.post("/api/v1/spare-requests", json={"listing_id": str(part), "kind": "buy",
                                                                  "quantity": 2}), 201)
    return holder, requester, req


def test_onboarding_makes_an_express_account(company, stripe_on, owner_engine):
    holder = company()
    assert _ok(holder.api.get("/api/v1/spare-payments/account"))["state"] == "none"
    link = _ok(holder.api.post("/api/v1/spare-payments/account/link"), 201)["url"]
    account = next(a for a in stripe_on.accounts.values() if a["metadata"].get("tenant_id") == str(holder.id))
    assert account["type"] == "express"
    sent = stripe_on.account_links[-1]
    assert sent["account"] == account["id"] and sent["refresh_url"].endswith("/spares/payments/connect")
    # Not through onboarding yet: Stripe says no charges.
    assert _ok(holder.api.post("/api/v1/spare-payments/account/refresh"))["state"] == "onboarding"
    _visit(link)
    state = _ok(holder.api.post("/api/v1/spare-payments/account/refresh"))
    assert state["state"] == "enabled" and state["payouts_enabled"]
    # A second link reuses the account.
    _ok(holder.api.post("/api/v1/spare-payments/account/link"), 201)
    assert len([a for a in stripe_on.accounts.values() if a["metadata"].get("tenant_id") == str(holder.id)]) == 1


def test_account_updated_webhook_moves_the_status(company, stripe_on, client):
    holder = company()
    connected(holder, stripe_on)
    account_id = next(a["id"] for a in stripe_on.accounts.values() if a["metadata"].get("tenant_id") == str(holder.id))
    evt = event("account.updated", {"id": account_id, "object": "account", "charges_enabled": False,
                                    "payouts_enabled": False, "details_submitted": True})
    assert _ok(deliver(client, evt))["charges_enabled"] is False
    assert _ok(holder.api.get("/api/v1/spare-payments/account"))["state"] == "pending"


def test_buy_paid_online_with_the_platform_fee(deal, stripe_on, client, owner_engine, relay, app):
    holder, requester, req = deal
    app.config["SPARES_PLATFORM_FEE_PERCENT"] = "7.5"
    try:
        accepted = _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    finally:
        app.config.pop("SPARES_PLATFORM_FEE_PERCENT")
    assert accepted["settlement"] == "stripe"
    assert accepted["payment"]["status"] == "due" and accepted["payment"]["amount"] == "240.00"
    assert accepted["payment"]["platform_fee"] == "18.00"
    # The holder cannot ship before the money is in; nor can the holder pay.
    _problem(holder.api.post(f"/api/v1/spare-requests/{req['id']}/ship", json={}), 409)
    _problem(holder.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 403)

    url = _ok(requester.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 201)["url"]
    session = stripe_on.checkout_sessions[url.rsplit("/", 1)[1]]
    destination = next(a["id"] for a in stripe_on.accounts.values() if a["metadata"].get("tenant_id") == str(holder.id))
    assert session["mode"] == "payment" and session["amount_total"] == 24000 and session["currency"] == "cny"
    assert session["payment_intent_data_sent"]["application_fee_amount"] == "1800"
    assert session["payment_intent_data_sent"]["transfer_data"] == {"destination": destination}
    assert session["metadata"]["request_id"] == req["id"]
    assert urlsplit(_visit(url)).path == f"/spares/requests/{req['id']}/paid"
    assert payment_row(owner_engine, req["id"])["status"] == "pending"

    completed = event("checkout.session.completed", {**session, "object": "checkout.session"})
    _ok(deliver(client, completed))
    row = payment_row(owner_engine, req["id"])
    assert row["status"] == "paid" and row["payment_intent_id"] == session["payment_intent"]
    remote = stripe_api(stripe_on).v1.payment_intents.retrieve(row["payment_intent_id"])
    assert remote.status == "succeeded" and remote.amount == 24000
    for side in (holder, requester):
        assert _ok(side.api.get(f"/api/v1/spare-requests/{req['id']}"))["payment"]["status"] == "paid"
    relay()
    for side in (holder, requester):
        notices = _ok(side.api.get("/api/v1/spare-notifications"))["items"]
        assert any(n["event"] == "paid" for n in notices)
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_log where action = 'spares.payment.paid' "
                                 "and target_id = :i"), {"i": req["id"]}).scalar() == 1
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/ship", json={"tracking": "SF1"}))


def test_a_forged_webhook_is_refused_and_changes_nothing(deal, stripe_on, client, owner_engine):
    holder, requester, req = deal
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    url = _ok(requester.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 201)["url"]
    session = stripe_on.checkout_sessions[url.rsplit("/", 1)[1]]
    completed = event("checkout.session.completed", {**session, "payment_status": "paid"})
    _problem(deliver(client, completed, secret="whsec_not_ours"), 400)
    body, headers = signed(completed)
    _problem(client.post(WEBHOOK, data=body.replace(b"cs_test_", b"cs_fake_"), headers=headers), 400)
    _problem(client.post(WEBHOOK, data=body, headers={"Content-Type": "application/json"}), 400)
    assert payment_row(owner_engine, req["id"])["status"] == "pending"
    # Signed, but Stripe says the session is not paid (nobody went through Checkout): nothing changes.
    _ok(deliver(client, completed))
    assert payment_row(owner_engine, req["id"])["status"] == "pending"


def test_the_same_payment_twice_counts_once(deal, stripe_on, client, owner_engine):
    holder, requester, req = deal
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    url = _ok(requester.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 201)["url"]
    session = stripe_on.checkout_sessions[url.rsplit("/", 1)[1]]
    _visit(url)
    completed = event("checkout.session.completed", session)
    _ok(deliver(client, completed))
    assert _ok(deliver(client, completed))["replayed"] is True          # the same event
    again = event("checkout.session.completed", session)                  # another event, same session
    assert _ok(deliver(client, again))["unchanged"] is True
    with owner_engine.connect() as conn:
        events = conn.execute(text("select count(*) from spares_request_messages where request_id = :i "
                                   "and event = 'paid'"), {"i": req["id"]}).scalar()
        audits = conn.execute(text("select count(*) from audit_log where action = 'spares.payment.paid' "
                                   "and target_id = :i"), {"i": req["id"]}).scalar()
    assert events == 1 and audits == 1


def test_cancellation_after_payment_refunds(deal, stripe_on, client, owner_engine):
    holder, requester, req = deal
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    url = _ok(requester.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 201)["url"]
    session = stripe_on.checkout_sessions[url.rsplit("/", 1)[1]]
    _visit(url)
    _ok(deliver(client, event("checkout.session.completed", session)))
    cancelled = _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/cancel", json={"note": "sold out"}))
    assert cancelled["status"] == "cancelled" and cancelled["payment"]["status"] == "refunded"
    row = payment_row(owner_engine, req["id"])
    refund = stripe_on.refunds[row["refund_id"]]
    assert refund["payment_intent"] == session["payment_intent"] and refund["amount"] == 24000
    assert refund["reverse_transfer"] == "true" and refund["refund_application_fee"] == "true"
    assert stripe_api(stripe_on).v1.refunds.retrieve(row["refund_id"]).status == "succeeded"


def test_cancellation_before_payment_withdraws_it(deal, stripe_on, owner_engine):
    holder, requester, req = deal
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    _ok(requester.api.post(f"/api/v1/spare-requests/{req['id']}/cancel", json={}))
    assert payment_row(owner_engine, req["id"])["status"] == "cancelled"
    assert not stripe_on.refunds or all(r["metadata"].get("request_id") != req["id"] for r in stripe_on.refunds.values())
    _problem(requester.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 409)


def test_without_a_connected_account_it_is_settled_offline(company, stripe_on):
    holder, requester = company(), company()
    part = holder.part("6206-2RS", share="subscribers", quantity=3)
    req = _ok(requester.api.post("/api/v1/spare-requests", json={"listing_id": str(part), "kind": "buy",
                                                                  "quantity": 1}), 201)
    accepted = _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    assert accepted["settlement"] == "offline" and accepted["payment"] is None
    _problem(requester.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 409)
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/ship", json={}))


def test_billing_off_settles_offline(company):
    holder, requester = company(), company()
    assert _ok(holder.api.get("/api/v1/spare-payments/account"))["payments_enabled"] is False
    _problem(holder.api.post("/api/v1/spare-payments/account/link"), 409)
    part = holder.part("6207-2RS", share="subscribers", quantity=3)
    req = _ok(requester.api.post("/api/v1/spare-requests", json={"listing_id": str(part), "kind": "buy",
                                                                  "quantity": 1}), 201)
    assert _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))["settlement"] == "offline"


def test_a_loan_fee_is_days_times_units_times_fee(company, stripe_on):
    holder, requester = company(), company()
    connected(holder, stripe_on)
    part = holder.part("WR-1450", share="subscribers", quantity=2,
                       terms={"loan_daily_fee": Decimal("50.00"), "loan_max_days": 30})
    req = _ok(requester.api.post("/api/v1/spare-requests", json={"listing_id": str(part), "kind": "borrow",
                                                                  "quantity": 2, "loan_days": 10}), 201)
    accepted = _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    assert accepted["payment"]["amount"] == "1000.00" and accepted["payment"]["platform_fee"] == "50.00"


def test_a_third_company_sees_no_payment(deal, company):
    holder, requester, req = deal
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    stranger = company()
    _problem(stranger.api.post(f"/api/v1/spare-requests/{req['id']}/pay"), 404)


def test_pages_show_the_payment(deal, stripe_on):
    holder, requester, req = deal
    _ok(holder.api.post(f"/api/v1/spare-requests/{req['id']}/accept", json={}))
    page = requester.browser().get(f"/spares/requests/{req['id']}").get_data(as_text=True)
    assert 'data-payment="due"' in page and 'data-testid="action-pay"' in page
    page = holder.browser().get(f"/spares/requests/{req['id']}").get_data(as_text=True)
    assert 'data-payment="due"' in page and 'data-testid="awaiting-payment"' in page
    page = holder.browser().get("/spares/payments").get_data(as_text=True)
    assert 'data-state="enabled"' in page
