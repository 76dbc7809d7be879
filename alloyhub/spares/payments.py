"""Payments of sales, exchange fees and loan fees through Stripe Connect.

The selling company (the holder) connects an Express account (Stripe's
onboarding through an Account Link). When billing is on (STRIPE_API_KEY) and
its account can take charges, a request it accepts is paid online: the
requester pays through Checkout, a destination charge to the holder's
account (`payment_intent_data.transfer_data.destination`) less the
platform's fee (`application_fee_amount`, SPARES_PLATFORM_FEE_PERCENT of the
amount, 5 % unless configured). Otherwise the companies settle offline, as
before.

    due --Checkout started--> pending --checkout.session.completed--> paid
     \\------------------------ cancelled (request cancelled before payment)
    paid --request cancelled--> refunded (the fee and the transfer reversed)

The holder ships only once paid. Stripe tells us a payment went through by a
signed webhook (billing's endpoint, whose event-id claim makes a replay do
nothing); the handler asks Stripe for the session's current state rather than
trusting the event's copy, and a payment marked twice is marked once.
"""
from __future__ import annotations

import logging
import uuid
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from sqlalchemy import select

from alloyhub.platform import audit, outbox, tenancy
from alloyhub.platform.billing import services as billing
from alloyhub.platform.billing import stripe_client
from alloyhub.platform.billing import webhooks as billing_webhooks
from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import AppError, Conflict, NotFound, PermissionDenied

from .models import (
    ACCEPTED, CANCELLED, PAYMENT_CANCELLED, PAYMENT_DUE, PAYMENT_PAID, PAYMENT_PENDING, PAYMENT_REFUNDED,
    SparePayment, SparePaymentAccount, SpareRequest, SpareRequestMessage,
)

log = logging.getLogger(__name__)

DEFAULT_FEE_PERCENT = Decimal("5")
KIND = "spares_payment"  # metadata of our Checkout Sessions, to tell them from subscriptions
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}


class PaymentsOff(AppError):
    status, slug, title = 409, "payments-off", "Online payment is not set up"


# ---------------------------------------------------------------- configuration

def enabled() -> bool:
    return billing.stripe_enabled()


def fee_percent() -> Decimal:
    """The platform's share of each payment, in percent (0-50)."""
    raw = current_app.config.get("SPARES_PLATFORM_FEE_PERCENT")
    if raw is None:
        import os

        raw = os.environ.get("SPARES_PLATFORM_FEE_PERCENT")
    try:
        value = Decimal(str(raw)) if raw not in (None, "") else DEFAULT_FEE_PERCENT
    except ArithmeticError:
        log.warning("SPARES_PLATFORM_FEE_PERCENT=%r is not a number; using %s", raw, DEFAULT_FEE_PERCENT)
        return DEFAULT_FEE_PERCENT
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(50):
        log.warning("SPARES_PLATFORM_FEE_PERCENT=%r is outside 0-50; using %s", raw, DEFAULT_FEE_PERCENT)
        return DEFAULT_FEE_PERCENT
    return value


