from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from . import plans


class PlanSchema(ma.Schema):
    key = fields.String()
    name = fields.String()
    monthly_price = fields.Integer(allow_none=True, metadata={"description": "Minor units (fen) per month"})
    modules = fields.Method("_modules")
    limits = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))
    tenant_kinds = fields.List(fields.String())
    trial_days = fields.Integer()
    self_service = fields.Boolean()

    def _modules(self, plan):
        return sorted(plan.modules)


class LimitUsageSchema(ma.Schema):
    metric = fields.String(metadata={"description": "sites, users, agents, tags, telemetry_points (stored today), "
                                                    "expert_minutes (recorded today) or storage_bytes"})
    usage = fields.Integer()
    limit = fields.Integer(allow_none=True, metadata={
        "description": "null: unlimited; storage_bytes: the plan's storage_gb in bytes (GB = 10^9 bytes)"})


class SubscriptionSchema(ma.Schema):
    plan = fields.Nested(PlanSchema)
    status = fields.String(metadata={"description": "trialing, active, past_due, read_only or canceled"})
    trial_ends_at = fields.DateTime(allow_none=True)
    current_period_end = fields.DateTime(allow_none=True)
    grace_until = fields.DateTime(allow_none=True)
    billing_enabled = fields.Boolean(metadata={"description": "Stripe Checkout available"})
    plan_pinned = fields.Boolean(metadata={
        "description": "The AlloyHub operator set the plan; payments through Stripe do not change it"})
    plan_pinned_at = fields.DateTime(allow_none=True)
    usage = fields.List(fields.Nested(LimitUsageSchema))
    storage = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "Bytes stored, per kind of data (telemetry, files)"})


class UsageDaySchema(ma.Schema):
    day = fields.Date()
    metric = fields.String()
    value = fields.Integer()


class CheckoutSchema(ma.Schema):
    plan = fields.String(required=True, validate=validate.OneOf(list(plans.PLANS)))


class RedirectSchema(ma.Schema):
    url = fields.String()


class OperatorTenantSchema(ma.Schema):
    tenant_id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    plan = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    grace_until = fields.DateTime(allow_none=True)
    stripe_customer_id = fields.String(allow_none=True)
    stripe_plan = fields.String(allow_none=True, metadata={"description": "The plan Stripe's subscription is for"})
    plan_pinned = fields.Boolean()
    plan_pinned_at = fields.DateTime(allow_none=True)
    plan_pin_reason = fields.String(allow_none=True)
    usage = fields.Dict(keys=fields.String(), values=fields.Integer())


class OperatorTenantListSchema(ma.Schema):
    items = fields.List(fields.Nested(OperatorTenantSchema))


class PlanOverrideSchema(ma.Schema):
    plan = fields.String(required=True, validate=validate.OneOf(list(plans.PLANS)))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    force = fields.Boolean(load_default=False, metadata={
        "description": "Set the plan although the company uses more than it allows (nothing is deleted)"})


class PinClearArgs(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500),
                           metadata={"description": "Why (kept in the audit log)"})
