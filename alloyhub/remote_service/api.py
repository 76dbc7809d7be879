"""/api/v1/remote-service: expert profiles and the directory, service
requests and their steps, access grants (the consent ledger), the expert's
reads under a grant, annotations, conversation, files, proposed commands.

Endpoints both parties of a request use declare `authenticated` and the
service checks the side and its permission (remote_service.request for the
plant, remote_service.diagnose for the expert); one-sided endpoints declare
their permission directly."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Response
from flask.views import MethodView

from alloyhub.platform import api as api_conventions
from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.errors import PermissionDenied, ValidationFailed
from alloyhub.platform.permissions import AUTHENTICATED
from alloyhub.platform.sharing import services as sharing
from alloyhub.tenants.telemetry import schemas as telemetry_schemas

from . import schemas as s
from . import services
from .models import ExpertProfile, ServiceRequest
from .permissions import REMOTE_APPROVE, REMOTE_DIAGNOSE, REMOTE_GRANT, REMOTE_REQUEST

blp = Blueprint("remote_service_api", __name__, url_prefix="/api/v1/remote-service",
                description="Remote expert diagnostics: directory, service requests, consented access, commands")

R = "/requests/<uuid:service_request_id>"
ProfilePage = page_of(s.RemoteProfileSchema)


def _profile_view(profile: ExpertProfile, stats=None, names=None) -> dict:
    stats = stats if stats is not None else services.ratings_of([profile.id])
    names = names if names is not None else services.tenant_names([profile.tenant_id])
    view = {c: getattr(profile, c) for c in ("id", "tenant_id", "user_id", "name", "headline", "bio",
                                              "equipment_types", "processes", "brands", "languages", "hourly_rate",
                                              "currency", "availability", "published", "created_at", "updated_at")}
    avg, n = stats.get(profile.id, (None, 0))
    view.update(rating=avg, ratings=n, firm=names.get(profile.tenant_id, ""))
    return view


def _profiles_page(page: dict) -> dict:
    items = page["items"]
    stats = services.ratings_of([p.id for p in items])
    names = services.tenant_names({p.tenant_id for p in items})
    return {"items": [_profile_view(p, stats, names) for p in items], "next_cursor": page["next_cursor"]}


def _request_view(req: ServiceRequest) -> dict:
    view = {c.key: getattr(req, c.key) for c in ServiceRequest.__table__.columns}
    view["side"] = services.side(req)
    return view


# ---------------------------------------------------------------- profiles and directory

@blp.route("/profiles")
class Profiles(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ProfilePage)
    def get(self, args):
        """The firm's own expert profiles"""
        return _profiles_page(paginate(services.own_profiles_query(), args, (ExpertProfile.created_at, ExpertProfile.id)))

    @requires(REMOTE_DIAGNOSE)
    @blp.arguments(s.RemoteProfileSchema)
    @blp.response(201, s.RemoteProfileSchema)
    def post(self, data):
        """Add an expert profile (published: shown in the directory)"""
        return _profile_view(services.create_profile(**data))


@blp.route("/profiles/<uuid:profile_id>")
class ProfileItem(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.response(200, s.RemoteProfileSchema)
    def get(self, profile_id):
        """One of the firm's expert profiles"""
        return _profile_view(services.get_own_profile(profile_id))

    @requires(REMOTE_DIAGNOSE)
    @blp.arguments(s.RemoteProfilePatchSchema(partial=True))
    @blp.response(200, s.RemoteProfileSchema)
    def patch(self, data, profile_id):
        """Change an expert profile"""
        return _profile_view(services.update_profile(services.get_own_profile(profile_id), **data))


@blp.route("/directory")
class Directory(MethodView):
    @requires(REMOTE_REQUEST)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.RemoteDirectoryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, ProfilePage)
    def get(self, args, **filters):
        """Search the expert directory (text; equipment type, process, brand, language; available now)"""
        return _profiles_page(paginate(services.directory_query(**filters), args,
                                       (ExpertProfile.name, ExpertProfile.id)))


@blp.route("/directory/<uuid:profile_id>")
class DirectoryItem(MethodView):
    @requires(REMOTE_REQUEST)
    @blp.response(200, s.RemoteProfileSchema)
    def get(self, profile_id):
        """One expert of the directory, with the plants' average rating"""
        return _profile_view(services.get_profile(profile_id))


# ---------------------------------------------------------------- requests

