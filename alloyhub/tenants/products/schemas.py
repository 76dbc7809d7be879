"""Marshmallow schemas for the products API (shapes and types; the rules,
including routing feasibility, live in services)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from alloyhub.tenants.equipment.models import ALLOY_FAMILIES, PROCESSES

from .models import RATE_UNITS, SETUP_KINDS, THRESHOLD_UNITS

_finite = {"allow_nan": False}
_positive = validate.Range(min=0, min_inclusive=False, max=1e6)
_non_negative = validate.Range(min=0, max=1e6)


class _ProductFields(ma.Schema):
    code = fields.String(validate=validate.Length(min=1, max=60))
    name = fields.String(validate=validate.Length(max=200), metadata={"description": "Default: the spec"})
    alloy = fields.String(validate=validate.Length(min=1, max=20),
                          metadata={"description": "1060, 3003, 5052, 8011, T2, C11000, H65 …"})
    alloy_family = fields.String(allow_none=True, validate=validate.OneOf(ALLOY_FAMILIES),
                                 metadata={"description": "Derived from the alloy when it is known"})
    temper = fields.String(validate=validate.Length(min=1, max=10), metadata={"description": "O, H14, H24, T6 …"})
    gauge_mm = fields.Float(validate=_positive, **_finite)
    width_mm = fields.Float(validate=_positive, **_finite)
    coil_weight_t = fields.Float(validate=_positive, **_finite)
    gauge_tol_mm = fields.Float(allow_none=True, validate=_non_negative, **_finite)
    width_tol_mm = fields.Float(allow_none=True, validate=_non_negative, **_finite)
    weight_tol_pct = fields.Float(allow_none=True, validate=validate.Range(min=0, max=100), **_finite)
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    active = fields.Boolean()


class ProductSchema(_ProductFields):
    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(min=1, max=60))
    alloy = fields.String(required=True, validate=validate.Length(min=1, max=20))
    temper = fields.String(required=True, validate=validate.Length(min=1, max=10))
    gauge_mm = fields.Float(required=True, validate=_positive, **_finite)
    width_mm = fields.Float(required=True, validate=_positive, **_finite)
    coil_weight_t = fields.Float(required=True, validate=_positive, **_finite)
    spec = fields.String(dump_only=True)
    has_routing = fields.Function(lambda p: bool(p.operations), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ProductUpdateSchema(_ProductFields):
    pass


class ProductFilterSchema(ma.Schema):
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "Code, name or alloy contains"})
    alloy_family = fields.String(validate=validate.OneOf(ALLOY_FAMILIES))
    active = fields.Boolean()


class EligibleUnitSchema(ma.Schema):
    unit_id = fields.UUID(required=True)
    unit_code = fields.String(dump_only=True)
    rate = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite,
                        metadata={"description": "This unit's own rate (else the operation's)"})


class RoutingOperationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    seq = fields.Integer(dump_only=True)
    process = fields.String(required=True, validate=validate.OneOf(PROCESSES))
    name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120))
    rate = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite,
                        metadata={"description": "Flow operations: throughput in rate_unit"})
    rate_unit = fields.String(load_default="t_per_h", validate=validate.OneOf(RATE_UNITS))
    yield_pct = fields.Float(load_default=100.0, validate=validate.Range(min=0, min_inclusive=False, max=100),
                             **_finite)
    out_gauge_mm = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite)
    out_width_mm = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite)
    anneal_recipe = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=40))
    anneal_temp_c = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite)
    anneal_soak_h = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite)
    anneal_cycle_h = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite,
                                  metadata={"description": "Anneal: hours per furnace load"})
    units = fields.List(fields.Nested(EligibleUnitSchema), attribute="eligible", data_key="units",
                        load_default=list, validate=validate.Length(max=50))


class RoutingSchema(ma.Schema):
    product_id = fields.UUID(dump_only=True, attribute="id")
    operations = fields.List(fields.Nested(RoutingOperationSchema), required=True, validate=validate.Length(max=50))


class RoutingProblemsSchema(ma.Schema):
    product_id = fields.UUID()
    possible = fields.Boolean()
    problems = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class SetupRuleSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    unit_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "null: every unit"})
    kind = fields.String(required=True, validate=validate.OneOf(SETUP_KINDS))
    minutes = fields.Float(required=True, validate=validate.Range(min=0, max=10080), **_finite)
    threshold = fields.Float(allow_none=True, load_default=None, validate=_non_negative, **_finite,
                             metadata={"description": "width_up / width_down / gauge_jump: only beyond this"})
    threshold_unit = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(THRESHOLD_UNITS))
    from_value = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20),
                               metadata={"description": "Alloy / family / temper changes: only from this"})
    to_value = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20))
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    enabled = fields.Boolean(load_default=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SetupRuleUpdateSchema(ma.Schema):
    unit_id = fields.UUID(allow_none=True)
    kind = fields.String(validate=validate.OneOf(SETUP_KINDS))
    minutes = fields.Float(validate=validate.Range(min=0, max=10080), **_finite)
    threshold = fields.Float(allow_none=True, validate=_non_negative, **_finite)
    threshold_unit = fields.String(allow_none=True, validate=validate.OneOf(THRESHOLD_UNITS))
    from_value = fields.String(allow_none=True, validate=validate.Length(max=20))
    to_value = fields.String(allow_none=True, validate=validate.Length(max=20))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    enabled = fields.Boolean()


class SetupRuleFilterSchema(ma.Schema):
    unit_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(SETUP_KINDS))


class SetupJobSchema(ma.Schema):
    product_id = fields.UUID(allow_none=True, load_default=None,
                             metadata={"description": "A product (its attributes), or the attributes below"})
    alloy = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20))
    alloy_family = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(ALLOY_FAMILIES))
    temper = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=10))
    width_mm = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite)
    gauge_mm = fields.Float(allow_none=True, load_default=None, validate=_positive, **_finite)


class SetupQuerySchema(ma.Schema):
    unit_id = fields.UUID(required=True)
    from_job = fields.Nested(SetupJobSchema, required=True, data_key="from")
    to_job = fields.Nested(SetupJobSchema, required=True, data_key="to")


class SetupCountedRuleSchema(ma.Schema):
    id = fields.UUID()
    kind = fields.String()
    minutes = fields.Float()
    unit_id = fields.UUID(allow_none=True)
    description = fields.String(allow_none=True)


class SetupAnswerSchema(ma.Schema):
    unit_id = fields.UUID()
    minutes = fields.Float()
    combine = fields.String()
    rules = fields.List(fields.Nested(SetupCountedRuleSchema))
