"""Marshmallow schemas of the remote-service API: shapes and types only (the
rules are in the services)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from alloyhub.tenants.telemetry.schemas import TagList

from .models import ACTION_KINDS, AUDIENCES, AVAILABILITY, BILLING_MODES, STATES, URGENCIES


class Rate(fields.Decimal):
    """An amount as a decimal string ("650.00"), documented as a string (module.py)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("places", 2)
        kwargs.setdefault("as_string", True)
        kwargs.setdefault("allow_nan", False)
        super().__init__(**kwargs)


_short = validate.Length(min=1, max=80)


class RemoteProfileSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    user_id = fields.UUID(allow_none=True, load_default=None)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    headline = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=300))
    bio = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=8000))
    equipment_types = fields.List(fields.String(validate=_short), load_default=list, validate=validate.Length(max=20),
                                  metadata={"description": "Unit kinds (equipment registry), e.g. cold_mill"})
    processes = fields.List(fields.String(validate=_short), load_default=list, validate=validate.Length(max=20))
    brands = fields.List(fields.String(validate=_short), load_default=list, validate=validate.Length(max=20))
    languages = fields.List(fields.String(validate=validate.Length(min=2, max=10)), load_default=list,
                            validate=validate.Length(max=10))
    hourly_rate = Rate(allow_none=True, load_default=None,
                       metadata={"description": "Per hour, a decimal string (e.g. \"650.00\")"})
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    availability = fields.String(load_default="available", validate=validate.OneOf(AVAILABILITY))
    published = fields.Boolean(load_default=False, metadata={"description": "Shown in the directory"})
    rating = fields.Float(dump_only=True, allow_none=True)
    ratings = fields.Integer(dump_only=True)
    firm = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class RemoteProfilePatchSchema(RemoteProfileSchema):
    """The same fields, each optional (loaded with partial=True)."""


class RemoteDirectoryArgsSchema(ma.Schema):
    q = fields.String(validate=validate.Length(max=100))
    equipment_type = fields.String(validate=_short)
    process = fields.String(validate=_short)
    brand = fields.String(validate=_short)
    language = fields.String(validate=validate.Length(min=2, max=10))
    available = fields.Boolean(load_default=False)


class RemoteTagSchema(ma.Schema):
    agent_id = fields.UUID(required=True)
    tag = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RemoteRangeSchema(ma.Schema):
    start = fields.AwareDateTime(required=True, data_key="from", default_timezone=None)
    end = fields.AwareDateTime(required=True, data_key="to")
    label = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=120))


class RemoteActionSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    kind = fields.String(load_default="other", validate=validate.OneOf(ACTION_KINDS))
    part_number = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=80))
    wanted_id = fields.String(dump_only=True, metadata={"description": "The spare-parts wanted post made from it"})


class RemoteRequestSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True, metadata={"description": "The plant"})
    expert_tenant_id = fields.UUID(allow_none=True, load_default=None,
                                   metadata={"description": "Invite this expert firm (or give profile_id)"})
    profile_id = fields.UUID(allow_none=True, load_default=None,
                             metadata={"description": "Invite this expert of the directory"})
    unit_id = fields.UUID(allow_none=True, load_default=None,
                          metadata={"description": "The unit; found from the alarm when omitted"})
    alarm_id = fields.UUID(allow_none=True, load_default=None)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    symptoms = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    tags = fields.List(fields.Nested(RemoteTagSchema), load_default=list, validate=validate.Length(max=20))
    time_ranges = fields.Method("_dump_ranges", "_load_ranges", load_default=list,
                                metadata={"type": "array", "items": {"type": "object", "properties": {
                                    "from": {"type": "string", "format": "date-time"},
                                    "to": {"type": "string", "format": "date-time"},
                                    "label": {"type": "string", "nullable": True}}}})
    urgency = fields.String(load_default="normal", validate=validate.OneOf(URGENCIES))
    audience = fields.String(load_default="invite", validate=validate.OneOf(AUDIENCES),
                             metadata={"description": "invite (an expert or firm) or directory (every firm)"})
    state = fields.String(dump_only=True, metadata={"enum": list(STATES)})
    side = fields.String(dump_only=True, metadata={"description": "plant, expert or candidate (directory)"})
    unit_code = fields.String(dump_only=True)
    unit_name = fields.String(dump_only=True)
    unit_kind = fields.String(dump_only=True)
    alarm_label = fields.String(dump_only=True, allow_none=True)
    findings = fields.String(dump_only=True, allow_none=True)
    root_cause = fields.String(dump_only=True, allow_none=True)
    actions = fields.List(fields.Nested(RemoteActionSchema), dump_only=True)
    hours = fields.Decimal(dump_only=True, as_string=True, allow_none=True)
    report_attachment_id = fields.UUID(dump_only=True, allow_none=True)
    billing = fields.String(dump_only=True, allow_none=True)
    billed_minutes = fields.Integer(dump_only=True, allow_none=True)
    accepted_at = fields.DateTime(dump_only=True, allow_none=True)
    resolved_at = fields.DateTime(dump_only=True, allow_none=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)

    def _dump_ranges(self, obj):
        return obj["time_ranges"] if isinstance(obj, dict) else obj.time_ranges

    def _load_ranges(self, value):
        if not isinstance(value, list):
            raise ma.ValidationError("Give a list of time ranges.")
        return RemoteRangeSchema(many=True).load(value)


class RemoteRequestFilterSchema(ma.Schema):
    role = fields.String(validate=validate.OneOf(("plant", "expert", "directory")))
    state = fields.String(validate=validate.OneOf((*STATES, "active")))


