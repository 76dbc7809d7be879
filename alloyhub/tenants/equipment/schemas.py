"""Marshmallow schemas for the equipment API. Shapes and types only; the
rules (codes unique, min below max, a furnace's capacity) live in services."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .models import ALLOY_FAMILIES, DOWNTIME_KINDS, LINE_KINDS, LIVE_STATES, PROCESSES, SETUP_COMBINE, TAG_ROLES, \
    UNIT_KINDS, UNIT_STATUSES
from .services import ALARM_PRIORITIES, clock, weekly_hours

_finite = {"allow_nan": False}
_size = validate.Range(min=0, min_inclusive=False, max=1e6)
_code = validate.Length(min=1, max=40)
CLOCK = validate.Regexp(r"^\d{1,2}:\d{2}$", error="Give the time as HH:MM.")


class AreaSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    site_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class AreaUpdateSchema(ma.Schema):
    site_id = fields.UUID()
    code = fields.String(validate=_code)
    name = fields.String(validate=validate.Length(min=1, max=160))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))


class AreaFilterSchema(ma.Schema):
    site_id = fields.UUID()


class EquipmentLineSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    area_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    kind = fields.String(load_default="line", validate=validate.OneOf(LINE_KINDS),
                         metadata={"description": "line | work_centre"})
    calendar_id = fields.UUID(allow_none=True, load_default=None, metadata={
        "description": "Shift calendar of the line's units (unless a unit has its own)"})
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class EquipmentLineUpdateSchema(ma.Schema):
    area_id = fields.UUID()
    code = fields.String(validate=_code)
    name = fields.String(validate=validate.Length(min=1, max=160))
    kind = fields.String(validate=validate.OneOf(LINE_KINDS))
    calendar_id = fields.UUID(allow_none=True)
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))


class EquipmentLineFilterSchema(ma.Schema):
    area_id = fields.UUID()


class _UnitFields(ma.Schema):
    line_id = fields.UUID()
    code = fields.String(validate=_code)
    name = fields.String(validate=validate.Length(min=1, max=160))
    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    status = fields.String(validate=validate.OneOf(UNIT_STATUSES))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    processes = fields.List(fields.String(validate=validate.OneOf(PROCESSES)), validate=validate.Length(max=20),
                            metadata={"description": "Processes the unit runs (default: those of its kind)"})
    alloy_families = fields.List(fields.String(validate=validate.OneOf(ALLOY_FAMILIES)),
                                 validate=validate.Length(max=20),
                                 metadata={"description": "Alloy families it takes; empty: any"})
    min_width_mm = fields.Float(allow_none=True, validate=_size, **_finite)
    max_width_mm = fields.Float(allow_none=True, validate=_size, **_finite)
    min_gauge_mm = fields.Float(allow_none=True, validate=_size, **_finite)
    max_gauge_mm = fields.Float(allow_none=True, validate=_size, **_finite)
    batch_capacity_t = fields.Float(allow_none=True, validate=_size, **_finite,
                                    metadata={"description": "Furnaces: tonnes per load"})
    batch_capacity_coils = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1000),
                                          metadata={"description": "Furnaces: coils per load"})
    calendar_id = fields.UUID(allow_none=True, metadata={"description": "Its own shift calendar (else the line's)"})
    setup_combine = fields.String(validate=validate.OneOf(SETUP_COMBINE),
                                  metadata={"description": "How matching set-up rules add up: max | sum"})
    down_when_agent_offline = fields.Boolean()
    down_on_alarm_priority = fields.String(allow_none=True, validate=validate.OneOf(ALARM_PRIORITIES),
                                           metadata={"description": "An active alarm this urgent or more on a "
                                                                    "linked tag means down; null: alarms do not count"})
    stale_after_s = fields.Integer(validate=validate.Range(min=5, max=86400))


class UnitSchema(_UnitFields):
    id = fields.UUID(dump_only=True)
    line_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class UnitUpdateSchema(_UnitFields):
    pass


class UnitFilterSchema(ma.Schema):
    line_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    process = fields.String(validate=validate.OneOf(PROCESSES))
    status = fields.String(validate=validate.OneOf(UNIT_STATUSES))


class CalendarShiftSchema(ma.Schema):
    weekday = fields.Integer(required=True, validate=validate.Range(min=0, max=6),
                             metadata={"description": "0 = Monday … 6 = Sunday"})
    start = fields.Function(lambda s: clock(s.start_minute), deserialize=str, required=True, validate=CLOCK,
                            metadata={"description": "HH:MM local time"})
    end = fields.Function(lambda s: clock((s.start_minute + s.duration_minutes) % 1440), deserialize=str,
                          required=True, validate=CLOCK,
                          metadata={"description": "HH:MM; at or before the start: the next day"})
    duration_minutes = fields.Integer(dump_only=True)
    name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=60))


class CalendarSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    timezone = fields.String(load_default="Asia/Shanghai", validate=validate.Length(min=1, max=60))
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    shifts = fields.List(fields.Nested(CalendarShiftSchema), load_default=list, validate=validate.Length(max=100))
    weekly_hours = fields.Function(lambda c: weekly_hours(c), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CalendarUpdateSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    timezone = fields.String(validate=validate.Length(min=1, max=60))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    shifts = fields.List(fields.Nested(CalendarShiftSchema), validate=validate.Length(max=100),
                         metadata={"description": "Replaces every shift when given"})


class DowntimeSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    unit_id = fields.UUID(dump_only=True)
    starts_at = fields.DateTime(required=True, metadata={"description": "UTC when no offset is given"})
    ends_at = fields.DateTime(required=True)
    kind = fields.String(load_default="maintenance", validate=validate.OneOf(DOWNTIME_KINDS))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    created_by = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class DowntimeUpdateSchema(ma.Schema):
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    kind = fields.String(validate=validate.OneOf(DOWNTIME_KINDS))
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class DowntimeFilterSchema(ma.Schema):
    unit_id = fields.UUID()
    start = fields.DateTime(data_key="from", metadata={"description": "Windows ending after this"})
    end = fields.DateTime(data_key="to", metadata={"description": "Windows starting before this"})


class UnitTagSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    unit_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(required=True)
    tag = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(load_default="speed", validate=validate.OneOf(TAG_ROLES))
    running_above = fields.Float(allow_none=True, load_default=None, validate=validate.Range(min=-1e12, max=1e12),
                                 **_finite, metadata={"description": "A fresh value above this: the unit runs"})
    created_at = fields.DateTime(dump_only=True)


class UnitTagUpdateSchema(ma.Schema):
    agent_id = fields.UUID()
    tag = fields.String(validate=validate.Length(min=1, max=200))
    role = fields.String(validate=validate.OneOf(TAG_ROLES))
    running_above = fields.Float(allow_none=True, validate=validate.Range(min=-1e12, max=1e12), **_finite)


class UnitTagValueSchema(ma.Schema):
    agent_id = fields.UUID()
    tag = fields.String()
    role = fields.String()
    v = fields.Raw(allow_none=True)
    ts = fields.DateTime(allow_none=True)
    fresh = fields.Boolean()
    running_above = fields.Float(allow_none=True)


class LiveStateSchema(ma.Schema):
    unit_id = fields.UUID()
    unit_code = fields.String()
    state = fields.String(metadata={"description": " | ".join(LIVE_STATES)})
    reason = fields.String()
    at = fields.DateTime()
    values = fields.List(fields.Nested(UnitTagValueSchema))


class LiveStatesSchema(ma.Schema):
    items = fields.List(fields.Nested(LiveStateSchema), required=True)


class WorkingIntervalSchema(ma.Schema):
    start = fields.DateTime()
    end = fields.DateTime()


class UnitAvailabilityArgs(ma.Schema):
    start = fields.DateTime(data_key="from", metadata={"description": "Default: now"})
    end = fields.DateTime(data_key="to", metadata={"description": "Default: a week after `from`"})


class UnitAvailabilitySchema(ma.Schema):
    unit_id = fields.UUID()
    calendar_id = fields.UUID(allow_none=True)
    hours = fields.Float()
    intervals = fields.List(fields.Nested(WorkingIntervalSchema))


class EquipmentTreeUnitSchema(ma.Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    status = fields.String()


class EquipmentTreeLineSchema(ma.Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    units = fields.List(fields.Nested(EquipmentTreeUnitSchema))


class EquipmentTreeAreaSchema(ma.Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    lines = fields.List(fields.Nested(EquipmentTreeLineSchema))


class EquipmentTreeSiteSchema(ma.Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    areas = fields.List(fields.Nested(EquipmentTreeAreaSchema))


class EquipmentTreeSchema(ma.Schema):
    sites = fields.List(fields.Nested(EquipmentTreeSiteSchema), required=True)
