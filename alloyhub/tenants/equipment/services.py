"""The equipment rules: the hierarchy and its codes, unit capabilities, shift
calendars and planned downtime (working time: `Availability`), tag links
and the live state of a unit.

Working time. A unit works the shifts of its own calendar, else of its
line's calendar, else around the clock; planned downtime windows of the
unit are taken out. `Availability` turns that into UTC intervals and
answers "when will N hours of work started at T be done" (`advance`); the
promised-date check and the scheduler both use it.

Live state (`live_state`), decided in this order:
1. a retired unit, or one inside a planned downtime window: down;
2. no tag linked: unknown;
3. `down_when_agent_offline` and a linked agent offline: down;
4. `down_on_alarm_priority` set and an active alarm (acknowledged or not;
   shelved and suppressed ones do not count) of that priority or a more
   urgent one, on a linked tag or the linked agent's offline rule: down;
5. a linked tag with `running_above` whose latest value is fresh (younger
   than `stale_after_s`) and above it: running;
6. such tags with fresh values, none above: idle; no fresh value (or no tag
   with a threshold): unknown.
Latest values are the telemetry room's Redis hash `ah:latest:{tenant}:{agent}`.
"""
from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select

from alloyhub.platform import tenancy
from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.errors import Conflict, ValidationFailed
from alloyhub.platform.identity.models import Site
from alloyhub.tenants.agents.models import Agent

from .messages import msg
from .models import (
    ALLOY_FAMILIES, DOWNTIME_KINDS, KIND_PROCESSES, LINE_KINDS, PROCESSES, SETUP_COMBINE, TAG_ROLES, UNIT_KINDS,
    UNIT_STATUSES, Area, Calendar, Downtime, Line, Shift, Unit, UnitTag,
)

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_.\-]{0,39}$")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MINUTES_PER_WEEK = 7 * 24 * 60
# How far ahead working time is searched before giving up.
HORIZON = timedelta(days=3 * 365)
ALARM_PRIORITIES = ("critical", "high", "medium", "low")


class NoCapacity(Conflict):
    """The unit has no working time in the horizon (an empty calendar, a
    downtime without end in sight)."""

    slug, title = "no-capacity", "No working time"


# ---------------------------------------------------------------- guards other rooms plug in

# (unit, proposed values) -> messages; the products room refuses capability
# changes that would make a routing impossible.
UnitGuard = Callable[[Unit, dict], list[str]]
UNIT_GUARDS: list[UnitGuard] = []
# unit -> messages; refuse deleting a unit something still uses.
UNIT_DELETE_GUARDS: list[Callable[[Unit], list[str]]] = []


def register_unit_guard(fn: UnitGuard) -> UnitGuard:
    if fn not in UNIT_GUARDS:
        UNIT_GUARDS.append(fn)
    return fn


def register_unit_delete_guard(fn):
    if fn not in UNIT_DELETE_GUARDS:
        UNIT_DELETE_GUARDS.append(fn)
    return fn


# ---------------------------------------------------------------- helpers

def _text(value) -> str:
    return (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()


def _code(value) -> str:
    return _text(value).upper()


def _check_code(errors: dict, value: str, model, obj_id=None, label="code") -> None:
    if not value:
        errors.setdefault(label, []).append("Enter a short code.")
    elif not CODE_RE.match(value):
        errors.setdefault(label, []).append("Use letters, digits, '-', '_' or '.' (at most 40).")
    else:
        stmt = select(model.id).where(model.code == value)
        if obj_id is not None:
            stmt = stmt.where(model.id != obj_id)
        if db.session.scalar(stmt) is not None:
            errors.setdefault(label, []).append("Another one already uses this code.")


def _positive(errors: dict, name: str, value, *, allow_none=True, maximum=1e7) -> None:
    if value is None:
        if not allow_none:
            errors.setdefault(name, []).append("Enter a number.")
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        errors.setdefault(name, []).append("Enter a number.")
    elif value <= 0:
        errors.setdefault(name, []).append("Must be above zero.")
    elif value > maximum:
        errors.setdefault(name, []).append("Too large.")


def _raise(errors: dict) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors=errors)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# ---------------------------------------------------------------- sites, areas, lines

def sites() -> list[Site]:
    return list(db.session.scalars(select(Site).order_by(Site.code)))


def areas_query(site_id=None):
    stmt = select(Area)
    if site_id:
        stmt = stmt.where(Area.site_id == site_id)
    return stmt


def get_area(area_id) -> Area:
    return get_or_404(Area, area_id, "No such area")


def _validate_area(values: dict, area_id=None) -> None:
    errors: dict[str, list] = {}
    _check_code(errors, values.get("code"), Area, area_id)
    if not values.get("name"):
        errors["name"] = ["Enter a name."]
    site_id = values.get("site_id")
    if site_id is None or db.session.scalar(select(Site.id).where(Site.id == site_id)) is None:
        errors["site_id"] = ["No such site."]
    _raise(errors)


