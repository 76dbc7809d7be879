"""/api/v1: the company's shares (grant, revoke), shares it received, the
activity feed of reads under its shares, and alliance memberships."""
from __future__ import annotations

from flask.views import MethodView

from ..api import Blueprint, PageArgs, page_of, paginate
from ..auth import requires
from . import schemas as s
from . import services
from .models import AllianceMember, Share, ShareRead
from .permissions import SHARING_ADMIN, SHARING_READ

SharePage = page_of(s.ShareSchema)

blp = Blueprint("sharing_api", __name__, url_prefix="/api/v1",
                description="The consent ledger: shares between companies, their activity feed, alliances")


@blp.route("/shares")
class Shares(MethodView):
    @requires(SHARING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ShareFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, SharePage)
    def get(self, args, state=None, object_kind=None, module=None):
        """The company's shares (as grantor), newest first"""
        return paginate(services.shares_query(state, object_kind, module=module), args,
                        (Share.created_at, Share.id), descending=True)

    @requires(SHARING_ADMIN)
    @blp.arguments(s.ShareSchema)
    @blp.response(201, s.ShareSchema)
    def post(self, data):
        """Share one object (or every object of a kind) with a company, an alliance or every subscriber"""
        return services.grant(**data)


@blp.route("/shares/received")
class Received(MethodView):
    @requires(SHARING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ReceivedFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, SharePage)
    def get(self, args, object_kind=None):
        """Shares in force addressed to the company (directly, via an alliance, or to every subscriber)"""
        return paginate(services.received_query(object_kind), args, (Share.created_at, Share.id), descending=True)


@blp.route("/shares/<uuid:share_id>")
class ShareItem(MethodView):
    @requires(SHARING_READ)
    @blp.response(200, s.ShareSchema)
    def get(self, share_id):
        """One of the company's shares"""
        return services.get_share(share_id)


@blp.route("/shares/<uuid:share_id>/revoke")
class ShareRevoke(MethodView):
    @requires(SHARING_ADMIN)
    @blp.arguments(s.RevokeSchema)
    @blp.response(200, s.ShareSchema)
    def post(self, data, share_id):
        """Revoke a share: the grantee loses sight of the objects at once (409 if revoked already)"""
        return services.revoke(services.get_share(share_id), data.get("reason"))


@blp.route("/share-activity")
class Activity(MethodView):
    @requires(SHARING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ActivityFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ShareReadSchema))
    def get(self, args, share_id=None, object_kind=None):
        """Every read other companies made under the company's shares, newest first"""
        return paginate(services.activity_query(share_id, object_kind), args, (ShareRead.at, ShareRead.id),
                        descending=True)


@blp.route("/alliance-memberships")
class Memberships(MethodView):
    @requires(SHARING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.MembershipFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.MembershipSchema))
    def get(self, args, state=None):
        """As an alliance: its members and invitations; as a company: its alliance memberships"""
        return paginate(services.memberships_query(state), args, (AllianceMember.created_at, AllianceMember.id))

    @requires(SHARING_ADMIN)
    @blp.arguments(s.MembershipSchema)
    @blp.response(201, s.MembershipSchema)
    def post(self, data):
        """Invite a company into the alliance (the current company must be an alliance)"""
        return services.invite_member(data["company"])


@blp.route("/alliance-memberships/<uuid:alliance_membership_id>/accept")
class MembershipAccept(MethodView):
    @requires(SHARING_ADMIN)
    @blp.response(200, s.MembershipSchema)
    def post(self, alliance_membership_id):
        """Accept an alliance's invitation"""
        return services.respond(services.get_membership(alliance_membership_id), True)


@blp.route("/alliance-memberships/<uuid:alliance_membership_id>/decline")
class MembershipDecline(MethodView):
    @requires(SHARING_ADMIN)
    @blp.response(200, s.MembershipSchema)
    def post(self, alliance_membership_id):
        """Decline an alliance's invitation"""
        return services.respond(services.get_membership(alliance_membership_id), False)


@blp.route("/alliance-memberships/<uuid:alliance_membership_id>/end")
class MembershipEnd(MethodView):
    @requires(SHARING_ADMIN)
    @blp.response(200, s.MembershipSchema)
    def post(self, alliance_membership_id):
        """Leave the alliance (as the member) or remove the member / withdraw the invitation (as the alliance)"""
        return services.end_membership(services.get_membership(alliance_membership_id))
