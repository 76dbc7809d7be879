"""Business rules of plans and subscriptions. Every change of a company's
plan or status goes through here, whoever asks: sign-up, the operator, a
Stripe webhook, the grace-period job."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import audit, tenancy
from ..db import db, utcnow
from ..errors import AppError, Conflict, NotFound, ValidationFailed
from ..identity.models import Tenant
from . import plans, usage
from .models import WRITABLE_STATUSES, Subscription


class DowngradeBlocked(AppError):
    """The company uses more than the smaller plan allows; nothing is deleted,
    the company removes things first (or the operator forces the change)."""

    status, slug, title = 409, "plan-limits-exceeded", "The company uses more than that plan allows"


class BillingDisabled(AppError):
    status, slug, title = 409, "billing-disabled", "Online payment is not set up"


@dataclass(frozen=True)
class State:
    """What the entitlement checks need, in one read."""

    tenant_id: uuid.UUID
    kind: str
    plan: plans.Plan
    status: str           # effective: a lapsed trial or grace period reads as read_only
    subscription: Subscription

    @property
    def writable(self) -> bool:
        return self.status in WRITABLE_STATUSES


# ---------------------------------------------------------------- subscriptions

def start_subscription(tenant: Tenant) -> Subscription:
    """The plan a new company starts on (called by identity.create_tenant)."""
    plan = plans.default_for(tenant.kind)
    sub = Subscription(tenant_id=tenant.id, plan_key=plan.key, source="signup",
                       status="trialing" if plan.trial_days else "active",
                       trial_ends_at=utcnow() + timedelta(days=plan.trial_days) if plan.trial_days else None)
    db.session.add(sub)
    return sub


def subscription_of(tenant_id) -> Subscription:
    sub = db.session.scalar(select(Subscription).where(Subscription.tenant_id == tenant_id)
                            .execution_options(skip_tenant_filter=True))
    if sub is None:
        raise NotFound("No such company")
    return sub


def effective_status(sub: Subscription, now: datetime | None = None) -> str:
    """The status as of now, even before the periodic job has written it."""
    now = now or utcnow()
    if sub.status == "trialing" and sub.trial_ends_at and sub.trial_ends_at <= now:
        return "read_only"
    if sub.status == "past_due" and sub.grace_until and sub.grace_until <= now:
        return "read_only"
    return sub.status


def state(tenant_id) -> State:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No such company")
    sub = subscription_of(tenant_id)
    return State(tenant.id, tenant.kind, plans.effective(sub.plan_key, tenant.kind), effective_status(sub), sub)


def downgrade_problems(tenant_id, plan: plans.Plan) -> dict[str, dict[str, int]]:
    """Limits of `plan` the company is already over: {limit: {usage, allowed}}."""
    over = {}
    for limit in plans.COUNTED_LIMITS:
        allowed = plan.limit(limit)
        if allowed is None:
            continue
        used = usage.count(tenant_id, limit)
        if used > allowed:
            over[limit] = {"usage": used, "allowed": allowed}
    return over


def _check_plan_fits(tenant: Tenant, plan_key: str, *, force: bool = False) -> plans.Plan:
    plan = plans.get(plan_key)
    if plan is None:
        raise ValidationFailed(errors={"plan": [f"Choose one of: {', '.join(plans.PLANS)}."]})
    if tenant.kind not in plan.tenant_kinds:
        raise ValidationFailed(errors={"plan": [f"The {plan.name} plan is not for this kind of company."]})
    over = downgrade_problems(tenant.id, plan)
    if over and not force:
        listing = "; ".join(f"{k.replace('_', ' ')}: {v['usage']} in use, {v['allowed']} allowed"
                            for k, v in over.items())
        raise DowngradeBlocked(
            f"The {plan.name} plan allows less than the company uses ({listing}). "
            "Nothing has been changed or deleted; remove or deactivate what is over the limits first.",
            over=over, plan=plan.key)
    return plan


def _set_plan(sub: Subscription, plan: plans.Plan, *, source: str) -> None:
    sub.plan_key = plan.key
    sub.source = source
    if plan.trial_days:
        sub.status = "trialing"
        sub.trial_ends_at = sub.trial_ends_at or utcnow() + timedelta(days=plan.trial_days)
    else:
        sub.status = "active"
    sub.grace_until = None


def override_plan(tenant_id, plan_key: str, *, reason: str, force: bool = False) -> Subscription:
    """The platform operator sets a company's plan (how plans change without
    Stripe) and pins it: Stripe events keep moving the payment status but
    not the plan, until the operator clears the pin (`clear_override`)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(errors={"reason": ["Say why the plan is changed (kept in the audit log)."]})
    actor = tenancy.current().user_id  # the system scope below carries no person
    with tenancy.system_context(db.session):
        tenant = db.session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such company")
        plan = _check_plan_fits(tenant, plan_key, force=force)
        sub = subscription_of(tenant.id)
        before = {"plan": sub.plan_key, "status": sub.status, "pinned": sub.plan_pinned}
        _set_plan(sub, plan, source="operator")
        sub.plan_pinned_at, sub.plan_pinned_by, sub.plan_pin_reason = utcnow(), actor, reason[:500]
        audit.record("billing.plan_overridden", tenant_id=tenant.id, actor_user_id=actor, target=sub, before=before,
                     after={"plan": sub.plan_key, "status": sub.status, "pinned": True}, reason=reason, forced=force,
                     stripe_plan=sub.stripe_plan_key)
        db.session.commit()
    return sub


