"""Pages: the equipment tree with live-state badges (htmx refresh), areas and
lines, a unit's page (capabilities, live-state rule, tag links, planned
downtime) and the shift calendars.

Views parse forms, call services and render; a service error becomes an
inline form error (422) or a flash message, and changes nothing.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError

from . import messages, services
from .forms import FormReader
from .models import ALLOY_FAMILIES, DOWNTIME_KINDS, LINE_KINDS, PROCESSES, SETUP_COMBINE, TAG_ROLES, UNIT_KINDS
from .permissions import EQUIPMENT_READ, EQUIPMENT_WRITE

bp = Blueprint("equipment", __name__, template_folder="templates", url_prefix="/equipment")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    return message


# Stored values, shown translated (the `eq_label` filter).
LABELS = {
    "caster": _l("Caster"), "hot_mill": _l("Hot mill"), "cold_mill": _l("Cold mill"), "foil_mill": _l("Foil mill"),
    "annealing_furnace": _l("Annealing furnace"), "slitter": _l("Slitter"), "cut_to_length": _l("Cut-to-length line"),
    "tension_leveller": _l("Tension leveller"), "extrusion_press": _l("Extrusion press"),
    "drawing_bench": _l("Drawing bench"), "packing": _l("Packing"), "inspection": _l("Inspection"),
    "other": _l("Other"),
    "cast": _l("Casting"), "hot_roll": _l("Hot roll"), "cold_roll": _l("Cold roll"), "foil_roll": _l("Foil roll"),
    "anneal": _l("Anneal"), "slit": _l("Slit"), "cut": _l("Cut to length"), "level": _l("Level"),
    "extrude": _l("Extrude"), "draw": _l("Draw"), "inspect": _l("Inspect"), "pack": _l("Pack"),
    "line": _l("Line"), "work_centre": _l("Work centre"), "active": _l("Active"), "retired": _l("Retired"),
    "running": _l("Running"), "idle": _l("Idle"), "down": _l("Down"), "unknown": _l("Unknown"),
    "maintenance": _l("Maintenance"), "holiday": _l("Holiday"), "trial": _l("Trial run"),
    "speed": _l("Speed"), "current": _l("Current"), "power": _l("Power"), "temperature": _l("Temperature"),
    "status": _l("Status"), "max": _l("The longest change counts"), "sum": _l("Changes add up"),
    "critical": _l("Critical"), "high": _l("High"), "medium": _l("Medium"), "low": _l("Low"),
    "copper": _l("Copper"), "brass": _l("Brass"), "bronze": _l("Bronze"),
}
WEEKDAY_NAMES = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
SERVICE_MESSAGES = (
    N_("Enter a short code."), N_("Use letters, digits, '-', '_' or '.' (at most 40)."),
    N_("Another one already uses this code."), N_("Enter a number."), N_("Must be above zero."), N_("Too large."),
    N_("Enter a name."), N_("No such site."), N_("No such area."), N_("No such line."), N_("No such unit."),
    N_("No such calendar."), N_("No such agent."), N_("Choose line or work centre."), N_("Choose a kind of unit."),
    N_("Choose active or retired."), N_("Unknown process: %(names)s."), N_("Name at least one process the unit runs."),
    N_("Unknown alloy family: %(names)s."), N_("Enter 1-1000 coils."),
    N_("The maximum must not be below the minimum."), N_("A furnace needs its load capacity (tonnes or coils)."),
    N_("Choose how set-up times add up (max or sum)."), N_("Choose an alarm priority, or none."),
    N_("Enter 5-86400 seconds."), N_("The change would make routings impossible"),
    N_("The area %(code)s still has lines; move or delete them first."),
    N_("The line %(code)s still has units; move or delete them first."),
    N_("Unit %(unit)s is retired."), N_("Unit %(unit)s does not run %(process)s."),
    N_("Unit %(unit)s does not take %(family)s alloys."),
    N_("Unit %(unit)s takes strip up to %(max)s mm wide, not %(width)s mm."),
    N_("Unit %(unit)s works strip from %(min)s mm wide, not %(width)s mm."),
    N_("Unit %(unit)s works gauges up to %(max)s mm, not %(gauge)s mm."),
    N_("Unit %(unit)s works gauges from %(min)s mm, not %(gauge)s mm."),
    N_("A %(weight)s t coil does not fit a %(cap)s t load of unit %(unit)s."),
    N_("The weekday is 0 (Monday) to 6 (Sunday)."), N_("Give the start as HH:MM."), N_("Give the end as HH:MM."),
    N_("Shift %(n)s: %(problem)s"), N_("Shifts overlap: %(a)s and %(b)s."), N_("Another calendar has this name."),
    N_("Unknown time zone (e.g. Asia/Shanghai)."), N_("Tick at least one day."), N_("No such shift."),
    N_("The calendar is in use by %(codes)s; give them another calendar first."),
    N_("Give the start."), N_("Give the end."), N_("The end must be after the start."),
    N_("A planned downtime lasts at most a year."), N_("Choose a kind of downtime."),
    N_("Unit %(unit)s has no working time for this within three years."),
    N_("Enter the tag."), N_("At most 200 characters."), N_("This tag is linked already."),
    N_("Choose what the tag measures."), N_("The unit is retired."),
    N_("Planned downtime until %(until)s: %(reason)s"), N_("No tag is linked to the unit."),
    N_("Agent %(agent)s is offline."), N_("Alarm %(name)s (%(priority)s) is active."),
    N_("%(tag)s = %(value)s, above %(limit)s."), N_("No running tag is above its threshold."),
    N_("No tag has a 'running above' threshold."), N_("No recent value of the running tags."),
    N_("Enter a whole number."), N_("Choose one from the list."), N_("Give the date as YYYY-MM-DD."),
    N_("Give the date and time."), N_("Give the time as HH:MM."),
    N_("No such area"), N_("No such line"), N_("No such unit"), N_("No such calendar"), N_("No such downtime"),
    N_("No such tag link"), N_("No working time"),
    N_("See the equipment, its calendars, downtime and live state"),
    N_("Edit areas, lines, units, capabilities, calendars, downtime and tag links"),
)


@bp.app_template_filter("eq_label")
def eq_label(value) -> str:
    return str(LABELS.get(value, value or ""))


@bp.app_template_filter("mes_tr")
def mes_tr(message) -> str:
    """A service message (plain or with values) in the page's language."""
    return messages.translate(message, _)


