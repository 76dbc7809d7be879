"""The scheduling rules: schedule versions (create, solve, lock, move,
re-solve, compare, publish) and unit disruptions.

A version is made in two steps. `create_version` builds the problem at once
(so a plan that cannot exist is refused with its reasons, 422, before
anything is stored), stores the version as "solving" and queues the solver
on RQ; `solve` (the job) builds the problem again for the same plan start,
runs CP-SAT with the version's objective and time limit, writes progress to
Redis while it runs (the page polls it) and stores the operations, KPIs and
explanation. Moving or locking an operation never changes a solved version:
a re-solve makes a new version (its parent's locked operations pinned, the
moved one pinned where the planner put it), so versions can be compared.

Publishing hands the operations to the production room
(`production.services.publish_plan`, in this transaction), marks confirmed
lines planned and supersedes the version published before.
"""
from __future__ import annotations

import json
import math
import time
import uuid
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from alloyhub.platform import audit, outbox, tenancy
from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.errors import Conflict, ValidationFailed
from alloyhub.tenants.equipment import services as equipment
from alloyhub.tenants.equipment.models import Unit, UnitTag
from alloyhub.tenants.orders import services as orders
from alloyhub.tenants.orders.models import CONFIRMED, OrderLine

from . import problem as problems
from .engine import cpsat
from .engine.model import Schedule, ScheduledOperation as EngineOp
from .models import (
    DRAFT, FAILED, OBJECTIVES, PUBLISHED, SOLVED, SOLVING, SUPERSEDED, Disruption, ScheduledOperation,
    ScheduleVersion,
)

SINGLE = ("weighted_tardiness", "makespan", "total_setup")
MIN_TIME_LIMIT, MAX_TIME_LIMIT = 1, 600
PROGRESS_TTL = 24 * 3600
MAX_MOVE_DAYS = 180
ALARM_PRIORITIES = ("critical", "high", "medium", "low")


class NotSolved(Conflict):
    slug, title = "version-not-solved", "The schedule version is not solved"


class Unschedulable(ValidationFailed):
    slug, title = "unschedulable", "Nothing can be scheduled as asked"


# ---------------------------------------------------------------- reading

def versions_query(status: str | None = None):
    stmt = select(ScheduleVersion)
    if status:
        stmt = stmt.where(ScheduleVersion.status == status)
    return stmt


def versions(limit: int = 100) -> list[ScheduleVersion]:
    return list(db.session.scalars(versions_query().order_by(ScheduleVersion.number.desc()).limit(limit)))


def get_version(version_id) -> ScheduleVersion:
    return get_or_404(ScheduleVersion, version_id, "No such schedule version")


def get_operation(operation_id) -> ScheduledOperation:
    return get_or_404(ScheduledOperation, operation_id, "No such scheduled operation")


def operations_query(version: ScheduleVersion, unit_id=None):
    stmt = select(ScheduledOperation).where(ScheduledOperation.version_id == version.id)
    if unit_id:
        stmt = stmt.where(ScheduledOperation.unit_id == unit_id)
    return stmt


def published_version() -> ScheduleVersion | None:
    return db.session.scalar(select(ScheduleVersion).where(ScheduleVersion.status == PUBLISHED))


def units_by_id(ids) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(ids)))}


# ---------------------------------------------------------------- creating and solving

def _weights(objective, weights, errors: dict) -> dict:
    if objective not in OBJECTIVES:
        errors["objective"] = [_("Choose weighted tardiness, makespan, total set-up or a weighted mix.")]
        return {}
    if objective != "mix":
        return {objective: 1}
    clean = {}
    if not isinstance(weights, dict):
        weights = {}
    for name, value in weights.items():
        if name not in SINGLE or isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0 or value > 1000 or value != int(value):
            errors["weights"] = [_("A mix gives weighted_tardiness, makespan and total_setup whole weights "
                                   "from 0 to 1000.")]
            return {}
        if value:
            clean[name] = int(value)
    if not clean:
        errors["weights"] = [_("Give at least one objective of the mix a weight above 0.")]
    return clean


