from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ..permissions import REGISTRY


class TenantSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    slug = fields.String(dump_only=True)
    kind = fields.String(dump_only=True)
    status = fields.String(dump_only=True)
    sso_domains = fields.List(fields.String(validate=validate.Length(min=3, max=253)),
                              validate=validate.Length(max=20))
    created_at = fields.DateTime(dump_only=True)


class TenantUpdateSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=160))
    sso_domains = fields.List(fields.String(validate=validate.Length(min=3, max=253)),
                              validate=validate.Length(max=20))


class MeTenantSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    kind = fields.String()


class MeSchema(ma.Schema):
    id = fields.UUID()
    email = fields.String()
    name = fields.String()
    totp_enabled = fields.Boolean()
    current_tenant_id = fields.UUID(allow_none=True)
    permissions = fields.List(fields.String())
    tenants = fields.List(fields.Nested(MeTenantSchema))


class SiteSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=160))
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,40}$",
                                                                error="Use 1-40 letters, digits, '-' or '_'."))
    address = fields.String(allow_none=True, validate=validate.Length(max=1000))
    timezone = fields.String(load_default="Asia/Shanghai", validate=validate.Length(min=1, max=60))
    created_at = fields.DateTime(dump_only=True)


class SiteUpdateSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=160))
    code = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,40}$",
                                                  error="Use 1-40 letters, digits, '-' or '_'."))
    address = fields.String(allow_none=True, validate=validate.Length(max=1000))
    timezone = fields.String(validate=validate.Length(min=1, max=60))


class RoleSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    key = fields.String(required=True, validate=validate.Length(min=2, max=60))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    permissions = fields.List(fields.String(validate=validate.Length(max=80)), load_default=list,
                              validate=validate.Length(max=200))
    builtin = fields.Boolean(dump_only=True)


class RoleUpdateSchema(ma.Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    permissions = fields.List(fields.String(validate=validate.Length(max=80)), validate=validate.Length(max=200))


class RoleRefSchema(ma.Schema):
    id = fields.UUID()
    key = fields.String()
    name = fields.String()


class MemberUserSchema(ma.Schema):
    id = fields.UUID()
    email = fields.String()
    name = fields.String()


class MemberSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    user = fields.Nested(MemberUserSchema, dump_only=True)
    status = fields.String(dump_only=True)
    roles = fields.List(fields.Nested(RoleRefSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class MemberUpdateSchema(ma.Schema):
    role_ids = fields.List(fields.UUID(), validate=validate.Length(min=1, max=50))
    status = fields.String(validate=validate.OneOf(["active", "deactivated"]))


class MemberFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(["active", "deactivated"]))


class InvitationSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role_id = fields.UUID(required=True, load_only=True)
    role = fields.Nested(RoleRefSchema, dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    accepted_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class PermissionSchema(ma.Schema):
    name = fields.String()
    description = fields.String()


class AuditEntrySchema(ma.Schema):
    id = fields.UUID()
    at = fields.DateTime()
    actor_user_id = fields.UUID(allow_none=True)
    actor_label = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    details = fields.Dict()


class AuditFilterSchema(ma.Schema):
    action = fields.String(validate=validate.Length(max=80),
                           metadata={"description": "Exact action, or a prefix ending in '.' (e.g. 'auth.')"})
    actor = fields.String(validate=validate.Length(max=254), metadata={"description": "Actor e-mail"})
    since = fields.DateTime()
    until = fields.DateTime()


def permission_names() -> list[str]:
    return sorted(REGISTRY)
