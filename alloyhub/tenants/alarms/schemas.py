"""Marshmallow schemas for the alarms API. Shapes and types only; the
cross-field rules (a high limit needs a limit, ...) live in services."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .models import PRIORITIES, RULE_KINDS, STATES

_finite = {"allow_nan": False}


class AlarmRuleSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(required=True)
    tag = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=200))
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    kind = fields.String(required=True, validate=validate.OneOf(RULE_KINDS))
    priority = fields.String(load_default="medium", validate=validate.OneOf(PRIORITIES))
    limit = fields.Float(allow_none=True, load_default=None, **_finite,
                         metadata={"description": "high/low: the limit; rate: the largest change per minute"})
    deadband = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1e12), **_finite)
    on_delay_s = fields.Integer(load_default=0, validate=validate.Range(min=0, max=86400))
    timeout_s = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=30 * 86400),
                               metadata={"description": "stale: seconds without a point; offline: seconds unseen"})
    enabled = fields.Boolean(load_default=True)
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class AlarmRuleUpdateSchema(ma.Schema):
    agent_id = fields.UUID()
    tag = fields.String(allow_none=True, validate=validate.Length(max=200))
    name = fields.String(validate=validate.Length(min=1, max=160))
    kind = fields.String(validate=validate.OneOf(RULE_KINDS))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    limit = fields.Float(allow_none=True, **_finite)
    deadband = fields.Float(validate=validate.Range(min=0, max=1e12), **_finite)
    on_delay_s = fields.Integer(validate=validate.Range(min=0, max=86400))
    timeout_s = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=30 * 86400))
    enabled = fields.Boolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))


class RuleFilterSchema(ma.Schema):
    agent_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(RULE_KINDS))


class AlarmSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    rule_id = fields.UUID()
    agent_id = fields.UUID()
    tag = fields.String(attribute="rule.tag", allow_none=True)
    name = fields.String(attribute="rule.name")
    kind = fields.String(attribute="rule.kind")
    priority = fields.String(attribute="rule.priority")
    state = fields.String(metadata={"description": "normal | active_unacked | active_acked | returned_unacked | "
                                                   "shelved | suppressed (ISA-18.2)"})
    condition = fields.Boolean(metadata={"description": "Whether the process condition holds now"})
    value = fields.Float(allow_none=True)
    raised_at = fields.DateTime(allow_none=True)
    returned_at = fields.DateTime(allow_none=True)
    acked_at = fields.DateTime(allow_none=True)
    acked_by = fields.UUID(allow_none=True)
    shelved_until = fields.DateTime(allow_none=True)
    shelved_reason = fields.String(allow_none=True)
    shelved_by = fields.UUID(allow_none=True)


class AlarmFilterSchema(ma.Schema):
    state = fields.String(validate=validate.OneOf(("open", *STATES)),
                          metadata={"description": "One state, or `open`: active or returned-unacknowledged"})
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    agent_id = fields.UUID()


class AlarmEventSchema(ma.Schema):
    id = fields.UUID()
    at = fields.DateTime()
    ts = fields.DateTime(allow_none=True)
    event = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    value = fields.Float(allow_none=True)
    user_id = fields.UUID(allow_none=True)
    note = fields.String(allow_none=True)


class AckSchema(ma.Schema):
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class ShelveSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=7 * 24 * 60))


class MaintenanceWindowSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(required=True)
    starts_at = fields.DateTime(dump_only=True)
    ends_at = fields.DateTime(dump_only=True, allow_none=True)
    hours = fields.Float(load_only=True, allow_none=True, load_default=None,
                         validate=validate.Range(min=0, min_inclusive=False, max=24 * 90), **_finite,
                         metadata={"description": "Length of the window; empty for open-ended"})
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    created_by = fields.UUID(dump_only=True, allow_none=True)