def _check_params(name, objective, weights, time_limit) -> tuple[str | None, dict, int]:
    errors: dict[str, list] = {}
    clean = _weights(objective, weights, errors)
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not math.isfinite(time_limit) \
            or not (MIN_TIME_LIMIT <= time_limit <= MAX_TIME_LIMIT):
        errors["time_limit"] = [_("The time limit is 1 to 600 seconds.")]
    name = (name or "").strip() or None
    if name is not None and len(name) > 120:
        errors["name"] = [_("At most 120 characters.")]
    if errors:
        raise ValidationFailed(_("The schedule settings are not valid."), errors=errors)
    return name, clean, int(math.ceil(time_limit))


def _next_number() -> int:
    return (db.session.scalar(select(func.max(ScheduleVersion.number))) or 0) + 1


def _build(version_or_kwargs: dict, strict: bool = False) -> problems.Built:
    try:
        return problems.build(strict_locks=strict, **version_or_kwargs)
    except problems.Unschedulable as exc:
        raise Unschedulable("; ".join(exc.reasons), errors={"problem": exc.reasons}) from exc


def create_version(*, name: str | None = None, objective: str = "weighted_tardiness", weights: dict | None = None,
                   time_limit: float = 10, parent: ScheduleVersion | None = None, locks: list[dict] | None = None,
                   down: list[dict] | None = None, strict_locks: bool = False, enqueue: bool = True) -> ScheduleVersion:
    """Check the problem can be built, store the version and queue the solver."""
    name, clean, limit = _check_params(name, objective, weights, time_limit)
    plan_start = problems.plan_start_for()
    locks, down = list(locks or []), list(down or [])
    _build({"plan_start": plan_start, "locks": locks, "down": down}, strict=strict_locks)
    number = _next_number()
    version = ScheduleVersion(number=number, name=name or _("Version %(n)s", n=number), objective=objective,
                              weights=clean, time_limit_s=limit, status=SOLVING if enqueue else DRAFT,
                              plan_start=plan_start, inputs={"locks": locks, "down": down},
                              parent_id=parent.id if parent else None, created_by=tenancy.current().user_id,
                              progress={"state": "queued"})
    db.session.add(version)
    audit.record("scheduling.version.created", target=version, objective=objective, time_limit=limit,
                 parent=str(parent.id) if parent else None)
    db.session.commit()
    if enqueue:
        _enqueue(version)
    return version


def _enqueue(version: ScheduleVersion) -> None:
    from alloyhub.platform.jobs import queue

    job = queue(current_app.config.get("SCHEDULING_QUEUE", "default")).enqueue(
        "alloyhub.tenants.scheduling.jobs.solve_version", str(version.tenant_id), str(version.id),
        str(tenancy.current().user_id) if tenancy.current().user_id else None,
        job_timeout=version.time_limit_s + 600, result_ttl=3600, failure_ttl=24 * 3600)
    version.job_id = job.id
    db.session.commit()


def _progress_key(version_id) -> str:
    return f"ah:sched:progress:{version_id}"


def _redis():
    from alloyhub.platform.jobs import redis

    return redis()


def _hint(built: problems.Built, parent: ScheduleVersion | None) -> Schedule | None:
    """The parent's placements as a warm start (re-solving around a lock)."""
    if parent is None or not parent.operations:
        return None
    index = {(job.id, op.ref): k for job in built.problem.jobs for k, op in enumerate(job.operations)}
    ops = []
    for row in parent.operations:
        k = index.get((str(row.order_line_id), row.step))
        if k is None:
            return None
        ops.append(EngineOp(str(row.order_line_id), k, str(row.unit_id), built.minute(row.start),
                            built.minute(row.end)))
    if len(ops) != built.problem.operation_count:
        return None
    return Schedule(status="feasible", operations=ops)