@blp.route("/requests")
class Requests(MethodView):
    @requires(AUTHENTICATED)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.RemoteRequestFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.RemoteRequestSchema))
    def get(self, args, role=None, state=None):
        """Service requests: the plant's own (role=plant), those for the firm
        (role=expert), open ones in the directory (role=directory), or both sides"""
        principal = current_principal()
        needed = {"plant": REMOTE_REQUEST, "expert": REMOTE_DIAGNOSE, "directory": REMOTE_DIAGNOSE}.get(role)
        if needed and not principal.can(needed):
            raise PermissionDenied(f"This needs the permission '{needed}'", permission=needed)
        if principal.tenant_id is None:
            raise PermissionDenied("Choose a company first")
        page = paginate(services.requests_query(role, state), args, (ServiceRequest.created_at, ServiceRequest.id),
                        descending=True)
        return {"items": [_request_view(r) for r in page["items"]], "next_cursor": page["next_cursor"]}

    @requires(REMOTE_REQUEST)
    @blp.arguments(s.RemoteRequestSchema)
    @blp.response(201, s.RemoteRequestSchema)
    def post(self, data):
        """Open a service request on a unit (or from an alarm): invite an expert or firm, or post it to the directory"""
        return _request_view(services.create_request(**data))


@blp.route(R)
class RequestItem(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, s.RemoteRequestSchema)
    def get(self, service_request_id):
        """One service request (either party, or an open one in the directory)"""
        req = services.get_for(service_request_id, "plant", "expert", "candidate")
        return _request_view(req)


def _step(path: str, name: str, schema, permission: str, doc: str, fn):
    """A POST that moves a request one step."""

    def post(self, data, service_request_id):
        req = services.get_request(service_request_id, for_update=True)
        return _request_view(fn(req, **data) or req)

    post.__doc__ = doc
    post = requires(permission)(blp.response(200, s.RemoteRequestSchema)(blp.arguments(schema)(post)))
    view = type(name, (MethodView,), {"post": post})
    blp.route(R + path, endpoint=name)(view)


_step("/accept", "RequestAccept", s.RemoteAcceptSchema, REMOTE_DIAGNOSE,
      "The expert firm takes the request (invited, or from the directory)",
      lambda req, profile_id=None: services.accept(req, profile_id))
_step("/decline", "RequestDecline", s.RemoteReasonSchema, REMOTE_DIAGNOSE, "The invited firm declines",
      lambda req, reason=None: services.decline(req, reason))
_step("/invite", "RequestInvite", s.RemoteInviteSchema, REMOTE_REQUEST,
      "The plant invites an expert (profile_id) or a firm (expert_tenant_id)",
      lambda req, **data: services.invite(req, **data))
_step("/post", "RequestPost", s.RemoteReasonSchema, REMOTE_REQUEST, "The plant posts the request to the directory",
      lambda req, reason=None: services.post_to_directory(req))
_step("/cancel", "RequestCancel", s.RemoteReasonSchema, REMOTE_REQUEST, "The plant cancels (every grant ends)",
      lambda req, reason=None: services.cancel(req))
_step("/resolve", "RequestResolve", s.RemoteResolveSchema, REMOTE_DIAGNOSE,
      "The expert reports findings, root cause, actions and hours; the PDF report is delivered",
      lambda req, **data: services.resolve(req, **data))
_step("/close", "RequestClose", s.RemoteCloseSchema, REMOTE_REQUEST,
      "The plant closes: every grant ends; hours are billed (stripe, metered) or settled offline",
      lambda req, billing="stripe": services.close(req, billing))


@blp.route(R + "/ratings")
class RequestRatings(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, s.RemoteRateSchema(many=True))
    def get(self, service_request_id):
        """Both sides' ratings of the engagement"""
        return services.ratings(services.get_for(service_request_id))

    @requires(AUTHENTICATED)
    @blp.arguments(s.RemoteRateSchema)
    @blp.response(201, s.RemoteRateSchema)
    def post(self, data, service_request_id):
        """Rate the engagement (each side once, once the outcome is in)"""
        return services.rate(services.get_request(service_request_id), data["score"], data.get("comment"))


@blp.route(R + "/spare-requests")
class RequestSpares(MethodView):
    @requires(REMOTE_REQUEST)
    @blp.arguments(s.RemoteSpareActionSchema)
    @blp.response(201, s.RemoteSpareActionSchema)
    def post(self, data, service_request_id):
        """Turn a spare-part action of the outcome into a wanted post of the spare-parts room"""
        post = services.action_to_wanted(services.get_request(service_request_id, for_update=True), data["action"])
        return {"action": data["action"], "wanted_id": post.id}


# ---------------------------------------------------------------- grants

