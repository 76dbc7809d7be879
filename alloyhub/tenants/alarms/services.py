"""Alarm rules, the rule engine and the ISA-18.2 state machine.

States (ISA-18.2): normal; active-unacknowledged; active-acknowledged;
returned-unacknowledged; shelved (by a person, with a reason and an expiry);
suppressed (while the agent's equipment is in a maintenance window).

Two inputs move an alarm: the process condition (computed by the rule
engine) and people (acknowledge, shelve, unshelve). `next_state` is the
whole table; everything else records and announces what it decides.

Time, the rule that keeps replays and out-of-order points from flapping:
limit and rate rules are evaluated on the points' own timestamps, never the
wall clock. Each alarm remembers the newest point time it has evaluated
(`last_ts`); a point at or before it (a replayed batch, a late point) is
skipped. On-delay counts from the first point beyond the limit to a later
point still beyond it (the alarm is raised by the first point at least
`on_delay_s` after the first); any point back inside the limit restarts the
count. The deadband applies on return: a high alarm returns only below
`limit - deadband` (a low one above `limit + deadband`). Stale-data and
agent-offline rules compare with the wall clock by nature, in the periodic
check, which takes `now` as an argument. Suppression follows maintenance
windows in wall-clock time, since people schedule them.
"""
from __future__ import annotations

import json
import logging
import math
import time
import uuid
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import case, func, select

from alloyhub.platform import audit, mail, outbox, tenancy
from alloyhub.platform import permissions as perms
from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.errors import Conflict, ValidationFailed
from alloyhub.tenants.agents.models import Agent, AgentTag

from .models import (
    ACTIVE_ACKED, ACTIVE_UNACKED, CLOCK_KINDS, NORMAL, POINT_KINDS, PRIORITIES, RETURNED_UNACKED, RULE_KINDS,
    SHELVED, SUPPRESSED, Alarm, AlarmEvent, AlarmRule, MaintenanceWindow,
)
from .permissions import ALARMS_ACK

log = logging.getLogger(__name__)

MAX_SHELVE = timedelta(days=7)
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
# The alarm list: what needs a person first.
STATE_RANK = {ACTIVE_UNACKED: 0, RETURNED_UNACKED: 1, ACTIVE_ACKED: 2, SHELVED: 3, SUPPRESSED: 4, NORMAL: 5}
ANNOUNCED = (NORMAL, ACTIVE_UNACKED, ACTIVE_ACKED, RETURNED_UNACKED)
OPEN_STATES = (ACTIVE_UNACKED, ACTIVE_ACKED, RETURNED_UNACKED)

# ---------------------------------------------------------------- the state machine

# The target decided by the condition: active-unacknowledged if it holds, else normal.
BY_CONDITION = "by_condition"

TRANSITIONS: dict[tuple[str, str], str] = {
    (NORMAL, "activate"): ACTIVE_UNACKED,
    (ACTIVE_UNACKED, "ack"): ACTIVE_ACKED,
    (ACTIVE_UNACKED, "return"): RETURNED_UNACKED,
    (ACTIVE_ACKED, "return"): NORMAL,
    (RETURNED_UNACKED, "ack"): NORMAL,
    (RETURNED_UNACKED, "activate"): ACTIVE_UNACKED,
    (SHELVED, "unshelve"): BY_CONDITION,
    (SUPPRESSED, "unsuppress"): BY_CONDITION,
    **{(state, "shelve"): SHELVED for state in ANNOUNCED},
    **{(state, "suppress"): SUPPRESSED for state in (*ANNOUNCED, SHELVED)},
}
EVENTS = ("activate", "return", "ack", "shelve", "unshelve", "suppress", "unsuppress")


def next_state(state: str, event: str, condition: bool) -> str | None:
    """The state after `event`, or None when the event changes nothing in
    this state (e.g. the condition returning while shelved: it is tracked,
    not announced). `condition` is the process condition after the event."""
    target = TRANSITIONS.get((state, event))
    if target == BY_CONDITION:
        return ACTIVE_UNACKED if condition else NORMAL
    return target


# ---------------------------------------------------------------- rules (CRUD)

def rules_query(agent_id=None, kind=None):
    stmt = select(AlarmRule)
    if agent_id:
        stmt = stmt.where(AlarmRule.agent_id == agent_id)
    if kind:
        stmt = stmt.where(AlarmRule.kind == kind)
    return stmt