class RemoteInviteSchema(ma.Schema):
    profile_id = fields.UUID(allow_none=True, load_default=None)
    expert_tenant_id = fields.UUID(allow_none=True, load_default=None)


class RemoteAcceptSchema(ma.Schema):
    profile_id = fields.UUID(allow_none=True, load_default=None,
                             metadata={"description": "Which of the firm's experts takes it"})


class RemoteReasonSchema(ma.Schema):
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class RemoteResolveSchema(ma.Schema):
    findings = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    root_cause = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20000))
    actions = fields.List(fields.Nested(RemoteActionSchema), load_default=list, validate=validate.Length(max=30))
    hours = fields.Decimal(allow_none=True, load_default=None, as_string=True, allow_nan=False,
                           metadata={"description": "Time spent, hours (billed when the plant closes)"})


class RemoteCloseSchema(ma.Schema):
    billing = fields.String(load_default="stripe", validate=validate.OneOf(BILLING_MODES),
                            metadata={"description": "stripe: metered expert hours; offline: settled outside"})


class RemoteRateSchema(ma.Schema):
    score = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=4000))
    id = fields.UUID(dump_only=True)
    rater_tenant_id = fields.UUID(dump_only=True)
    at = fields.DateTime(dump_only=True)


class RemoteGrantSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    unit_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=20))
    tags = fields.List(fields.Nested(RemoteTagSchema), required=True, validate=validate.Length(min=1, max=20))
    hours = fields.Float(load_default=48, allow_nan=False, validate=validate.Range(min=0, min_inclusive=False,
                                                                                  max=24 * 30),
                         metadata={"description": "How long from now the grant lasts"})
    may_propose_commands = fields.Boolean(load_default=False, metadata={"description": "Read-only unless true"})
    history_days = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=3650),
                                  metadata={"description": "How far back history may be read (none: no limit)"})
    state = fields.String(dump_only=True, metadata={"description": "active, scheduled, expired or revoked"})
    valid_from = fields.DateTime(dump_only=True)
    valid_until = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    label = fields.String(dump_only=True)


class RemoteDataArgsSchema(ma.Schema):
    """Optional, so that the request is looked up first (404 before 422):
    without them, the request's first agent and its tags."""

    agent_id = fields.UUID()
    tags = TagList(metadata={"description": "Comma-separated granted tags, e.g. mill.speed,strip.tension"})


class RemoteHistoryArgsSchema(RemoteDataArgsSchema):
    start = fields.AwareDateTime(data_key="from", metadata={"description": "Start (default: an hour ago)"})
    end = fields.AwareDateTime(data_key="to", metadata={"description": "End, exclusive (default: now)"})
    step = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1, max=31_536_000),
                          metadata={"description": "Seconds per bucket"})
    agg = fields.String(load_default="avg", validate=validate.OneOf(("avg", "min", "max", "last")))


class RemoteAnnotationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(required=True)
    tag = fields.String(required=True, validate=validate.Length(min=1, max=200))
    ts_from = fields.AwareDateTime(required=True)
    ts_to = fields.AwareDateTime(allow_none=True, load_default=None)
    body = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    author_tenant_id = fields.UUID(dump_only=True)
    at = fields.DateTime(dump_only=True)


class RemoteAnnotationArgsSchema(ma.Schema):
    agent_id = fields.UUID()
    tag = fields.String(validate=validate.Length(min=1, max=200))


class RemoteMessageSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    parent_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "Answer to this message"})
    body = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    author_tenant_id = fields.UUID(dump_only=True)
    author_user_id = fields.UUID(dump_only=True, allow_none=True)
    at = fields.DateTime(dump_only=True)


class RemoteFileSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True)
    filename = fields.String(dump_only=True)
    content_type = fields.String(dump_only=True)
    size = fields.Integer(dump_only=True)
    uploaded_by_tenant_id = fields.UUID(dump_only=True)
    at = fields.DateTime(dump_only=True)


class RemoteUploadSchema(ma.Schema):
    # Checked after the request is found (404 before 422).
    file = fields.Raw(metadata={"type": "string", "format": "binary"})


class RemoteCommandSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("write", "restart_source")))
    tag = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=200))
    value = fields.Float(allow_none=True, load_default=None, allow_nan=False)
    source = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=120))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    params = fields.Dict(dump_only=True)
    status = fields.String(dump_only=True)
    agent_command_id = fields.UUID(dump_only=True)
    result = fields.Dict(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class RemoteSpareActionSchema(ma.Schema):
    action = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=29),
                            metadata={"description": "Index of the spare-part action in the outcome"})
    wanted_id = fields.UUID(dump_only=True)


class RemoteActivitySchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    at = fields.DateTime(dump_only=True)
    action = fields.String(dump_only=True)
    actor_user_id = fields.UUID(dump_only=True, allow_none=True)
    details = fields.Dict(dump_only=True)


class RemoteAlarmEventSchema(ma.Schema):
    at = fields.DateTime()
    ts = fields.DateTime(allow_none=True)
    event = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    value = fields.Float(allow_none=True)
    rule = fields.String()
    tag = fields.String(allow_none=True)
    agent_id = fields.UUID()
    priority = fields.String()
    kind = fields.String()
    limit = fields.Float(allow_none=True)


class RemoteUnitSchema(ma.Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    processes = fields.List(fields.String())
    description = fields.String(allow_none=True)
    maintenance = fields.List(fields.Dict())


class RemotePeerSchema(ma.Schema):
    request_id = fields.UUID()
    plant = fields.String()
    unit_code = fields.String()
    unit_name = fields.String()
    tags = fields.List(fields.Nested(RemoteTagSchema))