@bp.app_template_filter("weekday")
def weekday_name(value) -> str:
    return str(WEEKDAY_NAMES[value]) if isinstance(value, int) and 0 <= value <= 6 else ""


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _errors_of(exc: AppError) -> dict:
    db.session.rollback()
    return exc.errors or {"__all__": [exc.detail]}


def _flash_error(exc: AppError) -> None:
    db.session.rollback()
    for message in [m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail]:
        flash(mes_tr(message), "error")


# ---------------------------------------------------------------- the tree

def _render_index(errors=None, form=None, status=200):
    tree = services.tree()
    all_units = [u for site in tree for a in site["areas"] for li in a["lines"] for u in li["units"]]
    states = services.live_states(all_units)
    areas = [a["area"] for site in tree for a in site["areas"]]
    lines = [li["line"] for site in tree for a in site["areas"] for li in a["lines"]]
    html = render_template("equipment/index.html", tree=tree, states=states, areas=areas, lines=lines,
                           sites=services.sites(), calendars=services.calendars(), unit_kinds=UNIT_KINDS,
                           line_kinds=LINE_KINDS, errors=errors or {}, form=form or {},
                           can_write=_can(EQUIPMENT_WRITE))
    return html, status


@bp.get("")
@requires(EQUIPMENT_READ)
def index():
    return _render_index()


@bp.get("/states")
@requires(EQUIPMENT_READ)
def states():
    """htmx: every unit's badge, swapped out of band by id."""
    units = services.units()
    return render_template("equipment/_states_oob.html", units=units, states=services.live_states(units))