def get_rule(rule_id) -> AlarmRule:
    return get_or_404(AlarmRule, rule_id, "No such alarm rule")


def agents() -> list[Agent]:
    return list(db.session.scalars(select(Agent).where(Agent.status != "revoked").order_by(Agent.name)))


def known_tags() -> list[str]:
    """Tags of the company's agents, offered when typing a rule's tag."""
    return list(db.session.scalars(select(AgentTag.tag).where(AgentTag.status != "ignored").distinct()
                                   .order_by(AgentTag.tag).limit(2000)))


def _validate_rule(values: dict) -> None:
    """Cross-field rules, all reported together."""
    errors: dict[str, list[str]] = {}
    kind = values.get("kind")
    if kind not in RULE_KINDS:
        errors["kind"] = ["Choose a kind of rule."]
    if values.get("priority") not in PRIORITIES:
        errors["priority"] = ["Choose a priority."]
    if not (values.get("name") or "").strip():
        errors["name"] = ["Enter a name."]
    agent_id = values.get("agent_id")
    if agent_id is None or db.session.scalar(select(Agent.id).where(Agent.id == agent_id)) is None:
        errors["agent_id"] = ["No such agent."]
    if kind != "offline" and not (values.get("tag") or "").strip():
        errors["tag"] = ["Enter the tag."]
    limit = values.get("limit")
    if kind in POINT_KINDS:
        if limit is None or not math.isfinite(limit):
            errors["limit"] = ["Enter the limit."]
        elif kind == "rate" and limit <= 0:
            errors["limit"] = ["The rate limit must be above zero."]
    deadband = values.get("deadband") or 0.0
    if not math.isfinite(deadband) or deadband < 0:
        errors["deadband"] = ["The deadband cannot be negative."]
    elif kind == "rate" and limit is not None and math.isfinite(limit) and deadband >= limit > 0:
        errors["deadband"] = ["The deadband must be smaller than the rate limit."]
    if (values.get("on_delay_s") or 0) < 0:
        errors["on_delay_s"] = ["The on-delay cannot be negative."]
    if kind in CLOCK_KINDS and not (values.get("timeout_s") or 0) >= 1:
        errors["timeout_s"] = ["Enter the time-out in seconds."]
    if errors:
        raise ValidationFailed(errors=errors)


RULE_FIELDS = ("agent_id", "tag", "name", "kind", "priority", "limit", "deadband", "on_delay_s", "timeout_s",
               "enabled", "description")


# ---------------------------------------------------------------- audit