def _grant_view(share) -> dict:
    f = share.filters or {}
    return {"id": share.id, "unit_ids": f.get("unit_ids", []), "tags": f.get("tags", []),
            "may_propose_commands": bool(f.get("may_propose_commands")),
            "history_days": (share.valid_from - datetime.fromisoformat(f["history_from"])).days
            if f.get("history_from") else None,
            "state": sharing.effective_state(share), "valid_from": share.valid_from,
            "valid_until": share.valid_until, "revoked_at": share.revoked_at, "label": share.label}


@blp.route(R + "/grants")
class RequestGrants(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, s.RemoteGrantSchema(many=True))
    def get(self, service_request_id):
        """The plant: every grant of the request. The expert: the grants in force for it now"""
        req = services.get_for(service_request_id)
        if services.side(req) == "plant":
            from alloyhub.platform.db import db

            return [_grant_view(x) for x in db.session.scalars(services.grants_query(req))]
        return [_grant_view(x) for x in services.grant_scope(req).shares]

    @requires(REMOTE_GRANT)
    @blp.arguments(s.RemoteGrantSchema)
    @blp.response(201, s.RemoteGrantSchema)
    def post(self, data, service_request_id):
        """Grant the expert firm access to these units and tags for `hours` (read-only unless may_propose_commands)"""
        req = services.get_request(service_request_id, for_update=True)
        return _grant_view(services.grant_access(req, **data))


@blp.route(R + "/grants/<uuid:grant_id>/revoke")
class GrantRevoke(MethodView):
    @requires(REMOTE_GRANT)
    @blp.arguments(s.RemoteReasonSchema)
    @blp.response(200, s.RemoteGrantSchema)
    def post(self, data, service_request_id, grant_id):
        """Revoke a grant: access stops at once, open live streams end"""
        req = services.get_for(service_request_id, "plant", permission=REMOTE_GRANT)
        return _grant_view(services.revoke_grant(req, grant_id, data.get("reason")))


@blp.route(R + "/activity")
class RequestActivity(MethodView):
    @requires(REMOTE_REQUEST)
    @blp.response(200, s.RemoteActivitySchema(many=True))
    def get(self, service_request_id):
        """The plant's audit entries of the request: every read the expert made, grants, commands"""
        req = services.get_for(service_request_id, "plant")
        return services.activity(req)


# ---------------------------------------------------------------- the expert's reads

def _series(req, args) -> tuple:
    """The agent and tags asked for, or the request's defaults (after the lookup: 404 comes first)."""
    services.get_for(req.id)
    if args.get("agent_id") is None and not args.get("tags"):
        return services.default_series(req)  # (None, []) when the request names no tag: no data
    if args.get("agent_id") is None or not args.get("tags"):
        raise ValidationFailed(errors={"agent_id": ["Name the agent and its tags together."]})
    return args["agent_id"], args["tags"]