def solve(version_id) -> ScheduleVersion:
    """The job: build, solve with progress, store. Never raises for a plan
    without a schedule: the version is marked failed with the reason."""
    version = get_version(version_id)
    if version.status not in (SOLVING, DRAFT):
        return version
    version.status = SOLVING
    db.session.commit()
    inputs = version.inputs or {}
    try:
        built = problems.build(plan_start=version.plan_start, locks=inputs.get("locks"), down=inputs.get("down"))
    except problems.Unschedulable as exc:
        return _fail(version, "; ".join(exc.reasons))
    r, key, t0 = _redis(), _progress_key(version.id), time.monotonic()
    r.set(key, json.dumps({"state": "solving", "elapsed": 0.0}), ex=PROGRESS_TTL)

    def on_progress(p) -> bool:
        # Called from the solver's threads: Redis only (no session, no app context there).
        r.set(key, json.dumps({"state": "solving", "objective": p.objective, "bound": p.bound,
                               "elapsed": round(p.wall_time, 2), "solutions": p.solutions}), ex=PROGRESS_TTL)
        return False

    parent = db.session.get(ScheduleVersion, version.parent_id) if version.parent_id else None
    schedule = cpsat.solve(built.problem, objective=version.weights, time_limit=float(version.time_limit_s),
                           workers=int(current_app.config.get("SCHEDULING_WORKERS", 2)),
                           hint=_hint(built, parent), on_progress=on_progress)
    if not schedule.feasible:
        return _fail(version, schedule.reason or _("No schedule was found within the time limit."))
    _store(version, built, schedule)
    version.progress = {"state": "done", "objective": schedule.objective, "bound": schedule.bound,
                        "elapsed": round(time.monotonic() - t0, 2),
                        "solutions": int((schedule.search or {}).get("lns_improvements", 0)) + 1}
    r.set(key, json.dumps(version.progress), ex=PROGRESS_TTL)
    db.session.commit()
    return version


def _fail(version: ScheduleVersion, reason: str) -> ScheduleVersion:
    version.status = FAILED
    version.failure = reason[:4000]
    version.progress = {"state": "failed"}
    db.session.commit()
    _redis().set(_progress_key(version.id), json.dumps(version.progress), ex=PROGRESS_TTL)
    return version


def fail_after_crash(version_id, message: str) -> None:
    """The job died: the version must not stay 'solving' for ever."""
    db.session.rollback()
    version = db.session.scalar(select(ScheduleVersion).where(ScheduleVersion.id == version_id))
    if version is not None and version.status == SOLVING:
        _fail(version, _("The solver stopped: %(error)s", error=message))


def _store(version: ScheduleVersion, built: problems.Built, schedule: Schedule) -> None:
    jobs_by_id = {job.id: job for job in built.problem.jobs}
    locked = {(str(lk["order_line_id"]), int(lk["step"])) for lk in (version.inputs or {}).get("locks", [])}
    units = built.units
    for s in schedule.operations:
        op = jobs_by_id[s.job].operations[s.op]
        info = built.ops[(s.job, op.ref)]
        code = units[s.machine].code if s.machine in units else "?"
        batch_key = f"V{version.number}-{code}-{s.batch}" if s.batch is not None else None
        eligible = [{"unit_id": uid, "code": units[uid].code, "minutes": m}
                    for uid, m in sorted(info.minutes.items(), key=lambda kv: units[kv[0]].code)]
        version.operations.append(ScheduledOperation(
            order_line_id=info.line_id, step=info.step, operation=info.process[:60],
            unit_id=uuid.UUID(s.machine), start=built.at(s.start), end=built.at(s.end), setup_minutes=s.setup,
            batch_key=batch_key, locked=(s.job, op.ref) in locked and not info.frozen, frozen=info.frozen,
            input_kg=round(info.input_kg, 3), output_kg=round(info.output_kg, 3), label=info.label[:120],
            alloy_family=info.alloy_family, eligible=eligible))
    k = schedule.kpis
    late = []
    for job in built.problem.jobs:
        done = k.job_completion.get(job.id)
        if job.due is not None and done is not None and done > job.due:
            late.append({"line_id": job.id, "label": job.label, "lateness_min": done - job.due})
    late.sort(key=lambda x: -x["lateness_min"])
    utilisation = sorted(({"unit_id": uid, "code": units[uid].code, "pct": round(v * 100, 1),
                           "load_min": k.machine_load.get(uid, 0)} for uid, v in k.utilisation.items()),
                         key=lambda x: x["code"])
    version.kpis = {
        "late_lines": len(late), "total_lateness_min": k.total_lateness, "weighted_tardiness": k.weighted_tardiness,
        "makespan_min": k.makespan, "makespan_end": built.at(k.makespan).isoformat(),
        "total_setup_min": k.total_setup, "utilisation": utilisation,
        "load_balance": {name: round(v, 3) for name, v in k.load_balance.items()},
        "operations": len(schedule.operations), "lines": len(built.problem.jobs),
    }
    bottleneck = max(utilisation, key=lambda x: (x["load_min"], x["pct"]), default=None)
    version.explanation = {"bottleneck": bottleneck, "late": late[:10], "engine": list(schedule.explanation),
                           "notes": list(built.notes)}
    version.result = {"status": schedule.status, "objective": schedule.objective, "bound": schedule.bound,
                      "solver": schedule.solver, "wall_time": round(schedule.wall_time, 2),
                      "search": dict(schedule.search or {})}
    version.status = SOLVED
    version.solved_at = utcnow()
    version.failure = None


