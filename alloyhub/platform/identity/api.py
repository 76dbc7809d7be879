"""/api/v1: the current company, its sites, members, invitations, roles."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from .. import audit as audit_log
from .. import permissions as perms
from ..api import Blueprint, PageArgs, page_of, paginate
from ..auth import current_principal, requires
from ..db import db
from . import services
from .models import Invitation, Membership, Role, Site
from . import schemas as s

blp = Blueprint("identity_api", __name__, url_prefix="/api/v1", description="Company, sites, members and roles")


@blp.route("/me")
class Me(MethodView):
    @requires(perms.AUTHENTICATED)
    @blp.response(200, s.MeSchema)
    def get(self):
        """The caller: person, current company and permissions there"""
        principal = current_principal()
        user = db.session.get(services.User, principal.user_id) if principal.user_id else None
        if user is None:
            return {"id": None, "email": None, "name": principal.client_id, "totp_enabled": False,
                    "current_tenant_id": principal.tenant_id, "permissions": sorted(principal.permissions),
                    "tenants": []}
        return {"id": user.id, "email": user.email, "name": user.name, "totp_enabled": user.totp_enabled,
                "current_tenant_id": principal.tenant_id, "permissions": sorted(principal.permissions),
                "tenants": services.tenants_of(user.id)}


@blp.route("/tenant")
class CurrentTenant(MethodView):
    @requires(perms.TENANT_READ)
    @blp.etag
    @blp.response(200, s.TenantSchema)
    def get(self):
        """The current company"""
        return services.current_tenant()

    @requires(perms.TENANT_ADMIN)
    @blp.etag
    @blp.arguments(s.TenantUpdateSchema)
    @blp.response(200, s.TenantSchema)
    def patch(self, data):
        """Rename the company or change its single sign-on e-mail domains"""
        blp.check_etag(services.current_tenant(), s.TenantSchema)
        return services.update_tenant(**data)


@blp.route("/sites")
class Sites(MethodView):
    @requires(perms.TENANT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.SiteSchema))
    def get(self, args):
        """Sites (plants) of the company"""
        return paginate(services.sites_query(), args, (Site.created_at, Site.id))

    @requires(perms.TENANT_ADMIN)
    @blp.arguments(s.SiteSchema)
    @blp.response(201, s.SiteSchema)
    def post(self, data):
        """Add a site"""
        return services.create_site(**data)


@blp.route("/sites/<uuid:site_id>")
class SiteItem(MethodView):
    @requires(perms.TENANT_READ)
    @blp.etag
    @blp.response(200, s.SiteSchema)
    def get(self, site_id):
        """One site"""
        return services.get_site(site_id)

    @requires(perms.TENANT_ADMIN)
    @blp.etag
    @blp.arguments(s.SiteUpdateSchema)
    @blp.response(200, s.SiteSchema)
    def patch(self, data, site_id):
        """Edit a site"""
        site = services.get_site(site_id)
        blp.check_etag(site, s.SiteSchema)
        return services.update_site(site, **data)


@blp.route("/members")
class Members(MethodView):
    @requires(perms.MEMBERS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.MemberFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.MemberSchema))
    def get(self, args, status=None):
        """Members of the company"""
        return paginate(services.members_query(status), args, (Membership.created_at, Membership.id))


@blp.route("/members/<uuid:membership_id>")
class MemberItem(MethodView):
    @requires(perms.MEMBERS_READ)
    @blp.etag
    @blp.response(200, s.MemberSchema)
    def get(self, membership_id):
        """One member"""
        return services.get_membership(membership_id)

    @requires(perms.MEMBERS_ADMIN)
    @blp.etag
    @blp.arguments(s.MemberUpdateSchema)
    @blp.response(200, s.MemberSchema)
    def patch(self, data, membership_id):
        """Change a member's roles or (de)activate them"""
        membership = services.get_membership(membership_id)
        blp.check_etag(membership, s.MemberSchema)
        if "role_ids" in data:
            membership = services.set_member_roles(membership, data["role_ids"])
        if "status" in data:
            membership = services.set_member_status(membership, data["status"])
        return membership


@blp.route("/invitations")
class Invitations(MethodView):
    @requires(perms.MEMBERS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.InvitationSchema))
    def get(self, args):
        """Pending invitations"""
        return paginate(services.invitations_query(), args, (Invitation.created_at, Invitation.id))

    @requires(perms.MEMBERS_ADMIN)
    @blp.arguments(s.InvitationSchema)
    @blp.response(201, s.InvitationSchema)
    def post(self, data):
        """Invite someone by e-mail with a role"""
        invitation, _token = services.invite(email=data["email"], role_id=data["role_id"],
                                             base_url=current_app.config["BASE_URL"])
        return invitation


@blp.route("/invitations/<uuid:invitation_id>")
class InvitationItem(MethodView):
    @requires(perms.MEMBERS_READ)
    @blp.response(200, s.InvitationSchema)
    def get(self, invitation_id):
        """One invitation"""
        return services.get_invitation(invitation_id)

    @requires(perms.MEMBERS_ADMIN)
    @blp.response(204)
    def delete(self, invitation_id):
        """Revoke a pending invitation"""
        services.revoke_invitation(services.get_invitation(invitation_id))


@blp.route("/roles")
class Roles(MethodView):
    @requires(perms.MEMBERS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.RoleSchema))
    def get(self, args):
        """Roles of the company"""
        return paginate(services.roles_query(), args, (Role.key, Role.id))

    @requires(perms.MEMBERS_ADMIN)
    @blp.arguments(s.RoleSchema)
    @blp.response(201, s.RoleSchema)
    def post(self, data):
        """Create a custom role"""
        return services.create_role(**data)


@blp.route("/roles/<uuid:role_id>")
class RoleItem(MethodView):
    @requires(perms.MEMBERS_READ)
    @blp.etag
    @blp.response(200, s.RoleSchema)
    def get(self, role_id):
        """One role"""
        return services.get_role(role_id)

    @requires(perms.MEMBERS_ADMIN)
    @blp.etag
    @blp.arguments(s.RoleUpdateSchema)
    @blp.response(200, s.RoleSchema)
    def patch(self, data, role_id):
        """Rename a role or change its permissions"""
        role = services.get_role(role_id)
        blp.check_etag(role, s.RoleSchema)
        return services.update_role(role, **data)

    @requires(perms.MEMBERS_ADMIN)
    @blp.etag
    @blp.response(204)
    def delete(self, role_id):
        """Delete a custom role nobody holds"""
        role = services.get_role(role_id)
        blp.check_etag(role, s.RoleSchema)
        services.delete_role(role)


@blp.route("/permissions")
class Permissions(MethodView):
    @requires(perms.AUTHENTICATED)
    @blp.response(200, s.PermissionSchema(many=True))
    def get(self):
        """Every permission a role can grant"""
        return sorted(perms.REGISTRY.values(), key=lambda p: p.name)


@blp.route("/audit")
class Audit(MethodView):
    @requires(perms.AUDIT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.AuditFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.AuditEntrySchema))
    def get(self, args, **filters):
        """The company's audit log, newest first"""
        stmt = audit_log.query(**filters)
        return paginate(stmt, args, (audit_log.AuditEntry.at, audit_log.AuditEntry.id), descending=True)
