"""Marshmallow schemas of the scheduling API: versions with KPIs and
progress, scheduled operations, lock/move/re-solve/publish bodies, the
comparison of two versions and unit disruptions."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .models import DISRUPTION_STATUSES, OBJECTIVES, STATUSES

_finite = {"allow_nan": False}


def _sane_time(value) -> bool:
    if not 2000 <= value.year <= 2100:
        raise ma.ValidationError("Give a time between the years 2000 and 2100.")
    return True


class _Params(ma.Schema):
    name = fields.String(allow_none=True, validate=validate.Length(max=120))
    objective = fields.String(validate=validate.OneOf(OBJECTIVES),
                              metadata={"description": "weighted_tardiness, makespan, total_setup or mix"})
    weights = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True,
                          metadata={"description": "For a mix: weighted_tardiness, makespan, total_setup -> "
                                                   "whole weights 0-1000"})
    time_limit = fields.Float(validate=validate.Range(min=-1e9, max=1e9), **_finite,
                              metadata={"description": "Seconds the solver may take, 1-600"})


class ScheduleVersionCreateSchema(_Params):
    objective = fields.String(load_default="weighted_tardiness", validate=validate.OneOf(OBJECTIVES))
    time_limit = fields.Float(load_default=10.0, validate=validate.Range(min=-1e9, max=1e9), **_finite,
                              metadata={"description": "Seconds the solver may take, 1-600"})


class SchedResolveSchema(_Params):
    pass


class SchedLockSchema(ma.Schema):
    locked = fields.Boolean(load_default=True)


class SchedMoveSchema(ma.Schema):
    unit_id = fields.UUID(required=True)
    start = fields.DateTime(required=True, validate=_sane_time,
                            metadata={"description": "Without a zone: the plant's local time"})
    name = fields.String(allow_none=True, validate=validate.Length(max=120))
    time_limit = fields.Float(allow_none=True, validate=validate.Range(min=-1e9, max=1e9), **_finite)


class ScheduleVersionFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))


class ScheduleVersionSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    number = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    objective = fields.String(dump_only=True)
    weights = fields.Dict(dump_only=True)
    time_limit_s = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    plan_start = fields.DateTime(dump_only=True)
    parent_id = fields.UUID(dump_only=True, allow_none=True)
    kpis = fields.Dict(dump_only=True, allow_none=True)
    explanation = fields.Dict(dump_only=True, allow_none=True)
    result = fields.Dict(dump_only=True, allow_none=True)
    progress = fields.Dict(dump_only=True, allow_none=True)
    failure = fields.String(dump_only=True, allow_none=True)
    inputs = fields.Dict(dump_only=True)
    job_id = fields.String(dump_only=True, allow_none=True)
    created_by = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    solved_at = fields.DateTime(dump_only=True, allow_none=True)
    published_at = fields.DateTime(dump_only=True, allow_none=True)
    status_url = fields.Function(lambda v: f"/api/v1/scheduling/versions/{v.id}/status", dump_only=True,
                                 metadata={"description": "Poll this for progress while solving"})


class SchedStatusSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True)
    progress = fields.Dict(dump_only=True)
    failure = fields.String(dump_only=True, allow_none=True)
    kpis = fields.Dict(dump_only=True, allow_none=True)
    time_limit_s = fields.Integer(dump_only=True)


class ScheduledOperationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    version_id = fields.UUID(dump_only=True)
    order_line_id = fields.UUID(dump_only=True)
    step = fields.Integer(dump_only=True)
    operation = fields.String(dump_only=True)
    unit_id = fields.UUID(dump_only=True)
    start = fields.DateTime(dump_only=True)
    end = fields.DateTime(dump_only=True)
    setup_minutes = fields.Integer(dump_only=True)
    batch_key = fields.String(dump_only=True, allow_none=True)
    locked = fields.Boolean(dump_only=True)
    frozen = fields.Boolean(dump_only=True)
    input_kg = fields.Float(dump_only=True)
    output_kg = fields.Float(dump_only=True)
    label = fields.String(dump_only=True)
    alloy_family = fields.String(dump_only=True, allow_none=True)
    eligible = fields.List(fields.Dict(), dump_only=True)


class ScheduledOperationFilterSchema(ma.Schema):
    unit_id = fields.UUID()


class VersionCompareArgs(ma.Schema):
    a = fields.UUID(required=True)
    b = fields.UUID(required=True)


class _VersionRef(ma.Schema):
    id = fields.UUID()
    number = fields.Integer()
    name = fields.String()
    status = fields.String()


class VersionCompareSchema(ma.Schema):
    a = fields.Nested(_VersionRef)
    b = fields.Nested(_VersionRef)
    kpis = fields.List(fields.Dict())
    utilisation = fields.List(fields.Dict())
    moved = fields.List(fields.Dict())
    only_in_a = fields.List(fields.String())
    only_in_b = fields.List(fields.String())


class DisruptionCreateSchema(ma.Schema):
    unit_id = fields.UUID(required=True)
    starts_at = fields.DateTime(required=True, validate=_sane_time)
    ends_at = fields.DateTime(required=True, validate=_sane_time)
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class DisruptionFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(DISRUPTION_STATUSES))


class DisruptionSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    unit_id = fields.UUID(dump_only=True)
    source = fields.String(dump_only=True)
    starts_at = fields.DateTime(dump_only=True)
    ends_at = fields.DateTime(dump_only=True)
    reason = fields.String(dump_only=True, allow_none=True)
    alarm_id = fields.UUID(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    version_id = fields.UUID(dump_only=True, allow_none=True)
    resolved_by_version_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class DisruptionDetailSchema(DisruptionSchema):
    affected = fields.List(fields.Nested(ScheduledOperationSchema), dump_only=True)


class SchedRescheduleSchema(ma.Schema):
    time_limit = fields.Float(allow_none=True, validate=validate.Range(min=-1e9, max=1e9), **_finite)