def _changes(before: dict, after: dict) -> dict:
    """{field: {"before", "after"}} for the fields whose value differs; a
    field missing on one side (created, deleted) counts as None there."""
    return {key: {"before": _plain(before.get(key)), "after": _plain(after.get(key))}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _rule_values(rule: AlarmRule) -> dict:
    return {k: getattr(rule, k) for k in RULE_FIELDS}


def _alarm_values(alarm: Alarm) -> dict:
    return {"state": alarm.state, "shelved_until": alarm.shelved_until, "shelved_reason": alarm.shelved_reason}


def _audit_alarm(action: str, alarm: Alarm, before: dict, note: str | None = None, user_id=None) -> None:
    """A person's (or, for an expired shelve, the system's) action on an alarm."""
    user_id = user_id or tenancy.current().user_id
    audit.record(action, target=alarm, actor_user_id=user_id, actor_label=None if user_id else "system",
                 rule_id=alarm.rule_id, rule=alarm.rule.name, tag=alarm.rule.tag, note=note,
                 changes=_changes(before, _alarm_values(alarm)))


def create_rule(**data) -> AlarmRule:
    values = {"priority": "medium", "deadband": 0.0, "on_delay_s": 0, "enabled": True, **data}
    if values.get("kind") == "offline":
        values["tag"] = None
    _validate_rule(values)
    rule = AlarmRule(**{k: values.get(k) for k in RULE_FIELDS})
    rule.name = rule.name.strip()
    rule.alarm = Alarm(agent_id=rule.agent_id, state=NORMAL)
    db.session.add(rule)
    db.session.flush()
    audit.record("alarm.rule_created", target=rule, name=rule.name, changes=_changes({}, _rule_values(rule)))
    db.session.commit()
    _forget_watched()
    return rule


def update_rule(rule: AlarmRule, **data) -> AlarmRule:
    values = {k: getattr(rule, k) for k in RULE_FIELDS}
    values.update({k: v for k, v in data.items() if k in RULE_FIELDS})
    if values.get("kind") == "offline":
        values["tag"] = None
    _validate_rule(values)
    changed = {k for k in RULE_FIELDS if values[k] != getattr(rule, k)}
    before = _rule_values(rule)
    for key in changed:
        setattr(rule, key, values[key])
    alarm = rule.alarm
    if changed & {"agent_id", "tag", "kind", "limit", "deadband", "on_delay_s", "timeout_s"}:
        # A new definition starts counting afresh; the announced state stays
        # until the next evaluation decides.
        alarm.pending_since = None
        alarm.agent_id = rule.agent_id
        if changed & {"agent_id", "tag", "kind"}:
            alarm.last_ts = alarm.last_value = None
    if "enabled" in changed and not rule.enabled:
        _reset(alarm, "disabled")
    if changed:
        audit.record("alarm.rule_updated", target=rule, name=rule.name,
                     changes=_changes(before, _rule_values(rule)))
    db.session.commit()
    _forget_watched()
    return rule


def delete_rule(rule: AlarmRule) -> None:
    audit.record("alarm.rule_deleted", target=rule, name=rule.name, alarm_state=rule.alarm.state,
                 changes=_changes(_rule_values(rule), {}))
    db.session.delete(rule)
    db.session.commit()
    _forget_watched()


# ---------------------------------------------------------------- alarms (reading)

def get_alarm(alarm_id) -> Alarm:
    return get_or_404(Alarm, alarm_id, "No such alarm")


def alarms_query(state=None, priority=None, agent_id=None):
    """`state` is one state, "open" (active or returned-unacknowledged) or None (all)."""
    stmt = select(Alarm).join(Alarm.rule)
    if state == "open":
        stmt = stmt.where(Alarm.state.in_(OPEN_STATES))
    elif state:
        stmt = stmt.where(Alarm.state == state)
    if priority:
        stmt = stmt.where(AlarmRule.priority == priority)
    if agent_id:
        stmt = stmt.where(Alarm.agent_id == agent_id)
    return stmt


def alarm_list(state=None, priority=None, agent_id=None, limit: int = 500) -> list[Alarm]:
    """For people: what needs attention first, then by priority, newest first."""
    stmt = alarms_query(state, priority, agent_id).order_by(
        case(STATE_RANK, value=Alarm.state, else_=9), case(PRIORITY_RANK, value=AlarmRule.priority, else_=9),
        Alarm.raised_at.desc().nulls_last(), Alarm.id)
    return list(db.session.scalars(stmt.limit(limit)).unique())


def history(alarm: Alarm, limit: int = 200) -> list[AlarmEvent]:
    return list(db.session.scalars(
        select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id)
        .order_by(AlarmEvent.at.desc(), AlarmEvent.id).limit(limit)))


def history_query(alarm: Alarm):
    return select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id)


def user_names(user_ids) -> dict:
    """Who did what in the history: names (or e-mail addresses) by user id."""
    from alloyhub.platform.identity.models import User

    ids = [i for i in user_ids if i]
    if not ids:
        return {}
    return {u.id: u.name or u.email for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def unacknowledged_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Alarm)
                             .where(Alarm.state.in_((ACTIVE_UNACKED, RETURNED_UNACKED)))) or 0


# ---------------------------------------------------------------- transitions

def _apply(alarm: Alarm, event: str, *, ts=None, value=None, user_id=None, note=None) -> bool:
    """Move the alarm by `event` if the table says so; record and announce."""
    before = alarm.state
    after = next_state(before, event, alarm.condition)
    if after is None:
        return False
    alarm.state = after
    now = utcnow()
    if after == ACTIVE_UNACKED:
        alarm.raised_at = ts or now
        alarm.acked_at = alarm.acked_by = None
    if event == "return":
        alarm.returned_at = ts or now
    if event == "ack":
        alarm.acked_at, alarm.acked_by = now, user_id
    db.session.add(AlarmEvent(alarm_id=alarm.id, ts=ts, event=event, from_state=before, to_state=after,
                              value=value, user_id=user_id, note=note))
    if after == ACTIVE_UNACKED and before != ACTIVE_UNACKED:
        _announce("alarm.raised", alarm, ts, value)
    elif event == "return":
        _announce("alarm.cleared", alarm, ts, value)
    return True


