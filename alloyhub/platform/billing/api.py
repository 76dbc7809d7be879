"""/api/v1/billing: the plan catalogue, the company's subscription and usage,
Checkout and portal links; /api/v1/operator: the platform operator's admin."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from .. import permissions as perms
from .. import tenancy
from ..api import Blueprint
from ..auth import requires
from ..db import db
from . import plans, services, usage
from . import schemas as s
from .operator import requires_staff

BILLING_READ = perms.register("billing.read", "See the company's plan, usage and limits")
BILLING_MANAGE = perms.register("billing.manage", "Change the company's plan and payment details")

blp = Blueprint("billing_api", __name__, url_prefix="/api/v1/billing", description="Plans, subscription, usage")
operator_blp = Blueprint("operator_api", __name__, url_prefix="/api/v1/operator",
                         description="Platform operator: companies and their plans (platform staff only)")


def subscription_view(tenant_id) -> dict:
    state = services.state(tenant_id)
    current = usage.snapshot(tenant_id)
    sub = state.subscription
    return {"plan": state.plan, "status": state.status, "trial_ends_at": sub.trial_ends_at,
            "current_period_end": sub.current_period_end, "grace_until": sub.grace_until,
            "billing_enabled": services.stripe_enabled(),
            "plan_pinned": sub.plan_pinned, "plan_pinned_at": sub.plan_pinned_at,
            "usage": [{"metric": m, "usage": current.get(m, 0), "limit": usage_limit(state.plan, m)}
                      for m in usage.METRICS],
            "storage": usage.storage_breakdown(tenant_id)}


def usage_limit(plan: plans.Plan, metric: str) -> int | None:
    """The plan's limit for a usage metric, in the metric's unit."""
    if metric == "storage_bytes":
        gb = plan.limit("storage_gb")
        return None if gb is None else gb * usage.GB
    return plan.limit(metric)


def _base() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


@blp.route("/plans")
class Plans(MethodView):
    @requires(perms.AUTHENTICATED)
    @blp.response(200, s.PlanSchema(many=True))
    def get(self):
        """The plan catalogue, cheapest first"""
        return sorted(plans.PLANS.values(), key=lambda p: p.rank)


@blp.route("/subscription")
class CurrentSubscription(MethodView):
    @requires(BILLING_READ)
    @blp.response(200, s.SubscriptionSchema)
    def get(self):
        """The company's plan, status, limits and current usage"""
        return subscription_view(tenancy.current_tenant_id())


@blp.route("/usage")
class UsageHistory(MethodView):
    @requires(BILLING_READ)
    @blp.response(200, s.UsageDaySchema(many=True))
    def get(self):
        """Recorded daily usage, last 30 days, newest first"""
        return usage.history(tenancy.current_tenant_id())


@blp.route("/checkout")
class Checkout(MethodView):
    @requires(BILLING_MANAGE)
    @blp.arguments(s.CheckoutSchema)
    @blp.response(201, s.RedirectSchema)
    def post(self, data):
        """Start Stripe Checkout for a plan; send the person to `url`"""
        url = services.start_checkout(data["plan"], success_url=f"{_base()}/billing/success",
                                      cancel_url=f"{_base()}/billing")
        return {"url": url}


@blp.route("/portal")
class Portal(MethodView):
    @requires(BILLING_MANAGE)
    @blp.response(201, s.RedirectSchema)
    def post(self):
        """A Stripe customer portal link (card, invoices, cancellation)"""
        return {"url": services.portal_url(f"{_base()}/billing")}


@operator_blp.route("/tenants")
class OperatorTenants(MethodView):
    @requires_staff
    @operator_blp.response(200, s.OperatorTenantListSchema)
    def get(self):
        """Every company with plan, status and usage"""
        return {"items": services.operator_overview()}


@operator_blp.route("/tenants/<uuid:tenant_id>/plan")
class OperatorPlan(MethodView):
    @requires_staff
    @operator_blp.arguments(s.PlanOverrideSchema)
    @operator_blp.response(200, s.SubscriptionSchema)
    def put(self, data, tenant_id):
        """Set a company's plan by hand and pin it: Stripe events no longer
        change the plan (only the payment status) until the pin is cleared (audited)"""
        services.override_plan(tenant_id, data["plan"], reason=data["reason"], force=data["force"])
        with tenancy.system_context(db.session):
            return subscription_view(tenant_id)


@operator_blp.route("/tenants/<uuid:tenant_id>/plan/pin")
class OperatorPlanPin(MethodView):
    @requires_staff
    @operator_blp.arguments(s.PinClearArgs, location="query")
    @operator_blp.response(200, s.SubscriptionSchema)
    def delete(self, args, tenant_id):
        """Clear the operator's pin: the plan follows Stripe again (audited)"""
        services.clear_override(tenant_id, reason=args.get("reason", ""))
        with tenancy.system_context(db.session):
            return subscription_view(tenant_id)