def progress(version: ScheduleVersion) -> dict:
    """What the page polls: status and the solver's best so far."""
    live = None
    if version.status == SOLVING:
        raw = _redis().get(_progress_key(version.id))
        live = json.loads(raw) if raw else None
    data = dict(live or version.progress or {})
    return {"id": version.id, "status": version.status, "progress": data, "failure": version.failure,
            "kpis": version.kpis if version.status not in (SOLVING, DRAFT) else None,
            "time_limit_s": version.time_limit_s}


# ---------------------------------------------------------------- locks, moves, re-solving

def _locks_of(version: ScheduleVersion) -> list[dict]:
    return [{"order_line_id": str(op.order_line_id), "step": op.step, "unit_id": str(op.unit_id),
             "start": op.start.isoformat()} for op in version.operations if op.locked and not op.frozen]


def _editable(version: ScheduleVersion) -> None:
    if version.status not in (SOLVED, PUBLISHED, SUPERSEDED):
        raise NotSolved(_("Only a solved schedule version can be changed; this one is %(status)s.",
                          status=_(version.status)))


def lock_operation(op: ScheduledOperation, locked: bool = True) -> ScheduledOperation:
    """Pin (or free) an operation where it is, for the next re-solve."""
    _editable(op.version)
    if op.frozen and locked:
        raise Conflict(_("%(op)s has begun on the shop floor: it stays where it ran anyway.", op=op.label))
    op.locked = bool(locked)
    db.session.commit()
    return op


def _as_utc(value: datetime, tz) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(timezone.utc)


def move_operation(op: ScheduledOperation, *, unit_id, start: datetime, time_limit: float | None = None,
                   name: str | None = None) -> ScheduleVersion:
    """A new version with the operation pinned to `unit_id` at `start` (and
    the version's other locks kept), solved around it."""
    version = op.version
    _editable(version)
    if op.frozen:
        raise Conflict(_("%(op)s has begun on the shop floor and cannot move.", op=op.label))
    errors: dict[str, list] = {}
    eligible = {e["unit_id"]: e for e in op.eligible}
    if str(unit_id) not in eligible:
        errors["unit_id"] = [_("This unit cannot run %(op)s.", op=op.label)]
    if not isinstance(start, datetime):
        errors["start"] = [_("Give the start.")]
    if errors:
        raise ValidationFailed(_("The move is not possible."), errors=errors)
    start = _as_utc(start, problems.plant_tz())
    if start < utcnow() - timedelta(minutes=1):
        raise ValidationFailed(_("The move is not possible."), errors={"start": [_("The start is in the past.")]})
    if start > utcnow() + timedelta(days=MAX_MOVE_DAYS):
        raise ValidationFailed(_("The move is not possible."), errors={"start": [
            _("Plan at most %(days)s days ahead.", days=MAX_MOVE_DAYS)]})
    unit = equipment.get_unit(uuid.UUID(str(unit_id)))
    minutes = int(eligible[str(unit_id)]["minutes"])
    end = start + timedelta(minutes=minutes)
    working = sum((b - a).total_seconds() for a, b in equipment.availability(unit, start, end)) / 60
    down = [w for w in (version.inputs or {}).get("down", []) if str(w["unit_id"]) == str(unit.id)
            and datetime.fromisoformat(w["start"]) < end and start < datetime.fromisoformat(w["end"])]
    if working + 0.5 < minutes or down:
        raise ValidationFailed(_("The move is not possible."), errors={"start": [
            _("%(unit)s is not working for the whole of %(op)s from then (shift calendar or downtime).",
              unit=unit.code, op=op.label)]})
    locks = [lk for lk in _locks_of(version)
             if not (lk["order_line_id"] == str(op.order_line_id) and lk["step"] == op.step)]
    locks.append({"order_line_id": str(op.order_line_id), "step": op.step, "unit_id": str(unit.id),
                  "start": start.isoformat()})
    new = create_version(name=name or _("%(name)s, %(op)s moved", name=version.name, op=op.label)[:120],
                         objective=version.objective, weights=version.weights,
                         time_limit=time_limit or version.time_limit_s, parent=version, locks=locks,
                         down=(version.inputs or {}).get("down", []), strict_locks=True)
    return new