def _reset(alarm: Alarm, note: str) -> None:
    """Back to normal outside the table (rule disabled)."""
    if alarm.state != NORMAL or alarm.condition:
        db.session.add(AlarmEvent(alarm_id=alarm.id, event="reset", from_state=alarm.state, to_state=NORMAL,
                                  user_id=tenancy.current().user_id, note=note))
    alarm.state, alarm.condition, alarm.pending_since = NORMAL, False, None
    alarm.shelved_until = alarm.shelved_reason = alarm.shelved_by = None


def _announce(topic: str, alarm: Alarm, ts, value) -> None:
    rule = alarm.rule
    payload = {"alarm_id": str(alarm.id), "rule_id": str(rule.id), "agent_id": str(alarm.agent_id),
               "tag": rule.tag, "name": rule.name, "kind": rule.kind, "priority": rule.priority,
               "state": alarm.state, "value": value, "ts": (ts or utcnow()).isoformat()}
    outbox.publish(topic, payload)
    if topic == "alarm.raised" and rule.priority == "critical":
        subject = f"[AlloyHub] Critical alarm: {rule.name}"
        body = (f"The critical alarm '{rule.name}' was raised at {payload['ts']}"
                + (f" (tag {rule.tag}, value {value})" if rule.tag else "") + ".\n\n"
                + f"{current_app.config.get('BASE_URL', '')}/alarms/{alarm.id}\n")
        for email in _acknowledgers():
            mail.queue(email, subject, body)


def _acknowledgers() -> list[str]:
    """E-mail addresses of the tenant's active members who may acknowledge alarms."""
    from alloyhub.platform.identity.models import Membership, MembershipRole, Role, User

    rows = db.session.execute(
        select(User.email, Role.permissions).select_from(Membership)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .join(Role, Role.id == MembershipRole.role_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.status == "active")
    ).all()
    return sorted({email for email, granted in rows if ALARMS_ACK in perms.expand(list(granted))})


def _set_condition(alarm: Alarm, on: bool, ts, value) -> None:
    if alarm.condition == on:
        return
    alarm.condition = on
    alarm.pending_since = None
    if on:
        alarm.value = value
    _apply(alarm, "activate" if on else "return", ts=ts, value=value)


def acknowledge(alarm: Alarm, note: str | None = None) -> Alarm:
    if next_state(alarm.state, "ack", alarm.condition) is None:
        raise Conflict("This alarm needs no acknowledgement")
    before = _alarm_values(alarm)
    _apply(alarm, "ack", user_id=tenancy.current().user_id, note=(note or None))
    _audit_alarm("alarm.acknowledged", alarm, before, note or None)
    db.session.commit()
    return alarm


def shelve(alarm: Alarm, reason: str, minutes: int) -> Alarm:
    errors = {}
    if not (reason or "").strip():
        errors["reason"] = ["Give a reason for shelving."]
    if not isinstance(minutes, int) or not 1 <= minutes <= MAX_SHELVE.total_seconds() // 60:
        errors["minutes"] = ["Shelve for 1 minute to 7 days."]
    if errors:
        raise ValidationFailed(errors=errors)
    if next_state(alarm.state, "shelve", alarm.condition) is None:
        raise Conflict("This alarm cannot be shelved now")
    user_id = tenancy.current().user_id
    before = _alarm_values(alarm)
    alarm.shelved_until = utcnow() + timedelta(minutes=minutes)
    alarm.shelved_reason, alarm.shelved_by = reason.strip(), user_id
    _apply(alarm, "shelve", user_id=user_id, note=reason.strip())
    _audit_alarm("alarm.shelved", alarm, before, reason.strip())
    db.session.commit()
    return alarm


def unshelve(alarm: Alarm, *, note: str | None = None, user_id=None, commit: bool = True) -> Alarm:
    if alarm.state != SHELVED:
        raise Conflict("This alarm is not shelved")
    before = _alarm_values(alarm)
    alarm.shelved_until = alarm.shelved_reason = alarm.shelved_by = None
    _apply(alarm, "unshelve", user_id=user_id if user_id is not None else tenancy.current().user_id, note=note)
    _audit_alarm("alarm.unshelved", alarm, before, note, user_id)
    if commit:
        db.session.commit()
    return alarm