def create_area(*, site_id, code, name, description=None) -> Area:
    values = {"site_id": site_id, "code": _code(code), "name": _text(name), "description": _text(description) or None}
    _validate_area(values)
    area = Area(**values)
    db.session.add(area)
    db.session.commit()
    return area


def update_area(area: Area, **fields) -> Area:
    values = {k: getattr(area, k) for k in ("site_id", "code", "name", "description")}
    values.update({k: v for k, v in fields.items() if k in values})
    values["code"], values["name"] = _code(values["code"]), _text(values["name"])
    values["description"] = _text(values["description"]) or None
    _validate_area(values, area.id)
    for key, value in values.items():
        setattr(area, key, value)
    db.session.commit()
    return area


def delete_area(area: Area) -> None:
    if db.session.scalar(select(func.count()).select_from(Line).where(Line.area_id == area.id)):
        raise Conflict(msg("The area %(code)s still has lines; move or delete them first.", code=area.code))
    db.session.delete(area)
    db.session.commit()


def lines_query(area_id=None):
    stmt = select(Line)
    if area_id:
        stmt = stmt.where(Line.area_id == area_id)
    return stmt


def get_line(line_id) -> Line:
    return get_or_404(Line, line_id, "No such line")


def _check_calendar(errors: dict, calendar_id) -> None:
    if calendar_id is not None and db.session.scalar(select(Calendar.id).where(Calendar.id == calendar_id)) is None:
        errors["calendar_id"] = ["No such calendar."]


def _validate_line(values: dict, line_id=None) -> None:
    errors: dict[str, list] = {}
    _check_code(errors, values.get("code"), Line, line_id)
    if not values.get("name"):
        errors["name"] = ["Enter a name."]
    if values.get("kind") not in LINE_KINDS:
        errors["kind"] = ["Choose line or work centre."]
    area_id = values.get("area_id")
    if area_id is None or db.session.scalar(select(Area.id).where(Area.id == area_id)) is None:
        errors["area_id"] = ["No such area."]
    _check_calendar(errors, values.get("calendar_id"))
    _raise(errors)


LINE_FIELDS = ("area_id", "code", "name", "kind", "calendar_id", "description")


def create_line(*, area_id, code, name, kind="line", calendar_id=None, description=None) -> Line:
    values = {"area_id": area_id, "code": _code(code), "name": _text(name), "kind": kind or "line",
              "calendar_id": calendar_id, "description": _text(description) or None}
    _validate_line(values)
    line = Line(**values)
    db.session.add(line)
    db.session.commit()
    return line


def update_line(line: Line, **fields) -> Line:
    values = {k: getattr(line, k) for k in LINE_FIELDS}
    values.update({k: v for k, v in fields.items() if k in LINE_FIELDS})
    values["code"], values["name"] = _code(values["code"]), _text(values["name"])
    values["description"] = _text(values["description"]) or None
    _validate_line(values, line.id)
    for key, value in values.items():
        setattr(line, key, value)
    db.session.commit()
    return line


def delete_line(line: Line) -> None:
    if db.session.scalar(select(func.count()).select_from(Unit).where(Unit.line_id == line.id)):
        raise Conflict(msg("The line %(code)s still has units; move or delete them first.", code=line.code))
    db.session.delete(line)
    db.session.commit()


# ---------------------------------------------------------------- units and capabilities

UNIT_FIELDS = (
    "line_id", "code", "name", "kind", "status", "description", "processes", "alloy_families", "min_width_mm",
    "max_width_mm", "min_gauge_mm", "max_gauge_mm", "batch_capacity_t", "batch_capacity_coils", "calendar_id",
    "setup_combine", "down_when_agent_offline", "down_on_alarm_priority", "stale_after_s",
)
CAPABILITY_FIELDS = ("processes", "alloy_families", "min_width_mm", "max_width_mm", "min_gauge_mm", "max_gauge_mm",
                     "batch_capacity_t", "batch_capacity_coils", "status")


def units_query(line_id=None, kind=None, process=None, status=None):
    stmt = select(Unit)
    if line_id:
        stmt = stmt.where(Unit.line_id == line_id)
    if kind:
        stmt = stmt.where(Unit.kind == kind)
    if process:
        stmt = stmt.where(Unit.processes.any(process))
    if status:
        stmt = stmt.where(Unit.status == status)
    return stmt


def units(*, active_only: bool = False) -> list[Unit]:
    stmt = select(Unit).order_by(Unit.code)
    if active_only:
        stmt = stmt.where(Unit.status == "active")
    return list(db.session.scalars(stmt).unique())


def get_unit(unit_id) -> Unit:
    return get_or_404(Unit, unit_id, "No such unit")


def unit_by_code(code: str) -> Unit | None:
    return db.session.scalar(select(Unit).where(Unit.code == _code(code)))


