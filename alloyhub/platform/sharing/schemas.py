"""Marshmallow schemas for the ledger's API (shapes only; rules in services)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .models import GRANTEE_KINDS, MEMBER_STATES

SHARE_STATES = ("active", "scheduled", "expired", "revoked")


class ShareSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    grantor_id = fields.UUID(attribute="tenant_id", dump_only=True)
    grantee_kind = fields.String(required=True, validate=validate.OneOf(GRANTEE_KINDS))
    grantee_id = fields.UUID(allow_none=True, load_default=None,
                             metadata={"description": "The company or alliance; empty for every subscriber"})
    object_kind = fields.String(required=True, validate=validate.Length(min=1, max=60))
    object_id = fields.UUID(allow_none=True, load_default=None,
                            metadata={"description": "One object; empty for every object of the kind"})
    module = fields.String(dump_only=True)
    label = fields.String(dump_only=True)
    valid_from = fields.AwareDateTime(allow_none=True, load_default=None)
    valid_until = fields.AwareDateTime(allow_none=True, load_default=None)
    state = fields.Method("_state", dump_only=True,
                          metadata={"description": "active | scheduled | expired | revoked"})
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    revoke_reason = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)

    def _state(self, share) -> str:
        from .services import effective_state

        return effective_state(share)

    @ma.post_dump(pass_original=True)
    def _grantee(self, data, original, **kwargs):
        data["grantee_id"] = None if original.grantee_kind == "subscribers" else str(original.grantee_key)
        return data


class ShareFilterSchema(ma.Schema):
    state = fields.String(validate=validate.OneOf(SHARE_STATES))
    object_kind = fields.String(validate=validate.Length(min=1, max=60))
    module = fields.String(validate=validate.Length(min=1, max=40))


class ReceivedFilterSchema(ma.Schema):
    object_kind = fields.String(validate=validate.Length(min=1, max=60))


class RevokeSchema(ma.Schema):
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class ShareReadSchema(ma.Schema):
    id = fields.UUID()
    share_id = fields.UUID()
    reader_tenant_id = fields.UUID()
    reader_user_id = fields.UUID(allow_none=True)
    object_kind = fields.String()
    object_id = fields.UUID()
    action = fields.String()
    at = fields.DateTime()


class ActivityFilterSchema(ma.Schema):
    share_id = fields.UUID()
    object_kind = fields.String(validate=validate.Length(min=1, max=60))


class MembershipSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    alliance_id = fields.UUID(attribute="tenant_id", dump_only=True)
    member_id = fields.UUID(attribute="member_tenant_id", dump_only=True)
    state = fields.String(dump_only=True, metadata={"description": " | ".join(MEMBER_STATES)})
    company = fields.String(load_only=True, required=True, validate=validate.Length(min=1, max=60),
                            metadata={"description": "The invited company's short name (slug)"})
    created_at = fields.DateTime(dump_only=True)
    responded_at = fields.DateTime(dump_only=True, allow_none=True)


class MembershipFilterSchema(ma.Schema):
    state = fields.String(validate=validate.OneOf(MEMBER_STATES))
