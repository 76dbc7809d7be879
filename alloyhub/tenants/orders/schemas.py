"""Marshmallow schemas for the orders API: customers, orders with lines,
history, lifecycle actions, the import, the promised-date check and the
customer's tracking view (its own, smaller field set)."""
from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from .models import PRIORITIES, QUANTITY_UNITS, STATUSES

_finite = {"allow_nan": False}
_date_range = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31))


class _CustomerFields(ma.Schema):
    code = fields.String(validate=validate.Length(min=1, max=40))
    name = fields.String(validate=validate.Length(min=1, max=200))
    contact_name = fields.String(allow_none=True, validate=validate.Length(max=120))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    address = fields.String(allow_none=True, validate=validate.Length(max=2000))
    transit_days = fields.Integer(validate=validate.Range(min=0, max=90),
                                  metadata={"description": "Days from the plant to the customer"})
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    active = fields.Boolean()


class CustomerSchema(_CustomerFields):
    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CustomerUpdateSchema(_CustomerFields):
    pass


class CustomerFilterSchema(ma.Schema):
    q = fields.String(validate=validate.Length(max=100))
    active = fields.Boolean()


class OrderLineSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    line_no = fields.Integer(dump_only=True)
    product_id = fields.UUID(required=True)
    quantity = fields.Float(required=True, validate=validate.Range(min=-1e9, max=1e9), **_finite,
                            metadata={"description": "Above zero, in quantity_unit"})
    quantity_unit = fields.String(load_default="t", validate=validate.OneOf(QUANTITY_UNITS))
    due_date = fields.Date(required=True, validate=_date_range)
    priority = fields.Integer(load_default=2, validate=validate.OneOf(PRIORITIES),
                              metadata={"description": "1 low, 2 normal, 3 high, 4 urgent"})
    status = fields.String(dump_only=True)
    notes = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class OrderLineOutSchema(OrderLineSchema):
    order_id = fields.UUID(dump_only=True)
    order_number = fields.String(attribute="order.number", dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OrderLineUpdateSchema(ma.Schema):
    product_id = fields.UUID()
    quantity = fields.Float(validate=validate.Range(min=-1e9, max=1e9), **_finite)
    quantity_unit = fields.String(validate=validate.OneOf(QUANTITY_UNITS))
    due_date = fields.Date(validate=_date_range)
    priority = fields.Integer(validate=validate.OneOf(PRIORITIES))
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))


class OrderSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    number = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=40),
                           metadata={"description": "Default: the next SO-<year>-NNNN"})
    customer_id = fields.UUID(required=True)
    customer_code = fields.String(attribute="customer.code", dump_only=True)
    customer_po = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=80))
    status = fields.String(dump_only=True)
    notes = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))
    lines = fields.List(fields.Nested(OrderLineSchema), load_default=list, validate=validate.Length(max=200))
    confirmed_at = fields.DateTime(dump_only=True, allow_none=True)
    cancelled_at = fields.DateTime(dump_only=True, allow_none=True)
    cancel_reason = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OrderUpdateSchema(ma.Schema):
    number = fields.String(validate=validate.Length(min=1, max=40))
    customer_id = fields.UUID()
    customer_po = fields.String(allow_none=True, validate=validate.Length(max=80))
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))


class OrderFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    customer_id = fields.UUID()
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "Number or customer PO contains"})
    due_from = fields.Date(validate=_date_range, metadata={"description": "Has a line due on or after"})
    due_to = fields.Date(validate=_date_range, metadata={"description": "Has a line due on or before"})


class OrderHistorySchema(ma.Schema):
    id = fields.UUID()
    at = fields.DateTime()
    user_id = fields.UUID(allow_none=True)
    action = fields.String()
    line_id = fields.UUID(allow_none=True)
    line_no = fields.Integer(allow_none=True)
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    changes = fields.Dict(metadata={"description": "field -> [old, new]"})
    note = fields.String(allow_none=True)


class OrderTransitionSchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES),
                           metadata={"description": "The status every live line moves to"})
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class CancelReasonSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OrderNoteSchema(ma.Schema):
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class OrderImportArgs(ma.Schema):
    confirm = fields.Boolean(load_default=False, metadata={"description": "Confirm the imported orders"})


class OrderImportUploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": ".csv or .xlsx, one row per order line"})


class OrderImportResultSchema(ma.Schema):
    orders = fields.List(fields.String(), metadata={"description": "Numbers of the orders made"})
    lines = fields.Integer()


class PromiseStepSchema(ma.Schema):
    seq = fields.Integer()
    process = fields.String()
    unit_id = fields.UUID()
    unit_code = fields.String()
    queued_hours = fields.Float()
    free_at = fields.DateTime()
    ready_at = fields.DateTime()
    start = fields.DateTime()
    end = fields.DateTime()
    hours = fields.Float()
    setup_minutes = fields.Float()
    wait_hours = fields.Float()
    input_t = fields.Float()


class PromiseSchema(ma.Schema):
    product_code = fields.String()
    tonnes = fields.Float()
    computed_at = fields.DateTime()
    finish = fields.DateTime()
    transit_days = fields.Integer()
    promised_date = fields.Date()
    due_date = fields.Date(allow_none=True)
    on_time = fields.Boolean(allow_none=True)
    days_late = fields.Integer(allow_none=True)
    ahead_lines = fields.Integer()
    ahead_tonnes = fields.Float()
    bottleneck = fields.Nested(PromiseStepSchema, allow_none=True)
    steps = fields.List(fields.Nested(PromiseStepSchema))
    explanation = fields.List(fields.String())


class QuoteSchema(ma.Schema):
    product_id = fields.UUID(required=True)
    quantity = fields.Float(required=True, validate=validate.Range(min=-1e9, max=1e9), **_finite)
    quantity_unit = fields.String(load_default="t", validate=validate.OneOf(QUANTITY_UNITS))
    customer_id = fields.UUID(allow_none=True, load_default=None,
                              metadata={"description": "Adds the customer's transit days"})
    due_date = fields.Date(allow_none=True, load_default=None, validate=_date_range)


class TrackingLinkSchema(ma.Schema):
    token = fields.String()
    url = fields.String()
    api_url = fields.String()


class LineLocationSchema(ma.Schema):
    known = fields.Boolean()
    summary = fields.String(allow_none=True)
    coils = fields.List(fields.Dict())


class TrackingLineSchema(ma.Schema):
    line_no = fields.Integer()
    product = fields.String(allow_none=True)
    spec = fields.String(allow_none=True)
    quantity = fields.Float()
    quantity_unit = fields.String()
    due_date = fields.Date()
    status = fields.String()
    location = fields.Nested(LineLocationSchema)


class TrackingTimelineSchema(ma.Schema):
    at = fields.DateTime()
    status = fields.String()


class TrackingSchema(ma.Schema):
    """What the customer sees: no notes, no people, no internal ids."""

    number = fields.String()
    plant = fields.String(allow_none=True)
    customer = fields.String()
    customer_po = fields.String(allow_none=True)
    status = fields.String()
    confirmed_at = fields.DateTime(allow_none=True)
    lines = fields.List(fields.Nested(TrackingLineSchema))
    timeline = fields.List(fields.Nested(TrackingTimelineSchema))