# ---------------------------------------------------------------- maintenance (suppression)

def windows_query(agent_id=None):
    stmt = select(MaintenanceWindow)
    if agent_id:
        stmt = stmt.where(MaintenanceWindow.agent_id == agent_id)
    return stmt


def current_windows(now=None) -> list[MaintenanceWindow]:
    now = now or utcnow()
    return list(db.session.scalars(
        select(MaintenanceWindow).where((MaintenanceWindow.ends_at.is_(None)) | (MaintenanceWindow.ends_at > now))
        .order_by(MaintenanceWindow.starts_at)))


def get_window(window_id) -> MaintenanceWindow:
    return get_or_404(MaintenanceWindow, window_id, "No such maintenance window")


def _window_values(window: MaintenanceWindow) -> dict:
    return {"agent_id": window.agent_id, "starts_at": window.starts_at, "ends_at": window.ends_at,
            "reason": window.reason}


def start_maintenance(agent_id, hours: float | None = None, reason: str | None = None,
                      starts_at=None) -> MaintenanceWindow:
    errors = {}
    if agent_id is None or db.session.scalar(select(Agent.id).where(Agent.id == agent_id)) is None:
        errors["agent_id"] = ["No such agent."]
    if hours is not None and not (isinstance(hours, (int, float)) and 0 < hours <= 24 * 90):
        errors["hours"] = ["Enter 0-2160 hours, or leave it empty for an open window."]
    if errors:
        raise ValidationFailed(errors=errors)
    start = starts_at or utcnow()
    window = MaintenanceWindow(agent_id=agent_id, starts_at=start, reason=(reason or "").strip() or None,
                               ends_at=start + timedelta(hours=hours) if hours else None,
                               created_by=tenancy.current().user_id)
    db.session.add(window)
    db.session.flush()
    audit.record("alarm.maintenance_started", target=window, agent_id=agent_id,
                 changes=_changes({}, _window_values(window)))
    sync_suppression(agent_id)
    db.session.commit()
    return window


def end_maintenance(window: MaintenanceWindow) -> MaintenanceWindow:
    now = utcnow()
    if window.ends_at is not None and window.ends_at <= now:
        raise Conflict("This maintenance window has ended")
    before = _window_values(window)
    window.ends_at = now
    audit.record("alarm.maintenance_ended", target=window, agent_id=window.agent_id,
                 changes=_changes(before, _window_values(window)))
    db.session.flush()
    sync_suppression(window.agent_id, now)
    db.session.commit()
    return window


def in_maintenance(agent_id, now=None) -> bool:
    now = now or utcnow()
    return db.session.scalar(select(func.count()).select_from(MaintenanceWindow).where(
        MaintenanceWindow.agent_id == agent_id, MaintenanceWindow.starts_at <= now,
        (MaintenanceWindow.ends_at.is_(None)) | (MaintenanceWindow.ends_at > now))) > 0


def sync_suppression(agent_id, now=None) -> None:
    """Suppress the agent's alarms while it is in maintenance; release them after."""
    suppressed = in_maintenance(agent_id, now)
    for alarm in list(db.session.scalars(select(Alarm).where(Alarm.agent_id == agent_id)).unique()):
        if suppressed and alarm.state != SUPPRESSED:
            _apply(alarm, "suppress", note="maintenance")
        elif not suppressed and alarm.state == SUPPRESSED:
            if alarm.shelved_until and alarm.shelved_until > (now or utcnow()):
                # Still shelved: go back to the shelf, not to the operator.
                db.session.add(AlarmEvent(alarm_id=alarm.id, event="unsuppress", from_state=SUPPRESSED,
                                          to_state=SHELVED, note="maintenance ended"))
                alarm.state = SHELVED
            else:
                _apply(alarm, "unsuppress", note="maintenance ended")


# ---------------------------------------------------------------- the rule engine: points