def _create(kind: str):
    reader = FormReader(request.form)
    try:
        if kind == "area":
            site_id = reader.uuid("site_id")
            if reader.errors:
                return _render_index(reader.errors, request.form, 422)
            made = services.create_area(site_id=site_id, code=reader.text("code"), name=reader.text("name"),
                                        description=reader.text("description"))
        elif kind == "line":
            area_id, calendar_id = reader.uuid("area_id"), reader.uuid("calendar_id")
            if reader.errors:
                return _render_index(reader.errors, request.form, 422)
            made = services.create_line(area_id=area_id, code=reader.text("code"), name=reader.text("name"),
                                        kind=request.form.get("kind") or "line", calendar_id=calendar_id)
        else:
            line_id, capacity = reader.uuid("line_id"), reader.number("batch_capacity_t")
            if reader.errors:
                return _render_index(reader.errors, request.form, 422)
            made = services.create_unit(line_id=line_id, code=reader.text("code"), name=reader.text("name"),
                                        kind=request.form.get("kind"), batch_capacity_t=capacity)
            flash(_("The unit %(code)s is added; set its capabilities here.", code=made.code), "success")
            return redirect(url_for("equipment.unit_page", unit_id=made.id))
    except AppError as exc:
        return _render_index(_errors_of(exc), request.form, 422)
    flash(_("%(code)s is added.", code=made.code), "success")
    return redirect(url_for("equipment.index"))


@bp.post("/areas")
@requires(EQUIPMENT_WRITE)
def create_area():
    return _create("area")


@bp.post("/lines")
@requires(EQUIPMENT_WRITE)
def create_line():
    return _create("line")


@bp.post("/units")
@requires(EQUIPMENT_WRITE)
def create_unit():
    return _create("unit")


# ---------------------------------------------------------------- areas and lines

def _render_area(area, errors=None, form=None, status=200):
    return render_template("equipment/area_edit.html", area=area, sites=services.sites(), errors=errors or {},
                           form=form, can_write=_can(EQUIPMENT_WRITE)), status


@bp.get("/areas/<uuid:area_id>")
@requires(EQUIPMENT_READ)
def area_page(area_id):
    return _render_area(services.get_area(area_id))


@bp.post("/areas/<uuid:area_id>")
@requires(EQUIPMENT_WRITE)
def save_area(area_id):
    area = services.get_area(area_id)
    reader = FormReader(request.form)
    site_id = reader.uuid("site_id")
    if reader.errors:
        return _render_area(area, reader.errors, request.form, 422)
    try:
        services.update_area(area, site_id=site_id, code=reader.text("code"), name=reader.text("name"),
                             description=reader.text("description"))
    except AppError as exc:
        return _render_area(services.get_area(area_id), _errors_of(exc), request.form, 422)
    flash(_("%(code)s is saved.", code=area.code), "success")
    return redirect(url_for("equipment.index"))


@bp.post("/areas/<uuid:area_id>/delete")
@requires(EQUIPMENT_WRITE)
def delete_area(area_id):
    area = services.get_area(area_id)
    try:
        services.delete_area(area)
        flash(_("%(code)s is deleted.", code=area.code), "success")
    except AppError as exc:
        _flash_error(exc)
        return redirect(url_for("equipment.area_page", area_id=area_id))
    return redirect(url_for("equipment.index"))


def _render_line(line, errors=None, form=None, status=200):
    areas = list(db.session.scalars(services.areas_query().order_by(services.Area.code)))
    return render_template("equipment/line_edit.html", line=line, areas=areas, calendars=services.calendars(),
                           line_kinds=LINE_KINDS, errors=errors or {}, form=form,
                           can_write=_can(EQUIPMENT_WRITE)), status


@bp.get("/lines/<uuid:line_id>")
@requires(EQUIPMENT_READ)
def line_page(line_id):
    return _render_line(services.get_line(line_id))


