"""Pages: the alarm list (acknowledge and shelve in place with htmx), an
alarm's detail with its history, the rules page with maintenance windows.

Views parse forms, call services and render; a service error becomes an
inline form error or a flash message.
"""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError

from . import services
from .models import PRIORITIES, RULE_KINDS, STATES
from .permissions import ALARMS_ACK, ALARMS_CONFIGURE, ALARMS_READ

bp = Blueprint("alarms", __name__, template_folder="templates")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


# Names shown for stored values and messages raised by services in English
# (translated on the page by the `tr` filter).
LABELS = {
    "normal": _l("Normal"), "active_unacked": _l("Active, unacknowledged"),
    "active_acked": _l("Active, acknowledged"), "returned_unacked": _l("Returned, unacknowledged"),
    "shelved": _l("Shelved"), "suppressed": _l("Suppressed (maintenance)"), "open": _l("Needing attention"),
    "critical": _l("Critical"), "high": _l("High"), "medium": _l("Medium"), "low": _l("Low"),
    "kind.high": _l("High limit"), "kind.low": _l("Low limit"), "kind.rate": _l("Rate of change"),
    "kind.stale": _l("Stale data"), "kind.offline": _l("Agent offline"),
    "activate": _l("Raised"), "return": _l("Returned"), "ack": _l("Acknowledged"), "shelve": _l("Shelved"),
    "unshelve": _l("Unshelved"), "suppress": _l("Suppressed"), "unsuppress": _l("Suppression ended"),
    "reset": _l("Reset"),
}
SERVICE_MESSAGES = (
    N_("Choose a kind of rule."), N_("Choose a priority."), N_("Enter a name."), N_("No such agent."),
    N_("Enter the tag."), N_("Enter the limit."), N_("The rate limit must be above zero."),
    N_("The deadband cannot be negative."), N_("The deadband must be smaller than the rate limit."),
    N_("The on-delay cannot be negative."), N_("Enter the time-out in seconds."),
    N_("Give a reason for shelving."), N_("Shelve for 1 minute to 7 days."),
    N_("This alarm needs no acknowledgement"), N_("This alarm cannot be shelved now"),
    N_("This alarm is not shelved"), N_("This maintenance window has ended"),
    N_("Enter 0-2160 hours, or leave it empty for an open window."), N_("Enter a number."),
    N_("No such alarm"), N_("No such alarm rule"), N_("No such maintenance window"),
    N_("See alarms and their history"), N_("Acknowledge and shelve alarms"),
    N_("Configure alarm rules and maintenance windows"),
    N_("shelve expired"), N_("maintenance"), N_("maintenance ended"), N_("disabled"),
)


@bp.app_template_filter("alarm_label")
def alarm_label(value) -> str:
    return str(LABELS.get(value, value or ""))


@bp.app_context_processor
def _alarm_badge():
    """The nav badge: alarms waiting for an acknowledgement (counted when shown)."""

    def nav_badge(key: str) -> int:
        principal = current_principal()
        if key != "alarms" or principal is None or principal.tenant_id is None or not principal.can(ALARMS_READ):
            return 0
        try:
            return services.unacknowledged_count()
        except Exception:  # an error page must still render
            db.session.rollback()
            return 0

    return {"nav_badge": nav_badge}


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _uuid_or_none(value):
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        abort(400)


def _fail(exc: AppError) -> None:
    db.session.rollback()
    for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
        flash(_(str(message)), "error")


# ---------------------------------------------------------------- alarm list and detail

@bp.get("/alarms")
@requires(ALARMS_READ)
def alarm_list():
    args = request.args
    state = args.get("state", "open")
    state = state if state in ("open", "all", *STATES) else "open"
    priority = args.get("priority") if args.get("priority") in PRIORITIES else None
    agent_id = _uuid_or_none(args.get("agent_id"))
    alarms = services.alarm_list(None if state == "all" else state, priority, agent_id)
    agents = services.agents()
    return render_template("alarms/list.html", alarms=alarms, agents=agents,
                           agent_names={a.id: a.name for a in agents},
                           filters={"state": state, "priority": priority, "agent_id": agent_id},
                           states=("open", "all", *STATES), priorities=PRIORITIES, can_ack=_can(ALARMS_ACK),
                           can_configure=_can(ALARMS_CONFIGURE))


@bp.get("/alarms/<uuid:alarm_id>")
@requires(ALARMS_READ)
def alarm_detail(alarm_id):
    alarm = services.get_alarm(alarm_id)
    agents = services.agents()
    events = services.history(alarm)
    return render_template("alarms/detail.html", alarm=alarm, events=events,
                           users=services.user_names({e.user_id for e in events}),
                           agent_names={a.id: a.name for a in agents}, can_ack=_can(ALARMS_ACK))


def _after_action(alarm_id):
    """htmx swaps the row in place; a plain form goes back where it came from."""
    if request.headers.get("HX-Request"):
        alarm = services.get_alarm(alarm_id)
        agents = services.agents()
        return render_template("alarms/_row.html", alarm=alarm, agent_names={a.id: a.name for a in agents},
                               can_ack=_can(ALARMS_ACK))
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("alarms.alarm_detail", alarm_id=alarm_id)
    return redirect(target)


@bp.post("/alarms/<uuid:alarm_id>/ack")
@requires(ALARMS_ACK)
def ack(alarm_id):
    alarm = services.get_alarm(alarm_id)
    try:
        services.acknowledge(alarm, request.form.get("note"))
    except AppError as exc:
        _fail(exc)
    return _after_action(alarm_id)