def clear_override(tenant_id, *, reason: str = "") -> Subscription:
    """The operator unpins the plan. A company that pays through Stripe goes
    back to the plan its Stripe subscription is for (as last seen, when
    Stripe's subscription grants one); otherwise the plan stays as it is,
    now free to be changed by the next Stripe event."""
    reason = (reason or "").strip()
    actor = tenancy.current().user_id
    with tenancy.system_context(db.session):
        tenant = db.session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such company")
        sub = subscription_of(tenant.id)
        if not sub.plan_pinned:
            raise Conflict("The plan of this company is not pinned")
        before = {"plan": sub.plan_key, "status": sub.status, "pinned": True}
        sub.plan_pinned_at = sub.plan_pinned_by = sub.plan_pin_reason = None
        stripe_plan = plans.get(sub.stripe_plan_key or "")
        if (stripe_plan is not None and sub.stripe_subscription_id and sub.status in ("trialing", "active", "past_due")
                and tenant.kind in stripe_plan.tenant_kinds):
            sub.plan_key = stripe_plan.key
            sub.source = "stripe"
        audit.record("billing.plan_override_cleared", tenant_id=tenant.id, actor_user_id=actor, target=sub,
                     before=before, after={"plan": sub.plan_key, "status": sub.status, "pinned": False},
                     reason=reason or None)
        db.session.commit()
    return sub


def operator_overview() -> list[dict]:
    """Every company with its plan, status and current usage (platform staff)."""
    with tenancy.system_context(db.session):
        rows = db.session.execute(
            select(Tenant, Subscription).join(Subscription, Subscription.tenant_id == Tenant.id, isouter=True)
            .where(Tenant.status != "deleted").order_by(Tenant.name)).all()
        result = []
        for tenant, sub in rows:
            result.append({
                "tenant_id": tenant.id, "name": tenant.name, "kind": tenant.kind,
                "plan": sub.plan_key if sub else None,
                "status": effective_status(sub) if sub else None,
                "grace_until": sub.grace_until if sub else None,
                "stripe_customer_id": sub.stripe_customer_id if sub else None,
                "stripe_plan": sub.stripe_plan_key if sub else None,
                "plan_pinned": bool(sub and sub.plan_pinned),
                "plan_pinned_at": sub.plan_pinned_at if sub else None,
                "plan_pin_reason": sub.plan_pin_reason if sub else None,
                "usage": usage.snapshot(tenant.id),
            })
    return result


def enforce_deadlines(now: datetime | None = None) -> int:
    """The periodic job: lapsed trials and grace periods become read-only.
    Nothing is deleted; paying (or the operator) restores access."""
    now = now or utcnow()
    changed = 0
    with tenancy.system_context(db.session):
        subs = db.session.scalars(select(Subscription).where(Subscription.status.in_(("trialing", "past_due")))
                                  .with_for_update(skip_locked=True)).all()
        for sub in subs:
            if effective_status(sub, now) == "read_only":
                before = sub.status
                sub.status = "read_only"
                audit.record("billing.read_only", tenant_id=sub.tenant_id, target=sub, before=before)
                changed += 1
        db.session.commit()
    return changed


# ---------------------------------------------------------------- Stripe-driven changes

def stripe_enabled() -> bool:
    return bool(current_app.config.get("STRIPE_API_KEY"))


def _require_stripe() -> None:
    if not stripe_enabled():
        raise BillingDisabled("Plans are assigned by the AlloyHub operator here; ask them to change yours")


def start_checkout(plan_key: str, *, success_url: str, cancel_url: str) -> str:
    """A Stripe Checkout session for the current company; returns its URL."""
    from . import stripe_client

    _require_stripe()
    tenant = db.session.get(Tenant, tenancy.current_tenant_id())
    plan = _check_plan_fits(tenant, plan_key)
    if not plan.self_service or not plan.monthly_price:
        raise ValidationFailed(errors={"plan": [f"The {plan.name} plan cannot be bought online."]})
    sub = subscription_of(tenant.id)
    if sub.stripe_subscription_id and sub.status != "canceled":
        # Stripe Checkout makes new subscriptions; changing one is the portal's job.
        raise Conflict("The company already pays by subscription; change the plan in the billing portal")
    if not sub.stripe_customer_id:
        sub.stripe_customer_id = stripe_client.create_customer(tenant)
        db.session.commit()
    url = stripe_client.create_checkout_session(
        customer=sub.stripe_customer_id, tenant_id=tenant.id, plan=plan,
        success_url=success_url, cancel_url=cancel_url)
    audit.record("billing.checkout_started", target=sub, plan=plan.key)
    db.session.commit()
    return url


