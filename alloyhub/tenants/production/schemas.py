"""Marshmallow schemas for the production API: shapes and types only; the
rules (one started work order per unit, routing order, weights that add up)
are in services."""
from __future__ import annotations

from datetime import UTC

import marshmallow as ma
from marshmallow import fields, validate

from alloyhub.tenants.inventory.schemas import ProductionEventSchema  # noqa: F401 - one shape for a step

from .models import PAUSE_REASONS, STATUSES

_finite = {"allow_nan": False}
_weight = validate.Range(min=0, min_inclusive=False, max=1e9)
_size = validate.Range(min=0, min_inclusive=False, max=1e6)


def _opt_str(length: int = 200, **kw):
    return fields.String(allow_none=True, load_default=None, validate=validate.Length(max=length), **kw)


class VarianceSchema(ma.Schema):
    start_deviation_min = fields.Float(allow_none=True, metadata={"description": "Actual minus planned start; "
                                                                                 "positive: late"})
    end_deviation_min = fields.Float(allow_none=True)
    planned_duration_min = fields.Float(allow_none=True)
    actual_duration_min = fields.Float(allow_none=True)
    paused_min = fields.Float()
    output_deviation_kg = fields.Float(allow_none=True)
    output_vs_planned_pct = fields.Float(allow_none=True)
    yield_pct = fields.Float(allow_none=True, metadata={"description": "Output / input weight reported"})
    planned_yield_pct = fields.Float(allow_none=True)


class PauseSchema(ma.Schema):
    id = fields.UUID()
    work_order_id = fields.UUID()
    reason = fields.String()
    note = fields.String(allow_none=True)
    paused_at = fields.DateTime()
    resumed_at = fields.DateTime(allow_none=True)
    paused_by = fields.UUID(allow_none=True)
    resumed_by = fields.UUID(allow_none=True)


class WorkOrderSchema(ma.Schema):
    id = fields.UUID()
    number = fields.String()
    schedule_id = fields.UUID()
    order_line_id = fields.UUID()
    product_id = fields.UUID()
    step = fields.Integer(metadata={"description": "Zero-based index into the product's routing"})
    operation = fields.String()
    unit_id = fields.UUID()
    status = fields.String(metadata={"enum": list(STATUSES)})
    planned_start = fields.DateTime()
    planned_end = fields.DateTime()
    planned_input_kg = fields.Float()
    planned_output_kg = fields.Float()
    batch_key = fields.String(allow_none=True)
    actual_start = fields.DateTime(allow_none=True)
    actual_end = fields.DateTime(allow_none=True)
    input_kg = fields.Float()
    output_kg = fields.Float()
    scrap_kg = fields.Float()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WorkOrderDetailSchema(WorkOrderSchema):
    variance = fields.Method("_variance", metadata={"description": "Actual against planned"})
    pauses = fields.List(fields.Nested(PauseSchema))

    def _variance(self, wo):
        from . import services

        return VarianceSchema().dump(services.variance(wo))


class WorkOrderFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    unit_id = fields.UUID()
    order_line_id = fields.UUID()
    schedule_id = fields.UUID()
    product_id = fields.UUID()
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "Planned to end at or after"})
    until = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "Planned to start before"})
    q = fields.String(validate=validate.Length(max=40), metadata={"description": "Part of the number"})


class PauseArgsSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.OneOf(PAUSE_REASONS))
    note = _opt_str(500, metadata={"description": "Required when the reason is 'other'"})


class OutputInputSchema(ma.Schema):
    coil_no = _opt_str(300, metadata={"description": "A coil number, or the label's scanned text"})
    coil_id = fields.UUID(allow_none=True, load_default=None)
    heat_no = _opt_str(60, metadata={"description": "A heat (casting)"})
    heat_id = fields.UUID(allow_none=True, load_default=None)
    weight_kg = fields.Float(allow_none=True, load_default=None, validate=_weight, **_finite,
                             metadata={"description": "Consumed; a coil's whole weight when empty"})


class OutputCoilSchema(ma.Schema):
    coil_no = fields.String(required=True, validate=validate.Length(min=1, max=60))
    weight_kg = fields.Float(required=True, validate=_weight, **_finite)
    gauge_mm = fields.Float(required=True, validate=_size, **_finite, metadata={"description": "Measured"})
    width_mm = fields.Float(required=True, validate=_size, **_finite)
    temper = _opt_str(20)
    alloy = _opt_str(20)
    length_m = fields.Float(allow_none=True, load_default=None, validate=_size, **_finite)
    location_id = fields.UUID(allow_none=True, load_default=None)
    notes = _opt_str(2000)


class WorkOrderScrapSchema(ma.Schema):
    weight_kg = fields.Float(required=True, validate=_weight, **_finite)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OutputReportSchema(ma.Schema):
    inputs = fields.List(fields.Nested(OutputInputSchema), required=True, validate=validate.Length(min=1, max=100))
    outputs = fields.List(fields.Nested(OutputCoilSchema), load_default=list, validate=validate.Length(max=200))
    scrap = fields.List(fields.Nested(WorkOrderScrapSchema), load_default=list, validate=validate.Length(max=50))
    location_id = fields.UUID(allow_none=True, load_default=None,
                              metadata={"description": "Where the outputs go; empty: they stay at the unit"})
    note = _opt_str(2000)


class ScanArgsSchema(ma.Schema):
    scanned = fields.String(required=True, validate=validate.Length(min=1, max=300),
                            metadata={"description": "A coil number or the label's QR text"})


class ScanResultSchema(ma.Schema):
    coil_id = fields.UUID(attribute="coil.id")
    coil_no = fields.String(attribute="coil.coil_no")
    coil_status = fields.String(attribute="coil.status")
    work_order = fields.Nested(WorkOrderSchema, allow_none=True,
                               metadata={"description": "The one work order the coil is an input of, if one"})
    matches = fields.List(fields.Nested(WorkOrderSchema))


class UnitQueueSchema(ma.Schema):
    unit_id = fields.UUID()
    items = fields.List(fields.Nested(WorkOrderSchema))


class ProductionYieldArgsSchema(ma.Schema):
    group_by = fields.String(load_default="operation",
                             validate=validate.OneOf(("operation", "order_line", "product", "unit")))
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)


class ProductionYieldRowSchema(ma.Schema):
    key = fields.String()
    label = fields.String()
    steps = fields.Integer()
    input_kg = fields.Float()
    output_kg = fields.Float()
    scrap_kg = fields.Float()
    loss_kg = fields.Float()
    yield_pct = fields.Float(allow_none=True)


class ProductionYieldSchema(ma.Schema):
    group_by = fields.String()
    items = fields.List(fields.Nested(ProductionYieldRowSchema))


class PauseReasonSchema(ma.Schema):
    key = fields.String()
    label = fields.String()
