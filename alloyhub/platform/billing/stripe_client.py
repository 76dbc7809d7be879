"""Every call AlloyHub makes to Stripe, in one place.

A `StripeClient` per call, from the app's configuration: no global
`stripe.api_key`, so several apps in one process (tests, the embedded runner)
never share keys. `STRIPE_API_BASE` points it elsewhere (tests: localstripe
behind a stand-in server); the code is the same either way.
"""
from __future__ import annotations

import stripe
from flask import current_app

from ..errors import AppError
from . import plans


class StripeUnavailable(AppError):
    status, slug, title = 502, "stripe-unavailable", "The payment service did not answer"


def client() -> stripe.StripeClient:
    cfg = current_app.config
    base = cfg.get("STRIPE_API_BASE") or "https://api.stripe.com"
    return stripe.StripeClient(cfg["STRIPE_API_KEY"], base_addresses={"api": base}, max_network_retries=2)


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as exc:
        raise StripeUnavailable(f"Stripe: {exc.user_message or exc.__class__.__name__}") from exc


def _dict(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def create_customer(tenant) -> str:
    customer = _call(client().v1.customers.create,
                     params={"name": tenant.name, "metadata": {"tenant_id": str(tenant.id)}},
                     options={"idempotency_key": f"customer-{tenant.id}"})
    return customer.id


def price_id(lookup_key: str) -> str:
    prices = _call(client().v1.prices.list, params={"lookup_keys": [lookup_key], "active": True, "limit": 1})
    if not prices.data:
        raise StripeUnavailable(f"No Stripe price {lookup_key}; run `alloyhub billing sync`")
    return prices.data[0].id


def create_checkout_session(*, customer: str, tenant_id, plan: plans.Plan, success_url: str,
                            cancel_url: str) -> str:
    metadata = {"tenant_id": str(tenant_id), "alloyhub_plan": plan.key}
    session = _call(client().v1.checkout.sessions.create, params={
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(tenant_id),
        "line_items": [{"price": price_id(plan.lookup_key), "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    })
    return session.url


def create_portal_session(*, customer: str, return_url: str) -> str:
    session = _call(client().v1.billing_portal.sessions.create,
                    params={"customer": customer, "return_url": return_url})
    return session.url


def retrieve_subscription(subscription_id: str) -> dict:
    return _dict(_call(client().v1.subscriptions.retrieve, subscription_id))


def retrieve_invoice(invoice_id: str) -> dict:
    return _dict(_call(client().v1.invoices.retrieve, invoice_id))


def report_meter_event(*, event_name: str, customer: str, value: int, identifier: str, timestamp: int) -> None:
    """One metered value. `identifier` makes Stripe count it once however
    often the job retries; the same string is the idempotency key."""
    _call(client().v1.billing.meter_events.create, params={
        "event_name": event_name, "identifier": identifier, "timestamp": timestamp,
        "payload": {"stripe_customer_id": customer, "value": str(value)},
    }, options={"idempotency_key": identifier})


# ---------------------------------------------------------------- catalogue sync

def sync_catalogue() -> list[str]:
    """Products and prices from plans.py, found by id / lookup key, made if
    missing: running it twice changes nothing. Returns what was created."""
    c = client()
    currency = current_app.config.get("BILLING_CURRENCY", "cny")
    created = []
    meters = {}
    for metric, event_name in plans.METER_EVENTS.items():
        existing = _call(c.v1.billing.meters.list, params={"limit": 100})
        meter = next((m for m in existing.data if m.event_name == event_name), None)
        if meter is None:
            meter = _call(c.v1.billing.meters.create, params={
                "display_name": f"AlloyHub {metric.replace('_', ' ')}", "event_name": event_name,
                "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
            })
            created.append(f"meter {event_name}")
        meters[metric] = meter.id
    for plan in plans.PLANS.values():
        if not plan.monthly_price:
            continue
        product_id = f"alloyhub_{plan.key}"
        try:
            _call(c.v1.products.retrieve, product_id)
        except StripeUnavailable:
            _call(c.v1.products.create, params={"id": product_id, "name": f"AlloyHub {plan.name}",
                                                "metadata": {"alloyhub_plan": plan.key}},
                  options={"idempotency_key": f"product-{product_id}"})
            created.append(f"product {product_id}")
        wanted = [(plan.lookup_key, {"unit_amount": plan.monthly_price,
                                     "recurring": {"interval": "month"}})]
        for metric, unit_amount in plan.metered.items():
            wanted.append((f"alloyhub_{plan.key}_{metric}", {
                "unit_amount": unit_amount,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meters[metric]}}))
        for lookup_key, params in wanted:
            found = _call(c.v1.prices.list, params={"lookup_keys": [lookup_key], "limit": 1})
            if found.data:
                continue
            _call(c.v1.prices.create, params={
                "product": product_id, "currency": currency, "lookup_key": lookup_key,
                "metadata": {"alloyhub_plan": plan.key}, **params},
                options={"idempotency_key": f"price-{lookup_key}"})
            created.append(f"price {lookup_key}")
    return created
