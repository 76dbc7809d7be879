"""Marshmallow schemas: the API's shapes and the agent's config contract
(agents/alloyhub_agent: sources/*.py and tags.py)."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

SOURCE_KINDS = ("simulator", "modbus", "opcua")
DATA_TYPES = ("int16", "uint16", "int32", "uint32", "float32", "bool")  # the agent's tags.DATA_TYPES
CATALOGUE_TYPES = ("float", "int", "bool", "string")
TAG_STATES = ("active", "unknown", "ignored")
COMMAND_KINDS = ("write", "restart_source")
TAG_NAME = validate.Regexp(r"^[A-Za-z0-9_.:/\-]{1,200}$", error="Use 1-200 letters, digits or . _ - : /")
WORD_ORDERS = ("big", "little")
SIM_FAULTS = ("bearing_drift", "gauge_deviation", "stoppage")  # the agent's simulator.FAULTS
SIM_SIGNALS = ("speed", "tension", "entry_gauge", "exit_gauge", "work_roll_temp", "bearing_temp", "motor_current",
               "power_kw", "energy_kwh", "furnace_temp")  # the agent's simulator.SIGNALS
# How each kind of source names a value (the agent's parse_address of each source).
MODBUS_ADDRESS = re.compile(r"^\s*(?:(?:hr|ir|co|di):\d{1,5}|0*[1-9]\d{0,5})\s*$", re.IGNORECASE)
SIM_ADDRESS = re.compile(r"^(?:\d{1,3}/)?(?:" + "|".join(SIM_SIGNALS) + r")$")
OPCUA_NODE_ID = re.compile(r"^(?:(?:ns|nsu)=[^;]+;)?[isgb]=.+$")
ADDRESS_ERRORS = {
    "modbus": "Use a Modbus address such as hr:0, ir:10, co:3, di:0 or 40001.",
    "simulator": "Use a simulator signal such as 0/speed: speed, tension, entry_gauge, exit_gauge, work_roll_temp, "
                 "bearing_temp, motor_current, power_kw, energy_kwh or furnace_temp, optionally after the line "
                 "number and a slash.",
    "opcua": "Use an OPC UA node id such as ns=2;s=Line1.Speed.",
}


def _address_ok(kind: str, tag: dict) -> bool:
    address = tag.get("address") or ""
    if kind == "modbus":
        return bool(MODBUS_ADDRESS.match(address))
    if kind == "opcua":
        return bool(OPCUA_NODE_ID.match(address))
    if kind == "simulator":  # without an address the simulator reads the signal named by the tag's last part
        return bool(SIM_ADDRESS.match(address or tag.get("tag", "").rpartition(".")[2]))
    return True


# ---------------------------------------------------------------- the agent's config contract

class TagConfigSchema(ma.Schema):
    tag = fields.String(required=True, validate=TAG_NAME)
    address = fields.String(load_default="", validate=validate.Length(max=200))
    data_type = fields.String(load_default="float32", validate=validate.OneOf(
        DATA_TYPES, error="Use int16, uint16, int32, uint32, float32 or bool."))
    scale = fields.Float(load_default=1.0, allow_nan=False)
    offset = fields.Float(load_default=0.0, allow_nan=False)
    unit = fields.String(load_default="", validate=validate.Length(max=30, error="Use at most 30 characters."))
    period_ms = fields.Integer(load_default=1000, validate=validate.Range(
        min=10, max=86_400_000, error="Use a period from 10 ms to 86400000 ms (one day)."))
    deadband = fields.Float(load_default=0.0, validate=validate.Range(min=0, error="The deadband cannot be negative."),
                            allow_nan=False)
    keepalive_s = fields.Float(validate=validate.Range(min=1, max=86_400, error="Use 1 to 86400 seconds."),
                               allow_nan=False)
    word_order = fields.String(validate=validate.OneOf(WORD_ORDERS, error="Use big or little."))


class SourceConfigSchema(ma.Schema):
    """One source. Kind-specific settings are checked in `validate_kind`."""

    class Meta:
        unknown = ma.INCLUDE  # e.g. max_gap, probe_s: the agent knows them

    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.\-]{1,60}$",
                                                                 error="Use 1-60 letters, digits or . _ -"))
    kind = fields.String(required=True, validate=validate.OneOf(SOURCE_KINDS,
                                                                 error="Choose simulator, modbus or opcua."))
    tags = fields.List(fields.Nested(TagConfigSchema), load_default=list,
                       validate=validate.Length(max=5000, error="Use at most 5000 tags per source."))
    # modbus
    host = fields.String(validate=validate.Length(min=1, max=253, error="Use 1-253 characters."))
    port = fields.Integer(validate=validate.Range(min=1, max=65535, error="Use a port from 1 to 65535."))
    unit = fields.Integer(validate=validate.Range(min=0, max=255, error="Use a unit id from 0 to 255."))
    timeout_s = fields.Float(validate=validate.Range(min=0.1, max=60, error="Use 0.1 to 60 seconds."),
                             allow_nan=False)
    word_order = fields.String(validate=validate.OneOf(WORD_ORDERS, error="Use big or little."))
    max_gap = fields.Integer(validate=validate.Range(min=0, max=100, error="Use 0 to 100 registers."))
    # opcua
    url = fields.String(validate=validate.Regexp(r"^opc\.tcp://\S+$", error="Use an opc.tcp:// URL"))
    username = fields.String(validate=validate.Length(max=200, error="Use at most 200 characters."))
    password = fields.String(validate=validate.Length(max=200, error="Use at most 200 characters."))
    # simulator
    seed = fields.Integer()
    points_per_second = fields.Integer(validate=validate.Range(min=1, max=100_000,
                                                               error="Use 1 to 100000 points per second."))
    faults = fields.List(fields.String(validate=validate.OneOf(SIM_FAULTS, error="Unknown fault.")))
    fault_prefix = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.:/\-]{1,100}$",
                                                          error="Use 1-100 letters, digits or . _ - : /"))

    @ma.validates_schema
    def validate_kind(self, data, **_kwargs):
        """Errors name the field, or the tag row, they belong to; all are reported together."""
        kind = data.get("kind")
        errors: dict = {}
        if kind == "modbus" and not data.get("host"):
            errors["host"] = ["A Modbus source needs a host."]
        if kind == "opcua" and not data.get("url"):
            errors["url"] = ["An OPC UA source needs an opc.tcp:// URL."]
        rows: dict = {}
        seen: set[str] = set()
        for i, tag in enumerate(data.get("tags") or []):
            if kind in ("modbus", "opcua") and not tag.get("address"):
                rows.setdefault(i, {})["address"] = ["Give the tag's address."]
            elif not _address_ok(kind, tag):
                rows.setdefault(i, {})["address"] = [ADDRESS_ERRORS[kind]]
            if tag["tag"] in seen:
                rows.setdefault(i, {})["tag"] = ["Two tags have the same name."]
            seen.add(tag["tag"])
        if rows:
            errors["tags"] = rows
        if errors:
            raise ma.ValidationError(errors)


class AgentConfigSchema(ma.Schema):
    """What an admin edits: the sources with their tags, and the write allow-list."""

    sources = fields.List(fields.Nested(SourceConfigSchema), required=True, validate=validate.Length(max=50))
    allow_write = fields.List(fields.String(validate=TAG_NAME), load_default=list,
                              validate=validate.Length(max=1000))

    @ma.validates_schema
    def unique_sources(self, data, **_kwargs):
        """Source names are unique, and tag names across sources (a point names only its tag)."""
        errors: dict = {}
        names: set[str] = set()
        owner: dict[str, int] = {}
        for i, source in enumerate(data.get("sources") or []):
            if source["name"] in names:
                errors.setdefault(i, {})["name"] = ["Two sources have the same name."]
            names.add(source["name"])
            for j, tag in enumerate(source.get("tags") or []):
                if owner.setdefault(tag["tag"], i) != i:
                    errors.setdefault(i, {}).setdefault("tags", {})[j] = {
                        "tag": ["Another source has a tag of this name."]}
        if errors:
            raise ma.ValidationError(errors, "sources")


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