def _as_datetime(ts) -> datetime | None:
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
    if isinstance(ts, (int, float)) and math.isfinite(ts):
        return datetime.fromtimestamp(ts, timezone.utc)
    if isinstance(ts, str):
        try:
            return _as_datetime(datetime.fromisoformat(ts.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _as_number(v) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def _is_bad(quality) -> bool:
    """"bad", or an OPC-style numeric quality below 64 (the bad range)."""
    if isinstance(quality, str):
        return quality.lower() == "bad"
    return isinstance(quality, int) and not isinstance(quality, bool) and quality < 64


def _evaluate_limit(rule: AlarmRule, alarm: Alarm, ts: datetime, v: float) -> None:
    """One point (newer than any evaluated) for a high, low or rate rule."""
    if rule.kind == "rate":
        prev_v, prev_ts = alarm.last_value, alarm.last_ts
        alarm.last_value, alarm.last_ts = v, ts
        if prev_v is None or prev_ts is None:
            return
        measured = (v - prev_v) / (ts - prev_ts).total_seconds() * 60.0
        beyond = abs(measured) > rule.limit
        back_inside = abs(measured) <= rule.limit - rule.deadband
    else:
        alarm.last_value, alarm.last_ts = v, ts
        measured = v
        if rule.kind == "high":
            beyond, back_inside = v >= rule.limit, v < rule.limit - rule.deadband
        else:
            beyond, back_inside = v <= rule.limit, v > rule.limit + rule.deadband
    if beyond:
        if not alarm.condition:
            alarm.pending_since = alarm.pending_since or ts
            if (ts - alarm.pending_since).total_seconds() >= rule.on_delay_s:
                _set_condition(alarm, True, ts, measured)
    else:
        alarm.pending_since = None
        if alarm.condition and back_inside:
            _set_condition(alarm, False, ts, measured)


def evaluate_rules(rules: list[AlarmRule], points: list[dict], now=None) -> None:
    """Evaluate `points` ({"tag","ts","v","q"}) of one agent against its rules."""
    now = now or utcnow()
    by_tag: dict[str, list[tuple[datetime, object, object]]] = {}
    for p in points:
        ts = _as_datetime(p.get("ts"))
        if ts is not None and isinstance(p.get("tag"), str):
            by_tag.setdefault(p["tag"], []).append((ts, p.get("v"), p.get("q")))
    for rule in rules:
        alarm = rule.alarm
        series = sorted(by_tag.get(rule.tag, ()), key=lambda item: item[0])
        if not series or not rule.enabled:
            continue
        if rule.kind == "stale":
            newest = series[-1][0]
            if alarm.last_ts is None or newest > alarm.last_ts:
                alarm.last_ts = newest
            if alarm.condition and (now - alarm.last_ts).total_seconds() <= rule.timeout_s:
                _set_condition(alarm, False, alarm.last_ts, None)
            continue
        for ts, raw, quality in series:
            if alarm.last_ts is not None and ts <= alarm.last_ts:
                continue  # replayed or late: already decided, never flaps
            v = _as_number(raw)
            if v is None or _is_bad(quality):
                continue
            _evaluate_limit(rule, alarm, ts, v)


# The ingest calls the hook for every batch (thousands a second), most of them
# for tags no rule watches: which tags each agent's rules watch is kept here
# for a few seconds, so such batches cost no query. A rule made in another
# process is therefore evaluated from at most RULE_CACHE_TTL_S later.
RULE_CACHE_TTL_S = 5.0
_watched: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}


def _forget_watched() -> None:
    _watched.clear()


def _point_tags(points) -> set[str] | frozenset[str]:
    known = getattr(points, "tags", None)  # the ingest's StoredPoints knows its tags without building the points
    if known is not None:
        return known
    return {p["tag"] for p in points if isinstance(p, dict) and isinstance(p.get("tag"), str)}


def may_match(tenant_id, agent_id, points) -> bool:
    """False only when it is known (cached) that no rule watches these points' tags."""
    hit = _watched.get((str(tenant_id), str(agent_id)))
    if hit is None or hit[0] <= time.monotonic():
        return True
    return not hit[1].isdisjoint(_point_tags(points))


def _watched_tags(agent_id) -> frozenset[str]:
    key = (str(tenancy.current_tenant_id()), str(agent_id))
    hit = _watched.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    tags = frozenset(db.session.scalars(select(AlarmRule.tag).where(
        AlarmRule.agent_id == agent_id, AlarmRule.enabled.is_(True),
        AlarmRule.kind.in_((*POINT_KINDS, "stale")))))
    if len(_watched) > 50_000:
        _watched.clear()
    _watched[key] = (time.monotonic() + RULE_CACHE_TTL_S, tags)
    return tags


def evaluate_points(tenant_id, agent_id, points: list[dict], now=None) -> None:
    """The telemetry hook: called after each committed ingest batch."""
    if not may_match(tenant_id, agent_id, points):
        return
    try:
        with tenancy.scoped(tenant_id, session=db.session):
            tags = _point_tags(points) & _watched_tags(agent_id)
            rules = list(db.session.scalars(select(AlarmRule).where(
                AlarmRule.agent_id == agent_id, AlarmRule.enabled.is_(True),
                AlarmRule.kind.in_((*POINT_KINDS, "stale")), AlarmRule.tag.in_(tags))).unique()) if tags else []
            if rules:
                evaluate_rules(rules, [p for p in points if isinstance(p, dict)], now)
            db.session.commit()
    except Exception:  # an alarm bug must never stop ingestion
        db.session.rollback()
        log.exception("alarm evaluation failed for agent %s", agent_id)


# ---------------------------------------------------------------- the periodic check

def _latest_ts(tenant_id, agent_id, tag: str) -> datetime | None:
    """The newest point time of a tag, from the telemetry room's Redis hash."""
    from alloyhub.platform.jobs import redis

    raw = redis().hget(f"ah:latest:{tenant_id}:{agent_id}", tag)
    if not raw:
        return None
    try:
        return _as_datetime(json.loads(raw).get("ts"))
    except (ValueError, AttributeError):
        return None


def _agent_offline(agent: Agent | None, rule: AlarmRule, now: datetime) -> bool:
    if agent is None:
        return True
    if (agent.health or {}).get("online") is False:
        return True
    seen = agent.last_seen_at or rule.created_at
    return (now - seen).total_seconds() > rule.timeout_s


def check_tenant(now=None) -> None:
    """Stale-data and agent-offline rules, shelve expiry and suppression, for
    the current tenant."""
    now = now or utcnow()
    tenant_id = tenancy.current_tenant_id()
    agent_ids = set(db.session.scalars(select(AlarmRule.agent_id).distinct()))
    for agent_id in agent_ids:
        sync_suppression(agent_id, now)
    expired = db.session.scalars(select(Alarm).where(Alarm.state.in_((SHELVED, SUPPRESSED)),
                                                     Alarm.shelved_until <= now)).unique()
    for alarm in list(expired):
        if alarm.state == SHELVED:
            unshelve(alarm, note="shelve expired", user_id=None, commit=False)
        else:  # expired while suppressed: it will come back by condition when maintenance ends
            alarm.shelved_until = alarm.shelved_reason = alarm.shelved_by = None
    rules = list(db.session.scalars(select(AlarmRule).where(AlarmRule.enabled.is_(True),
                                                            AlarmRule.kind.in_(CLOCK_KINDS))).unique())
    agents_by_id = {a.id: a for a in db.session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))}
    for rule in rules:
        alarm = rule.alarm
        if rule.kind == "stale":
            newest = max([t for t in (alarm.last_ts, _latest_ts(tenant_id, rule.agent_id, rule.tag)) if t],
                         default=None)
            if newest is not None:
                alarm.last_ts = newest
            age = (now - (newest or rule.created_at)).total_seconds()
            _set_condition(alarm, age > rule.timeout_s, now, round(age, 1))
        else:
            _set_condition(alarm, _agent_offline(agents_by_id.get(rule.agent_id), rule, now), now, None)


def tenants_with_rules() -> list[uuid.UUID]:
    with tenancy.system_context(db.session):
        return list(db.session.scalars(select(AlarmRule.tenant_id).distinct()))


def check_all(now=None) -> int:
    """Every tenant in turn, each in its own scope and transaction."""
    checked = 0
    for tenant_id in tenants_with_rules():
        db.session.rollback()
        try:
            with tenancy.scoped(tenant_id, session=db.session):
                check_tenant(now)
                db.session.commit()
            checked += 1
        except Exception:  # one tenant's trouble must not stop the others' alarms
            db.session.rollback()
            log.exception("alarm check failed for tenant %s", tenant_id)
    return checked

