"""Pages of the remote-service room: the overview (the plant's requests, the
firm's engagements, open requests in the directory), the expert directory,
a new request (from a unit or an alarm), a request (steps, grants, commands,
conversation, files, outcome, the plant's view of every read), the expert's
workspace (trends, live stream, comparisons, annotations, alarms, units,
commands) and the firm's expert profiles.

Views parse forms, call services and render; a service error becomes a
flash message. The live stream is Server-Sent Events: each tick asks the
ledger again, so a revoked or expired grant ends it at the next tick.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import (
    Blueprint, Response, abort, current_app, flash, redirect, render_template, request, stream_with_context, url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError
from alloyhub.platform.permissions import AUTHENTICATED

from . import services
from .messages import LABELS
from .models import ACTION_KINDS, AVAILABILITY, ENDED_STATES, MODULE, URGENCIES, ExpertProfile, ServiceRequest
from .permissions import REMOTE_APPROVE, REMOTE_DIAGNOSE, REMOTE_GRANT, REMOTE_REQUEST

bp = Blueprint("remote_service", __name__, template_folder="templates")
R = "/remote/requests/<uuid:service_request_id>"


@bp.app_template_filter("rs_label")
def rs_label(value) -> str:
    return str(LABELS.get(value, value if value is not None else ""))


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _fail(exc: AppError) -> None:
    db.session.rollback()
    for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
        flash(_(str(message)), "error")


def _uuid(value):
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _float(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _when(value):
    """A datetime-local field (taken as UTC) or ISO 8601 text."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _pairs(values) -> list[dict]:
    """Checkbox values "agent_id|tag"."""
    out = []
    for raw in values:
        agent, _sep, tag = raw.partition("|")
        if _uuid(agent) and tag:
            out.append({"agent_id": agent, "tag": tag})
    return out


def _back(req_id, anchor: str = ""):
    return redirect(url_for("remote_service.request_detail", service_request_id=req_id) + anchor)


# ---------------------------------------------------------------- links from other rooms

@dataclass(frozen=True)
class RequestLink:
    url: str
    label: str


def service_request_link(unit_id=None, alarm_id=None) -> RequestLink | None:
    """The template global `remote_service_link`: the equipment page and an
    alarm's page offer to open a service request through it, without
    importing this room. None unless the company's plan includes the room
    and the person may open requests."""
    from alloyhub.platform.billing import services as billing

    principal = current_principal()
    if principal is None or principal.tenant_id is None or not principal.can(REMOTE_REQUEST):
        return None
    try:
        if not billing.state(principal.tenant_id).plan.includes(MODULE):
            return None
    except AppError:
        return None
    args = {"alarm_id": alarm_id} if alarm_id else {"unit_id": unit_id} if unit_id else {}
    return RequestLink(url_for("remote_service.new_request", **args), _("Ask a remote expert"))


# ---------------------------------------------------------------- overview and directory

@bp.get("/remote")
@requires(AUTHENTICATED)
def index():
    if tenancy.current_tenant_id() is None:
        return redirect(url_for("web.home"))
    can_request, can_diagnose = _can(REMOTE_REQUEST), _can(REMOTE_DIAGNOSE)
    if not (can_request or can_diagnose):
        abort(403)
    state = request.args.get("state") or "active"
    ours = db.session.scalars(services.requests_query("plant", state if state != "all" else None)
                              .order_by(ServiceRequest.created_at.desc()).limit(200)).all() if can_request else []
    theirs = db.session.scalars(services.requests_query("expert", state if state != "all" else None)
                                .order_by(ServiceRequest.created_at.desc()).limit(200)).all() if can_diagnose else []
    board = db.session.scalars(services.requests_query("directory").order_by(ServiceRequest.created_at.desc())
                               .limit(100)).all() if can_diagnose else []
    names = services.tenant_names({r.tenant_id for r in theirs + board} | {r.expert_tenant_id for r in ours})
    return render_template("remote_service/index.html", ours=ours, theirs=theirs, board=board, names=names,
                           state=state, can_request=can_request, can_diagnose=can_diagnose)