def _unique_list(values) -> list[str]:
    seen: list[str] = []
    for value in values or []:
        if value not in seen:
            seen.append(value)
    return seen


def _validate_unit(values: dict, unit_id=None) -> None:
    errors: dict[str, list] = {}
    _check_code(errors, values.get("code"), Unit, unit_id)
    if not values.get("name"):
        errors["name"] = ["Enter a name."]
    if values.get("kind") not in UNIT_KINDS:
        errors["kind"] = ["Choose a kind of unit."]
    if values.get("status") not in UNIT_STATUSES:
        errors["status"] = ["Choose active or retired."]
    line_id = values.get("line_id")
    if line_id is None or db.session.scalar(select(Line.id).where(Line.id == line_id)) is None:
        errors["line_id"] = ["No such line."]
    bad = [p for p in values.get("processes") or [] if p not in PROCESSES]
    if bad:
        errors["processes"] = [msg("Unknown process: %(names)s.", names=", ".join(map(str, bad)))]
    elif not values.get("processes"):
        errors["processes"] = ["Name at least one process the unit runs."]
    bad = [f for f in values.get("alloy_families") or [] if f not in ALLOY_FAMILIES]
    if bad:
        errors["alloy_families"] = [msg("Unknown alloy family: %(names)s.", names=", ".join(map(str, bad)))]
    for name in ("min_width_mm", "max_width_mm", "min_gauge_mm", "max_gauge_mm", "batch_capacity_t"):
        _positive(errors, name, values.get(name))
    coils = values.get("batch_capacity_coils")
    if coils is not None and (not isinstance(coils, int) or isinstance(coils, bool) or not 1 <= coils <= 1000):
        errors["batch_capacity_coils"] = ["Enter 1-1000 coils."]
    for low, high in (("min_width_mm", "max_width_mm"), ("min_gauge_mm", "max_gauge_mm")):
        lo, hi = values.get(low), values.get(high)
        if not errors.get(low) and not errors.get(high) and lo is not None and hi is not None and lo > hi:
            errors.setdefault(high, []).append("The maximum must not be below the minimum.")
    if "anneal" in (values.get("processes") or []) and values.get("batch_capacity_t") is None \
            and values.get("batch_capacity_coils") is None and not errors.get("batch_capacity_t"):
        errors["batch_capacity_t"] = ["A furnace needs its load capacity (tonnes or coils)."]
    _check_calendar(errors, values.get("calendar_id"))
    if values.get("setup_combine") not in SETUP_COMBINE:
        errors["setup_combine"] = ["Choose how set-up times add up (max or sum)."]
    if values.get("down_on_alarm_priority") not in (None, *ALARM_PRIORITIES):
        errors["down_on_alarm_priority"] = ["Choose an alarm priority, or none."]
    stale = values.get("stale_after_s")
    if not isinstance(stale, int) or isinstance(stale, bool) or not 5 <= stale <= 86400:
        errors["stale_after_s"] = ["Enter 5-86400 seconds."]
    _raise(errors)


def _normalise_unit(values: dict) -> dict:
    values["code"], values["name"] = _code(values.get("code")), _text(values.get("name"))
    values["description"] = _text(values.get("description")) or None
    values["processes"] = _unique_list(values.get("processes"))
    values["alloy_families"] = _unique_list(values.get("alloy_families"))
    return values


def _guard(unit: Unit, values: dict) -> None:
    problems = [m for guard in UNIT_GUARDS for m in guard(unit, values)]
    if problems:
        raise ValidationFailed("The change would make routings impossible", errors={"__all__": problems})


def create_unit(**data) -> Unit:
    values = {"status": "active", "setup_combine": "max", "down_when_agent_offline": True,
              "down_on_alarm_priority": "high", "stale_after_s": 300, **{k: v for k, v in data.items()
                                                                          if k in UNIT_FIELDS}}
    if not values.get("processes") and values.get("kind") in KIND_PROCESSES:
        values["processes"] = list(KIND_PROCESSES[values["kind"]])
    values = _normalise_unit({k: values.get(k) for k in UNIT_FIELDS})
    _validate_unit(values)
    unit = Unit(**values)
    db.session.add(unit)
    db.session.commit()
    return unit


def update_unit(unit: Unit, **data) -> Unit:
    values = {k: getattr(unit, k) for k in UNIT_FIELDS}
    values.update({k: v for k, v in data.items() if k in UNIT_FIELDS})
    values = _normalise_unit(values)
    _validate_unit(values, unit.id)
    if any(values[k] != getattr(unit, k) for k in CAPABILITY_FIELDS):
        _guard(unit, values)
    for key, value in values.items():
        setattr(unit, key, value)
    db.session.commit()
    return unit