def to_minor(amount: Decimal, currency: str) -> int:
    """Stripe's amount: the smallest unit of the currency (fen, cents)."""
    exponent = Decimal(1) if currency.lower() in ZERO_DECIMAL else Decimal(100)
    return int((amount * exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def amount_of(req: SpareRequest) -> Decimal | None:
    """What the requester owes: units x price (buy), units x fee (exchange),
    units x daily fee x days (borrow)."""
    if req.unit_price is None:
        return None
    amount = req.unit_price * req.quantity
    if req.kind == "borrow":
        amount *= req.loan_days or 0
    return amount.quantize(Decimal("0.01"))


# ---------------------------------------------------------------- the holder's connected account

def account_of(tenant_id=None) -> SparePaymentAccount | None:
    tenant_id = tenant_id or tenancy.current_tenant_id()
    return db.session.scalar(select(SparePaymentAccount).where(SparePaymentAccount.tenant_id == tenant_id))


def can_be_paid(account: SparePaymentAccount | None) -> bool:
    return account is not None and account.charges_enabled


def account_state(account: SparePaymentAccount | None) -> str:
    if account is None:
        return "none"
    if account.charges_enabled:
        return "enabled"
    return "pending" if account.details_submitted else "onboarding"


def _apply_account(account: SparePaymentAccount, remote: dict) -> bool:
    """Stripe's account onto ours; returns whether anything changed."""
    before = (account.charges_enabled, account.payouts_enabled, account.details_submitted)
    account.charges_enabled = bool(remote.get("charges_enabled"))
    account.payouts_enabled = bool(remote.get("payouts_enabled"))
    account.details_submitted = bool(remote.get("details_submitted"))
    account.refreshed_at = utcnow()
    return before != (account.charges_enabled, account.payouts_enabled, account.details_submitted)


def connect(*, return_url: str, refresh_url: str) -> str:
    """Start (or resume) the company's onboarding: its Express account, made
    once, and a fresh Account Link to Stripe's onboarding pages."""
    if not enabled():
        raise PaymentsOff("Online payment is not set up here; settle offline")
    me = tenancy.current_tenant_id()
    account = account_of(me)
    client = stripe_client.client()
    if account is None:
        remote = stripe_client._call(client.v1.accounts.create, params={
            "type": "express", "metadata": {"tenant_id": str(me)},
            "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}}},
            options={"idempotency_key": f"spares-account-{me}"})
        account = SparePaymentAccount(tenant_id=me, stripe_account_id=remote.id)
        _apply_account(account, stripe_client._dict(remote))
        db.session.add(account)
        audit.record("spares.payments.account_created", target_type="spare_payment_account", target_id=me,
                     stripe_account=remote.id)
        db.session.commit()
    link = stripe_client._call(client.v1.account_links.create, params={
        "account": account.stripe_account_id, "type": "account_onboarding",
        "return_url": return_url, "refresh_url": refresh_url})
    return link.url


def refresh_account() -> SparePaymentAccount | None:
    """Ask Stripe how the company's account stands (after onboarding)."""
    account = account_of()
    if account is None or not enabled():
        return account
    remote = stripe_client._dict(stripe_client._call(stripe_client.client().v1.accounts.retrieve,
                                                     account.stripe_account_id))
    if _apply_account(account, remote):
        audit.record("spares.payments.account_updated", target_type="spare_payment_account",
                     target_id=account.tenant_id, charges_enabled=account.charges_enabled,
                     payouts_enabled=account.payouts_enabled)
    db.session.commit()
    return account


# ---------------------------------------------------------------- a request's payment

def payment_of(req: SpareRequest) -> SparePayment | None:
    return db.session.scalar(select(SparePayment).where(SparePayment.id == req.id))


def open_payment(req: SpareRequest) -> SparePayment | None:
    """On acceptance (in the same transaction): online payment when billing
    is on and the holder can be paid, else the request stays "offline"."""
    if not enabled() or payment_of(req) is not None:
        return payment_of(req)
    amount = amount_of(req)
    if amount is None or amount <= 0:
        return None
    if tenancy.current_tenant_id() == req.tenant_id:
        account = account_of(req.tenant_id)
    else:  # the requester accepting the holder's offer cannot read the holder's account row
        account = _holder_account_system(req.tenant_id)
    if not can_be_paid(account):
        return None
    minor = to_minor(amount, req.currency)
    fee = to_minor(amount * fee_percent() / 100, req.currency)
    if minor <= 0 or fee >= minor:
        return None
    payment = SparePayment(id=req.id, tenant_id=req.tenant_id, requester_tenant_id=req.requester_tenant_id,
                           status=PAYMENT_DUE, amount=amount, currency=req.currency, amount_minor=minor,
                           fee_minor=fee, destination_account=account.stripe_account_id)
    db.session.add(payment)
    req.settlement = "stripe"
    return payment


def _holder_account_system(tenant_id) -> SparePaymentAccount | None:
    """The holder's account as the requester needs it (where to pay, and
    whether it can be paid), read in the system scope: the row stays the
    holder's own and is never returned to the requester."""
    with tenancy.system_context(db.session):
        row = db.session.execute(select(SparePaymentAccount.stripe_account_id, SparePaymentAccount.charges_enabled)
                                 .where(SparePaymentAccount.tenant_id == tenant_id)).first()
    if row is None:
        return None
    return SparePaymentAccount(tenant_id=tenant_id, stripe_account_id=row[0], charges_enabled=row[1])


def require_paid_before_shipping(req: SpareRequest) -> None:
    payment = payment_of(req)
    if payment is not None and payment.status != PAYMENT_PAID:
        raise Conflict("The requester has not paid yet; ship once the payment is in")


def start_checkout(req: SpareRequest, *, success_url: str, cancel_url: str) -> str:
    """The requester pays: a Checkout Session (destination charge to the
    holder's account, the platform's fee kept). Returns Stripe's page."""
    if tenancy.current_tenant_id() != req.requester_tenant_id:
        raise PermissionDenied("Only the requesting company pays")
    payment = payment_of(req)
    if payment is None:
        raise Conflict("This request is settled offline between the companies")
    if payment.status == PAYMENT_PAID:
        raise Conflict("This request is paid already")
    if payment.status not in (PAYMENT_DUE, PAYMENT_PENDING) or req.status != ACCEPTED:
        raise Conflict(f"Not possible while the request is {req.status}")
    if not enabled():
        raise PaymentsOff("Online payment is not set up here; settle offline")
    metadata = {"alloyhub_kind": KIND, "request_id": str(req.id), "holder": str(req.tenant_id),
                "requester": str(req.requester_tenant_id)}
    session = stripe_client._call(stripe_client.client().v1.checkout.sessions.create, params={
        "mode": "payment",
        "client_reference_id": str(req.id),
        "line_items": [{"quantity": 1, "price_data": {
            "currency": payment.currency.lower(), "unit_amount": payment.amount_minor,
            "product_data": {"name": f"{req.number} · {req.part_label}"[:250]}}}],
        "payment_intent_data": {"application_fee_amount": payment.fee_minor,
                                "transfer_data": {"destination": payment.destination_account},
                                "metadata": metadata},
        "metadata": metadata,
        "success_url": success_url, "cancel_url": cancel_url,
    }, options={"idempotency_key": f"spares-checkout-{req.id}-{payment.version}"})
    payment.checkout_session_id = session.id
    payment.checkout_url = session.url
    payment.status = PAYMENT_PENDING
    _log(req, "payment_started", f"{payment.amount} {payment.currency}")
    audit.record("spares.payment.checkout", target_type="spare_request", target_id=req.id, number=req.number,
                 amount=str(payment.amount), currency=payment.currency, session=session.id)
    db.session.commit()
    return session.url


def refund_on_cancel(req: SpareRequest) -> None:
    """Called when a request is cancelled (same transaction): a paid request
    is refunded in full, with the platform's fee and the transfer reversed;
    an unpaid one's payment is withdrawn."""
    payment = payment_of(req)
    if payment is None:
        return
    if payment.status == PAYMENT_PAID:
        _refund(req, payment)
    elif payment.status in (PAYMENT_DUE, PAYMENT_PENDING):
        payment.status = PAYMENT_CANCELLED


def _refund(req: SpareRequest, payment: SparePayment) -> None:
    if not payment.payment_intent_id:
        raise Conflict("The payment has no charge to refund; ask AlloyHub support")
    refund = stripe_client._call(stripe_client.client().v1.refunds.create, params={
        "payment_intent": payment.payment_intent_id, "reverse_transfer": True, "refund_application_fee": True,
        "metadata": {"alloyhub_kind": KIND, "request_id": str(req.id)}},
        options={"idempotency_key": f"spares-refund-{req.id}"})
    payment.status = PAYMENT_REFUNDED
    payment.refund_id = refund.id
    payment.refunded_at = utcnow()
    _log(req, "refunded", f"{payment.amount} {payment.currency}")
    audit.record("spares.payment.refunded", target_type="spare_request", target_id=req.id, number=req.number,
                 amount=str(payment.amount), currency=payment.currency, refund=refund.id,
                 tenant_id=tenancy.current_tenant_id() or req.tenant_id)


def _log(req: SpareRequest, event: str, body: str, author=None) -> None:
    scope = tenancy.current()
    db.session.add(SpareRequestMessage(tenant_id=req.tenant_id, requester_tenant_id=req.requester_tenant_id,
                                       request_id=req.id, author_tenant_id=author or scope.tenant_id or req.tenant_id,
                                       author_user_id=scope.user_id, kind="event", event=event, body=body))


def _notify_both(req: SpareRequest, event: str, note: str) -> None:
    from .requests import EVENT

    for to, frm in ((req.tenant_id, req.requester_tenant_id), (req.requester_tenant_id, req.tenant_id)):
        outbox.publish(EVENT, {"request_id": str(req.id), "event": event, "to": str(to), "from": str(frm),
                               "holder": str(req.tenant_id), "number": req.number, "part": req.part_label,
                               "status": req.status, "note": note})


# ---------------------------------------------------------------- Stripe's webhooks (system scope)

@billing_webhooks.register_handler
def on_stripe_event(event: dict) -> dict | None:
    """Connect events and our Checkout Sessions; None for billing's own."""
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    if kind == "account.updated":
        return _account_updated(obj)
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded") \
            and (obj.get("metadata") or {}).get("alloyhub_kind") == KIND:
        return _session_completed(event["id"], obj)
    return None


def _account_updated(obj: dict) -> dict:
    account = db.session.scalar(select(SparePaymentAccount).where(SparePaymentAccount.stripe_account_id == obj.get("id")))
    if account is None:
        return {"ignored": "no company has this account"}
    changed = _apply_account(account, obj)
    if changed:
        audit.record("spares.payments.account_updated", target_type="spare_payment_account",
                     target_id=account.tenant_id, tenant_id=account.tenant_id, actor_label="stripe",
                     charges_enabled=account.charges_enabled, payouts_enabled=account.payouts_enabled)
    return {"tenant_id": str(account.tenant_id), "charges_enabled": account.charges_enabled,
            "payouts_enabled": account.payouts_enabled}


def _session_completed(event_id: str, obj: dict) -> dict:
    try:
        request_id = uuid.UUID(str((obj.get("metadata") or {}).get("request_id")))
    except ValueError:
        return {"ignored": "no request in the session"}
    payment = db.session.scalar(select(SparePayment).where(SparePayment.id == request_id).with_for_update())
    if payment is None or payment.checkout_session_id != obj.get("id"):
        return {"ignored": "not a session of ours"}
    if payment.status in (PAYMENT_PAID, PAYMENT_REFUNDED):
        return {"request_id": str(request_id), "status": payment.status, "unchanged": True}
    # The event's copy may be stale or forged in ways a signature does not
    # cover (an old event); the session as Stripe has it now decides.
    remote = stripe_client._dict(stripe_client._call(stripe_client.client().v1.checkout.sessions.retrieve,
                                                     obj["id"]))
    if remote.get("payment_status") != "paid":
        return {"request_id": str(request_id), "status": payment.status, "payment_status": remote.get("payment_status")}
    if int(remote.get("amount_total") or payment.amount_minor) != payment.amount_minor:
        log.warning("stripe event %s: session %s paid %s, expected %s", event_id, obj["id"],
                    remote.get("amount_total"), payment.amount_minor)
        return {"request_id": str(request_id), "ignored": "amount differs"}
    req = db.session.scalar(select(SpareRequest).where(SpareRequest.id == request_id))
    payment.status = PAYMENT_PAID
    payment.paid_at = utcnow()
    payment.payment_intent_id = remote.get("payment_intent") or payment.payment_intent_id
    _log(req, "paid", f"{payment.amount} {payment.currency}", author=req.requester_tenant_id)
    audit.record("spares.payment.paid", target_type="spare_request", target_id=req.id, tenant_id=req.tenant_id,
                 actor_label="stripe", number=req.number, amount=str(payment.amount), currency=payment.currency,
                 payment_intent=payment.payment_intent_id, event=event_id)
    _notify_both(req, "paid", f"{payment.amount} {payment.currency}")
    if req.status == CANCELLED:
        # Paid after the request was withdrawn (the page was still open): give it back.
        _refund(req, payment)
        return {"request_id": str(request_id), "status": payment.status, "refunded": True}
    return {"request_id": str(request_id), "status": payment.status}
