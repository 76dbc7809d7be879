"""Marshmallow schemas: the API's shapes and the agent's config contract
(agents/alloyhub_agent: sources/*.py and tags.py)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

SOURCE_KINDS = ("simulator", "modbus", "opcua")
DATA_TYPES = ("int16", "uint16", "int32", "uint32", "float32", "bool")  # the agent's tags.DATA_TYPES
CATALOGUE_TYPES = ("float", "int", "bool", "string")
TAG_STATES = ("active", "unknown", "ignored")
COMMAND_KINDS = ("write", "restart_source")
TAG_NAME = validate.Regexp(r"^[A-Za-z0-9_.:/\-]{1,200}$", error="Use 1-200 letters, digits or . _ - : /")


# ---------------------------------------------------------------- the agent's config contract

class TagConfigSchema(ma.Schema):
    tag = fields.String(required=True, validate=TAG_NAME)
    address = fields.String(load_default="", validate=validate.Length(max=200))
    data_type = fields.String(load_default="float32", validate=validate.OneOf(DATA_TYPES))
    scale = fields.Float(load_default=1.0, allow_nan=False)
    offset = fields.Float(load_default=0.0, allow_nan=False)
    unit = fields.String(load_default="", validate=validate.Length(max=30))
    period_ms = fields.Integer(load_default=1000, validate=validate.Range(min=10, max=86_400_000))
    deadband = fields.Float(load_default=0.0, validate=validate.Range(min=0), allow_nan=False)
    keepalive_s = fields.Float(validate=validate.Range(min=1, max=86_400), allow_nan=False)
    word_order = fields.String(validate=validate.OneOf(("big", "little")))


class SourceConfigSchema(ma.Schema):
    """One source. Kind-specific settings are checked in `validate_kind`."""

    class Meta:
        unknown = ma.INCLUDE  # e.g. max_gap, probe_s: the agent knows them

    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.\-]{1,60}$",
                                                                 error="Use 1-60 letters, digits or . _ -"))
    kind = fields.String(required=True, validate=validate.OneOf(SOURCE_KINDS))
    tags = fields.List(fields.Nested(TagConfigSchema), load_default=list, validate=validate.Length(max=5000))
    # modbus
    host = fields.String(validate=validate.Length(min=1, max=253))
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    unit = fields.Integer(validate=validate.Range(min=0, max=255))
    timeout_s = fields.Float(validate=validate.Range(min=0.1, max=60), allow_nan=False)
    # opcua
    url = fields.String(validate=validate.Regexp(r"^opc\.tcp://\S+$", error="Use an opc.tcp:// URL"))
    username = fields.String(validate=validate.Length(max=200))
    password = fields.String(validate=validate.Length(max=200))
    # simulator
    seed = fields.Integer()
    points_per_second = fields.Integer(validate=validate.Range(min=1, max=100_000))
    faults = fields.List(fields.String(validate=validate.OneOf(("bearing_drift", "gauge_deviation", "stoppage"))))

    @ma.validates_schema
    def validate_kind(self, data, **_kwargs):
        kind = data.get("kind")
        if kind == "modbus" and not data.get("host"):
            raise ma.ValidationError("A Modbus source needs a host.", "host")
        if kind == "opcua" and not data.get("url"):
            raise ma.ValidationError("An OPC UA source needs an opc.tcp:// URL.", "url")
        if kind in ("modbus", "opcua"):
            for i, tag in enumerate(data.get("tags") or []):
                if not tag.get("address"):
                    raise ma.ValidationError({i: {"address": ["Give the tag's address."]}}, "tags")
        names = [t["tag"] for t in data.get("tags") or []]
        if len(set(names)) != len(names):
            raise ma.ValidationError("Two tags have the same name.", "tags")


class AgentConfigSchema(ma.Schema):
    """What an admin edits: the sources with their tags, and the write allow-list."""

    sources = fields.List(fields.Nested(SourceConfigSchema), required=True, validate=validate.Length(max=50))
    allow_write = fields.List(fields.String(validate=TAG_NAME), load_default=list,
                              validate=validate.Length(max=1000))

    @ma.validates_schema
    def unique_sources(self, data, **_kwargs):
        names = [s["name"] for s in data.get("sources") or []]
        if len(set(names)) != len(names):
            raise ma.ValidationError("Two sources have the same name.", "sources")


class AgentConfigOutSchema(ma.Schema):
    version = fields.Integer(required=True)
    sources = fields.List(fields.Dict(), required=True)
    allow_write = fields.List(fields.String(), required=True)


# ---------------------------------------------------------------- agents

class AgentSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    site_id = fields.UUID(allow_none=True, load_default=None)
    status = fields.String(dump_only=True)
    hostname = fields.String(dump_only=True, allow_none=True)
    agent_version = fields.String(dump_only=True, allow_none=True)
    enrolled_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    last_seen_at = fields.DateTime(dump_only=True, allow_none=True)
    online = fields.Boolean(dump_only=True)
    health = fields.Dict(dump_only=True)
    config_version = fields.Integer(dump_only=True)
    allow_write = fields.List(fields.String(), dump_only=True)
    mqtt_username = fields.String(dump_only=True)
    topic_prefix = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class AgentUpdateSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    site_id = fields.UUID(allow_none=True)


class AgentFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(("pending", "active", "revoked")))


class EnrollmentTokenSchema(ma.Schema):
    """The token is shown here once; only its hash is kept."""

    agent = fields.Nested(AgentSchema, required=True)
    enrollment_token = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class TokenArgsSchema(ma.Schema):
    expires_in_hours = fields.Integer(load_default=24, validate=validate.Range(min=1, max=24 * 30))


class EnrollRequestSchema(ma.Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    hostname = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=253))
    agent_version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))


class MqttCredentialsSchema(ma.Schema):
    url = fields.String(required=True)
    username = fields.String(required=True)
    password = fields.String(required=True)
    client_id = fields.String(required=True)


class EnrollResponseSchema(ma.Schema):
    agent_id = fields.UUID(required=True)
    tenant_id = fields.UUID(required=True)
    mqtt = fields.Nested(MqttCredentialsSchema, required=True)
    topic_prefix = fields.String(required=True)
    ca_cert = fields.String(allow_none=True, required=True)
    config = fields.Dict(allow_none=True, required=True)


class BrokerStatusSchema(ma.Schema):
    enabled = fields.Boolean(required=True)
    reason = fields.String(allow_none=True)


# ---------------------------------------------------------------- tags

class TagSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True)
    tag = fields.String(required=True, validate=TAG_NAME)
    description = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    unit = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=30))
    data_type = fields.String(load_default="float", validate=validate.OneOf(CATALOGUE_TYPES))
    status = fields.String(dump_only=True)
    unknown_points = fields.Integer(dump_only=True)
    first_seen_at = fields.DateTime(dump_only=True, allow_none=True)


class TagUpdateSchema(ma.Schema):
    description = fields.String(allow_none=True, validate=validate.Length(max=2000))
    unit = fields.String(allow_none=True, validate=validate.Length(max=30))
    data_type = fields.String(validate=validate.OneOf(CATALOGUE_TYPES))
    status = fields.String(validate=validate.OneOf(("active", "ignored")))


class TagFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(TAG_STATES))


# ---------------------------------------------------------------- commands

class CommandSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True)
    params = fields.Dict(dump_only=True)
    status = fields.String(dump_only=True)
    requested_by = fields.UUID(dump_only=True, allow_none=True)
    approved_by = fields.UUID(dump_only=True, allow_none=True)
    sent_at = fields.DateTime(dump_only=True, allow_none=True)
    acked_at = fields.DateTime(dump_only=True, allow_none=True)
    result = fields.Dict(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class CommandCreateSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(COMMAND_KINDS))
    tag = fields.String(validate=TAG_NAME)
    value = fields.Raw(allow_none=True)
    source = fields.String(validate=validate.Length(min=1, max=60))

    @ma.validates_schema
    def needs(self, data, **_kwargs):
        if data.get("kind") == "write":
            if not data.get("tag"):
                raise ma.ValidationError("Name the tag to write.", "tag")
            value = data.get("value")
            if not isinstance(value, (int, float, bool)) or (isinstance(value, float) and value != value):
                raise ma.ValidationError("Give a number or true/false.", "value")
        if data.get("kind") == "restart_source" and not data.get("source"):
            raise ma.ValidationError("Name the source to restart.", "source")


class CommandFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(
        ("pending_approval", "approved", "sent", "acked", "failed", "rejected")))