def delete_unit(unit: Unit) -> None:
    problems = [m for guard in UNIT_DELETE_GUARDS for m in guard(unit)]
    if problems:
        raise Conflict(problems[0], errors={"__all__": problems})
    db.session.delete(unit)
    db.session.commit()


def can_do(unit: Unit, *, process: str | None = None, alloy_family: str | None = None, width_mm=None,
           gauge_mm=None, width_in=None, width_out=None, gauge_in=None, gauge_out=None, coil_weight_t=None) -> list:
    """Why the unit cannot do this (empty: it can); messages name the unit.
    The strip coming in must fit the unit's maxima (`*_in`), the strip going
    out its minima (`*_out`); `width_mm`/`gauge_mm` stand for both."""
    width_in = width_mm if width_in is None else width_in
    width_out = width_mm if width_out is None else width_out
    gauge_in = gauge_mm if gauge_in is None else gauge_in
    gauge_out = gauge_mm if gauge_out is None else gauge_out
    reasons = []
    if unit.status != "active":
        reasons.append(msg("Unit %(unit)s is retired.", unit=unit.code))
    if process is not None and process not in (unit.processes or []):
        reasons.append(msg("Unit %(unit)s does not run %(process)s.", unit=unit.code, process=process))
    if alloy_family and unit.alloy_families and alloy_family not in unit.alloy_families:
        reasons.append(msg("Unit %(unit)s does not take %(family)s alloys.", unit=unit.code, family=alloy_family))
    if width_in is not None and unit.max_width_mm is not None and width_in > unit.max_width_mm:
        reasons.append(msg("Unit %(unit)s takes strip up to %(max)s mm wide, not %(width)s mm.",
                           unit=unit.code, max=f"{unit.max_width_mm:g}", width=f"{width_in:g}"))
    if width_out is not None and unit.min_width_mm is not None and width_out < unit.min_width_mm:
        reasons.append(msg("Unit %(unit)s works strip from %(min)s mm wide, not %(width)s mm.",
                           unit=unit.code, min=f"{unit.min_width_mm:g}", width=f"{width_out:g}"))
    if gauge_in is not None and unit.max_gauge_mm is not None and gauge_in > unit.max_gauge_mm:
        reasons.append(msg("Unit %(unit)s works gauges up to %(max)s mm, not %(gauge)s mm.",
                           unit=unit.code, max=f"{unit.max_gauge_mm:g}", gauge=f"{gauge_in:g}"))
    if gauge_out is not None and unit.min_gauge_mm is not None and gauge_out < unit.min_gauge_mm:
        reasons.append(msg("Unit %(unit)s works gauges from %(min)s mm, not %(gauge)s mm.",
                           unit=unit.code, min=f"{unit.min_gauge_mm:g}", gauge=f"{gauge_out:g}"))
    if coil_weight_t is not None and unit.is_batch and unit.batch_capacity_t is not None \
            and coil_weight_t > unit.batch_capacity_t:
        reasons.append(msg("A %(weight)s t coil does not fit a %(cap)s t load of unit %(unit)s.",
                           unit=unit.code, weight=f"{coil_weight_t:g}", cap=f"{unit.batch_capacity_t:g}"))
    return reasons


class UnitView:
    """A unit's proposed values, for checks before they are saved."""

    def __init__(self, unit: Unit, values: dict):
        self.__dict__.update({k: getattr(unit, k) for k in ("id", "code")})
        self.__dict__.update(values)

    @property
    def is_batch(self) -> bool:
        return "anneal" in (self.processes or [])


# ---------------------------------------------------------------- calendars and shifts

def calendars() -> list[Calendar]:
    return list(db.session.scalars(select(Calendar).order_by(Calendar.name)))


def calendars_query():
    return select(Calendar)


def get_calendar(calendar_id) -> Calendar:
    return get_or_404(Calendar, calendar_id, "No such calendar")


def parse_clock(value) -> int | None:
    """"06:30" -> 390; "24:00" -> 1440; None when not a time of day."""
    match = re.match(r"^\s*(\d{1,2}):(\d{2})\s*$", str(value or ""))
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _shift_values(raw: list[dict], errors: dict) -> list[dict]:
    """[{weekday, start "HH:MM", end "HH:MM", name}] -> rows; an end at or
    before the start means the next day ("22:00"-"06:00")."""
    shifts = []
    for i, item in enumerate(raw or []):
        weekday = item.get("weekday")
        start, end = parse_clock(item.get("start")), parse_clock(item.get("end"))
        problems = []
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            problems.append("The weekday is 0 (Monday) to 6 (Sunday).")
        if start is None or start >= 1440:
            problems.append("Give the start as HH:MM.")
        if end is None:
            problems.append("Give the end as HH:MM.")
        if problems:
            errors.setdefault("shifts", []).extend(msg("Shift %(n)s: %(problem)s", n=i + 1, problem=p)
                                                  for p in problems)
            continue
        duration = (end - start) % 1440 or 1440
        shifts.append({"weekday": weekday, "start_minute": start, "duration_minutes": duration,
                       "name": _text(item.get("name"))[:60] or None})
    # Overlaps on the weekly circle (minute of the week, wrapping Sunday -> Monday).
    spans = sorted((s["weekday"] * 1440 + s["start_minute"], s["duration_minutes"], s) for s in shifts)
    for (a_start, a_len, a), (b_start, _b_len, b) in zip(spans, spans[1:] + spans[:1]):
        if len(spans) < 2:
            break
        gap = (b_start - a_start) % MINUTES_PER_WEEK
        if (b is not a) and gap < a_len:
            problem = msg("Shifts overlap: %(a)s and %(b)s.", a=describe_shift(a), b=describe_shift(b))
            if problem not in errors.get("shifts", []):
                errors.setdefault("shifts", []).append(problem)
    return shifts


