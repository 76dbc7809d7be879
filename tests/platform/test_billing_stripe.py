"""Billing with Stripe: the catalogue sync, Checkout, the portal, webhooks
signed by Stripe's own scheme (replayed, reordered, forged), the payment
state machine and metered usage. Stripe is localstripe plus the stand-in
(tests/platform/stripe_standin.py)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from alloyhub.platform.billing import jobs as billing_jobs
from alloyhub.platform.billing import services, stripe_client
from alloyhub.platform.db import utcnow
from tests.factories import ApiClient
from tests.platform.stripe_standin import (  # noqa: F401 - fixtures
    event, localstripe_plan, localstripe_url, paying_customer, signed, stripe_api, stripe_on, stripe_standin,
    subscribe,
)
from tests.platform.test_billing import operator, set_plan  # noqa: F401 - a fixture and its helper

WEBHOOK = "/webhooks/stripe"


@pytest.fixture
def synced(app, stripe_on):
    with app.app_context():
        stripe_client.sync_catalogue()
    return stripe_on


def subscription_row(owner_engine, tenant_id):
    with owner_engine.connect() as conn:
        return conn.execute(text("select * from billing_subscriptions where tenant_id = :t"),
                            {"t": tenant_id}).mappings().one()


def deliver(client, evt: dict, **sign):
    body, headers = signed(evt, **sign)
    return client.post(WEBHOOK, data=body, headers=headers)


def audit_count(owner_engine, tenant_id, action: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("select count(*) from audit_log where tenant_id = :t and action = :a"),
                            {"t": tenant_id, "a": action}).scalar()


@pytest.fixture
def checked_out(synced, tenant_factory, make_client, owner_engine):
    """A Trial plant that started Checkout for Professional (so it has a Stripe customer)."""
    plant = tenant_factory()
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    response = api.post("/api/v1/billing/checkout", json={"plan": "professional"})
    assert response.status_code == 201, response.get_data(as_text=True)
    customer = subscription_row(owner_engine, plant.tenant_id)["stripe_customer_id"]
    return plant, api, customer, response.get_json()["url"]


# ------------------------------------------------------------------ catalogue

def test_sync_creates_products_and_prices_once(app, stripe_on):
    with app.app_context():
        stripe_client.sync_catalogue()
        assert stripe_client.sync_catalogue() == []  # idempotent: everything is found by key
    keys = {p["lookup_key"]: p for p in stripe_on.prices.values()}
    assert keys["alloyhub_professional_monthly"]["unit_amount"] == 699_900
    assert keys["alloyhub_professional_monthly"]["product"] == "alloyhub_professional"
    assert keys["alloyhub_starter_telemetry_points"]["recurring"]["usage_type"] == "metered"
    assert "alloyhub_trial_monthly" not in keys and "alloyhub_partner_monthly" not in keys
    client = stripe_api(stripe_on)
    assert client.v1.products.retrieve("alloyhub_enterprise").name == "AlloyHub Enterprise"


def test_the_cli_command_syncs(app, stripe_on, monkeypatch, capsys):
    from alloyhub import cli

    monkeypatch.setattr(cli, "_app", lambda: app)
    assert cli.main(["billing", "sync"]) == 0
    assert "Stripe" in capsys.readouterr().out


# ------------------------------------------------------------------ checkout and portal

def test_checkout_sends_the_company_to_stripe_with_the_plan(checked_out, stripe_standin):
    plant, api, customer, url = checked_out
    assert customer.startswith("cus_")
    session = stripe_standin.checkout_sessions[url.rsplit("/", 1)[1]]
    professional = next(p for p in stripe_standin.prices.values()
                        if p["lookup_key"] == "alloyhub_professional_monthly")
    assert session["customer"] == customer and session["mode"] == "subscription"
    assert session["line_items_sent"] == [{"price": professional["id"], "quantity": "1"}]
    assert session["client_reference_id"] == str(plant.tenant_id)
    assert session["subscription_data_sent"]["metadata"] == {"tenant_id": str(plant.tenant_id),
                                                             "alloyhub_plan": "professional"}
    assert session["success_url"].endswith("/billing/success")
    # The customer exists in Stripe (localstripe) with the company's id.
    remote = stripe_api(stripe_standin).v1.customers.retrieve(customer)
    assert remote.metadata["tenant_id"] == str(plant.tenant_id)
    # Nothing changes until Stripe confirms.
    assert api.get("/api/v1/billing/subscription").get_json()["plan"]["key"] == "trial"


def test_checkout_of_a_plan_below_usage_is_refused(synced, tenant_factory, make_client):
    plant = tenant_factory()
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    api.post("/api/v1/sites", json={"name": "Hot mill", "code": "HM"})
    response = api.post("/api/v1/billing/checkout", json={"plan": "starter"})
    assert response.status_code == 409 and response.get_json()["over"]["sites"] == {"usage": 2, "allowed": 1}
    assert not [s for s in synced.checkout_sessions.values() if s["client_reference_id"] == str(plant.tenant_id)]


def test_portal_link(checked_out, stripe_standin):
    _, api, customer, _ = checked_out
    response = api.post("/api/v1/billing/portal")
    assert response.status_code == 201
    session = stripe_standin.portal_sessions[response.get_json()["url"].rsplit("/", 1)[1]]
    assert session["customer"] == customer and session["return_url"].endswith("/billing")


# ------------------------------------------------------------------ webhooks

def test_checkout_completed_activates_the_plan_and_a_replay_does_nothing(
        checked_out, stripe_standin, client, owner_engine):
    plant, api, customer, url = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    sub = subscribe(bank, customer, "professional", plant.tenant_id)
    completed = event("checkout.session.completed", {
        "id": url.rsplit("/", 1)[1], "object": "checkout.session", "customer": customer,
        "subscription": sub["id"], "client_reference_id": str(plant.tenant_id), "metadata": {}})
    first = deliver(client, completed)
    assert first.status_code == 200 and first.get_json()["status"] == "active"
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["status"], row["stripe_subscription_id"]) == ("professional", "active", sub["id"])
    assert row["current_period_end"] is not None
    again = deliver(client, completed)
    assert again.status_code == 200 and again.get_json() == {"event": completed["id"], "replayed": True}
    assert audit_count(owner_engine, plant.tenant_id, "billing.subscription_changed") == 1
    assert api.get("/api/v1/billing/subscription").get_json()["plan"]["key"] == "professional"


@pytest.mark.parametrize("how", ["wrong-secret", "tampered", "missing", "stale"])
def test_forged_webhooks_are_refused_and_change_nothing(checked_out, client, owner_engine, how):
    plant, _, customer, _ = checked_out
    forged = event("customer.subscription.updated", {
        "id": "sub_forged", "object": "subscription", "customer": customer, "status": "active",
        "metadata": {"alloyhub_plan": "enterprise", "tenant_id": str(plant.tenant_id)}})
    if how == "wrong-secret":
        body, headers = signed(forged, secret="whsec_not_ours")
    elif how == "stale":  # a captured request replayed much later
        body, headers = signed(forged, timestamp=1_000_000_000)
    else:
        body, headers = signed(forged)
        if how == "tampered":
            body = body.replace(b"sub_forged", b"sub_forgex")
        else:
            headers.pop("Stripe-Signature")
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.status_code == 400
    assert subscription_row(owner_engine, plant.tenant_id)["plan_key"] == "trial"
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from billing_stripe_events where id = :i"),
                            {"i": forged["id"]}).scalar() == 0


def test_reordered_events_end_in_stripes_current_state(checked_out, stripe_standin, client, owner_engine):
    """deleted arrives before created: the late created event must not revive it."""
    plant, _, customer, _ = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    sub = subscribe(bank, customer, "professional", plant.tenant_id)
    snapshot_active = dict(sub)  # what the created event carried
    canceled = bank.v1.subscriptions.cancel(sub["id"]).to_dict()
    assert deliver(client, event("customer.subscription.deleted", canceled)).status_code == 200
    assert deliver(client, event("customer.subscription.created", snapshot_active)).status_code == 200
    assert deliver(client, event("customer.subscription.updated", snapshot_active)).status_code == 200
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["status"], row["stripe_subscription_id"]) == ("canceled", sub["id"])


def test_payment_failure_grace_read_only_and_restored_on_payment(
        checked_out, stripe_standin, client, app, owner_engine):
    plant, api, customer, _ = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    sub = subscribe(bank, customer, "professional", plant.tenant_id)
    assert deliver(client, event("customer.subscription.created", sub)).status_code == 200
    assert subscription_row(owner_engine, plant.tenant_id)["status"] == "active"
    # The card stops working; the next invoice fails.
    paying_customer(bank, customer, card="4000000000000341")
    item = bank.v1.invoice_items.create(params={"customer": customer, "amount": 699_900, "currency": "cny"})
    assert item.id
    invoice = bank.v1.invoices.create(params={"customer": customer, "subscription": sub["id"]})
    try:
        bank.v1.invoices.pay(invoice.id)
    except Exception:  # noqa: BLE001 - the card is declined, as intended
        pass
    failed = bank.v1.invoices.retrieve(invoice.id).to_dict()
    assert failed["status"] == "open"
    result = deliver(client, event("invoice.payment_failed", failed))
    assert result.status_code == 200 and result.get_json()["status"] == "past_due"
    row = subscription_row(owner_engine, plant.tenant_id)
    assert row["status"] == "past_due" and row["grace_until"] is not None
    page = api.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-status="past_due"' in page
    # The grace period runs out: read-only, nothing deleted.
    with owner_engine.begin() as conn:
        conn.execute(text("update billing_subscriptions set grace_until = now() - interval '1 minute' "
                          "where tenant_id = :t"), {"t": plant.tenant_id})
    with app.app_context():
        services.enforce_deadlines()
    assert subscription_row(owner_engine, plant.tenant_id)["status"] == "read_only"
    assert api.get("/api/v1/billing/subscription").get_json()["status"] == "read_only"
    # The customer pays: access is restored.
    paying_customer(bank, customer)
    paid = bank.v1.invoices.pay(invoice.id).to_dict()
    assert paid["status"] == "paid"
    assert deliver(client, event("invoice.paid", paid)).status_code == 200
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["status"], row["grace_until"]) == ("active", None)
    # A late copy of the failure (a new event id, the same invoice) changes nothing now.
    assert deliver(client, event("invoice.payment_failed", failed)).status_code == 200
    assert subscription_row(owner_engine, plant.tenant_id)["status"] == "active"


def test_events_for_unknown_customers_are_taken_and_ignored(stripe_on, client):
    response = deliver(client, event("invoice.paid", {"id": "in_x", "object": "invoice", "customer": "cus_nobody"}))
    assert response.status_code == 200 and response.get_json()["unknown_customer"] is True
    other = deliver(client, event("charge.refunded", {"id": "ch_x", "object": "charge"}))
    assert other.status_code == 200 and other.get_json()["ignored"] is True


def test_malformed_webhook_body_is_400(stripe_on, client):
    body = b"not json"
    header = signed({"x": 1})[1]["Stripe-Signature"]
    assert client.post(WEBHOOK, data=body, headers={"Stripe-Signature": header}).status_code == 400


# ------------------------------------------------------------------ metered usage

def test_metered_usage_is_reported_once_per_company_metric_and_day(
        checked_out, stripe_standin, client, app, owner_engine):
    plant, _, customer, _ = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    sub = subscribe(bank, customer, "professional", plant.tenant_id)
    deliver(client, event("customer.subscription.created", sub))
    with owner_engine.begin() as conn:
        conn.execute(text(
            "insert into billing_usage_days (id, tenant_id, day, metric, value) values "
            "(gen_random_uuid(), :t, current_date - 2, 'telemetry_points', 1234), "
            "(gen_random_uuid(), :t, current_date - 1, 'telemetry_points', 0), "
            "(gen_random_uuid(), :t, current_date - 1, 'sites', 1)"), {"t": plant.tenant_id})
    with app.app_context():
        first = billing_jobs.report_days(before=utcnow().date())
        second = billing_jobs.report_days(before=utcnow().date())
    assert (first, second) == (2, 0)
    mine = [e for e in stripe_standin.meter_events.values()
            if e["payload"]["stripe_customer_id"] == customer]
    assert len(mine) == 1
    assert mine[0]["event_name"] == "alloyhub_telemetry_points" and mine[0]["payload"]["value"] == "1234"
    assert mine[0]["identifier"].startswith(f"usage-{plant.tenant_id}-telemetry_points-")
    with owner_engine.connect() as conn:
        unreported = conn.execute(text("select count(*) from billing_usage_days where tenant_id = :t and "
                                       "metric = 'telemetry_points' and reported_at is null"),
                                  {"t": plant.tenant_id}).scalar()
    assert unreported == 0
    json.dumps(mine)  # the recorded request is plain data


def test_an_unpaid_checkout_grants_nothing(checked_out, stripe_standin, client, owner_engine):
    """The card fails at the first payment: Stripe's subscription is
    "incomplete", and the trial stays a trial."""
    plant, api, customer, url = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer, card="4000000000000341")
    sub = subscribe(bank, customer, "professional", plant.tenant_id)
    assert sub["status"] == "incomplete"
    response = deliver(client, event("checkout.session.completed", {
        "id": url.rsplit("/", 1)[1], "object": "checkout.session", "customer": customer,
        "subscription": sub["id"], "client_reference_id": str(plant.tenant_id)}))
    assert response.status_code == 200
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["status"]) == ("trial", "trialing")
    assert api.get("/api/v1/billing/subscription").get_json()["plan"]["key"] == "trial"


def test_a_late_event_of_an_earlier_subscription_does_not_replace_the_current_one(
        checked_out, stripe_standin, client, owner_engine):
    plant, _, customer, _ = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    earlier = subscribe(bank, customer, "starter", plant.tenant_id)
    current = subscribe(bank, customer, "professional", plant.tenant_id)
    assert deliver(client, event("customer.subscription.created", current)).status_code == 200
    ended = bank.v1.subscriptions.cancel(earlier["id"]).to_dict()
    response = deliver(client, event("customer.subscription.deleted", ended))
    assert response.status_code == 200 and "ignored" in response.get_json()
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["status"], row["stripe_subscription_id"]) == ("professional", "active", current["id"])


# ------------------------------------------------------------------ pinned plans

def switch_price(bank, sub: dict, plan_key: str) -> dict:
    """The subscription's one item moved to another plan's price (a portal plan change)."""
    item = bank.v1.subscriptions.retrieve(sub["id"]).to_dict()["items"]["data"][0]
    return bank.v1.subscriptions.update(sub["id"], params={
        "items": [{"id": item["id"], "plan": localstripe_plan(bank, plan_key)}]}).to_dict()


def test_a_pinned_plan_survives_stripe_events_which_still_move_the_payment_status(
        checked_out, stripe_standin, client, owner_engine, operator, make_client):
    plant, api, customer, _ = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    # Made as the portal would: the plan is named by the subscription's price, not its metadata.
    sub = bank.v1.subscriptions.create(params={
        "customer": customer, "items": [{"plan": localstripe_plan(bank, "professional")}],
        "metadata": {"tenant_id": str(plant.tenant_id)}}).to_dict()
    assert deliver(client, event("customer.subscription.created", sub)).status_code == 200
    assert subscription_row(owner_engine, plant.tenant_id)["plan_key"] == "professional"
    assert set_plan(operator, plant.tenant_id, "enterprise", reason="negotiated contract").status_code == 200
    # Stripe's subscription moves to Starter (the customer used the portal): the pin holds.
    changed = switch_price(bank, sub, "starter")
    result = deliver(client, event("customer.subscription.updated", changed))
    assert result.status_code == 200 and result.get_json()["pinned"] is True
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["stripe_plan_key"], row["status"]) == ("enterprise", "starter", "active")
    # A payment fails: the status follows Stripe (grace period), the plan does not move.
    paying_customer(bank, customer, card="4000000000000341")
    bank.v1.invoice_items.create(params={"customer": customer, "amount": 100, "currency": "cny"})
    invoice = bank.v1.invoices.create(params={"customer": customer, "subscription": sub["id"]})
    try:
        bank.v1.invoices.pay(invoice.id)
    except Exception:  # noqa: BLE001 - declined, as intended
        pass
    failed = bank.v1.invoices.retrieve(invoice.id).to_dict()
    assert deliver(client, event("invoice.payment_failed", failed)).status_code == 200
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["status"]) == ("enterprise", "past_due") and row["grace_until"] is not None
    paying_customer(bank, customer)
    paid = bank.v1.invoices.pay(invoice.id).to_dict()
    assert deliver(client, event("invoice.paid", paid)).status_code == 200
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["status"], row["grace_until"]) == ("enterprise", "active", None)
    # Both sides are audited: the Stripe-driven changes say the plan was pinned.
    with owner_engine.connect() as conn:
        changes = [r.details for r in conn.execute(text(
            "select details from audit_log where tenant_id = :t and action = 'billing.subscription_changed' "
            "order by at"), {"t": plant.tenant_id})]
    pinned_changes = [d for d in changes if d.get("pinned")]
    assert pinned_changes and all(d["after"]["plan"] == "enterprise" for d in pinned_changes)
    assert any(d["after"]["stripe_plan"] == "starter" for d in pinned_changes)
    assert audit_count(owner_engine, plant.tenant_id, "billing.plan_overridden") == 1
    # The pages say so: the company's billing page, and the operator's (with Stripe's plan beside it).
    assert 'data-testid="plan-pinned"' in api.get("/billing", headers={"Accept": "text/html"}).get_data(as_text=True)
    html = operator.get("/operator/tenants", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-testid="stripe-plan"' in html
    # Released: the company is on the plan it pays Stripe for, and follows Stripe again.
    released = operator.client.delete(f"/api/v1/operator/tenants/{plant.tenant_id}/plan/pin",
                                      headers=operator._headers())
    assert released.status_code == 200 and released.get_json()["plan"]["key"] == "starter"
    assert audit_count(owner_engine, plant.tenant_id, "billing.plan_override_cleared") == 1
    back = switch_price(bank, sub, "professional")
    assert deliver(client, event("customer.subscription.updated", back)).status_code == 200
    row = subscription_row(owner_engine, plant.tenant_id)
    assert (row["plan_key"], row["source"], row["plan_pinned_at"]) == ("professional", "stripe", None)


# ------------------------------------------------------------------ metered: telemetry points and expert time

def test_points_and_expert_minutes_are_reported_once_on_the_day_they_were_stored(
        checked_out, stripe_standin, client, app, owner_engine):
    from datetime import timedelta

    from alloyhub.platform.billing import usage
    from alloyhub.platform.db import db

    plant, _, customer, _ = checked_out
    bank = stripe_api(stripe_standin)
    paying_customer(bank, customer)
    deliver(client, event("customer.subscription.created", subscribe(bank, customer, "professional",
                                                                    plant.tenant_id)))
    today = utcnow().date()
    yesterday = today - timedelta(days=1)
    with app.app_context():
        usage.record_expert_hours(plant.tenant_id, 2.25, "visit-7")
        db.session.commit()
    with owner_engine.begin() as conn:
        # Yesterday's expert visit and yesterday's stored points (the ingest's counter).
        conn.execute(text("update billing_usage_events set recorded_at = recorded_at - interval '1 day' "
                          "where tenant_id = :t"), {"t": plant.tenant_id})
        conn.execute(text("insert into telemetry_usage_received (tenant_id, day, points) values (:t, :d, 5000)"),
                     {"t": plant.tenant_id, "d": yesterday})
    with app.app_context():
        usage.record_all(yesterday)
        first = billing_jobs.report_days(before=today)
        # More arrives now: another visit, a backlog of points. It counts today, not on the reported day.
        usage.record_expert_hours(plant.tenant_id, 1, "visit-8")
        db.session.commit()
        second = billing_jobs.report_days(before=today)
    with owner_engine.begin() as conn:
        conn.execute(text("update telemetry_usage_received set points = points + 700 where tenant_id = :t "
                          "and day = :d"), {"t": plant.tenant_id, "d": yesterday})  # would be a bug: never resent
    with app.app_context():
        third = billing_jobs.report_days(before=today)
        assert usage.count(plant.tenant_id, "expert_minutes", today) == 60
    assert first >= 2 and (second, third) == (0, 0)
    mine = {e["event_name"]: e for e in stripe_standin.meter_events.values()
            if e["payload"]["stripe_customer_id"] == customer}
    assert mine["alloyhub_expert_minutes"]["payload"]["value"] == "135"
    assert mine["alloyhub_telemetry_points"]["payload"]["value"] == "5000"
    assert mine["alloyhub_expert_minutes"]["identifier"] == (
        f"usage-{plant.tenant_id}-expert_minutes-{yesterday.isoformat()}")
    sent = [b for b in stripe_standin.sent("POST", "/v1/billing/meter_events")
            if b.get("payload", {}).get("stripe_customer_id") == customer]
    assert len(sent) == 2  # one request per metric and day, never repeated


def test_the_catalogue_has_a_metered_price_for_expert_time(app, synced):
    keys = {p["lookup_key"]: p for p in synced.prices.values()}
    expert = keys["alloyhub_professional_expert_minutes"]
    assert expert["recurring"]["usage_type"] == "metered" and expert["unit_amount"] == 1000
    meter = next(m for m in synced.meters.values() if m["event_name"] == "alloyhub_expert_minutes")
    assert expert["recurring"]["meter"] == meter["id"]