@bp.get("/remote/directory")
@requires(REMOTE_REQUEST)
def directory():
    from alloyhub.tenants.equipment.models import PROCESSES, UNIT_KINDS

    args = request.args
    profiles = db.session.scalars(services.directory_query(
        q=args.get("q") or None, equipment_type=args.get("equipment_type") or None,
        process=args.get("process") or None, brand=args.get("brand") or None,
        language=args.get("language") or None, available=bool(args.get("available")))
        .order_by(ExpertProfile.name, ExpertProfile.id).limit(200)).all()
    stats = services.ratings_of([p.id for p in profiles])
    names = services.tenant_names({p.tenant_id for p in profiles})
    return render_template("remote_service/directory.html", profiles=profiles, stats=stats, names=names, args=args,
                           unit_kinds=UNIT_KINDS, processes=PROCESSES, languages=services.LANGUAGES)


@bp.get("/remote/directory/<uuid:profile_id>")
@requires(REMOTE_REQUEST)
def profile_detail(profile_id):
    profile = services.get_profile(profile_id)
    return render_template("remote_service/profile.html", profile=profile,
                           stats=services.ratings_of([profile.id]).get(profile.id),
                           reviews=services.reviews_of(profile),
                           firm=services.tenant_names([profile.tenant_id]).get(profile.tenant_id, ""),
                           own=profile.tenant_id == tenancy.current_tenant_id())


# ---------------------------------------------------------------- a new request

@bp.route("/remote/requests/new", methods=["GET", "POST"])
@requires(REMOTE_REQUEST)
def new_request():
    from alloyhub.tenants.alarms.models import Alarm
    from alloyhub.tenants.equipment.models import Unit

    source = request.form if request.method == "POST" else request.args
    alarm = None
    alarm_id = _uuid(source.get("alarm_id"))
    if alarm_id:
        alarm = db.session.scalar(select(Alarm).where(Alarm.id == alarm_id))
        if alarm is None:
            abort(404)
    unit_id = _uuid(source.get("unit_id")) or (services.unit_for_alarm(alarm) if alarm else None)
    if request.method == "POST":
        ranges = []
        for start, end, label in zip(request.form.getlist("range_from"), request.form.getlist("range_to"),
                                     request.form.getlist("range_label")):
            if start or end:
                ranges.append({"from": _when(start), "to": _when(end), "label": label})
        audience = request.form.get("audience", "invite")
        try:
            req = services.create_request(
                unit_id=unit_id, alarm_id=alarm_id, title=request.form.get("title", ""),
                symptoms=request.form.get("symptoms", ""), tags=_pairs(request.form.getlist("tag")),
                time_ranges=ranges, urgency=request.form.get("urgency", "normal"), audience=audience,
                profile_id=_uuid(request.form.get("profile_id")) if audience == "invite" else None,
                expert_tenant_id=_uuid(request.form.get("expert_tenant_id")) if audience == "invite" else None)
        except AppError as exc:
            _fail(exc)
        else:
            for upload in request.files.getlist("files"):
                if upload and upload.filename:
                    try:
                        services.upload(req, upload.filename, upload.read(), upload.mimetype)
                    except AppError as exc:
                        _fail(exc)
            flash(_("The service request is open."), "success")
            return _back(req.id)
    units = list(db.session.scalars(select(Unit).where(Unit.status == "active").order_by(Unit.code)))
    unit = next((u for u in units if u.id == unit_id), None)
    tags = services.unit_tag_pairs(unit.id) if unit else []
    if alarm is not None and alarm.rule.tag:
        pair = {"agent_id": str(alarm.agent_id), "tag": alarm.rule.tag}
        if pair not in tags:
            tags.insert(0, pair)
    alarms = list(db.session.scalars(select(Alarm).where(Alarm.raised_at.is_not(None))
                                     .order_by(Alarm.raised_at.desc()).limit(50)))
    profiles = db.session.scalars(services.directory_query().where(
        ExpertProfile.published.is_(True), ExpertProfile.tenant_id != tenancy.current_tenant_id())
        .order_by(ExpertProfile.name).limit(200)).all()
    now = datetime.now(timezone.utc)
    return render_template("remote_service/new.html", units=units, unit=unit, alarm=alarm, alarms=alarms, tags=tags,
                           profiles=profiles, firms=services.firms(), urgencies=URGENCIES, form=request.form,
                           chosen_profile=_uuid(source.get("profile_id")),
                           default_from=(alarm.raised_at - timedelta(hours=1)) if alarm and alarm.raised_at
                           else now - timedelta(hours=24), default_to=now,
                           firm_names=services.tenant_names({p.tenant_id for p in profiles}))


# ---------------------------------------------------------------- a request

