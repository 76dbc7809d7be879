"""The Sharing page: everything the company shares (revoke in one place),
the activity feed of reads under its shares, what others share with it, and
its alliances (invite, accept, leave)."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..auth import current_principal, requires
from ..db import db
from ..errors import AppError
from . import services
from .models import Share, ShareRead
from .permissions import SHARING_ADMIN, SHARING_READ

bp = Blueprint("sharing", __name__, template_folder="templates")

TABS = ("shares", "activity", "received", "alliances")
STATE_FILTERS = ("in_force", "scheduled", "expired", "revoked", "all")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


LABELS = {
    "active": _l("Active"), "scheduled": _l("Scheduled"), "expired": _l("Expired"), "revoked": _l("Revoked"),
    "in_force": _l("In force"), "all": _l("All"),
    "tenant": _l("A company"), "alliance": _l("An alliance"), "subscribers": _l("Every subscriber"),
    "invited": _l("Invited"), "declined": _l("Declined"), "left": _l("Left"), "removed": _l("Removed"),
    "viewed": _l("Viewed"), "listed": _l("Shown in search results"), "downloaded": _l("Downloaded"),
    "requested": _l("Requested"),
}
SERVICE_MESSAGES = (
    N_("No such share"), N_("This share is revoked already"), N_("No such kind of object."), N_("No such object."),
    N_("The end of the window must be later than its start and than now."), N_("No such company."),
    N_("A company does not share with itself."), N_("That company is not an alliance."),
    N_("Share with an alliance only while a member of it."), N_("A share with every subscriber names no company."),
    N_("Only an alliance invites members"), N_("No company has this short name."),
    N_("An alliance's members are companies, not alliances."), N_("This company is invited or a member already"),
    N_("This invitation has been answered already"), N_("This membership has ended already"),
    N_("No such alliance membership"), N_("Every subscriber"),
    N_("See what the company shares, with whom, and who read it"),
    N_("Revoke shares and manage alliance memberships"),
)


@bp.app_template_filter("sharing_label")
def sharing_label(value) -> str:
    return str(LABELS.get(value, value or ""))


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _fail(exc: AppError) -> None:
    db.session.rollback()
    for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
        flash(_(str(message)), "error")


def _kind_title(kind: str) -> str:
    spec = services.KINDS.get(kind)
    return str(spec.title) if spec else kind


def _object_link(share_or_read) -> str | None:
    spec = services.KINDS.get(share_or_read.object_kind)
    if spec is None or spec.link is None or share_or_read.object_id is None:
        return None
    try:
        return spec.link(share_or_read.object_id)
    except Exception:  # a page must render even if a module's link fails
        return None


@bp.get("/sharing")
@requires(SHARING_READ)
def index():
    tab = request.args.get("tab", "shares")
    if tab not in TABS:
        abort(404)
    state = request.args.get("state", "in_force")
    if state not in STATE_FILTERS:
        state = "in_force"
    kind = request.args.get("kind") or None
    if kind is not None and kind not in services.KINDS:
        kind = None
    context = {"tab": tab, "tabs": TABS, "state": state, "states": STATE_FILTERS, "kind": kind,
               "kinds": services.KINDS, "kind_title": _kind_title, "object_link": _object_link,
               "effective_state": services.effective_state, "can_admin": _can(SHARING_ADMIN),
               "tenant": services.current_tenant()}
    names: set = set()
    if tab == "shares":
        stmt = services.shares_query(None if state == "all" else state, kind)
        shares = list(db.session.scalars(stmt.order_by(Share.created_at.desc(), Share.id).limit(500)))
        counts = dict(db.session.execute(
            select(ShareRead.share_id, func.count()).where(
                ShareRead.tenant_id == context["tenant"].id,
                ShareRead.share_id.in_([s.id for s in shares] or [None])).group_by(ShareRead.share_id)).all()) \
            if shares else {}
        names |= {s.grantee_key for s in shares}
        context.update(shares=shares, read_counts=counts)
    elif tab == "activity":
        share_id = request.args.get("share_id") or None
        if share_id:
            try:
                share_id = uuid.UUID(share_id)
            except ValueError:
                abort(400)
        reads = list(db.session.scalars(services.activity_query(share_id, kind)
                                        .order_by(ShareRead.at.desc(), ShareRead.id).limit(300)))
        labels = {s.id: s.label for s in db.session.scalars(
            select(Share).where(Share.id.in_({r.share_id for r in reads} or {None})))} if reads else {}
        names |= {r.reader_tenant_id for r in reads}
        context.update(reads=reads, share_labels=labels, people=services.user_names(r.reader_user_id for r in reads),
                       share_id=share_id)
    elif tab == "received":
        received = services.shares_for(object_kind=kind)
        names |= {s.tenant_id for s in received} | {s.grantee_key for s in received}
        context.update(received=received)
    else:
        memberships = list(db.session.scalars(services.memberships_query()))
        names |= {m.tenant_id for m in memberships} | {m.member_tenant_id for m in memberships}
        context.update(memberships=memberships)
    context["names"] = services.names_of(names)
    return render_template("sharing/index.html", **context)


@bp.post("/sharing/<uuid:share_id>/revoke")
@requires(SHARING_ADMIN)
def revoke(share_id):
    share = services.get_share(share_id)
    try:
        services.revoke(share, request.form.get("reason"))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The share is revoked: %(label)s is no longer visible to the grantee.", label=share.label), "success")
    return redirect(url_for("sharing.index", tab="shares", state=request.form.get("state") or "in_force"))


@bp.post("/sharing/alliances")
@requires(SHARING_ADMIN)
def invite():
    try:
        services.invite_member(request.form.get("company", ""))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The company is invited; it becomes a member when it accepts."), "success")
    return redirect(url_for("sharing.index", tab="alliances"))


def _membership_action(alliance_membership_id, action):
    row = services.get_membership(alliance_membership_id)
    try:
        action(row)
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("sharing.index", tab="alliances"))


@bp.post("/sharing/alliances/<uuid:alliance_membership_id>/accept")
@requires(SHARING_ADMIN)
def accept(alliance_membership_id):
    return _membership_action(alliance_membership_id, lambda row: services.respond(row, True))


@bp.post("/sharing/alliances/<uuid:alliance_membership_id>/decline")
@requires(SHARING_ADMIN)
def decline(alliance_membership_id):
    return _membership_action(alliance_membership_id, lambda row: services.respond(row, False))


@bp.post("/sharing/alliances/<uuid:alliance_membership_id>/end")
@requires(SHARING_ADMIN)
def end(alliance_membership_id):
    return _membership_action(alliance_membership_id, services.end_membership)