@bp.post("/lines/<uuid:line_id>")
@requires(EQUIPMENT_WRITE)
def save_line(line_id):
    line = services.get_line(line_id)
    reader = FormReader(request.form)
    area_id, calendar_id = reader.uuid("area_id"), reader.uuid("calendar_id")
    if reader.errors:
        return _render_line(line, reader.errors, request.form, 422)
    try:
        services.update_line(line, area_id=area_id, code=reader.text("code"), name=reader.text("name"),
                             kind=request.form.get("kind"), calendar_id=calendar_id,
                             description=reader.text("description"))
    except AppError as exc:
        return _render_line(services.get_line(line_id), _errors_of(exc), request.form, 422)
    flash(_("%(code)s is saved.", code=line.code), "success")
    return redirect(url_for("equipment.index"))


@bp.post("/lines/<uuid:line_id>/delete")
@requires(EQUIPMENT_WRITE)
def delete_line(line_id):
    line = services.get_line(line_id)
    try:
        services.delete_line(line)
        flash(_("%(code)s is deleted.", code=line.code), "success")
    except AppError as exc:
        _flash_error(exc)
        return redirect(url_for("equipment.line_page", line_id=line_id))
    return redirect(url_for("equipment.index"))


# ---------------------------------------------------------------- a unit

def _unit_tz(unit) -> str:
    calendar = services.calendar_of(unit)
    return calendar.timezone if calendar else "Asia/Shanghai"


def _render_unit(unit, errors=None, form=None, status=200, section=None):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from alloyhub.platform.db import utcnow

    tz = _unit_tz(unit)
    now = utcnow()
    downtimes = list(db.session.scalars(services.downtimes_query(unit.id, now - timedelta(days=1))
                                        .order_by(services.Downtime.starts_at)))
    lines = list(db.session.scalars(services.lines_query().order_by(services.Line.code)))
    agents = services.agents()
    html = render_template(
        "equipment/unit.html", unit=unit, state=services.live_state(unit), links=services.unit_tags(unit),
        agent_names={a.id: a.name for a in agents}, agents=agents, downtimes=downtimes, lines=lines,
        calendars=services.calendars(), calendar=services.calendar_of(unit), tz=tz, zone=ZoneInfo(tz),
        unit_kinds=UNIT_KINDS, processes=PROCESSES, families=ALLOY_FAMILIES, combines=SETUP_COMBINE,
        priorities=services.ALARM_PRIORITIES, tag_roles=TAG_ROLES, downtime_kinds=DOWNTIME_KINDS,
        week_hours=services.weekly_hours(services.calendar_of(unit)), errors=errors or {}, form=form,
        section=section, known_tags=_known_tags(), can_write=_can(EQUIPMENT_WRITE))
    return html, status


def _known_tags() -> list[str]:
    from sqlalchemy import select

    from alloyhub.tenants.agents.models import AgentTag

    return list(db.session.scalars(select(AgentTag.tag).where(AgentTag.status != "ignored").distinct()
                                   .order_by(AgentTag.tag).limit(2000)))


@bp.get("/units/<uuid:unit_id>")
@requires(EQUIPMENT_READ)
def unit_page(unit_id):
    return _render_unit(services.get_unit(unit_id))


@bp.get("/units/<uuid:unit_id>/state")
@requires(EQUIPMENT_READ)
def unit_state(unit_id):
    """htmx: the unit's badge with its reason."""
    unit = services.get_unit(unit_id)
    return render_template("equipment/_state.html", unit=unit, state=services.live_state(unit), detail=True)


def _unit_fields(reader: FormReader) -> dict:
    form = reader.form
    return {
        "line_id": reader.uuid("line_id"), "code": reader.text("code"), "name": reader.text("name"),
        "kind": form.get("kind"), "status": "active" if form.get("status") != "retired" else "retired",
        "description": reader.text("description"), "processes": reader.many("processes"),
        "alloy_families": reader.many("alloy_families"), "min_width_mm": reader.number("min_width_mm"),
        "max_width_mm": reader.number("max_width_mm"), "min_gauge_mm": reader.number("min_gauge_mm"),
        "max_gauge_mm": reader.number("max_gauge_mm"), "batch_capacity_t": reader.number("batch_capacity_t"),
        "batch_capacity_coils": reader.integer("batch_capacity_coils"), "calendar_id": reader.uuid("calendar_id"),
        "setup_combine": form.get("setup_combine") or "max",
        "down_when_agent_offline": reader.checked("down_when_agent_offline"),
        "down_on_alarm_priority": form.get("down_on_alarm_priority") or None,
        "stale_after_s": reader.integer("stale_after_s") if form.get("stale_after_s") else 300,
    }