def resolve(version: ScheduleVersion, *, name: str | None = None, objective: str | None = None,
            weights: dict | None = None, time_limit: float | None = None) -> ScheduleVersion:
    """A new version from this one: its locked operations pinned, its down windows kept."""
    _editable(version)
    objective = objective or version.objective
    return create_version(name=name or _("%(name)s, re-solved", name=version.name)[:120], objective=objective,
                          weights=weights if weights is not None else version.weights,
                          time_limit=time_limit or version.time_limit_s, parent=version, locks=_locks_of(version),
                          down=(version.inputs or {}).get("down", []))


# ---------------------------------------------------------------- compare

KPI_ROWS = ("late_lines", "total_lateness_min", "makespan_min", "total_setup_min", "weighted_tardiness")


def compare(a: ScheduleVersion, b: ScheduleVersion) -> dict:
    """KPIs side by side and the operations that moved (another unit, or
    another start) between two solved versions."""
    for v in (a, b):
        if v.kpis is None:
            raise NotSolved(_("Version %(n)s has no schedule to compare.", n=v.number))
    rows = []
    for key in KPI_ROWS:
        va, vb = a.kpis.get(key), b.kpis.get(key)
        rows.append({"kpi": key, "a": va, "b": vb, "delta": (vb - va) if va is not None and vb is not None else None})
    util_a = {u["code"]: u["pct"] for u in a.kpis.get("utilisation", [])}
    util_b = {u["code"]: u["pct"] for u in b.kpis.get("utilisation", [])}
    utilisation = [{"unit": code, "a": util_a.get(code), "b": util_b.get(code)}
                   for code in sorted(set(util_a) | set(util_b))]
    ops_b = {(o.order_line_id, o.step): o for o in b.operations}
    units = units_by_id({o.unit_id for o in a.operations} | {o.unit_id for o in b.operations})
    moved, only_a = [], []
    for oa in a.operations:
        ob = ops_b.pop((oa.order_line_id, oa.step), None)
        if ob is None:
            only_a.append(oa.label)
            continue
        shift = round((ob.start - oa.start).total_seconds() / 60)
        if ob.unit_id != oa.unit_id or shift:
            moved.append({"order_line_id": str(oa.order_line_id), "step": oa.step, "label": oa.label,
                          "unit_a": units[oa.unit_id].code if oa.unit_id in units else "?",
                          "unit_b": units[ob.unit_id].code if ob.unit_id in units else "?",
                          "start_a": oa.start.isoformat(), "start_b": ob.start.isoformat(), "shift_min": shift})
    moved.sort(key=lambda m: -abs(m["shift_min"]))
    return {"a": a, "b": b, "kpis": rows, "utilisation": utilisation, "moved": moved,
            "only_in_a": only_a, "only_in_b": [o.label for o in ops_b.values()]}


# ---------------------------------------------------------------- publishing

def _production():
    try:
        from alloyhub.tenants.production import services as production
    except ImportError:
        return None
    return production if hasattr(production, "publish_plan") else None


def can_publish() -> bool:
    return _production() is not None