@blp.route(R + "/history")
class RequestHistory(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.arguments(s.RemoteHistoryArgsSchema, location="query")
    @blp.response(200, telemetry_schemas.HistorySchema)
    def get(self, args, service_request_id):
        """History of granted tags (404 outside the grant's units, tags or time)"""
        req = services.get_request(service_request_id)
        agent_id, tags = _series(req, args)
        if agent_id is None:
            return {"agent_id": None, "source": "raw", "step": 1, "agg": args["agg"], "series": []}
        end = args.get("end") or datetime.now(timezone.utc)
        start = args.get("start") or end - timedelta(hours=1)
        return services.history(req, agent_id=agent_id, tags=tags, start=start, end=end, step=args["step"],
                                agg=args["agg"])


@blp.route(R + "/latest")
class RequestLatest(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.arguments(s.RemoteDataArgsSchema, location="query")
    @blp.response(200, telemetry_schemas.LatestSchema)
    def get(self, args, service_request_id):
        """Latest values of granted tags (polling; the page streams them)"""
        req = services.get_request(service_request_id)
        agent_id, tags = _series(req, args)
        if agent_id is None:
            return {"agent_id": None, "values": {}}
        return services.latest(req, agent_id=agent_id, tags=tags)


@blp.route(R + "/alarms")
class RequestAlarms(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.response(200, s.RemoteAlarmEventSchema(many=True))
    def get(self, service_request_id):
        """Alarm history of the granted tags"""
        return services.alarm_history(services.get_request(service_request_id))


@blp.route(R + "/units")
class RequestUnits(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.response(200, s.RemoteUnitSchema(many=True))
    def get(self, service_request_id):
        """The granted units and their maintenance history"""
        return services.unit_facts(services.get_request(service_request_id))


@blp.route(R + "/peers")
class RequestPeers(MethodView):
    @requires(REMOTE_DIAGNOSE)
    @blp.response(200, s.RemotePeerSchema(many=True))
    def get(self, service_request_id):
        """The same equipment type at other plants that granted the firm access now"""
        return services.peers(services.get_request(service_request_id))


# ---------------------------------------------------------------- annotations, messages, files

@blp.route(R + "/annotations")
class RequestAnnotations(MethodView):
    @requires(AUTHENTICATED)
    @blp.arguments(s.RemoteAnnotationArgsSchema, location="query")
    @blp.response(200, s.RemoteAnnotationSchema(many=True))
    def get(self, args, service_request_id):
        """Notes on the charts"""
        return services.annotations(services.get_request(service_request_id), args.get("agent_id"), args.get("tag"))

    @requires(AUTHENTICATED)
    @blp.arguments(s.RemoteAnnotationSchema)
    @blp.response(201, s.RemoteAnnotationSchema)
    def post(self, data, service_request_id):
        """Annotate a moment or span of a tag (the expert: a granted tag)"""
        return services.annotate(services.get_request(service_request_id), **data)


@blp.route(R + "/messages")
class RequestMessages(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, s.RemoteMessageSchema(many=True))
    def get(self, service_request_id):
        """The conversation, oldest first (parent_id threads answers)"""
        return services.messages(services.get_request(service_request_id))

    @requires(AUTHENTICATED)
    @blp.arguments(s.RemoteMessageSchema)
    @blp.response(201, s.RemoteMessageSchema)
    def post(self, data, service_request_id):
        """Write to the other party (parent_id: answer a message)"""
        return services.post_message(services.get_request(service_request_id), data["body"], data.get("parent_id"))


@blp.route(R + "/files")
class RequestFiles(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, s.RemoteFileSchema(many=True))
    def get(self, service_request_id):
        """Files both sides attached, and the report"""
        return services.files(services.get_request(service_request_id))

    @requires(AUTHENTICATED)
    @blp.arguments(s.RemoteUploadSchema, location="files")
    @blp.response(201, s.RemoteFileSchema)
    def post(self, files, service_request_id):
        """Attach a file (multipart field `file`): photos, videos, logs, documents"""
        req = services.get_for(service_request_id)
        upload = files.get("file")
        if not hasattr(upload, "read"):
            raise ValidationFailed(errors={"file": ["Attach a file."]})
        return services.upload(req, upload.filename or "", upload.read(), upload.mimetype)


api_conventions.NON_JSON_BODY_ENDPOINTS.add("remote_service_api.RequestFiles")


@blp.route("/files/<uuid:remote_file_id>/content")
class RequestFileContent(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, content_type="application/octet-stream")
    def get(self, remote_file_id):
        """Download a file of a request (either party)"""
        row = services.get_file(remote_file_id)
        return Response(services.file_bytes(row), mimetype=row.content_type,
                        headers={"Content-Disposition": f'attachment; filename="{row.filename}"',
                                 "X-Content-Type-Options": "nosniff"})


# ---------------------------------------------------------------- commands

@blp.route(R + "/commands")
class RequestCommands(MethodView):
    @requires(AUTHENTICATED)
    @blp.response(200, s.RemoteCommandSchema(many=True))
    def get(self, service_request_id):
        """Commands the expert proposed, with their approval and the agent's result"""
        return services.commands(services.get_request(service_request_id))

    @requires(REMOTE_DIAGNOSE)
    @blp.arguments(s.RemoteCommandSchema)
    @blp.response(201, s.RemoteCommandSchema)
    def post(self, data, service_request_id):
        """Propose a command (write a granted tag on the agent's allow-list, or restart a source); it waits for the
        plant's approval and never reaches the agent without it"""
        return services.propose_command(services.get_request(service_request_id), **data)


def _decide(approve: bool):
    def post(self, service_request_id, remote_command_id):
        req = services.get_for(service_request_id, "plant", permission=REMOTE_APPROVE)
        return services.decide_command(req, remote_command_id, approve)

    post.__doc__ = ("Approve the command: it goes down the agent's command channel" if approve
                    else "Reject the command: it never reaches the agent")
    return requires(REMOTE_APPROVE)(blp.response(200, s.RemoteCommandSchema)(post))


blp.route(R + "/commands/<uuid:remote_command_id>/approve", endpoint="CommandApprove")(
    type("CommandApprove", (MethodView,), {"post": _decide(True)}))
blp.route(R + "/commands/<uuid:remote_command_id>/reject", endpoint="CommandReject")(
    type("CommandReject", (MethodView,), {"post": _decide(False)}))
