"""Pages: the company's plan and usage (with upgrade and the Stripe portal),
the return from Checkout, the operator admin, the Stripe webhook, and the
subscription banner of the layout."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import permissions as perms
from .. import tenancy
from ..auth import current_principal, requires
from ..db import db
from ..errors import AppError
from . import plans, services, usage, webhooks
from .api import BILLING_MANAGE, BILLING_READ, subscription_view
from .operator import is_staff, requires_staff

bp = Blueprint("billing", __name__, template_folder="templates")

CSRF_EXEMPT = {"billing.stripe_webhook"}  # authenticated by Stripe's signature, not a cookie

MODULE_LABELS = {
    "agents": _l("Plant agents"), "telemetry": _l("Telemetry"), "alarms": _l("Alarms"), "orders": _l("Orders"),
    "quality": _l("Quality"), "inventory": _l("Inventory"), "scheduling": _l("Scheduling"),
    "production": _l("Production"), "maintenance": _l("Maintenance"), "energy": _l("Energy"),
    "hse": _l("Health, safety and environment"), "cockpit": _l("Cockpit"), "spares": _l("Spare parts"),
    "remote_service": _l("Remote service"), "supply_chain": _l("Supply chain"), "marketplace": _l("Marketplace"),
}
METRIC_LABELS = {
    "sites": _l("Sites"), "users": _l("Active users"), "agents": _l("Agents"), "tags": _l("Tags"),
    "telemetry_points": _l("Telemetry points today"), "storage_gb": _l("Storage (GB)"),
    "storage_bytes": _l("Storage (GB)"), "expert_minutes": _l("Expert service today (minutes)"),
    "telemetry_retention_days": _l("Telemetry kept (days)"), "api_rate_per_minute": _l("API calls per minute"),
}
PLAN_LABELS = {"partner": _l("Partner"), "trial": _l("Trial"), "starter": _l("Starter"),
               "professional": _l("Professional"), "enterprise": _l("Enterprise")}
STORAGE_LABELS = {"telemetry": _l("Telemetry"), "files": _l("Files")}
STATUS_LABELS = {"trialing": _l("Trial"), "active": _l("Active"), "past_due": _l("Payment overdue"),
                 "read_only": _l("Read-only"), "canceled": _l("Canceled")}


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


# Fixed messages raised in English by services and errors; listed for the
# catalogue, translated when shown. Messages with values in them stay English.
SERVICE_MESSAGES = (
    N_("Your plan does not include this"), N_("The subscription is read-only"),
    N_("The company uses more than that plan allows"), N_("Online payment is not set up"),
    N_("The webhook signature is not valid"), N_("The payment service did not answer"),
    N_("Say why the plan is changed (kept in the audit log)."), N_("No such company"),
    N_("Plans are assigned by the AlloyHub operator here; ask them to change yours"),
    N_("The company already pays by subscription; change the plan in the billing portal"),
    N_("The company has no payment account yet; choose a plan first"),
    N_("The plan of this company is not pinned"),
)


def _fail(exc: AppError) -> None:
    db.session.rollback()
    messages = [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]
    for message in messages:
        flash(_(str(message)), "error")


def _base() -> str:
    # From configuration, never the Host header: Stripe sends people back here.
    return current_app.config["BASE_URL"].rstrip("/")


@bp.get("/billing")
@requires(BILLING_READ)
def overview():
    tenant_id = tenancy.current_tenant_id()
    state = services.state(tenant_id)
    principal = current_principal()
    return render_template(
        "billing/overview.html", view=subscription_view(tenant_id), state=state,
        plans=plans.available_to(state.kind), history=usage.history(tenant_id, days=14),
        can_manage=principal.can(BILLING_MANAGE), billing_enabled=services.stripe_enabled(),
        hourly_trend_days=plans.hourly_trend_days(state.plan.limit("telemetry_retention_days")))


@bp.post("/billing/checkout")
@requires(BILLING_MANAGE)
def checkout():
    try:
        url = services.start_checkout(request.form.get("plan", ""), success_url=f"{_base()}/billing/success",
                                      cancel_url=f"{_base()}/billing")
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("billing.overview"))
    return redirect(url, code=303)


@bp.post("/billing/portal")
@requires(BILLING_MANAGE)
def portal():
    try:
        url = services.portal_url(f"{_base()}/billing")
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("billing.overview"))
    return redirect(url, code=303)


@bp.get("/billing/success")
@requires(perms.AUTHENTICATED)
def checkout_success():
    # The plan changes when Stripe's webhook confirms the payment, not here:
    # this page is reachable by anyone who guesses its address.
    flash(_("Thank you. The new plan is active as soon as Stripe confirms the payment."), "success")
    return redirect(url_for("billing.overview"))


@bp.post("/webhooks/stripe")
@requires(perms.PUBLIC)
def stripe_webhook():
    result = webhooks.receive(request.get_data(), request.headers.get("Stripe-Signature"))
    return jsonify(result), 200


# ---------------------------------------------------------------- operator

@bp.get("/operator/tenants")
@requires_staff
def operator_tenants():
    return render_template("billing/operator.html", rows=services.operator_overview(),
                           plans=sorted(plans.PLANS.values(), key=lambda p: p.rank))


@bp.post("/operator/tenants/<uuid:tenant_id>/plan")
@requires_staff
def operator_set_plan(tenant_id):
    try:
        sub = services.override_plan(tenant_id, request.form.get("plan", ""), reason=request.form.get("reason", ""),
                                     force=request.form.get("force") == "1")
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The plan is now %(plan)s, pinned until you clear it.",
                plan=PLAN_LABELS.get(sub.plan_key, sub.plan_key)), "success")
    return redirect(url_for("billing.operator_tenants"))


@bp.post("/operator/tenants/<uuid:tenant_id>/plan/unpin")
@requires_staff
def operator_clear_pin(tenant_id):
    try:
        sub = services.clear_override(tenant_id, reason=request.form.get("reason", ""))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The plan is no longer pinned; it is %(plan)s.", plan=PLAN_LABELS.get(sub.plan_key, sub.plan_key)),
              "success")
    return redirect(url_for("billing.operator_tenants"))


def usage_value(metric: str, value) -> str:
    """A usage figure as people read it: storage in GB, the rest as counts."""
    if value is None:
        return ""
    if metric == "storage_bytes":
        return f"{value / usage.GB:,.2f}"
    return f"{value:,}"


# ---------------------------------------------------------------- layout

@bp.app_context_processor
def _billing_context():
    def billing_notice():
        """The subscription banner: during a grace period and when read-only."""
        principal = current_principal()
        if principal is None or principal.tenant_id is None:
            return None
        try:
            state = services.state(principal.tenant_id)
        except AppError:
            return None
        if state.status in ("past_due", "read_only", "canceled"):
            return {"status": state.status, "grace_until": state.subscription.grace_until}
        return None

    return {"billing_notice": billing_notice, "module_label": lambda m: MODULE_LABELS.get(m, m),
            "metric_label": lambda m: METRIC_LABELS.get(m, m), "plan_label": lambda p: PLAN_LABELS.get(p, p),
            "storage_label": lambda k: STORAGE_LABELS.get(k, k), "usage_value": usage_value,
            "billing_status_label": lambda s: STATUS_LABELS.get(s, s), "is_platform_staff": is_staff}