@bp.get(R)
@requires(AUTHENTICATED)
def request_detail(service_request_id):
    req = services.get_for(service_request_id, "plant", "expert", "candidate")
    who = services.side(req)
    party = who in ("plant", "expert")
    grants = []
    if who == "plant":
        grants = list(db.session.scalars(services.grants_query(req).order_by(services.Share.created_at.desc())))
    scope = services.grant_scope(req) if who == "expert" else None
    rows = services.messages(req) if party else []
    people = services.user_names({m.author_user_id for m in rows})
    names = services.tenant_names({req.tenant_id, req.expert_tenant_id})
    return render_template(
        "remote_service/request.html", req=req, side=who, party=party, grants=grants, scope=scope,
        thread=services.thread(rows), people=people, names=names,
        files=services.files(req) if party else [], commands=services.commands(req) if party else [],
        annotations=services.annotations(req) if party else [],
        ratings=services.ratings(req) if party else [],
        activity=services.activity(req, 100) if who == "plant" else [],
        units=services.grantable_units(req) if who == "plant" and _can(REMOTE_GRANT) else [],
        tags=services.grantable_tags(req) if who == "plant" else [],
        firms=services.firms() if who == "plant" else [],
        own_profiles=db.session.scalars(services.own_profiles_query().order_by(ExpertProfile.name)).all()
        if who in ("expert", "candidate") else [],
        can_grant=_can(REMOTE_GRANT), can_approve=_can(REMOTE_APPROVE), action_kinds=ACTION_KINDS,
        ended=req.state in ENDED_STATES, effective_state=services.sharing.effective_state)


_STEPS = {
    "accept": (lambda req, f: services.accept(req, _uuid(f.get("profile_id"))), "The request is accepted."),
    "decline": (lambda req, f: services.decline(req, f.get("reason")), "The invitation is declined."),
    "invite": (lambda req, f: services.invite(req, profile_id=_uuid(f.get("profile_id")),
                                              expert_tenant_id=_uuid(f.get("expert_tenant_id"))),
               "The expert is invited."),
    "post": (lambda req, f: services.post_to_directory(req), "The request is posted to the directory."),
    "cancel": (lambda req, f: services.cancel(req), "The request is cancelled; every grant has ended."),
    "close": (lambda req, f: services.close(req, f.get("billing", "stripe")),
              "The request is closed; every grant has ended."),
}


@bp.post(R + "/step/<step>")
@requires(AUTHENTICATED)
def request_step(service_request_id, step):
    if step not in _STEPS:
        abort(404)
    req = services.get_request(service_request_id, for_update=True)
    fn, message = _STEPS[step]
    try:
        fn(req, request.form)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_(message), "success")
    return _back(service_request_id)


@bp.post(R + "/resolve")
@requires(REMOTE_DIAGNOSE)
def resolve(service_request_id):
    req = services.get_request(service_request_id, for_update=True)
    actions = []
    for text, kind, part in zip(request.form.getlist("action_text"), request.form.getlist("action_kind"),
                                request.form.getlist("action_part")):
        if text.strip():
            actions.append({"text": text, "kind": kind, "part_number": part})
    hours = request.form.get("hours") or None
    try:
        services.resolve(req, findings=request.form.get("findings", ""), root_cause=request.form.get("root_cause"),
                         actions=actions, hours=hours)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The outcome is saved and the report delivered."), "success")
    return _back(service_request_id, "#outcome")


@bp.post(R + "/rate")
@requires(AUTHENTICATED)
def rate(service_request_id):
    req = services.get_request(service_request_id)
    score = request.form.get("score", "")
    try:
        services.rate(req, int(score) if score.isdigit() else 0, request.form.get("comment"))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("Thank you for rating the engagement."), "success")
    return _back(service_request_id, "#ratings")


@bp.post(R + "/spares")
@requires(REMOTE_REQUEST)
def action_to_spares(service_request_id):
    req = services.get_request(service_request_id, for_update=True)
    index = request.form.get("action", "")
    try:
        services.action_to_wanted(req, int(index) if index.isdigit() else -1)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The spare part is posted as wanted in the spare-parts room."), "success")
    return _back(service_request_id, "#outcome")


@bp.post(R + "/grants")
@requires(REMOTE_GRANT)
def grant(service_request_id):
    req = services.get_request(service_request_id, for_update=True)
    history_days = request.form.get("history_days", "")
    try:
        services.grant_access(req, unit_ids=request.form.getlist("unit_id"), tags=_pairs(request.form.getlist("tag")),
                              hours=_float(request.form.get("hours"), -1.0),
                              may_propose_commands=bool(request.form.get("may_propose_commands")),
                              history_days=int(history_days) if history_days.isdigit() else None)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("Access is granted."), "success")
    return _back(service_request_id, "#grants")