def publish(version: ScheduleVersion) -> ScheduleVersion:
    """Work orders from this version (production room), lines planned, the
    version before superseded. All or nothing."""
    if version.status != SOLVED:
        raise NotSolved(_("Only a solved version can be published; this one is %(status)s.",
                          status=_(version.status)))
    production = _production()
    if production is None:
        raise Conflict(_("Publishing needs the production room, which is not installed."))
    user_id = tenancy.current().user_id
    try:
        before = published_version()
        if before is not None:
            before.status = SUPERSEDED
            db.session.flush()
        payload = [{"order_line_id": op.order_line_id, "step": op.step, "operation": op.operation,
                    "unit_id": op.unit_id, "planned_start": op.start, "planned_end": op.end,
                    "planned_input_kg": float(op.input_kg), "planned_output_kg": float(op.output_kg),
                    "batch_key": op.batch_key} for op in version.operations]
        work_orders = production.publish_plan(version.id, payload)
        line_ids = {op.order_line_id for op in version.operations}
        for line in db.session.scalars(select(OrderLine).where(OrderLine.id.in_(line_ids))):
            if line.status == CONFIRMED:
                orders.mark_planned(line, _("Scheduled in version %(n)s", n=version.number), commit=False)
        version.status = PUBLISHED
        version.published_at = utcnow()
        version.published_by = user_id
        outbox.publish("scheduling.version.published", {
            "version_id": str(version.id), "number": version.number,
            "superseded": str(before.id) if before is not None else None,
            "work_orders": len(work_orders or [])})
        audit.record("scheduling.version.published", target=version, number=version.number,
                     work_orders=len(work_orders or []))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return version


# ---------------------------------------------------------------- disruptions

def disruptions_query(status: str | None = None):
    stmt = select(Disruption)
    if status:
        stmt = stmt.where(Disruption.status == status)
    return stmt


def open_disruptions() -> list[Disruption]:
    return list(db.session.scalars(disruptions_query("open").order_by(Disruption.starts_at, Disruption.id)))


def get_disruption(disruption_id) -> Disruption:
    return get_or_404(Disruption, disruption_id, "No such disruption")