@bp.post("/units/<uuid:unit_id>")
@requires(EQUIPMENT_WRITE)
def save_unit(unit_id):
    unit = services.get_unit(unit_id)
    reader = FormReader(request.form)
    fields = _unit_fields(reader)
    if reader.errors:
        return _render_unit(unit, reader.errors, request.form, 422, "unit")
    try:
        services.update_unit(unit, **fields)
    except AppError as exc:
        errors = _errors_of(exc)
        return _render_unit(services.get_unit(unit_id), errors, request.form, 422, "unit")
    flash(_("%(code)s is saved.", code=unit.code), "success")
    return redirect(url_for("equipment.unit_page", unit_id=unit_id))


@bp.post("/units/<uuid:unit_id>/delete")
@requires(EQUIPMENT_WRITE)
def delete_unit(unit_id):
    unit = services.get_unit(unit_id)
    try:
        services.delete_unit(unit)
    except AppError as exc:
        _flash_error(exc)
        return redirect(url_for("equipment.unit_page", unit_id=unit_id))
    flash(_("%(code)s is deleted.", code=unit.code), "success")
    return redirect(url_for("equipment.index"))


@bp.post("/units/<uuid:unit_id>/tags")
@requires(EQUIPMENT_WRITE)
def add_tag(unit_id):
    unit = services.get_unit(unit_id)
    reader = FormReader(request.form)
    agent_id, above = reader.uuid("agent_id"), reader.number("running_above")
    if reader.errors:
        return _render_unit(unit, reader.errors, request.form, 422, "tags")
    try:
        services.add_unit_tag(unit, agent_id=agent_id, tag=reader.text("tag"), role=request.form.get("role"),
                              running_above=above)
    except AppError as exc:
        return _render_unit(services.get_unit(unit_id), _errors_of(exc), request.form, 422, "tags")
    flash(_("The tag is linked."), "success")
    return redirect(url_for("equipment.unit_page", unit_id=unit_id) + "#tags")


@bp.post("/unit-tags/<uuid:unit_tag_id>/delete")
@requires(EQUIPMENT_WRITE)
def delete_tag(unit_tag_id):
    link = services.get_unit_tag(unit_tag_id)
    unit_id = link.unit_id
    services.delete_unit_tag(link)
    flash(_("The tag is unlinked."), "success")
    return redirect(url_for("equipment.unit_page", unit_id=unit_id) + "#tags")


@bp.post("/units/<uuid:unit_id>/downtimes")
@requires(EQUIPMENT_WRITE)
def add_downtime(unit_id):
    unit = services.get_unit(unit_id)
    reader = FormReader(request.form)
    tz = _unit_tz(unit)
    starts, ends = reader.local_datetime("starts_at", tz), reader.local_datetime("ends_at", tz)
    if reader.errors:
        return _render_unit(unit, reader.errors, request.form, 422, "downtime")
    try:
        services.create_downtime(unit_id=unit.id, starts_at=starts, ends_at=ends,
                                 kind=request.form.get("kind") or "maintenance", reason=reader.text("reason"))
    except AppError as exc:
        return _render_unit(services.get_unit(unit_id), _errors_of(exc), request.form, 422, "downtime")
    flash(_("The downtime is planned."), "success")
    return redirect(url_for("equipment.unit_page", unit_id=unit_id) + "#downtime")


@bp.post("/downtimes/<uuid:downtime_id>/delete")
@requires(EQUIPMENT_WRITE)
def delete_downtime(downtime_id):
    downtime = services.get_downtime(downtime_id)
    unit_id = downtime.unit_id
    services.delete_downtime(downtime)
    flash(_("The downtime is removed."), "success")
    return redirect(url_for("equipment.unit_page", unit_id=unit_id) + "#downtime")


