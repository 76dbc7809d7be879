"""Pages: schedule versions (with the new-version form, the disruption banner
and the mark-down form), one version's Gantt with KPIs, explanation,
progress while solving and the lock / move / re-solve / publish actions,
the comparison of two versions and one disruption with its affected
operations and the re-schedule button.

Views parse forms, call services and render; a refused action comes back
as a flashed message (translated) on the page it came from.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import utcnow
from alloyhub.platform.errors import AppError
from alloyhub.tenants.equipment import services as equipment

from . import gantt, services
from . import problem as problems
from .models import OBJECTIVES, PUBLISHED, SOLVED, SOLVING
from .permissions import SCHEDULING_PLAN, SCHEDULING_READ

bp = Blueprint("scheduling", __name__, template_folder="templates", url_prefix="/scheduling")

LABELS = {
    "draft": _l("Draft"), "solving": _l("Solving"), "solved": _l("Solved"), "failed": _l("Failed"),
    "published": _l("Published"), "superseded": _l("Superseded"),
    "weighted_tardiness": _l("Weighted tardiness"), "makespan": _l("Makespan"), "total_setup": _l("Total set-up"),
    "mix": _l("Weighted mix"),
    "open": _l("Open"), "rescheduled": _l("Re-scheduled"), "dismissed": _l("Dismissed"),
    "alarm": _l("Alarm"), "planner": _l("Planner"),
    "late_lines": _l("Late lines"), "total_lateness_min": _l("Total lateness (h)"), "makespan_min": _l("Makespan (h)"),
    "total_setup_min": _l("Total set-up (h)"), "weighted_tardiness_kpi": _l("Weighted tardiness"),
    "hour": _l("Hours"), "day": _l("Days"), "week": _l("Weeks"),
}


@bp.app_template_filter("sched_label")
def sched_label(value):
    return LABELS.get(value, value)


def _can_plan() -> bool:
    principal = current_principal()
    return bool(principal and principal.can(SCHEDULING_PLAN))


def _local(value, tz=None):
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(tz or problems.plant_tz()).strftime("%Y-%m-%d %H:%M")


def _fail(exc: AppError) -> None:
    detail = exc.detail
    if exc.errors:
        detail = "; ".join(f"{m}" for msgs in exc.errors.values() for m in (msgs if isinstance(msgs, list) else [msgs]))
    flash(detail, "error")


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _number(value, default=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _when(value):
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.route("/")
@requires(SCHEDULING_READ)
def versions():
    tz = problems.plant_tz()
    disruptions = services.open_disruptions()
    units = equipment.units(active_only=True)
    codes = {u.id: u.code for u in equipment.units()}
    affected = {d.id: services.affected(d) for d in disruptions}
    now_local = utcnow().astimezone(tz)
    return render_template("scheduling/versions.html", versions=services.versions(), objectives=OBJECTIVES,
                           can_plan=_can_plan(), disruptions=disruptions, affected=affected, units=units,
                           codes=codes, local=lambda v: _local(v, tz), published=services.published_version(),
                           default_start=now_local.strftime("%Y-%m-%dT%H:%M"),
                           default_end=(now_local + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))


@bp.route("/versions", methods=["POST"])
@requires(SCHEDULING_PLAN)
def create_version():
    form = request.form
    weights = {k: int(_number(form.get(f"w_{k}"), 0) or 0) for k in services.SINGLE}
    try:
        version = services.create_version(name=form.get("name"), objective=form.get("objective") or "",
                                          weights=weights, time_limit=_number(form.get("time_limit"), -1))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("scheduling.versions"))
    return redirect(url_for("scheduling.version_page", version_id=version.id))


@bp.route("/versions/<uuid:version_id>")
@requires(SCHEDULING_READ)
def version_page(version_id):
    version = services.get_version(version_id)
    tz = problems.plant_tz()
    zoom = request.args.get("zoom") if request.args.get("zoom") in gantt.ZOOMS else "day"
    ops = list(version.operations)
    units = services.units_by_id({op.unit_id for op in ops})
    rows = [gantt.Row(str(u.id), u.code, u.name) for u in sorted(units.values(), key=lambda u: u.code)]
    actuals = services.actuals(version) if version.status == PUBLISHED else {}
    down = []
    for w in (version.inputs or {}).get("down", []):
        down.append({"unit_id": w["unit_id"], "start": datetime.fromisoformat(w["start"]),
                     "end": datetime.fromisoformat(w["end"])})
    if version.status == PUBLISHED:
        down += [{"unit_id": str(d.unit_id), "start": d.starts_at, "end": d.ends_at}
                 for d in services.open_disruptions()]
    chart = gantt.render(rows, ops, zoom=zoom, tz=tz, actuals=actuals, down=down,
                         labels={"setup": _("set-up"), "actual": _("actual")}) if ops else None
    families = sorted({op.alloy_family or "other" for op in ops})
    others = [v for v in services.versions() if v.id != version.id and v.kpis]
    return render_template("scheduling/version.html", version=version, chart=chart, zoom=zoom, zooms=gantt.ZOOMS,
                           families=[(f, gantt.colour(f)) for f in families], can_plan=_can_plan(),
                           local=lambda v: _local(v, tz), units={str(k): v for k, v in units.items()},
                           others=others, can_publish=services.can_publish() and version.status == SOLVED,
                           solving=version.status == SOLVING, disruptions=services.open_disruptions()
                           if version.status == PUBLISHED else [], objectives=OBJECTIVES, tz=str(tz),
                           codes={u.id: u.code for u in equipment.units()})


@bp.route("/versions/<uuid:version_id>/resolve", methods=["POST"])
@requires(SCHEDULING_PLAN)
def resolve(version_id):
    version = services.get_version(version_id)
    try:
        new = services.resolve(version, time_limit=_number(request.form.get("time_limit")))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("scheduling.version_page", version_id=version.id))
    return redirect(url_for("scheduling.version_page", version_id=new.id))


@bp.route("/versions/<uuid:version_id>/publish", methods=["POST"])
@requires(SCHEDULING_PLAN)
def publish(version_id):
    version = services.get_version(version_id)
    try:
        services.publish(version)
        flash(_("Version %(n)s is published: work orders are released to the shop floor.", n=version.number),
              "success")
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("scheduling.version_page", version_id=version.id))


@bp.route("/operations/<uuid:scheduled_operation_id>/lock", methods=["POST"])
@requires(SCHEDULING_PLAN)
def lock(scheduled_operation_id):
    op = services.get_operation(scheduled_operation_id)
    try:
        services.lock_operation(op, request.form.get("locked", "1") == "1")
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("scheduling.version_page", version_id=op.version_id, zoom=request.form.get("zoom")))


@bp.route("/operations/<uuid:scheduled_operation_id>/move", methods=["POST"])
@requires(SCHEDULING_PLAN)
def move(scheduled_operation_id):
    op = services.get_operation(scheduled_operation_id)
    try:
        new = services.move_operation(op, unit_id=_uuid(request.form.get("unit_id")),
                                      start=_when(request.form.get("start")))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("scheduling.version_page", version_id=op.version_id))
    return redirect(url_for("scheduling.version_page", version_id=new.id))


@bp.route("/compare")
@requires(SCHEDULING_READ)
def compare():
    a, b = _uuid(request.args.get("a")), _uuid(request.args.get("b"))
    if a is None or b is None:
        abort(404)
    try:
        result = services.compare(services.get_version(a), services.get_version(b))
    except AppError as exc:
        if exc.status == 404:
            raise
        _fail(exc)
        return redirect(url_for("scheduling.versions"))
    tz = problems.plant_tz()
    return render_template("scheduling/compare.html", c=result, local=lambda v: _local(v, tz))


@bp.route("/disruptions", methods=["POST"])
@requires(SCHEDULING_PLAN)
def mark_down():
    form = request.form
    try:
        disruption = services.mark_down(unit_id=_uuid(form.get("unit_id")), starts_at=_when(form.get("starts_at")),
                                        ends_at=_when(form.get("ends_at")), reason=form.get("reason"))
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("scheduling.versions"))
    return redirect(url_for("scheduling.disruption_page", disruption_id=disruption.id))


@bp.route("/disruptions/<uuid:disruption_id>")
@requires(SCHEDULING_READ)
def disruption_page(disruption_id):
    disruption = services.get_disruption(disruption_id)
    tz = problems.plant_tz()
    unit = equipment.get_unit(disruption.unit_id)
    return render_template("scheduling/disruption.html", d=disruption, unit=unit,
                           affected=services.affected(disruption) if disruption.status == "open" else [],
                           can_plan=_can_plan(), published=services.published_version(),
                           local=lambda v: _local(v, tz))


@bp.route("/disruptions/<uuid:disruption_id>/reschedule", methods=["POST"])
@requires(SCHEDULING_PLAN)
def reschedule(disruption_id):
    disruption = services.get_disruption(disruption_id)
    try:
        version = services.reschedule(disruption)
    except AppError as exc:
        _fail(exc)
        return redirect(url_for("scheduling.disruption_page", disruption_id=disruption.id))
    return redirect(url_for("scheduling.version_page", version_id=version.id))


@bp.route("/disruptions/<uuid:disruption_id>/dismiss", methods=["POST"])
@requires(SCHEDULING_PLAN)
def dismiss(disruption_id):
    disruption = services.get_disruption(disruption_id)
    try:
        services.dismiss(disruption)
    except AppError as exc:
        _fail(exc)
    return redirect(url_for("scheduling.versions"))