def mark_down(*, unit_id, starts_at: datetime, ends_at: datetime, reason: str | None = None, source="planner",
              alarm_id=None, commit: bool = True) -> Disruption:
    """A unit down for a window: the planner says so, or an alarm did."""
    errors: dict[str, list] = {}
    unit = db.session.scalar(select(Unit).where(Unit.id == unit_id)) if isinstance(unit_id, uuid.UUID) else None
    if unit is None:
        errors["unit_id"] = [_("No such unit.")]
    if not isinstance(starts_at, datetime):
        errors["starts_at"] = [_("Give the start.")]
    if not isinstance(ends_at, datetime):
        errors["ends_at"] = [_("Give the end.")]
    if not errors:
        tz = problems.plant_tz()
        starts_at, ends_at = _as_utc(starts_at, tz), _as_utc(ends_at, tz)
        if ends_at <= starts_at:
            errors["ends_at"] = [_("The end must be after the start.")]
        elif ends_at - starts_at > timedelta(days=366):
            errors["ends_at"] = [_("A down window lasts at most a year.")]
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > 2000:
        errors["reason"] = [_("At most 2000 characters.")]
    if errors:
        raise ValidationFailed(_("The down window is not valid."), errors=errors)
    published = published_version()
    disruption = Disruption(id=uuid.uuid4(), unit_id=unit.id, source=source, starts_at=starts_at, ends_at=ends_at, reason=reason,
                            alarm_id=alarm_id, version_id=published.id if published else None,
                            created_by=tenancy.current().user_id)
    db.session.add(disruption)
    outbox.publish("scheduling.unit.down", {"disruption_id": str(disruption.id), "unit_id": str(unit.id),
                                            "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                                            "source": source})
    if commit:
        db.session.commit()
    return disruption


def affected(disruption: Disruption, version: ScheduleVersion | None = None) -> list[ScheduledOperation]:
    """Operations of the published version on the unit inside the window that
    have not begun."""
    version = version or published_version()
    if version is None:
        return []
    state = problems.execution_state()
    found = []
    for op in version.operations:
        if op.unit_id != disruption.unit_id or op.end <= disruption.starts_at or op.start >= disruption.ends_at:
            continue
        st = state.get((op.order_line_id, op.step))
        if st is not None and st.status in problems.BEGUN:
            continue
        found.append(op)
    return found


def reschedule(disruption: Disruption, *, time_limit: float | None = None) -> ScheduleVersion:
    """One action: a new version from the published one, with the unit down for
    the window; begun work stays frozen, locked operations stay pinned."""
    if disruption.status != "open":
        raise Conflict(_("This disruption was handled already."))
    base = published_version()
    if base is None:
        raise Conflict(_("No schedule is published: there is nothing to re-schedule."))
    unit = equipment.get_unit(disruption.unit_id)
    down = list((base.inputs or {}).get("down", []))
    down.append({"unit_id": str(disruption.unit_id), "start": disruption.starts_at.isoformat(),
                 "end": disruption.ends_at.isoformat(), "reason": disruption.reason or disruption.source})
    locks = [lk for lk in _locks_of(base) if not (
        lk["unit_id"] == str(disruption.unit_id)
        and datetime.fromisoformat(lk["start"]) < disruption.ends_at)]
    version = create_version(name=_("%(name)s, %(unit)s down", name=base.name, unit=unit.code)[:120],
                             objective=base.objective, weights=base.weights,
                             time_limit=time_limit or base.time_limit_s, parent=base, locks=locks, down=down)
    disruption.status = "rescheduled"
    disruption.resolved_by_version_id = version.id
    db.session.commit()
    return version


def dismiss(disruption: Disruption) -> Disruption:
    if disruption.status != "open":
        raise Conflict(_("This disruption was handled already."))
    disruption.status = "dismissed"
    db.session.commit()
    return disruption


def _units_for_alarm(payload: dict) -> list[Unit]:
    agent_id = uuid.UUID(payload["agent_id"])
    stmt = select(Unit).join(UnitTag, UnitTag.unit_id == Unit.id).where(UnitTag.agent_id == agent_id,
                                                                         Unit.status == "active")
    if payload.get("kind") != "offline":
        stmt = stmt.where(UnitTag.tag == payload.get("tag"))
    units = []
    priority = payload.get("priority")
    for unit in db.session.scalars(stmt).unique():
        worst = unit.down_on_alarm_priority
        if payload.get("kind") == "offline" and unit.down_when_agent_offline:
            units.append(unit)
        elif worst in ALARM_PRIORITIES and priority in ALARM_PRIORITIES and \
                ALARM_PRIORITIES.index(priority) <= ALARM_PRIORITIES.index(worst):
            units.append(unit)
    return units


def on_alarm_raised(payload: dict) -> list[Disruption]:
    """An alarm that puts a unit down (by the unit's own live-state rule) while a
    schedule is published: a disruption for the next LIVE_DOWN_HOURS."""
    if published_version() is None:
        return []
    try:
        at = datetime.fromisoformat(payload.get("ts") or "")
    except ValueError:
        at = utcnow()
    at = _as_utc(at, timezone.utc)
    alarm_id = uuid.UUID(payload["alarm_id"]) if payload.get("alarm_id") else None
    made = []
    for unit in _units_for_alarm(payload):
        exists = db.session.scalar(select(Disruption.id).where(
            Disruption.unit_id == unit.id, Disruption.alarm_id == alarm_id, Disruption.status == "open"))
        if exists is not None:
            continue
        made.append(mark_down(unit_id=unit.id, starts_at=at, ends_at=at + timedelta(hours=problems.LIVE_DOWN_HOURS),
                              reason=_("Alarm %(name)s (%(priority)s)", name=payload.get("name") or "",
                                       priority=payload.get("priority") or ""),
                              source="alarm", alarm_id=alarm_id, commit=False))
    return made


@outbox.subscribe("alarm.raised")
def _alarm_raised(event) -> None:
    """The relay, as the company the alarm belongs to."""
    if event.tenant_id is None or not event.payload.get("agent_id"):
        return
    db.session.flush()
    with tenancy.scoped(event.tenant_id, session=db.session):
        on_alarm_raised(event.payload)


# ---------------------------------------------------------------- the Gantt's actuals

def actuals(version: ScheduleVersion) -> dict:
    """Execution state of the version's operations (key: (order line, step))."""
    state = problems.execution_state()
    keys = {(op.order_line_id, op.step) for op in version.operations}
    return {k: v for k, v in state.items() if k in keys}
