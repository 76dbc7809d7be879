"""Shapes of the telemetry API."""
from __future__ import annotations

import re

import marshmallow as ma

from .services import AGGREGATES, MAX_TAGS

_STEP_RE = re.compile(r"^(\d{1,9})(s|m|h|d)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class Step(ma.fields.Field):
    """Seconds, or a number with a unit: 30s, 5m, 1h, 1d."""

    def _deserialize(self, value, attr, data, **kwargs):
        match = _STEP_RE.match(str(value).strip())
        if not match or int(match.group(1)) == 0:
            raise ma.ValidationError("A positive number of seconds, or with a unit: 30s, 5m, 1h, 1d.")
        return int(match.group(1)) * _UNITS[match.group(2)]


class TagList(ma.fields.Field):
    """Comma-separated tag names."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ma.ValidationError("Comma-separated tag names.")
        tags = list(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
        if not tags:
            raise ma.ValidationError("Name at least one tag.")
        if len(tags) > MAX_TAGS:
            raise ma.ValidationError(f"At most {MAX_TAGS} tags.")
        if any(len(t) > 200 for t in tags):
            raise ma.ValidationError("A tag name has at most 200 characters.")
        return tags


class AwareDateTime(ma.fields.AwareDateTime):
    """ISO 8601 with a time zone (a bare time is ambiguous for a plant abroad)."""


class HistoryArgs(ma.Schema):
    agent_id = ma.fields.UUID(required=True)
    tags = TagList(required=True, metadata={"description": "Comma-separated tags, e.g. mill.speed,strip.tension"})
    from_ = AwareDateTime(required=True, data_key="from", metadata={"description": "Start, ISO 8601 with zone"})
    to = AwareDateTime(required=True, metadata={"description": "End (exclusive), ISO 8601 with zone"})
    step = Step(load_default=None, metadata={"description": "Bucket: seconds or 30s/5m/1h/1d; chosen if absent"})
    agg = ma.fields.String(load_default="avg", validate=ma.validate.OneOf(AGGREGATES))

    @ma.validates_schema
    def _order(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ma.ValidationError("Must be after 'from'.", "to")


class SeriesSchema(ma.Schema):
    tag = ma.fields.String(required=True)
    points = ma.fields.List(ma.fields.Raw(), required=True,
                            metadata={"description": "[timestamp ISO 8601, value] pairs, oldest first"})


class HistorySchema(ma.Schema):
    agent_id = ma.fields.UUID(required=True)
    source = ma.fields.String(required=True, metadata={"description": "raw, minute or hour"})
    step = ma.fields.Integer(required=True, metadata={"description": "Bucket in seconds"})
    agg = ma.fields.String(required=True)
    series = ma.fields.List(ma.fields.Nested(SeriesSchema), required=True)


class LatestArgs(ma.Schema):
    agent_id = ma.fields.UUID(required=True)


class LatestSchema(ma.Schema):
    agent_id = ma.fields.UUID(required=True)
    values = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw(), required=True,
                            metadata={"description": "tag -> {v, ts, q}"})
