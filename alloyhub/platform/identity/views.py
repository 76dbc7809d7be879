"""Pages for signing in and up, choosing a company, and managing members."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from .. import permissions as perms
from ..auth import current_principal, requires
from ..db import db
from ..errors import AppError
from . import services
from .models import User

bp = Blueprint("identity", __name__, template_folder="templates")


def _form_errors(exc: AppError) -> dict:
    return exc.errors or {"__all__": [exc.detail]}


@bp.route("/signin", methods=["GET", "POST"])
@requires(perms.PUBLIC)
def sign_in():
    errors, email = {}, ""
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            user = services.authenticate(email, request.form.get("password", ""), request.form.get("totp") or None)
        except services.SecondFactorRequired as exc:
            return render_template("identity/sign_in.html", email=email, need_totp=True,
                                   errors={"totp": [exc.detail]} if request.form.get("totp") else {},
                                   password=request.form.get("password", "")), 401
        except AppError as exc:
            errors = _form_errors(exc)
        else:
            services.start_session(session, user)
            return redirect(_safe_next(request.args.get("next")) or url_for("web.home"))
    return render_template("identity/sign_in.html", email=email, errors=errors, need_totp=False), 401 if errors else 200


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
    return redirect(url_for("web.home"))


@bp.route("/tenants")
@requires(perms.AUTHENTICATED)
def choose_tenant():
    principal = current_principal()
    return render_template("identity/choose_tenant.html", tenants=services.tenants_of(principal.user_id))


@bp.route("/tenants/switch", methods=["POST"])
@requires(perms.AUTHENTICATED)
def switch_tenant():
    principal = current_principal()
    services.switch_tenant(session, principal.user_id, request.form.get("tenant_id"))
    return redirect(url_for("web.home"))


@bp.route("/members")
@requires(perms.MEMBERS_READ)
def members():
    memberships = db.session.scalars(services.members_query()).unique().all()
    return render_template("identity/members.html", memberships=memberships)


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.app_context_processor
def _identity_context():
    principal = current_principal()
    if principal is None or principal.user_id is None:
        return {"current_user": None, "my_tenants": []}
    user = db.session.get(User, principal.user_id)
    return {"current_user": user, "my_tenants": lambda: services.tenants_of(principal.user_id)}


__all__ = ["bp", "current_app"]