def describe_shift(shift) -> str:
    get = shift.get if isinstance(shift, dict) else lambda k: getattr(shift, k)
    start = get("start_minute")
    return f"{WEEKDAYS[get('weekday')]} {clock(start)}–{clock((start + get('duration_minutes')) % 1440)}"


def _validate_calendar(values: dict, calendar_id=None) -> list[dict]:
    errors: dict[str, list] = {}
    if not values.get("name"):
        errors["name"] = ["Enter a name."]
    else:
        stmt = select(Calendar.id).where(Calendar.name == values["name"])
        if calendar_id is not None:
            stmt = stmt.where(Calendar.id != calendar_id)
        if db.session.scalar(stmt) is not None:
            errors["name"] = ["Another calendar has this name."]
    try:
        ZoneInfo(values.get("timezone") or "")
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors["timezone"] = ["Unknown time zone (e.g. Asia/Shanghai)."]
    shifts = _shift_values(values.get("shifts") or [], errors) if values.get("shifts") is not None else None
    _raise(errors)
    return shifts


def create_calendar(*, name, timezone="Asia/Shanghai", description=None, shifts=None) -> Calendar:
    values = {"name": _text(name), "timezone": _text(timezone) or "Asia/Shanghai", "shifts": shifts or []}
    rows = _validate_calendar(values)
    calendar = Calendar(name=values["name"], timezone=values["timezone"], description=_text(description) or None)
    calendar.shifts = [Shift(**row) for row in rows]
    db.session.add(calendar)
    db.session.commit()
    return calendar


def update_calendar(calendar: Calendar, **fields) -> Calendar:
    values = {"name": _text(fields.get("name", calendar.name)),
              "timezone": _text(fields.get("timezone", calendar.timezone)),
              "shifts": fields.get("shifts")}
    rows = _validate_calendar(values, calendar.id)
    calendar.name, calendar.timezone = values["name"], values["timezone"]
    if "description" in fields:
        calendar.description = _text(fields["description"]) or None
    if rows is not None:
        calendar.shifts = [Shift(**row) for row in rows]
    calendar.updated_at = utcnow()
    db.session.commit()
    return calendar


def add_shifts(calendar: Calendar, weekdays: list[int], start: str, end: str, name: str | None = None) -> Calendar:
    """The same shift on several weekdays (the page's form)."""
    current = [{"weekday": s.weekday, "start": clock(s.start_minute),
                "end": clock((s.start_minute + s.duration_minutes) % 1440), "name": s.name} for s in calendar.shifts]
    if not weekdays:
        raise ValidationFailed(errors={"weekdays": ["Tick at least one day."]})
    added = [{"weekday": d, "start": start, "end": end, "name": name} for d in weekdays]
    return update_calendar(calendar, shifts=current + added)


def remove_shift(calendar: Calendar, shift_id) -> Calendar:
    keep = [s for s in calendar.shifts if str(s.id) != str(shift_id)]
    if len(keep) == len(calendar.shifts):
        raise ValidationFailed(errors={"shift_id": ["No such shift."]})
    calendar.shifts = keep
    calendar.updated_at = utcnow()
    db.session.commit()
    return calendar


def delete_calendar(calendar: Calendar) -> None:
    users = [u.code for u in db.session.scalars(select(Unit).where(Unit.calendar_id == calendar.id))] + \
        [li.code for li in db.session.scalars(select(Line).where(Line.calendar_id == calendar.id))]
    if users:
        raise Conflict(msg("The calendar is in use by %(codes)s; give them another calendar first.",
                           codes=", ".join(sorted(users))))
    db.session.delete(calendar)
    db.session.commit()


def weekly_hours(calendar: Calendar | None) -> float:
    if calendar is None:
        return 168.0
    return sum(s.duration_minutes for s in calendar.shifts) / 60


def calendar_of(unit: Unit) -> Calendar | None:
    """The unit's own calendar, else its line's (None: around the clock)."""
    calendar_id = unit.calendar_id or (unit.line.calendar_id if unit.line else None)
    if calendar_id is None:
        return None
    return db.session.scalar(select(Calendar).where(Calendar.id == calendar_id))


