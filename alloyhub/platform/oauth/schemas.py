from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate



class Text(fields.String):
    """A string PostgreSQL can store: no NUL characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in result:
            raise ma.ValidationError("Must not contain NUL characters.")
        return result


_scope = Text(validate=validate.Length(min=1, max=80))
_uri = Text(validate=validate.Length(min=1, max=2000))


class PatSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    token_prefix = fields.String(dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    active = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class PatCreateSchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    scopes = fields.List(_scope, required=True, validate=validate.Length(min=1, max=100))
    expires_in_days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=365))


class PatCreatedSchema(PatSchema):
    token = fields.String(dump_only=True, metadata={"description": "Shown once; store it now"})


class ClientSchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    client_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    kind = fields.String(dump_only=True)
    public = fields.Boolean(dump_only=True, attribute="is_public")
    redirect_uris = fields.List(fields.String(), dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ClientCreateSchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    kind = Text(required=True, validate=validate.OneOf(["client_credentials", "authorization_code"]))
    scopes = fields.List(_scope, required=True, validate=validate.Length(max=100))
    redirect_uris = fields.List(_uri, load_default=list, validate=validate.Length(max=20))
    public = fields.Boolean(load_default=False)


class ClientCreatedSchema(ClientSchema):
    client_secret = fields.String(dump_only=True, allow_none=True,
                                  metadata={"description": "Shown once; null for public clients"})


class ClientUpdateSchema(ma.Schema):
    name = Text(validate=validate.Length(min=1, max=120))
    scopes = fields.List(_scope, validate=validate.Length(max=100))
    redirect_uris = fields.List(_uri, validate=validate.Length(max=20))


class SsoSchema(ma.Schema):
    configured = fields.Boolean(dump_only=True)
    issuer = fields.String(dump_only=True, allow_none=True)
    client_id = fields.String(dump_only=True, allow_none=True)
    client_secret_set = fields.Boolean(dump_only=True)
    enabled = fields.Boolean(dump_only=True)
    domains = fields.List(fields.String(), dump_only=True)
    sign_in_url = fields.String(dump_only=True, allow_none=True)
    redirect_uri = fields.String(dump_only=True, metadata={"description": "Register this at the IdP"})
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class SsoUpdateSchema(ma.Schema):
    issuer = Text(required=True, validate=validate.Length(min=8, max=500))
    client_id = Text(required=True, validate=validate.Length(min=1, max=255))
    client_secret = Text(load_default=None, validate=validate.Length(min=1, max=1000),
                                  metadata={"description": "Write-only; leave out to keep the stored one"})
    domains = fields.List(Text(validate=validate.Length(min=3, max=253)),
                          validate=validate.Length(max=20))
    enabled = fields.Boolean(load_default=True)
