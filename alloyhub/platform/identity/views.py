"""Pages for people: signing in and up, their account, choosing a company, and
the company's administration (members, invitations, roles, sites, settings,
audit log).

Views parse the form, call `services` and render; the rules live in
services.py. A service error becomes an inline form error (field errors) or a
flash message (conflicts) and, since services raise before writing, changes
nothing; the session is rolled back anyway so a half-made change never leaks
into the next statement.
"""
from __future__ import annotations

import uuid

import segno
from flask import (
    Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from .. import audit
from .. import permissions as perms
from ..api import paginate
from ..auth import current_principal, requires
from ..db import db
from ..errors import AppError, Conflict, PermissionDenied, Unauthorized, handle_app_error, wants_problem
from . import services
from .models import Invitation, Membership, Role, Site, User

bp = Blueprint("identity", __name__, template_folder="templates")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    """Marks a string for extraction without translating it here."""
    return message


# Fixed messages raised by services and errors.py in English. They are listed
# here so that extraction puts them in the catalogue; the `tr` filter
# translates them when a page shows them. Messages with values in them (an
# e-mail address, a count) stay in English.
SERVICE_MESSAGES = (
    N_("Enter the company name."), N_("Enter your name."), N_("Enter a name."),
    N_("An account with this e-mail address exists; sign in instead."),
    N_("Enter the site name."), N_("Enter a short site code."), N_("Another site already uses this code."),
    N_("Wrong e-mail address or password"), N_("Enter the code from your authenticator app"),
    N_("The code is wrong or has expired"), N_("The code is wrong or has expired."),
    N_("Sign in again: the sign-in took too long or was changed"),
    N_("Your e-mail address is already confirmed"), N_("This confirmation link is invalid or has expired"),
    N_("This reset link is invalid or has expired"), N_("This reset link is invalid or has already been used"),
    N_("The current password is wrong."), N_("Two-factor sign-in is already on"),
    N_("Start setting up two-factor sign-in first"), N_("Two-factor sign-in is off"),
    N_("Use 2-60 lower-case letters, digits, '-' or '_', starting with a letter."),
    N_("A role with this key exists."), N_("The owner role cannot be changed"),
    N_("Built-in roles cannot be deleted"), N_("Give the member at least one role."),
    N_("One or more roles do not exist."), N_("A company needs at least one owner"),
    N_("The last owner cannot be deactivated"), N_("Choose a role."), N_("This person is already a member"),
    N_("The invitation is no longer pending"), N_("This invitation is invalid, expired or already used"),
    N_("An account with this e-mail address exists; sign in to accept the invitation"),
    N_("Use at least 10 characters."), N_("Mix letters with digits or symbols."),
    N_("No such site"), N_("No such role"), N_("No such member"), N_("No such invitation"),
    N_("This page is for people, not integrations"), N_("No company is selected"),
    N_("You are not a member of that company"), N_("Choose a company first"),
    N_("Bad request"), N_("Authentication required"), N_("You do not have permission to do this"),
    N_("Not found"), N_("Conflict"), N_("The request has invalid fields"), N_("Internal error"),
    N_("Something went wrong on our side; it has been logged."), N_("Too many requests"),
    # Built-in roles and the platform's permissions, stored or registered in English.
    N_("Owner"), N_("Administrator"), N_("Planner"), N_("Operator"), N_("Quality engineer"),
    N_("Maintenance engineer"), N_("Viewer"),
    N_("See the company profile and its sites"), N_("Edit the company profile, sites and single sign-on"),
    N_("See members, roles and invitations"), N_("Invite, deactivate members and edit roles"),
    N_("Manage OAuth clients of the company"), N_("Read the audit log"), N_("Export the company's data"),
)


@bp.app_template_filter("tr")
def translate_message(message) -> str:
    """Translate a message that came from a service, if the catalogue knows it."""
    return _(str(message)) if message else ""


# ---------------------------------------------------------------- helpers

def _form_errors(exc: AppError) -> dict:
    db.session.rollback()
    return exc.errors or {"__all__": [exc.detail]}


def _fail(exc: AppError) -> None:
    """A conflict or refusal outside any one field: shown as a flash message."""
    db.session.rollback()
    messages = [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]
    for message in messages:
        flash(translate_message(message), "error")


def _base_url() -> str:
    # From configuration, never from the Host header: links in mails must not
    # be steerable by whoever sends the request.
    return current_app.config["BASE_URL"]


def _me() -> User:
    principal = current_principal()
    user = db.session.get(User, principal.user_id) if principal.user_id else None
    if user is None:  # an integration's token: there is no person to show
        raise PermissionDenied("This page is for people, not integrations")
    return user


def _uuid_list(values) -> list[uuid.UUID]:
    """Form values that should be ids; anything else is a bad form, not a crash."""
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        abort(400)


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_errorhandler(Unauthorized)
def _sign_in_first(exc: Unauthorized):
    """People who open a page without a session go to the sign-in page."""
    if wants_problem() or request.method != "GET":
        return handle_app_error(exc)
    return redirect(url_for("identity.sign_in", next=request.full_path.rstrip("?")))


@bp.app_errorhandler(PermissionDenied)
def _choose_company_first(exc: PermissionDenied):
    principal = current_principal()
    if not wants_problem() and request.method == "GET" and principal and principal.tenant_id is None \
            and principal.user_id is not None:
        return redirect(url_for("identity.choose_tenant"))
    return handle_app_error(exc)


# ---------------------------------------------------------------- sign-in, sign-up, sign-out

@bp.route("/signin", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def sign_in():
    errors, email = {}, request.form.get("email", "")
    if request.method == "POST":
        code = request.form.get("totp") or None
        try:
            if "password" in request.form or not session.get("pending_uid"):
                user = services.authenticate(email, request.form.get("password", ""), code)
            else:
                user = services.complete_second_factor(session, code)
        except services.SecondFactorRequired as exc:
            # Second step: the password step passed; only the code is asked for.
            if exc.user is not None and "password" in request.form:
                services.begin_second_factor(session, exc.user)
            html = render_template("identity/sign_in.html", email=email, need_totp=True,
                                   errors={"totp": [exc.detail]} if code else {})
            return _no_store(current_app.make_response((html, 401)))
        except AppError as exc:
            errors = _form_errors(exc)
        else:
            services.start_session(session, user)
            return redirect(_safe_next(request.args.get("next")) or url_for("web.home"))
    html = render_template("identity/sign_in.html", email=email, errors=errors, need_totp=False)
    return html, 401 if errors else 200


@bp.route("/signup", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def sign_up():
    errors, form = {}, request.form
    if request.method == "POST":
        try:
            user, tenant = services.sign_up(
                company_name=form.get("company_name", ""), kind=form.get("kind", "plant"),
                site_name=form.get("site_name") or None, name=form.get("name", ""),
                email=form.get("email", ""), password=form.get("password", ""))
        except AppError as exc:
            errors = _form_errors(exc)
        else:
            services.start_session(session, user, tenant.id)
            flash(_("Welcome to AlloyHub, %(name)s.", name=tenant.name), "success")
            return redirect(url_for("web.home"))
    return render_template("identity/sign_up.html", errors=errors, form=form), 422 if errors else 200


@bp.route("/signout", methods=["POST"])
@requires(perms.PUBLIC)
def sign_out():
    services.sign_out(session)
    flash(_("You are signed out."), "success")
    return redirect(url_for("web.home"))


# ---------------------------------------------------------------- forgotten password

@bp.route("/forgot", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def forgot_password():
    if request.method == "POST":
        services.request_password_reset(request.form.get("email", ""), _base_url())
        # The same answer whether or not the address has an account.
        flash(_("If an account exists for this address, we have sent it a link to choose a new password."),
              "success")
        return redirect(url_for("identity.sign_in"))
    return render_template("identity/forgot.html")


@bp.route("/reset/<token>", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def reset_password(token: str):
    errors = {}
    try:
        services.user_for_reset_token(token)
    except AppError as exc:
        db.session.rollback()
        return _no_store(current_app.make_response(
            (render_template("identity/reset.html", invalid=translate_message(exc.detail), errors={}), 404)))
    if request.method == "POST":
        if request.form.get("password", "") != request.form.get("password_again", ""):
            errors = {"password_again": [_("The two passwords differ.")]}
        else:
            try:
                services.reset_password(token, request.form.get("password", ""))
            except AppError as exc:
                errors = _form_errors(exc)
            else:
                flash(_("Your password is changed. Sign in with the new one."), "success")
                return redirect(url_for("identity.sign_in"))
    response = current_app.make_response(
        (render_template("identity/reset.html", invalid=None, errors=errors), 422 if errors else 200))
    return _no_store(response)


# ---------------------------------------------------------------- account and security

def _qr_svg(uri: str) -> Markup:
    # segno writes a self-contained SVG; no image request, no third party.
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#1c2733", light="#ffffff")
    return Markup(svg)


def _render_account(errors: dict | None = None, status: int = 200):
    user = _me()
    setup = user.totp_secret and not user.totp_enabled
    uri = services.totp_uri(user) if setup else None
    html = render_template("identity/account.html", user=user, errors=errors or {}, totp_setup=setup,
                           totp_uri=uri, totp_qr=_qr_svg(uri) if uri else None)
    return _no_store(current_app.make_response((html, status)))


@bp.get("/account")
@requires(perms.AUTHENTICATED)
def account():
    return _render_account()


@bp.get("/verify-email/<token>")
@requires(perms.PUBLIC)
def verify_email(token: str):
    services.verify_email(token)
    flash(_("Your e-mail address is confirmed."), "success")
    return redirect(url_for("identity.account") if current_principal() else url_for("identity.sign_in"))


@bp.post("/account/verify-email")
@requires(perms.AUTHENTICATED)
def resend_verification():
    try:
        services.resend_verification(_me())
    except AppError as exc:
        flash(translate_message(exc.detail), "error")
    else:
        flash(_("We sent you a new confirmation link."), "success")
    return redirect(url_for("identity.account"))


@bp.post("/account/password")
@requires(perms.AUTHENTICATED)
def change_password():
    form = request.form
    if form.get("password", "") != form.get("password_again", ""):
        return _render_account({"password_again": [_("The two passwords differ.")]}, 422)
    user = _me()
    try:
        services.change_password(user, form.get("current_password", ""), form.get("password", ""))
    except AppError as exc:
        return _render_account(_form_errors(exc), 422)
    # Changing the password ends every session, this one included; start it again.
    services.start_session(session, user, current_principal().tenant_id)
    flash(_("Your password is changed. Other sessions are signed out."), "success")
    return redirect(url_for("identity.account"))


@bp.post("/account/totp/begin")
@requires(perms.AUTHENTICATED)
def begin_totp():
    try:
        services.begin_totp(_me())
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("identity.account"))


@bp.post("/account/totp/confirm")
@requires(perms.AUTHENTICATED)
def confirm_totp():
    try:
        services.confirm_totp(_me(), request.form.get("code", ""))
    except Conflict as exc:
        _fail(exc)
    except AppError as exc:
        return _render_account(_form_errors(exc), 422)
    else:
        flash(_("Two-factor sign-in is on. You will need a code from your app at every sign-in."), "success")
    return redirect(url_for("identity.account"))


@bp.post("/account/totp/disable")
@requires(perms.AUTHENTICATED)
def disable_totp():
    try:
        services.disable_totp(_me(), request.form.get("code", ""))
    except Conflict as exc:
        _fail(exc)
    except AppError as exc:
        return _render_account(_form_errors(exc), 422)
    else:
        flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("identity.account"))


# ---------------------------------------------------------------- companies of the person

@bp.route("/tenants")
@requires(perms.AUTHENTICATED)
def choose_tenant():
    principal = current_principal()
    return render_template("identity/choose_tenant.html", tenants=services.tenants_of(principal.user_id))


@bp.route("/tenants/switch", methods=["POST"])
@requires(perms.AUTHENTICATED)
def switch_tenant():
    principal = current_principal()
    try:
        tenant = services.switch_tenant(session, principal.user_id, request.form.get("tenant_id"))
    except (AppError, ValueError):
        db.session.rollback()
        flash(_("You are not a member of that company."), "error")
        return redirect(url_for("identity.choose_tenant"))
    flash(_("You are now working in %(name)s.", name=tenant.name), "success")
    return redirect(url_for("web.home"))


# ---------------------------------------------------------------- members

def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


@bp.get("/members")
@requires(perms.MEMBERS_READ)
def members():
    status = request.args.get("status") if request.args.get("status") in ("active", "deactivated") else None
    memberships = db.session.scalars(
        services.members_query(status).order_by(Membership.created_at, Membership.id)).unique().all()
    roles = db.session.scalars(services.roles_query().order_by(Role.builtin.desc(), Role.key)).all()
    return render_template("identity/members.html", memberships=memberships, roles=roles, status=status,
                           can_admin=_can(perms.MEMBERS_ADMIN), me=current_principal().user_id)


@bp.post("/members/<uuid:membership_id>/roles")
@requires(perms.MEMBERS_ADMIN)
def member_roles(membership_id):
    membership = services.get_membership(membership_id)
    try:
        services.set_member_roles(membership, _uuid_list(request.form.getlist("role_ids")))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("Roles of %(name)s are saved.", name=membership.user.name), "success")
    return redirect(url_for("identity.members"))


@bp.post("/members/<uuid:membership_id>/status")
@requires(perms.MEMBERS_ADMIN)
def member_status(membership_id):
    membership = services.get_membership(membership_id)
    try:
        services.set_member_status(membership, request.form.get("status", ""))
    except AppError as exc:
        _fail(exc)
    else:
        message = (_("%(name)s is deactivated.", name=membership.user.name) if membership.status == "deactivated"
                   else _("%(name)s is active again.", name=membership.user.name))
        flash(message, "success")
    return redirect(url_for("identity.members"))


# ---------------------------------------------------------------- invitations

def _render_invitations(errors: dict | None = None, form=None, status: int = 200):
    pending = db.session.scalars(services.invitations_query().order_by(Invitation.created_at.desc())).all()
    roles = db.session.scalars(services.roles_query().order_by(Role.builtin.desc(), Role.key)).all()
    return render_template("identity/invitations.html", invitations=pending, roles=roles, errors=errors or {},
                           form=form or {}, can_admin=_can(perms.MEMBERS_ADMIN)), status


@bp.get("/invitations")
@requires(perms.MEMBERS_READ)
def invitations():
    return _render_invitations()


@bp.post("/invitations")
@requires(perms.MEMBERS_ADMIN)
def invite():
    form = request.form
    try:
        role_id = _uuid_list([form["role_id"]])[0] if form.get("role_id") else None
        invitation, _token = services.invite(email=form.get("email", ""), role_id=role_id, base_url=_base_url())
    except Conflict as exc:
        _fail(exc)
        return _render_invitations(form=form, status=409)
    except AppError as exc:
        return _render_invitations(_form_errors(exc), form, 422)
    flash(_("An invitation is on its way to %(email)s.", email=invitation.email), "success")
    return redirect(url_for("identity.invitations"))


@bp.post("/invitations/<uuid:invitation_id>/revoke")
@requires(perms.MEMBERS_ADMIN)
def revoke_invitation(invitation_id):
    invitation = services.get_invitation(invitation_id)
    try:
        services.revoke_invitation(invitation)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The invitation to %(email)s is revoked.", email=invitation.email), "success")
    return redirect(url_for("identity.invitations"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def accept_invitation(token: str):
    """Open to anyone holding the link: the token is the credential."""
    try:
        invitation, tenant = services.invitation_by_token(token)
    except AppError as exc:
        db.session.rollback()
        return render_template("identity/accept.html", invalid=translate_message(exc.detail), errors={}), 404
    principal = current_principal()
    user = db.session.get(User, principal.user_id) if principal and principal.user_id else None
    has_account = user is None and services.user_by_email(invitation.email) is not None
    errors, form = {}, request.form
    if request.method == "POST" and not has_account:
        try:
            if user is not None:
                user, tenant = services.accept_invitation(token, user=user)
            else:
                user, tenant = services.accept_invitation(token, name=form.get("name", ""),
                                                          password=form.get("password", ""))
        except PermissionDenied:
            db.session.rollback()  # the wrong person is signed in; the page explains it
        except AppError as exc:
            errors = _form_errors(exc)
        else:
            services.start_session(session, user, tenant.id)
            flash(_("Welcome to %(name)s.", name=tenant.name), "success")
            return redirect(url_for("web.home"))
    html = render_template("identity/accept.html", invalid=None, invitation=invitation, tenant=tenant,
                           user=user, has_account=has_account, errors=errors, form=form, token=token)
    return _no_store(current_app.make_response((html, 422 if errors else 200)))


# ---------------------------------------------------------------- roles

def _permission_choices():
    return sorted(perms.REGISTRY.values(), key=lambda p: p.name)


def _render_roles(errors=None, form=None, status=200):
    roles = db.session.scalars(services.roles_query().order_by(Role.builtin.desc(), Role.key)).all()
    return render_template("identity/roles.html", roles=roles, permissions=_permission_choices(),
                           errors=errors or {}, form=form or {}, can_admin=_can(perms.MEMBERS_ADMIN)), status


@bp.get("/roles")
@requires(perms.MEMBERS_READ)
def roles():
    return _render_roles()


@bp.post("/roles")
@requires(perms.MEMBERS_ADMIN)
def create_role():
    form = request.form
    try:
        role = services.create_role(key=form.get("key", ""), name=form.get("name", ""),
                                    permissions=form.getlist("permissions"))
    except AppError as exc:
        return _render_roles(_form_errors(exc), form, 422)
    flash(_("The role %(name)s is created.", name=role.name), "success")
    return redirect(url_for("identity.roles"))


@bp.route("/roles/<uuid:role_id>", methods=["GET", "POST"])
@requires(perms.MEMBERS_ADMIN)
def edit_role(role_id):
    role = services.get_role(role_id)
    errors = {}
    if request.method == "POST":
        try:
            services.update_role(role, name=request.form.get("name", ""),
                                 permissions=request.form.getlist("permissions"))
        except Conflict as exc:
            _fail(exc)
            return redirect(url_for("identity.roles"))
        except AppError as exc:
            errors = _form_errors(exc)
            role = services.get_role(role_id)
        else:
            flash(_("The role %(name)s is saved.", name=role.name), "success")
            return redirect(url_for("identity.roles"))
    return render_template("identity/role_edit.html", role=role, permissions=_permission_choices(),
                           errors=errors), 422 if errors else 200


@bp.post("/roles/<uuid:role_id>/delete")
@requires(perms.MEMBERS_ADMIN)
def delete_role(role_id):
    role = services.get_role(role_id)
    name = role.name
    try:
        services.delete_role(role)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The role %(name)s is deleted.", name=name), "success")
    return redirect(url_for("identity.roles"))


# ---------------------------------------------------------------- sites

def _site_fields(form) -> dict:
    return {"name": form.get("name", ""), "code": form.get("code", ""),
            "address": form.get("address") or None, "timezone": form.get("timezone") or "Asia/Shanghai"}


def _render_sites(errors=None, form=None, status=200):
    sites = db.session.scalars(services.sites_query().order_by(Site.code)).all()
    return render_template("identity/sites.html", sites=sites, errors=errors or {}, form=form or {},
                           can_admin=_can(perms.TENANT_ADMIN)), status


@bp.get("/sites")
@requires(perms.TENANT_READ)
def sites():
    return _render_sites()


@bp.post("/sites")
@requires(perms.TENANT_ADMIN)
def create_site():
    try:
        site = services.create_site(**_site_fields(request.form))
    except AppError as exc:
        return _render_sites(_form_errors(exc), request.form, 422)
    flash(_("The site %(name)s is added.", name=site.name), "success")
    return redirect(url_for("identity.sites"))


@bp.route("/sites/<uuid:site_id>", methods=["GET", "POST"])
@requires(perms.TENANT_ADMIN)
def edit_site(site_id):
    site = services.get_site(site_id)
    errors, form = {}, None
    if request.method == "POST":
        try:
            services.update_site(site, **_site_fields(request.form))
        except AppError as exc:
            errors = _form_errors(exc)
        else:
            flash(_("The site %(name)s is saved.", name=site.name), "success")
            return redirect(url_for("identity.sites"))
        form = request.form
        site = services.get_site(site_id)
    return render_template("identity/site_edit.html", site=site, form=form, errors=errors), 422 if errors else 200


# ---------------------------------------------------------------- company settings

@bp.route("/settings", methods=["GET", "POST"])
@requires(perms.TENANT_ADMIN)
def settings():
    errors = {}
    if request.method == "POST":
        try:
            services.update_tenant(name=request.form.get("name", ""))
        except AppError as exc:
            errors = _form_errors(exc)
        else:
            flash(_("The company settings are saved."), "success")
            return redirect(url_for("identity.settings"))
    return render_template("identity/settings.html", tenant=services.current_tenant(), errors=errors), \
        422 if errors else 200


# ---------------------------------------------------------------- audit log

AUDIT_PAGE_SIZE = 50


@bp.get("/audit")
@requires(perms.AUDIT_READ)
def audit_log():
    action = request.args.get("action", "").strip()[:80] or None
    actor = request.args.get("actor", "").strip()[:254] or None
    page = paginate(audit.query(action=action, actor=actor),
                    {"limit": AUDIT_PAGE_SIZE, "cursor": request.args.get("cursor") or None},
                    (audit.AuditEntry.at, audit.AuditEntry.id), descending=True)
    # Most entries name their actor by user id only; show the e-mail address.
    ids = {e.actor_user_id for e in page["items"] if e.actor_user_id}
    emails = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
    return render_template("identity/audit.html", entries=page["items"], next_cursor=page["next_cursor"],
                           emails=emails, action=action or "", actor=actor or "",
                           first_page=not request.args.get("cursor"))


# ---------------------------------------------------------------- layout context

TENANT_KINDS = {"plant": _l("Processing plant"), "supplier": _l("Supplier"), "customer": _l("Customer"),
                "expert": _l("Expert firm"), "alliance": _l("Industry alliance")}
STATUSES = {"active": _l("Active"), "deactivated": _l("Deactivated")}


@bp.app_context_processor
def _labels():
    return {"tenant_kind_label": lambda kind: TENANT_KINDS.get(kind, kind),
            "status_label": lambda status: STATUSES.get(status, status)}


@bp.app_context_processor
def _identity_context():
    principal = current_principal()
    if principal is None or principal.user_id is None:
        return {"current_user": None, "my_tenants": lambda: [], "current_tenant": None}
    user = db.session.get(User, principal.user_id)
    tenants = None

    def my_tenants():
        nonlocal tenants
        if tenants is None:
            tenants = services.tenants_of(principal.user_id)
        return tenants

    def current_tenant():
        return next((t for t in my_tenants() if t.id == principal.tenant_id), None)

    return {"current_user": user, "my_tenants": my_tenants, "current_tenant": current_tenant}