@bp.post("/alarms/<uuid:alarm_id>/shelve")
@requires(ALARMS_ACK)
def shelve(alarm_id):
    alarm = services.get_alarm(alarm_id)
    try:
        minutes = int(request.form.get("minutes", ""))
    except ValueError:
        minutes = 0
    try:
        services.shelve(alarm, request.form.get("reason", ""), minutes)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The alarm is shelved."), "success")
    return _after_action(alarm_id)


@bp.post("/alarms/<uuid:alarm_id>/unshelve")
@requires(ALARMS_ACK)
def unshelve(alarm_id):
    alarm = services.get_alarm(alarm_id)
    try:
        services.unshelve(alarm)
    except AppError as exc:
        _fail(exc)
    return _after_action(alarm_id)


# ---------------------------------------------------------------- rules and maintenance

def _float(form, name, errors):
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors.setdefault(name, []).append("Enter a number.")
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors.setdefault(name, []).append("Enter a number.")
        return None
    return value


def _int(form, name, errors):
    value = _float(form, name, errors)
    return int(value) if value is not None else None


def _rule_fields(form) -> tuple[dict, dict]:
    errors: dict[str, list[str]] = {}
    agent_id = form.get("agent_id")
    try:
        agent_id = uuid.UUID(agent_id) if agent_id else None
    except ValueError:
        agent_id = None
    data = {
        "agent_id": agent_id, "tag": (form.get("tag") or "").strip() or None, "name": form.get("name", ""),
        "kind": form.get("kind"), "priority": form.get("priority"), "limit": _float(form, "limit", errors),
        "deadband": _float(form, "deadband", errors) or 0.0, "on_delay_s": _int(form, "on_delay_s", errors) or 0,
        "timeout_s": _int(form, "timeout_s", errors), "enabled": form.get("enabled") == "on",
        "description": (form.get("description") or "").strip() or None,
    }
    return data, errors


def _render_rules(errors=None, form=None, status=200):
    rules = list(db.session.scalars(services.rules_query().limit(1000)).unique())
    rules.sort(key=lambda r: (services.PRIORITY_RANK.get(r.priority, 9), r.name.lower()))
    agents = services.agents()
    html = render_template("alarms/rules.html", rules=rules, agents=agents,
                           agent_names={a.id: a.name for a in agents}, windows=services.current_windows(),
                           errors=errors or {}, form=form or {}, kinds=RULE_KINDS, priorities=PRIORITIES,
                           known_tags=services.known_tags(), can_configure=_can(ALARMS_CONFIGURE))
    return html, status


@bp.get("/alarms/rules")
@requires(ALARMS_READ)
def rules():
    return _render_rules()


@bp.post("/alarms/rules")
@requires(ALARMS_CONFIGURE)
def create_rule():
    data, errors = _rule_fields(request.form)
    if errors:
        return _render_rules(errors, request.form, 422)
    try:
        rule = services.create_rule(**data)
    except AppError as exc:
        db.session.rollback()
        return _render_rules(exc.errors or {"__all__": [exc.detail]}, request.form, 422)
    flash(_("The alarm rule %(name)s is added.", name=rule.name), "success")
    return redirect(url_for("alarms.rules"))


@bp.route("/alarms/rules/<uuid:rule_id>", methods=["GET", "POST"])
@requires(ALARMS_CONFIGURE)
def edit_rule(rule_id):
    rule = services.get_rule(rule_id)
    errors, form = {}, None
    if request.method == "POST":
        data, errors = _rule_fields(request.form)
        if not errors:
            try:
                services.update_rule(rule, **data)
            except AppError as exc:
                db.session.rollback()
                errors = exc.errors or {"__all__": [exc.detail]}
            else:
                flash(_("The alarm rule %(name)s is saved.", name=rule.name), "success")
                return redirect(url_for("alarms.rules"))
        form = request.form
        rule = services.get_rule(rule_id)
    return render_template("alarms/rule_edit.html", rule=rule, form=form, errors=errors, agents=services.agents(),
                           kinds=RULE_KINDS, priorities=PRIORITIES, known_tags=services.known_tags()), \
        422 if errors else 200


@bp.post("/alarms/rules/<uuid:rule_id>/delete")
@requires(ALARMS_CONFIGURE)
def delete_rule(rule_id):
    rule = services.get_rule(rule_id)
    services.delete_rule(rule)
    flash(_("The alarm rule %(name)s is deleted.", name=rule.name), "success")
    return redirect(url_for("alarms.rules"))


@bp.post("/alarms/maintenance")
@requires(ALARMS_CONFIGURE)
def start_maintenance():
    errors: dict[str, list[str]] = {}
    hours = _float(request.form, "hours", errors)
    if errors:
        return _render_rules(errors, request.form, 422)
    try:
        services.start_maintenance(_uuid_or_none(request.form.get("agent_id")), hours, request.form.get("reason"))
    except AppError as exc:
        db.session.rollback()
        return _render_rules(exc.errors or {"__all__": [exc.detail]}, request.form, 422)
    flash(_("The equipment is in maintenance: its alarms are suppressed."), "success")
    return redirect(url_for("alarms.rules"))


@bp.post("/alarms/maintenance/<uuid:window_id>/end")
@requires(ALARMS_CONFIGURE)
def end_maintenance(window_id):
    window = services.get_window(window_id)
    try:
        services.end_maintenance(window)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The maintenance window is ended."), "success")
    return redirect(url_for("alarms.rules"))