# ---------------------------------------------------------------- calendars

@bp.get("/calendars")
@requires(EQUIPMENT_READ)
def calendars():
    return _render_calendars()


def _render_calendars(errors=None, form=None, status=200):
    cals = services.calendars()
    return render_template("equipment/calendars.html", calendars=cals,
                           hours={c.id: services.weekly_hours(c) for c in cals}, errors=errors or {},
                           form=form or {}, can_write=_can(EQUIPMENT_WRITE)), status


@bp.post("/calendars")
@requires(EQUIPMENT_WRITE)
def create_calendar():
    reader = FormReader(request.form)
    try:
        calendar = services.create_calendar(name=reader.text("name"),
                                            timezone=reader.text("timezone") or "Asia/Shanghai",
                                            description=reader.text("description"))
    except AppError as exc:
        return _render_calendars(_errors_of(exc), request.form, 422)
    flash(_("The calendar %(name)s is added; now give it its shifts.", name=calendar.name), "success")
    return redirect(url_for("equipment.calendar_page", calendar_id=calendar.id))


def _render_calendar(calendar, errors=None, form=None, status=200):
    return render_template("equipment/calendar.html", calendar=calendar, week_hours=services.weekly_hours(calendar),
                           clock=services.clock, errors=errors or {}, form=form or {},
                           can_write=_can(EQUIPMENT_WRITE)), status


@bp.get("/calendars/<uuid:calendar_id>")
@requires(EQUIPMENT_READ)
def calendar_page(calendar_id):
    return _render_calendar(services.get_calendar(calendar_id))


@bp.post("/calendars/<uuid:calendar_id>")
@requires(EQUIPMENT_WRITE)
def save_calendar(calendar_id):
    calendar = services.get_calendar(calendar_id)
    reader = FormReader(request.form)
    try:
        services.update_calendar(calendar, name=reader.text("name"), timezone=reader.text("timezone"),
                                 description=reader.text("description"))
    except AppError as exc:
        return _render_calendar(services.get_calendar(calendar_id), _errors_of(exc), request.form, 422)
    flash(_("The calendar %(name)s is saved.", name=calendar.name), "success")
    return redirect(url_for("equipment.calendar_page", calendar_id=calendar_id))


@bp.post("/calendars/<uuid:calendar_id>/shifts")
@requires(EQUIPMENT_WRITE)
def add_shifts(calendar_id):
    calendar = services.get_calendar(calendar_id)
    reader = FormReader(request.form)
    days = []
    for value in reader.many("weekdays"):
        if value.isdigit() and 0 <= int(value) <= 6:
            days.append(int(value))
    try:
        services.add_shifts(calendar, days, request.form.get("start", ""), request.form.get("end", ""),
                            reader.text("name"))
    except AppError as exc:
        return _render_calendar(services.get_calendar(calendar_id), _errors_of(exc), request.form, 422)
    flash(_("The shifts are added."), "success")
    return redirect(url_for("equipment.calendar_page", calendar_id=calendar_id))


@bp.post("/calendars/<uuid:calendar_id>/shifts/remove")
@requires(EQUIPMENT_WRITE)
def remove_shift(calendar_id):
    calendar = services.get_calendar(calendar_id)
    try:
        services.remove_shift(calendar, request.form.get("shift_id", ""))
    except AppError as exc:
        _flash_error(exc)
    return redirect(url_for("equipment.calendar_page", calendar_id=calendar_id))


@bp.post("/calendars/<uuid:calendar_id>/delete")
@requires(EQUIPMENT_WRITE)
def delete_calendar(calendar_id):
    calendar = services.get_calendar(calendar_id)
    try:
        services.delete_calendar(calendar)
    except AppError as exc:
        _flash_error(exc)
        return redirect(url_for("equipment.calendar_page", calendar_id=calendar_id))
    flash(_("The calendar %(name)s is deleted.", name=calendar.name), "success")
    return redirect(url_for("equipment.calendars"))
