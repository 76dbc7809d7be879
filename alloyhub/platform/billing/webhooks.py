"""Stripe webhooks: verify the signature, take each event id once, and move
the subscription to what Stripe says it is now.

Events arrive late, twice, or out of order. So the handlers do not replay the
event's snapshot onto our record: for anything about a subscription they
retrieve the subscription's current state from Stripe and apply that
(`services.apply_stripe_subscription`); the event only says *which*
subscription to look at. A replayed event id is answered 200 and does nothing.
"""
from __future__ import annotations

import logging

import stripe
from flask import current_app
from sqlalchemy.dialects.postgresql import insert

from .. import tenancy
from ..db import db
from ..errors import AppError
from . import services, stripe_client
from .models import StripeEvent

log = logging.getLogger(__name__)

HANDLED = ("checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
           "customer.subscription.deleted", "invoice.paid", "invoice.payment_succeeded",
           "invoice.payment_failed")


# Handlers of other modules (spares: Connect payments and accounts), asked
# first: each returns its outcome for an event that is its own, else None.
# They run inside the event-id claim, so a replayed event reaches none of them.
HANDLERS: list = []


def register_handler(handler):
    if handler not in HANDLERS:
        HANDLERS.append(handler)
    return handler


class BadSignature(AppError):
    status, slug, title = 400, "bad-signature", "The webhook signature is not valid"


def verify(payload: bytes, header: str | None) -> dict:
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise BadSignature("Stripe webhooks are not configured here")
    try:
        event = stripe.Webhook.construct_event(payload, header or "", secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadSignature() from exc
    return event.to_dict()


def receive(payload: bytes, header: str | None) -> dict:
    """The whole webhook: returns what was done (for the log and the tests)."""
    event = verify(payload, header)
    with tenancy.system_context(db.session):
        claimed = db.session.execute(
            insert(StripeEvent.__table__).values(id=event["id"], type=event["type"], outcome={})
            .on_conflict_do_nothing(index_elements=["id"]).returning(StripeEvent.__table__.c.id)
        ).scalar()
        if claimed is None:
            db.session.rollback()
            return {"event": event["id"], "replayed": True}
        outcome = next((o for o in (h(event) for h in HANDLERS) if o is not None), None)
        if outcome is None:
            outcome = _handle(event) if event["type"] in HANDLED else {"ignored": True}
        db.session.execute(StripeEvent.__table__.update().where(StripeEvent.__table__.c.id == event["id"])
                           .values(outcome=outcome))
        # The event id and its effects commit together: if handling fails, the
        # id is not kept and Stripe's retry is processed afresh.
        db.session.commit()
    return {"event": event["id"], **outcome}


def _handle(event: dict) -> dict:
    obj = event["data"]["object"]
    kind = event["type"]
    metadata = obj.get("metadata") or {}
    if kind == "checkout.session.completed":
        sub = services.find_by_stripe(customer=obj.get("customer"),
                                      tenant_id=obj.get("client_reference_id") or metadata.get("tenant_id"))
        subscription_id = obj.get("subscription")
    elif kind.startswith("customer.subscription."):
        sub = services.find_by_stripe(subscription=obj.get("id"), customer=obj.get("customer"),
                                      tenant_id=metadata.get("tenant_id"))
        subscription_id = obj.get("id")
    else:  # invoices
        subscription_id = obj.get("subscription") or _invoice_subscription(obj)
        sub = services.find_by_stripe(subscription=subscription_id, customer=obj.get("customer"))
    if sub is None:
        log.warning("stripe event %s (%s) names no company we know", event["id"], kind)
        return {"unknown_customer": True}
    if obj.get("customer") and not sub.stripe_customer_id:
        sub.stripe_customer_id = obj["customer"]
    if not subscription_id:
        return {"tenant_id": str(sub.tenant_id), "status": sub.status}
    if (kind != "checkout.session.completed" and sub.stripe_subscription_id
            and subscription_id != sub.stripe_subscription_id and sub.status != "canceled"):
        # A late event of an earlier subscription must not replace the current one.
        return {"tenant_id": str(sub.tenant_id), "ignored": "not the company's current subscription"}
    # When in doubt, ask Stripe: the current state wins over the event's snapshot.
    remote = stripe_client.retrieve_subscription(subscription_id)
    if sub.stripe_customer_id and remote.get("customer") not in (None, sub.stripe_customer_id):
        log.warning("stripe event %s: subscription %s is not of customer %s", event["id"], subscription_id,
                    sub.stripe_customer_id)
        return {"tenant_id": str(sub.tenant_id), "ignored": "another customer's subscription"}
    result = services.apply_stripe_subscription(sub, remote, event_id=event["id"])
    if kind == "invoice.payment_failed" and obj.get("id"):
        # Stripe keeps a subscription "active" while it retries a card; the
        # failed invoice starts our grace period, unless it has been paid since
        # (a late failure event after invoice.paid changes nothing).
        invoice = stripe_client.retrieve_invoice(obj["id"])
        if invoice.get("status") not in ("paid", "void"):
            services.mark_payment_failed(sub, event_id=event["id"])
            result = {"plan": sub.plan_key, "status": sub.status}
    return {"tenant_id": str(sub.tenant_id), **result}


def _invoice_subscription(invoice: dict) -> str | None:
    """Newer API versions move the invoice's subscription under `parent`."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return details.get("subscription")