# ---------------------------------------------------------------- downtime

def downtimes_query(unit_id=None, start=None, end=None):
    stmt = select(Downtime)
    if unit_id:
        stmt = stmt.where(Downtime.unit_id == unit_id)
    if end is not None:
        stmt = stmt.where(Downtime.starts_at < end)
    if start is not None:
        stmt = stmt.where(Downtime.ends_at > start)
    return stmt


def get_downtime(downtime_id) -> Downtime:
    return get_or_404(Downtime, downtime_id, "No such downtime")


def _validate_downtime(values: dict) -> None:
    errors: dict[str, list] = {}
    unit_id = values.get("unit_id")
    if unit_id is None or db.session.scalar(select(Unit.id).where(Unit.id == unit_id)) is None:
        errors["unit_id"] = ["No such unit."]
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if not isinstance(starts, datetime):
        errors["starts_at"] = ["Give the start."]
    if not isinstance(ends, datetime):
        errors["ends_at"] = ["Give the end."]
    elif isinstance(starts, datetime) and _as_utc(ends) <= _as_utc(starts):
        errors["ends_at"] = ["The end must be after the start."]
    elif isinstance(starts, datetime) and _as_utc(ends) - _as_utc(starts) > timedelta(days=366):
        errors["ends_at"] = ["A planned downtime lasts at most a year."]
    if values.get("kind") not in DOWNTIME_KINDS:
        errors["kind"] = ["Choose a kind of downtime."]
    _raise(errors)


def create_downtime(*, unit_id, starts_at, ends_at, kind="maintenance", reason=None) -> Downtime:
    values = {"unit_id": unit_id, "starts_at": starts_at, "ends_at": ends_at, "kind": kind or "maintenance"}
    _validate_downtime(values)
    downtime = Downtime(unit_id=unit_id, starts_at=_as_utc(starts_at), ends_at=_as_utc(ends_at), kind=values["kind"],
                        reason=_text(reason) or None, created_by=tenancy.current().user_id)
    db.session.add(downtime)
    db.session.commit()
    return downtime


def update_downtime(downtime: Downtime, **fields) -> Downtime:
    values = {k: fields.get(k, getattr(downtime, k)) for k in ("unit_id", "starts_at", "ends_at", "kind")}
    values["unit_id"] = downtime.unit_id
    _validate_downtime(values)
    downtime.starts_at, downtime.ends_at = _as_utc(values["starts_at"]), _as_utc(values["ends_at"])
    downtime.kind = values["kind"]
    if "reason" in fields:
        downtime.reason = _text(fields["reason"]) or None
    db.session.commit()
    return downtime


def delete_downtime(downtime: Downtime) -> None:
    db.session.delete(downtime)
    db.session.commit()


# ---------------------------------------------------------------- working time

def _merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _subtract(intervals, holes) -> list[tuple[datetime, datetime]]:
    out = []
    holes = _merge(holes)
    for start, end in intervals:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            if h_end <= start or h_start >= end:
                continue
            nxt = []
            for a, b in pieces:
                if h_end <= a or h_start >= b:
                    nxt.append((a, b))
                    continue
                if a < h_start:
                    nxt.append((a, h_start))
                if h_end < b:
                    nxt.append((h_end, b))
            pieces = nxt
        out.extend(pieces)
    return out