@bp.post(R + "/grants/<uuid:grant_id>/revoke")
@requires(REMOTE_GRANT)
def revoke(service_request_id, grant_id):
    req = services.get_for(service_request_id, "plant", permission=REMOTE_GRANT)
    try:
        services.revoke_grant(req, grant_id, request.form.get("reason"))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("Access is revoked: the expert sees nothing more."), "success")
    return _back(service_request_id, "#grants")


@bp.post(R + "/messages")
@requires(AUTHENTICATED)
def message(service_request_id):
    req = services.get_request(service_request_id)
    try:
        services.post_message(req, request.form.get("body", ""), _uuid(request.form.get("parent_id")))
    except AppError as exc:
        _fail(exc)
    return _back(service_request_id, "#conversation")


@bp.post(R + "/files")
@requires(AUTHENTICATED)
def upload(service_request_id):
    req = services.get_request(service_request_id)
    chosen = [f for f in request.files.getlist("file") if f and f.filename]
    if not chosen:
        flash(_("Choose a file."), "error")
    for item in chosen:
        try:
            services.upload(req, item.filename, item.read(), item.mimetype)
        except AppError as exc:
            _fail(exc)
            break
    else:
        if chosen:
            flash(_("The file is attached."), "success")
    return _back(service_request_id, "#files")


@bp.get("/remote/files/<uuid:remote_file_id>")
@requires(AUTHENTICATED)
def download(remote_file_id):
    row = services.get_file(remote_file_id)
    return Response(services.file_bytes(row), mimetype=row.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{row.filename}"',
                             "X-Content-Type-Options": "nosniff"})


@bp.post(R + "/commands/<uuid:remote_command_id>/<decision>")
@requires(REMOTE_APPROVE)
def decide(service_request_id, remote_command_id, decision):
    if decision not in ("approve", "reject"):
        abort(404)
    req = services.get_for(service_request_id, "plant", permission=REMOTE_APPROVE)
    try:
        services.decide_command(req, remote_command_id, decision == "approve")
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The command is approved and sent to the agent.") if decision == "approve"
              else _("The command is rejected; it never reaches the agent."), "success")
    return _back(service_request_id, "#commands")


# ---------------------------------------------------------------- the expert's workspace

@bp.get(R + "/workspace")
@requires(REMOTE_DIAGNOSE)
def workspace(service_request_id):
    """The expert's view under its grants; the plant sees the same charts of
    its own unit (without recording anything: its own data)."""
    req = services.get_for(service_request_id, "plant", "expert")
    try:
        scope, _share = services._reading_scope(req)
    except AppError:
        scope = services.Scope()
    if not scope.tags:
        return render_template("remote_service/workspace.html", req=req, scope=scope, units=[], alarms=[], peers=[],
                               annotations=[], commands=[], by_agent={}, side=services.side(req))
    by_agent: dict[str, list[str]] = {}
    for agent_id, tag in sorted(scope.tags):
        by_agent.setdefault(agent_id, []).append(tag)
    return render_template(
        "remote_service/workspace.html", req=req, scope=scope, by_agent=by_agent, units=services.unit_facts(req),
        alarms=services.alarm_history(req, 50), peers=services.peers(req), annotations=services.annotations(req),
        commands=services.commands(req), side=services.side(req))


@bp.post(R + "/annotations")
@requires(AUTHENTICATED)
def annotate(service_request_id):
    req = services.get_request(service_request_id)
    try:
        services.annotate(req, agent_id=_uuid(request.form.get("agent_id")), tag=request.form.get("tag", ""),
                          ts_from=_when(request.form.get("ts_from")) or datetime.now(timezone.utc),
                          ts_to=_when(request.form.get("ts_to")), body=request.form.get("body", ""))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The annotation is saved."), "success")
    if services.side(req) == "expert":
        return redirect(url_for("remote_service.workspace", service_request_id=req.id) + "#annotations")
    return _back(service_request_id, "#annotations")