def portal_url(return_url: str) -> str:
    from . import stripe_client

    _require_stripe()
    sub = subscription_of(tenancy.current_tenant_id())
    if not sub.stripe_customer_id:
        raise Conflict("The company has no payment account yet; choose a plan first")
    return stripe_client.create_portal_session(customer=sub.stripe_customer_id, return_url=return_url)


# Stripe's subscription statuses -> ours. "incomplete" and "incomplete_expired"
# (the first payment never went through) are absent: they change nothing, so
# a trial whose checkout card fails is still a trial.
STRIPE_STATUSES = {"trialing": "trialing", "active": "active", "past_due": "past_due", "unpaid": "past_due",
                   "canceled": "canceled", "paused": "read_only"}


def apply_stripe_subscription(sub: Subscription, remote: dict, *, event_id: str) -> dict:
    """Make our record match Stripe's current view of the subscription.
    Always from the subscription's present state, never from the order
    events arrived in, so late or repeated events cannot move it backwards.
    A plan pinned by the operator stays; the payment status follows Stripe."""
    before = {"plan": sub.plan_key, "status": sub.status, "stripe_plan": sub.stripe_plan_key}
    sub.stripe_subscription_id = remote.get("id") or sub.stripe_subscription_id
    status = STRIPE_STATUSES.get(remote.get("status") or "")
    plan_key = plan_key_of(remote)
    # A plan is adopted only once Stripe holds a paid (or trialing) subscription
    # for it; an "incomplete" one (first payment not through) grants nothing.
    if plan_key and plans.get(plan_key) and status in ("trialing", "active", "past_due"):
        sub.stripe_plan_key = plan_key
        if not sub.plan_pinned:
            sub.plan_key = plan_key
            sub.source = "stripe"
    if status == "past_due":
        grace = timedelta(days=current_app.config.get("BILLING_GRACE_DAYS", 14))
        sub.grace_until = sub.grace_until or utcnow() + grace
        sub.status = "past_due"  # read-only once the grace is over (effective_status, the job)
    elif status is not None:
        sub.status = status
        sub.grace_until = None
    period_end = remote.get("current_period_end") or _item_period_end(remote)
    if period_end:
        sub.current_period_end = datetime.fromtimestamp(int(period_end), tz=utcnow().tzinfo)
    after = {"plan": sub.plan_key, "status": sub.status, "stripe_plan": sub.stripe_plan_key}
    if after != before:
        audit.record("billing.subscription_changed", tenant_id=sub.tenant_id, target=sub, before=before,
                     after=after, stripe_event=event_id, pinned=sub.plan_pinned)
    return {"plan": sub.plan_key, "status": sub.status, **({"pinned": True} if sub.plan_pinned else {})}


def mark_payment_failed(sub: Subscription, *, event_id: str) -> None:
    """An invoice failed: grace period starts (once), with a banner; read-only after."""
    if sub.status in ("active", "trialing"):
        grace = timedelta(days=current_app.config.get("BILLING_GRACE_DAYS", 14))
        before = sub.status
        sub.status = "past_due"
        sub.grace_until = sub.grace_until or utcnow() + grace
        audit.record("billing.payment_failed", tenant_id=sub.tenant_id, target=sub, before=before,
                     grace_until=sub.grace_until, stripe_event=event_id)


def plan_key_of(remote: dict) -> str | None:
    """Our plan key from a Stripe subscription: its metadata (set at checkout),
    else the price's lookup key or metadata."""
    key = (remote.get("metadata") or {}).get("alloyhub_plan")
    if key:
        return key
    items = ((remote.get("items") or {}).get("data")) or []
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        key = (price.get("metadata") or {}).get("alloyhub_plan")
        if key:
            return key
        lookup = price.get("lookup_key") or ""
        for plan in plans.PLANS.values():
            if lookup == plan.lookup_key:
                return plan.key
    return None


def _item_period_end(remote: dict):
    items = ((remote.get("items") or {}).get("data")) or []
    return next((i.get("current_period_end") for i in items if i.get("current_period_end")), None)


def find_by_stripe(*, customer: str | None = None, subscription: str | None = None,
                   tenant_id: str | None = None) -> Subscription | None:
    """In the system scope (webhooks): the subscription these Stripe ids name."""
    clauses = []
    if subscription:
        clauses.append(Subscription.stripe_subscription_id == subscription)
    if customer:
        clauses.append(Subscription.stripe_customer_id == customer)
    for clause in clauses:
        sub = db.session.scalar(select(Subscription).where(clause))
        if sub is not None:
            return sub
    if tenant_id:
        try:
            return db.session.scalar(select(Subscription).where(Subscription.tenant_id == uuid.UUID(str(tenant_id))))
        except ValueError:
            return None
    return None