@dataclass
class Availability:
    """A unit's working time: its shift pattern (None: around the clock) in
    its time zone, minus its planned downtime windows. Times are UTC."""

    shifts: list[tuple[int, int, int]] | None  # (weekday, start minute, duration minutes)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    downtimes: list[tuple[datetime, datetime]] = field(default_factory=list)
    label: str = ""

    @classmethod
    def of(cls, unit: Unit, start: datetime | None = None, end: datetime | None = None) -> "Availability":
        """Loaded once (calendar and downtimes in [start, end]); ask it many times."""
        calendar = calendar_of(unit)
        shifts = None if calendar is None else [(s.weekday, s.start_minute, s.duration_minutes)
                                                 for s in calendar.shifts]
        tz = ZoneInfo(calendar.timezone) if calendar is not None else ZoneInfo("UTC")
        rows = db.session.scalars(downtimes_query(unit.id, start, end))
        return cls(shifts, tz, [(_as_utc(d.starts_at), _as_utc(d.ends_at)) for d in rows], unit.code)

    def _shift_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        if self.shifts is None:
            return [(start, end)]
        found = []
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            midnight = datetime.combine(day, time(0), tzinfo=self.tz)
            for weekday, minute, duration in self.shifts:
                if weekday == day.weekday():
                    s = (midnight + timedelta(minutes=minute)).astimezone(timezone.utc)
                    e = s + timedelta(minutes=duration)
                    if e > start and s < end:
                        found.append((max(s, start), min(e, end)))
            day += timedelta(days=1)
        return _merge(found)

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        start, end = _as_utc(start), _as_utc(end)
        if end <= start:
            return []
        return _merge(_subtract(self._shift_intervals(start, end), self.downtimes))

    def hours_between(self, start: datetime, end: datetime) -> float:
        return sum((b - a).total_seconds() for a, b in self.intervals(start, end)) / 3600

    def advance(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time from `start` are done."""
        start = _as_utc(start)
        remaining = max(0.0, hours) * 3600
        cursor, limit = start, start + HORIZON
        while cursor < limit:
            window_end = min(cursor + timedelta(days=14), limit)
            for a, b in self.intervals(cursor, window_end):
                span = (b - a).total_seconds()
                if remaining <= span:
                    return a + timedelta(seconds=remaining)
                remaining -= span
            cursor = window_end
        raise NoCapacity(msg("Unit %(unit)s has no working time for this within three years.", unit=self.label))

    def next_working(self, start: datetime) -> datetime:
        """The first working moment at or after `start`."""
        return self.advance(start, 0)

    def is_working(self, moment: datetime) -> bool:
        moment = _as_utc(moment)
        return bool(self.intervals(moment, moment + timedelta(seconds=1)))


def availability(unit: Unit, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Working intervals of the unit in [start, end] (UTC)."""
    return Availability.of(unit, start, end).intervals(start, end)


# ---------------------------------------------------------------- tag links

def unit_tags(unit: Unit) -> list[UnitTag]:
    return list(db.session.scalars(select(UnitTag).where(UnitTag.unit_id == unit.id)
                                   .order_by(UnitTag.created_at, UnitTag.id)))


def get_unit_tag(unit_tag_id) -> UnitTag:
    return get_or_404(UnitTag, unit_tag_id, "No such tag link")


def agents() -> list[Agent]:
    return list(db.session.scalars(select(Agent).where(Agent.status != "revoked").order_by(Agent.name)))


def _validate_tag(values: dict, unit: Unit, link_id=None) -> None:
    errors: dict[str, list] = {}
    agent_id = values.get("agent_id")
    if agent_id is None or db.session.scalar(select(Agent.id).where(Agent.id == agent_id)) is None:
        errors["agent_id"] = ["No such agent."]
    tag = values.get("tag") or ""
    if not tag:
        errors["tag"] = ["Enter the tag."]
    elif len(tag) > 200:
        errors["tag"] = ["At most 200 characters."]
    elif not errors.get("agent_id"):
        stmt = select(UnitTag.id).where(UnitTag.unit_id == unit.id, UnitTag.agent_id == agent_id, UnitTag.tag == tag)
        if link_id is not None:
            stmt = stmt.where(UnitTag.id != link_id)
        if db.session.scalar(stmt) is not None:
            errors["tag"] = ["This tag is linked already."]
    if values.get("role") not in TAG_ROLES:
        errors["role"] = ["Choose what the tag measures."]
    above = values.get("running_above")
    if above is not None and (not isinstance(above, (int, float)) or isinstance(above, bool)
                              or not math.isfinite(above) or abs(above) > 1e12):
        errors["running_above"] = ["Enter a number."]
    _raise(errors)


def add_unit_tag(unit: Unit, *, agent_id, tag, role="speed", running_above=None) -> UnitTag:
    values = {"agent_id": agent_id, "tag": _text(tag), "role": role or "speed", "running_above": running_above}
    _validate_tag(values, unit)
    link = UnitTag(unit_id=unit.id, **values)
    db.session.add(link)
    db.session.commit()
    return link


def update_unit_tag(link: UnitTag, **fields) -> UnitTag:
    values = {k: fields.get(k, getattr(link, k)) for k in ("agent_id", "tag", "role", "running_above")}
    values["tag"] = _text(values["tag"])
    _validate_tag(values, get_unit(link.unit_id), link.id)
    for key, value in values.items():
        setattr(link, key, value)
    db.session.commit()
    return link


def delete_unit_tag(link: UnitTag) -> None:
    db.session.delete(link)
    db.session.commit()


# ---------------------------------------------------------------- live state

@dataclass
class LiveState:
    state: str
    reason: str
    values: list[dict] = field(default_factory=list)
    at: datetime = field(default_factory=utcnow)


def _latest(tenant_id, agent_id, tags: list[str]) -> dict[str, dict]:
    from alloyhub.platform.jobs import redis
    from alloyhub.tenants.telemetry.services import latest_key

    if not tags:
        return {}
    raw = redis().hmget(latest_key(tenant_id, agent_id), tags)
    found = {}
    for tag, doc in zip(tags, raw):
        if doc is None:
            continue
        try:
            value = json.loads(doc)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(value, dict):
            found[tag] = value
    return found


def _parse_ts(value) -> datetime | None:
    try:
        return _as_utc(datetime.fromisoformat(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _active_alarms(links: list[UnitTag], agent_ids: set, worst: str) -> list:
    from alloyhub.tenants.alarms.models import ACTIVE_ACKED, ACTIVE_UNACKED, Alarm, AlarmRule

    priorities = ALARM_PRIORITIES[:ALARM_PRIORITIES.index(worst) + 1]
    pairs = [(link.agent_id, link.tag) for link in links]
    on_tags = or_(*[(AlarmRule.agent_id == a) & (AlarmRule.tag == t) for a, t in pairs]) if pairs else None
    offline = (AlarmRule.kind == "offline") & AlarmRule.agent_id.in_(agent_ids)
    where = or_(on_tags, offline) if on_tags is not None else offline
    stmt = (select(Alarm).join(Alarm.rule).where(Alarm.state.in_((ACTIVE_UNACKED, ACTIVE_ACKED)),
                                                 AlarmRule.priority.in_(priorities), where)
            .order_by(Alarm.raised_at.desc().nulls_last()))
    return list(db.session.scalars(stmt).unique())


def live_state(unit: Unit, now: datetime | None = None) -> LiveState:
    """running / idle / down / unknown, with the reason (see the module's docstring)."""
    now = _as_utc(now or utcnow())
    if unit.status != "active":
        return LiveState("down", msg("The unit is retired."), at=now)
    downtime = db.session.scalar(downtimes_query(unit.id, now, now + timedelta(seconds=1)).limit(1))
    if downtime is not None:
        return LiveState("down", msg("Planned downtime until %(until)s: %(reason)s",
                                     until=_as_utc(downtime.ends_at).strftime("%Y-%m-%d %H:%M UTC"),
                                     reason=downtime.reason or downtime.kind), at=now)
    links = unit_tags(unit)
    if not links:
        return LiveState("unknown", msg("No tag is linked to the unit."), at=now)
    agent_ids = {link.agent_id for link in links}
    agents_by_id = {a.id: a for a in db.session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))}
    values, fresh_running, fresh_any = [], [], False
    for agent_id in agent_ids:
        agent_links = [link for link in links if link.agent_id == agent_id]
        latest = _latest(unit.tenant_id, agent_id, [link.tag for link in agent_links])
        for link in agent_links:
            doc = latest.get(link.tag) or {}
            ts = _parse_ts(doc.get("ts"))
            v = doc.get("v")
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            fresh = numeric and ts is not None and (now - ts).total_seconds() <= unit.stale_after_s
            values.append({"agent_id": agent_id, "tag": link.tag, "role": link.role, "v": v,
                           "ts": ts, "fresh": fresh, "running_above": link.running_above})
            if link.running_above is not None and fresh:
                fresh_any = True
                if v > link.running_above:
                    fresh_running.append((link, v))
    if unit.down_when_agent_offline:
        offline = [agents_by_id[a].name for a in agent_ids if a in agents_by_id and not agents_by_id[a].online]
        if offline:
            return LiveState("down", msg("Agent %(agent)s is offline.", agent=", ".join(sorted(offline))), values, now)
    if unit.down_on_alarm_priority:
        alarms = _active_alarms(links, agent_ids, unit.down_on_alarm_priority)
        if alarms:
            alarm = alarms[0]
            return LiveState("down", msg("Alarm %(name)s (%(priority)s) is active.", name=alarm.rule.name,
                                         priority=alarm.rule.priority), values, now)
    if fresh_running:
        link, v = fresh_running[0]
        return LiveState("running", msg("%(tag)s = %(value)s, above %(limit)s.", tag=link.tag, value=f"{v:g}",
                                        limit=f"{link.running_above:g}"), values, now)
    if fresh_any:
        return LiveState("idle", msg("No running tag is above its threshold."), values, now)
    if not any(link.running_above is not None for link in links):
        return LiveState("unknown", msg("No tag has a 'running above' threshold."), values, now)
    return LiveState("unknown", msg("No recent value of the running tags."), values, now)


def live_states(units_: list[Unit] | None = None, now=None) -> dict[uuid.UUID, LiveState]:
    return {u.id: live_state(u, now) for u in (units_ if units_ is not None else units())}


# ---------------------------------------------------------------- the tree

def tree() -> list[dict]:
    """Sites with their areas, lines and units, in code order."""
    all_areas = list(db.session.scalars(select(Area).order_by(Area.code)))
    all_lines = list(db.session.scalars(select(Line).order_by(Line.code)))
    all_units = units()
    result = []
    for site in sites():
        site_areas = []
        for area in (a for a in all_areas if a.site_id == site.id):
            area_lines = []
            for line in (li for li in all_lines if li.area_id == area.id):
                area_lines.append({"line": line, "units": [u for u in all_units if u.line_id == line.id]})
            site_areas.append({"area": area, "lines": area_lines})
        result.append({"site": site, "areas": site_areas})
    return result