@bp.post(R + "/commands")
@requires(REMOTE_DIAGNOSE)
def propose(service_request_id):
    req = services.get_request(service_request_id)
    kind = request.form.get("kind", "write")
    agent, _sep, tag = request.form.get("target", "").partition("|")
    try:
        services.propose_command(req, agent_id=_uuid(agent), kind=kind, tag=tag or None,
                                 value=_float(request.form.get("value")), source=request.form.get("source") or None,
                                 reason=request.form.get("reason", ""))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The command is proposed; it waits for the plant’s approval."), "success")
    return redirect(url_for("remote_service.workspace", service_request_id=req.id) + "#commands")


@bp.get(R + "/stream")
@requires(REMOTE_DIAGNOSE)
def stream(service_request_id):
    """Server-Sent Events: the latest values of granted tags every tick,
    until the grant ends ("event: ended") or the stream's time is up."""
    from alloyhub.tenants.telemetry.schemas import TagList

    req = services.get_for(service_request_id, "plant", "expert")
    agent_id = _uuid(request.args.get("agent_id"))
    try:
        tags = TagList().deserialize(request.args.get("tags", "")) if request.args.get("tags") else []
    except Exception:  # noqa: BLE001 - marshmallow's ValidationError: a bad list is no data
        abort(404)
    if agent_id is None and not tags:
        agent_id, tags = services.default_series(req)
    if agent_id is None or not tags:
        if request.args.get("agent_id") or request.args.get("tags"):
            abort(404)
        # The request names no tag: nothing to stream.
        return Response("event: ended\ndata: {\"reason\": \"no tags\"}\n\n", mimetype="text/event-stream")
    services.open_stream(req, agent_id=agent_id, tags=tags)
    scope = tenancy.current()
    interval = float(current_app.config.get("REMOTE_STREAM_INTERVAL_S", 2.0))
    ticks = int(float(current_app.config.get("REMOTE_STREAM_MAX_S", 1800)) / interval)
    req_id = req.id

    def events():
        yield "retry: 5000\n\n"
        for _tick in range(max(1, ticks)):
            db.session.rollback()  # a fresh transaction: see a revocation committed meanwhile
            with tenancy.scoped(scope.tenant_id, scope.user_id, session=db.session):
                values = services.latest_tick(req_id, agent_id, tags)
            db.session.rollback()
            if values is None:
                yield "event: ended\ndata: {\"reason\": \"grant\"}\n\n"
                return
            yield f"data: {json.dumps(values, default=str)}\n\n"
            time.sleep(interval)
        yield "event: ended\ndata: {\"reason\": \"time\"}\n\n"

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# ---------------------------------------------------------------- the firm's profiles

@bp.route("/remote/profiles", methods=["GET", "POST"])
@requires(REMOTE_DIAGNOSE)
def profiles():
    if request.method == "POST":
        try:
            services.create_profile(**_profile_form(), user_id=tenancy.current().user_id)
        except AppError as exc:
            _fail(exc)
        else:
            flash(_("The expert profile is saved."), "success")
            return redirect(url_for("remote_service.profiles"))
    rows = db.session.scalars(services.own_profiles_query().order_by(ExpertProfile.name)).all()
    return render_template("remote_service/profiles.html", profiles=rows, profile=None, **_profile_choices())


@bp.route("/remote/profiles/<uuid:profile_id>", methods=["GET", "POST"])
@requires(REMOTE_DIAGNOSE)
def profile_edit(profile_id):
    profile = services.get_own_profile(profile_id)
    if request.method == "POST":
        try:
            services.update_profile(profile, **_profile_form())
        except AppError as exc:
            _fail(exc)
        else:
            flash(_("The expert profile is saved."), "success")
            return redirect(url_for("remote_service.profiles"))
    return render_template("remote_service/profiles.html", profiles=[], profile=profile, **_profile_choices())


def _profile_choices() -> dict:
    from alloyhub.tenants.equipment.models import PROCESSES, UNIT_KINDS

    return {"unit_kinds": UNIT_KINDS, "processes": PROCESSES, "languages": services.LANGUAGES,
            "availability": AVAILABILITY}


def _profile_form() -> dict:
    f = request.form
    return {"name": f.get("name", ""), "headline": f.get("headline"), "bio": f.get("bio"),
            "equipment_types": f.getlist("equipment_types"), "processes": f.getlist("processes"),
            "brands": [b for b in (f.get("brands") or "").replace("，", ",").split(",")],
            "languages": f.getlist("languages"), "hourly_rate": (f.get("hourly_rate") or None),
            "currency": f.get("currency") or "CNY", "availability": f.get("availability", "available"),
            "published": bool(f.get("published"))}

