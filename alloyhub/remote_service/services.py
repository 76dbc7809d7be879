"""The remote-service room's rules. Views and the API only parse and render.

Who is who: on a request, the plant (`tenant_id`) and the expert firm
(`expert_tenant_id`). `side(req)` tells which one the current company is;
each action checks the side and the permission it needs there.

Access to the plant's data goes through the consent ledger at every read:
`grant_scope(req)` collects the grants (shares of kind GRANT_KIND on the
request) in force for the current company now; a unit, agent, tag or time
outside them answers 404, exactly like an object that does not exist. The
window is compared with the clock in SQL at each read, so an expired grant
stops access without any job; revoking (or closing the request, which
revokes) stops it at the next read, also of an open live stream.

Once the ledger says yes, the plant's own tables (telemetry, alarms,
equipment) are read in the plant's tenant scope (`_as_plant`), and the read
is written twice: to the ledger's activity feed (as the reader) and to the
plant's audit log (action "remote_service.read"), both in the same
transaction as nothing else, so a read is never served unrecorded.
"""
from __future__ import annotations

import contextlib
import json
import math
import mimetypes
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_, func, or_, select

from alloyhub.platform import audit, outbox, storage, tenancy
from alloyhub.platform.auth import current_principal
from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from alloyhub.platform.identity.models import Tenant, User
from alloyhub.platform.sharing import services as sharing
from alloyhub.platform.sharing.models import Share

from .models import (
    ACCEPTED, ACTION_KINDS, AUDIENCES, AVAILABILITY, BILLING_MODES, CANCELLED, CLOSED, DECLINED, ENDED_STATES,
    GRANT_KIND, INVITED, MODULE, OPEN, RESOLVED, URGENCIES, Annotation, ExpertProfile, Rating, RemoteCommand,
    RequestFile, RequestMessage, ServiceRequest,
)
from .permissions import REMOTE_APPROVE, REMOTE_DIAGNOSE, REMOTE_GRANT, REMOTE_REQUEST

EVENT = "remote_service.request.changed"
MAX_TAGS = 20
MAX_RANGES = 10
MAX_GRANT_HOURS = 24 * 30
MAX_FILE_BYTES = 50 * 1024 * 1024
LANGUAGES = ("zh", "en", "de", "fr", "it", "ja", "ko", "es", "ru", "pt")
FILE_TYPES = ("image/", "video/", "application/pdf", "text/plain", "text/csv", "application/zip",
              "application/octet-stream", "application/vnd.openxmlformats-officedocument.")


# ---------------------------------------------------------------- who

def _me() -> uuid.UUID:
    me = tenancy.current_tenant_id()
    if me is None:
        raise NotFound("No such service request")
    return me


def _can(permission: str) -> bool:
    principal = current_principal()
    if principal is None:  # jobs, the demo seeder, tests acting as the owner
        return True
    return principal.can(permission)


def side(req: ServiceRequest) -> str | None:
    me = tenancy.current_tenant_id()
    if me is None:
        return None
    if req.tenant_id == me:
        return "plant"
    if req.expert_tenant_id == me:
        return "expert"
    if req.state == OPEN and req.audience == "directory":
        return "candidate"
    return None


def _require(req: ServiceRequest, sides: tuple[str, ...], permission: str | None = None) -> str:
    """The current company must be one of `sides` of the request (else 404:
    it is none of its business) and the person must hold `permission`
    (or the side's own, when None)."""
    who = side(req)
    if who not in sides:
        raise NotFound("No such service request")
    needed = permission or (REMOTE_REQUEST if who == "plant" else REMOTE_DIAGNOSE)
    if not _can(needed):
        raise PermissionDenied(f"This needs the permission '{needed}'", permission=needed)
    return who


def _text(value, limit: int) -> str:
    return (value or "").strip()[:limit] if isinstance(value, str) else ""


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def tenant_names(ids) -> dict[uuid.UUID, str]:
    return sharing.names_of(ids)


def user_names(ids) -> dict[uuid.UUID, str]:
    return sharing.user_names(ids)


@contextlib.contextmanager
def _as_plant(req: ServiceRequest):
    """Read the plant's own tables in its scope (after the ledger said yes).
    Whatever the expert's scope added so far is written first, under it."""
    db.session.flush()
    with tenancy.scoped(req.tenant_id, tenancy.current().user_id, session=db.session):
        yield


def _plant_audit(req: ServiceRequest, action: str, **details) -> None:
    """An entry in the plant's audit log, whichever side acts: the log's
    row-level security admits an entry only in the scope of its company."""
    details.setdefault("target_type", "remote_request")
    details.setdefault("target_id", req.id)
    if req.tenant_id == tenancy.current_tenant_id():
        audit.record(action, **details)
        return
    actor = tenancy.current_tenant_id()
    with _as_plant(req):
        audit.record(action, tenant_id=req.tenant_id, actor_tenant_id=actor, **details)


# ---------------------------------------------------------------- expert profiles

def _list_field(errors: dict, name: str, values, allowed=None, limit: int = 20, width: int = 80) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        errors[name] = ["Give a list."]
        return []
    out = []
    for value in values:
        value = _text(value, width)
        if not value:
            continue
        if allowed is not None and value not in allowed:
            errors[name] = [f"Choose from: {', '.join(allowed)}."]
            return []
        if value not in out:
            out.append(value)
    if len(out) > limit:
        errors[name] = [f"At most {limit}."]
    return out


def _profile_values(data: dict, partial: bool = False) -> dict:
    from alloyhub.tenants.equipment.models import PROCESSES, UNIT_KINDS

    errors: dict[str, list[str]] = {}
    values: dict = {}
    if not partial or "name" in data:
        values["name"] = _text(data.get("name"), 160)
        if not values["name"]:
            errors["name"] = ["Name the expert."]
    for key, limit in (("headline", 300), ("bio", 8000)):
        if key in data:
            values[key] = _text(data.get(key), limit) or None
    for key, allowed, width in (("equipment_types", UNIT_KINDS, 40), ("processes", PROCESSES, 40),
                                ("brands", None, 80), ("languages", LANGUAGES, 10)):
        if key in data:
            values[key] = _list_field(errors, key, data.get(key), allowed, width=width)
    if "hourly_rate" in data:
        rate = data.get("hourly_rate")
        if rate is not None:
            try:
                rate = Decimal(str(rate))
            except (InvalidOperation, ValueError):
                rate = Decimal("NaN")
            if not rate.is_finite() or rate < 0 or rate > Decimal("1000000"):
                errors["hourly_rate"] = ["A rate of 0 to 1,000,000 per hour."]
        values["hourly_rate"] = rate
    if "currency" in data and data.get("currency") is not None:
        currency = _text(data.get("currency"), 3).upper()
        if len(currency) != 3 or not currency.isalpha():
            errors["currency"] = ["A three-letter currency code."]
        values["currency"] = currency
    if "availability" in data:
        if data.get("availability") not in AVAILABILITY:
            errors["availability"] = [f"Choose one of: {', '.join(AVAILABILITY)}."]
        values["availability"] = data.get("availability")
    if "published" in data:
        values["published"] = bool(data.get("published"))
    if "user_id" in data:
        user_id = data.get("user_id")
        if user_id is not None:
            from alloyhub.platform.identity.models import Membership

            found = db.session.scalar(select(Membership.id).where(Membership.user_id == user_id))
            if found is None:
                errors["user_id"] = ["Not a member of the company."]
        values["user_id"] = user_id
    if errors:
        raise ValidationFailed(errors=errors)
    return values


def own_profiles_query():
    return select(ExpertProfile).where(ExpertProfile.tenant_id == _me())


def get_own_profile(profile_id) -> ExpertProfile:
    found = db.session.scalar(own_profiles_query().where(ExpertProfile.id == profile_id))
    if found is None:
        raise NotFound("No such expert profile")
    return found


def create_profile(**data) -> ExpertProfile:
    values = _profile_values(data)
    profile = ExpertProfile(**{"equipment_types": [], "processes": [], "brands": [], "languages": [],
                               "currency": "CNY", "availability": "available", "published": False, **values})
    db.session.add(profile)
    db.session.flush()
    audit.record("remote_service.profile_created", target=profile, target_type="expert_profile",
                 published=profile.published)
    db.session.commit()
    return profile


def update_profile(profile: ExpertProfile, **data) -> ExpertProfile:
    for key, value in _profile_values(data, partial=True).items():
        setattr(profile, key, value)
    audit.record("remote_service.profile_changed", target=profile, target_type="expert_profile",
                 fields=sorted(data))
    db.session.commit()
    return profile


def directory_query(q: str | None = None, equipment_type: str | None = None, process: str | None = None,
                    brand: str | None = None, language: str | None = None, available: bool = False):
    """Published profiles of every firm (and the company's own), by text and facets."""
    stmt = select(ExpertProfile).where(or_(ExpertProfile.published.is_(True),
                                           ExpertProfile.tenant_id == tenancy.current_tenant_id()))
    if q:
        pattern = f"%{q.strip()[:100]}%"
        stmt = stmt.where(or_(
            ExpertProfile.name.ilike(pattern), ExpertProfile.headline.ilike(pattern), ExpertProfile.bio.ilike(pattern),
            func.array_to_string(ExpertProfile.brands, " ").ilike(pattern),
            func.array_to_string(ExpertProfile.equipment_types, " ").ilike(pattern),
            func.array_to_string(ExpertProfile.processes, " ").ilike(pattern)))
    if equipment_type:
        stmt = stmt.where(ExpertProfile.equipment_types.any(equipment_type))
    if process:
        stmt = stmt.where(ExpertProfile.processes.any(process))
    if brand:
        stmt = stmt.where(func.array_to_string(ExpertProfile.brands, "\x1f").ilike(f"%{brand.strip()[:80]}%"))
    if language:
        stmt = stmt.where(ExpertProfile.languages.any(language))
    if available:
        stmt = stmt.where(ExpertProfile.availability == "available")
    return stmt.execution_options(skip_tenant_filter=True)


def get_profile(profile_id) -> ExpertProfile:
    """A published profile (or one's own)."""
    found = db.session.scalar(directory_query().where(ExpertProfile.id == profile_id))
    if found is None:
        raise NotFound("No such expert profile")
    return found


def ratings_of(profile_ids) -> dict[uuid.UUID, tuple[float, int]]:
    """(average score, count) of the plants' ratings per profile."""
    ids = [p for p in profile_ids if p]
    if not ids:
        return {}
    rows = db.session.execute(select(Rating.profile_id, func.avg(Rating.score), func.count())
                              .where(Rating.profile_id.in_(ids)).group_by(Rating.profile_id)).all()
    return {pid: (round(float(avg), 2), n) for pid, avg, n in rows}


def reviews_of(profile: ExpertProfile, limit: int = 20) -> list[Rating]:
    return list(db.session.scalars(select(Rating).where(Rating.profile_id == profile.id)
                                   .order_by(Rating.at.desc()).limit(limit)))


# ---------------------------------------------------------------- requests: reading

def requests_query(role: str | None = None, state: str | None = None):
    """role: "plant" (the company's own requests), "expert" (addressed to it
    or taken by it), "directory" (open requests posted to every firm), or
    None (plant and expert)."""
    me = _me()
    if role == "plant":
        stmt = select(ServiceRequest).where(ServiceRequest.tenant_id == me)
    elif role == "expert":
        stmt = select(ServiceRequest).where(ServiceRequest.expert_tenant_id == me)
    elif role == "directory":
        stmt = select(ServiceRequest).where(ServiceRequest.state == OPEN, ServiceRequest.audience == "directory",
                                            ServiceRequest.tenant_id != me)
    else:
        stmt = select(ServiceRequest).where(or_(ServiceRequest.tenant_id == me, ServiceRequest.expert_tenant_id == me))
    if state == "active":
        stmt = stmt.where(ServiceRequest.state.not_in(ENDED_STATES))
    elif state:
        stmt = stmt.where(ServiceRequest.state == state)
    return stmt


def get_request(request_id, *, for_update: bool = False) -> ServiceRequest:
    """A request the company is a party to, or an open one in the directory."""
    me = _me()
    stmt = select(ServiceRequest).where(ServiceRequest.id == request_id, or_(
        ServiceRequest.tenant_id == me, ServiceRequest.expert_tenant_id == me,
        and_(ServiceRequest.state == OPEN, ServiceRequest.audience == "directory")))
    if for_update:
        stmt = stmt.with_for_update()
    found = db.session.scalar(stmt)
    if found is None:
        raise NotFound("No such service request")
    return found


def get_for(request_id, *sides: str, permission: str | None = None, for_update: bool = False) -> ServiceRequest:
    req = get_request(request_id, for_update=for_update)
    _require(req, sides or ("plant", "expert"), permission)
    return req


# ---------------------------------------------------------------- requests: opening

def _tag_pairs(errors: dict, raw, name: str = "tags") -> list[dict]:
    """[{agent_id, tag}] of the company's own agents."""
    from alloyhub.tenants.agents.models import Agent

    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TAGS:
        errors[name] = [f"Give a list of at most {MAX_TAGS} tags."]
        return []
    pairs, agents = [], set()
    for item in raw:
        agent_id = item.get("agent_id") if isinstance(item, dict) else None
        tag = _text(item.get("tag"), 200) if isinstance(item, dict) else ""
        try:
            agent_id = uuid.UUID(str(agent_id))
        except ValueError:
            agent_id = None
        if agent_id is None or not tag or "\x00" in tag:
            errors[name] = ["Each tag needs an agent and a tag name."]
            return []
        agents.add(agent_id)
        pair = {"agent_id": str(agent_id), "tag": tag}
        if pair not in pairs:
            pairs.append(pair)
    found = set(db.session.scalars(select(Agent.id).where(Agent.id.in_(agents))))
    if found != agents:
        errors[name] = ["No such agent."]
        return []
    return pairs


def _ranges(errors: dict, raw) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_RANGES:
        errors["time_ranges"] = [f"Give a list of at most {MAX_RANGES} time ranges."]
        return []
    out = []
    for item in raw:
        start, end = ((item.get("start") or item.get("from"), item.get("end") or item.get("to"))
                      if isinstance(item, dict) else (None, None))
        if not isinstance(start, datetime) or not isinstance(end, datetime) or _as_utc(end) <= _as_utc(start):
            errors["time_ranges"] = ["Each time range needs a start before its end."]
            return []
        out.append({"from": _as_utc(start).isoformat(), "to": _as_utc(end).isoformat(),
                    "label": _text(item.get("label"), 120) or None})
    return out


def _expert_target(errors: dict, profile_id=None, expert_tenant_id=None) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(firm, profile) invited: a published profile, or a firm by id."""
    me = tenancy.current_tenant_id()
    if profile_id is not None:
        profile = db.session.scalar(directory_query().where(ExpertProfile.id == profile_id,
                                                            ExpertProfile.published.is_(True)))
        if profile is None or profile.tenant_id == me:
            errors["profile_id"] = ["No such expert in the directory."]
            return None, None
        return profile.tenant_id, profile.id
    if expert_tenant_id is not None:
        firm = db.session.get(Tenant, expert_tenant_id)
        if firm is None or firm.status == "deleted" or firm.id == me:
            errors["expert_tenant_id"] = ["No such expert firm."]
            return None, None
        return firm.id, None
    errors["profile_id"] = ["Invite an expert or a firm, or post the request to the directory."]
    return None, None


def unit_for_alarm(alarm) -> uuid.UUID | None:
    """The unit whose linked tag raised the alarm, if one is linked."""
    from alloyhub.tenants.equipment.models import UnitTag

    return db.session.scalar(select(UnitTag.unit_id).where(UnitTag.agent_id == alarm.agent_id,
                                                            UnitTag.tag == alarm.rule.tag).limit(1))


def unit_tag_pairs(unit_id) -> list[dict]:
    from alloyhub.tenants.equipment.models import UnitTag

    return [{"agent_id": str(a), "tag": t} for a, t in db.session.execute(
        select(UnitTag.agent_id, UnitTag.tag).where(UnitTag.unit_id == unit_id).order_by(UnitTag.tag))]


def create_request(*, unit_id=None, title: str, symptoms: str, tags=None, time_ranges=None, urgency: str = "normal",
                   alarm_id=None, audience: str = "invite", profile_id=None, expert_tenant_id=None) -> ServiceRequest:
    from alloyhub.tenants.alarms.models import Alarm
    from alloyhub.tenants.equipment.models import Unit

    errors: dict[str, list[str]] = {}
    alarm = None
    if alarm_id is not None:
        alarm = db.session.scalar(select(Alarm).where(Alarm.id == alarm_id))
        if alarm is None:
            errors["alarm_id"] = ["No such alarm."]
        elif unit_id is None:
            unit_id = unit_for_alarm(alarm)
    unit = db.session.scalar(select(Unit).where(Unit.id == unit_id)) if unit_id is not None else None
    if unit is None:
        errors["unit_id"] = ["Choose a unit of the company's equipment."]
    values = {"title": _text(title, 200), "symptoms": _text(symptoms, 20000)}
    if not values["title"]:
        errors["title"] = ["Give the request a title."]
    if not values["symptoms"]:
        errors["symptoms"] = ["Describe the symptoms."]
    if urgency not in URGENCIES:
        errors["urgency"] = [f"Choose one of: {', '.join(URGENCIES)}."]
    if audience not in AUDIENCES:
        errors["audience"] = ["Invite an expert or post the request to the directory."]
    pairs = _tag_pairs(errors, tags)
    if alarm is not None and alarm.rule.tag:
        pair = {"agent_id": str(alarm.agent_id), "tag": alarm.rule.tag}
        if pair not in pairs:
            pairs.insert(0, pair)
    ranges = _ranges(errors, time_ranges)
    if not ranges and alarm is not None and alarm.raised_at is not None:
        ranges = [{"from": (alarm.raised_at - timedelta(hours=1)).isoformat(), "to": utcnow().isoformat(),
                   "label": "alarm"}]
    firm = profile = None
    if audience == "invite":
        firm, profile = _expert_target(errors, profile_id, expert_tenant_id)
    if errors:
        raise ValidationFailed(errors=errors)
    req = ServiceRequest(
        tenant_id=_me(), expert_tenant_id=firm, profile_id=profile, unit_id=unit.id, unit_code=unit.code,
        unit_name=unit.name, unit_kind=unit.kind, alarm_id=alarm.id if alarm else None,
        alarm_label=f"{alarm.rule.name} · {alarm.rule.tag or ''}"[:300] if alarm else None,
        tags=pairs or unit_tag_pairs(unit.id)[:MAX_TAGS], time_ranges=ranges, urgency=urgency, audience=audience,
        state=INVITED if audience == "invite" else OPEN, created_by=tenancy.current().user_id, actions=[], **values)
    db.session.add(req)
    db.session.flush()
    audit.record("remote_service.request_opened", target=req, target_type="remote_request", unit=unit.code,
                 audience=audience, expert_tenant_id=firm, alarm_id=req.alarm_id)
    _event(req, "opened")
    db.session.commit()
    return req


def _event(req: ServiceRequest, what: str, **extra) -> None:
    """Tell both parties (notifications, webhooks) through the outbox."""
    outbox.publish(EVENT, {"request_id": str(req.id), "state": req.state, "what": what,
                           "plant": str(req.tenant_id),
                           "expert": str(req.expert_tenant_id) if req.expert_tenant_id else None, **extra},
                   tenant_id=tenancy.current_tenant_id())


def _system_message(req: ServiceRequest, body: str) -> None:
    db.session.add(RequestMessage(tenant_id=req.tenant_id, expert_tenant_id=req.expert_tenant_id, request_id=req.id,
                                  author_tenant_id=tenancy.current_tenant_id(),
                                  author_user_id=tenancy.current().user_id, body=body))


# ---------------------------------------------------------------- requests: the steps

def invite(req: ServiceRequest, *, profile_id=None, expert_tenant_id=None) -> ServiceRequest:
    """The plant invites an expert (again, after a decline) instead of waiting on the directory."""
    _require(req, ("plant",))
    if req.state not in (OPEN, INVITED, DECLINED):
        raise Conflict(f"The request is {req.state}: an expert is engaged already or it has ended")
    errors: dict = {}
    firm, profile = _expert_target(errors, profile_id, expert_tenant_id)
    if errors:
        raise ValidationFailed(errors=errors)
    if req.expert_tenant_id and req.expert_tenant_id != firm:
        sharing.revoke_object(GRANT_KIND, req.id, "another expert was invited")
    req.expert_tenant_id, req.profile_id, req.state, req.audience = firm, profile, INVITED, "invite"
    _relabel_children(req)
    audit.record("remote_service.invited", target=req, target_type="remote_request", expert_tenant_id=firm)
    _event(req, "invited")
    db.session.commit()
    return req


def post_to_directory(req: ServiceRequest) -> ServiceRequest:
    _require(req, ("plant",))
    if req.state not in (INVITED, DECLINED):
        raise Conflict(f"The request is {req.state}: it cannot be posted to the directory now")
    if req.expert_tenant_id:
        sharing.revoke_object(GRANT_KIND, req.id, "posted to the directory")
    req.expert_tenant_id, req.profile_id, req.state, req.audience = None, None, OPEN, "directory"
    _relabel_children(req)
    audit.record("remote_service.posted", target=req, target_type="remote_request")
    _event(req, "posted")
    db.session.commit()
    return req


def _relabel_children(req: ServiceRequest) -> None:
    """The conversation so far is the plant's own until a firm is engaged:
    child rows follow the request's expert (only the plant's rows exist
    before acceptance, and an expert who leaves takes no access with it)."""
    for model in (RequestMessage, RequestFile, Annotation):
        for row in db.session.scalars(select(model).where(model.request_id == req.id)):
            row.expert_tenant_id = req.expert_tenant_id


def accept(req: ServiceRequest, profile_id=None) -> ServiceRequest:
    """An expert firm takes the request (invited, or from the directory)."""
    who = _require(req, ("expert", "candidate"))
    if not (req.state == OPEN or (req.state == INVITED and who == "expert")):
        raise Conflict(f"The request is {req.state}: it cannot be accepted now")
    me = _me()
    if profile_id is not None:
        profile = db.session.scalar(own_profiles_query().where(ExpertProfile.id == profile_id))
        if profile is None:
            raise ValidationFailed(errors={"profile_id": ["No such expert profile of the firm."]})
        req.profile_id = profile.id
    elif req.profile_id is None:
        req.profile_id = db.session.scalar(own_profiles_query().where(
            ExpertProfile.user_id == tenancy.current().user_id).limit(1))
    req.expert_tenant_id, req.state, req.accepted_at = me, ACCEPTED, utcnow()
    req.audience = "invite"
    _relabel_children(req)
    db.session.flush()
    _system_message(req, "Accepted the request.")
    _plant_audit(req, "remote_service.accepted", expert_tenant_id=me)
    audit.record("remote_service.accepted", target=req, target_type="remote_request")
    _event(req, "accepted")
    db.session.commit()
    return req


def decline(req: ServiceRequest, reason: str | None = None) -> ServiceRequest:
    _require(req, ("expert",))
    if req.state != INVITED:
        raise Conflict(f"The request is {req.state}: only an invitation can be declined")
    _system_message(req, "Declined the invitation." + (f" {_text(reason, 2000)}" if reason else ""))
    db.session.flush()
    sharing_ids = [s.id for s in _grants_in_force(req)]
    req.state = DECLINED
    _plant_audit(req, "remote_service.declined", reason=_text(reason, 2000) or None, grants=sharing_ids)
    _event(req, "declined")
    db.session.commit()
    return req


def cancel(req: ServiceRequest) -> ServiceRequest:
    _require(req, ("plant",))
    if req.state in ENDED_STATES:
        raise Conflict(f"The request is {req.state} already")
    req.state, req.closed_at = CANCELLED, utcnow()
    revoked = sharing.revoke_object(GRANT_KIND, req.id, "service request cancelled")
    audit.record("remote_service.cancelled", target=req, target_type="remote_request", grants_revoked=revoked)
    _event(req, "cancelled")
    db.session.commit()
    return req


def _actions(errors: dict, raw) -> list[dict]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 30:
        errors["actions"] = ["Give a list of at most 30 actions."]
        return []
    out = []
    for item in raw:
        text = _text(item.get("text"), 2000) if isinstance(item, dict) else ""
        kind = item.get("kind", "other") if isinstance(item, dict) else None
        if not text or kind not in ACTION_KINDS:
            errors["actions"] = [f"Each action needs a text and a kind ({', '.join(ACTION_KINDS)})."]
            return []
        action = {"text": text, "kind": kind}
        if kind == "spare_part":
            part = _text(item.get("part_number"), 80)
            if not part:
                errors["actions"] = ["A spare-part action names the part number."]
                return []
            action["part_number"] = part
        out.append(action)
    return out


def resolve(req: ServiceRequest, *, findings: str, root_cause: str | None = None, actions=None,
            hours=None) -> ServiceRequest:
    """The expert's outcome; the PDF report is made and delivered to the plant."""
    from . import report

    _require(req, ("expert",))
    if req.state not in (ACCEPTED, RESOLVED):
        raise Conflict(f"The request is {req.state}: an outcome is reported on an accepted request")
    errors: dict[str, list[str]] = {}
    findings = _text(findings, 20000)
    if not findings:
        errors["findings"] = ["Write the findings."]
    parsed = _actions(errors, actions)
    amount = None
    if hours is not None:
        try:
            amount = Decimal(str(hours))
        except (InvalidOperation, ValueError):
            amount = Decimal("NaN")
        if not amount.is_finite() or amount <= 0 or amount > 1000:
            errors["hours"] = ["Hours spent: above 0 and at most 1,000."]
    if errors:
        raise ValidationFailed(errors=errors)
    req.findings, req.root_cause, req.actions = findings, _text(root_cause, 20000) or None, parsed
    req.hours = amount.quantize(Decimal("0.01")) if amount is not None else None
    req.state, req.resolved_at = RESOLVED, utcnow()
    db.session.flush()
    pdf = report.render(req)
    filename = f"report-{req.unit_code}-{req.resolved_at:%Y%m%d-%H%M}.pdf"
    row = _store_file(req, filename, pdf, "application/pdf", kind="report", owner=req.tenant_id)
    req.report_attachment_id = row.id
    _system_message(req, "Delivered the report.")
    _plant_audit(req, "remote_service.report_delivered", file_id=row.id, hours=req.hours)
    audit.record("remote_service.report_delivered", target=req, target_type="remote_request", file_id=row.id)
    _event(req, "resolved")
    db.session.commit()
    return req


def close(req: ServiceRequest, billing: str = "stripe") -> ServiceRequest:
    """The plant closes the request: every grant ends, the expert's time is
    billed (metered through Stripe) or marked as settled offline."""
    from alloyhub.platform.billing import usage

    _require(req, ("plant",))
    if req.state not in (ACCEPTED, RESOLVED):
        raise Conflict(f"The request is {req.state}: only a request an expert works on can be closed")
    if billing not in BILLING_MODES:
        raise ValidationFailed(errors={"billing": ["Choose stripe (metered) or offline."]})
    req.state, req.closed_at, req.billing = CLOSED, utcnow(), billing
    revoked = sharing.revoke_object(GRANT_KIND, req.id, "service request closed")
    if req.hours:
        req.billed_minutes = int((req.hours * 60).to_integral_value())
        if billing == "stripe":
            usage.record_expert_hours(req.tenant_id, req.hours, ref=f"remote-request-{req.id}")
    audit.record("remote_service.closed", target=req, target_type="remote_request", billing=billing,
                 minutes=req.billed_minutes, grants_revoked=revoked)
    _event(req, "closed")
    db.session.commit()
    return req


def rate(req: ServiceRequest, score: int, comment: str | None = None) -> Rating:
    who = _require(req, ("plant", "expert"))
    if req.state not in (RESOLVED, CLOSED):
        raise Conflict("Rate the engagement once the outcome is in")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValidationFailed(errors={"score": ["A score from 1 to 5."]})
    me = _me()
    if db.session.scalar(select(Rating.id).where(Rating.request_id == req.id, Rating.rater_tenant_id == me)):
        raise Conflict("The company has rated this engagement already")
    row = Rating(tenant_id=req.tenant_id, expert_tenant_id=req.expert_tenant_id, request_id=req.id,
                 rater_tenant_id=me, profile_id=req.profile_id if who == "plant" else None, score=score,
                 comment=_text(comment, 4000) or None)
    db.session.add(row)
    db.session.flush()
    audit.record("remote_service.rated", target=req, target_type="remote_request", score=score)
    db.session.commit()
    return row


def ratings(req: ServiceRequest) -> list[Rating]:
    return list(db.session.scalars(select(Rating).where(Rating.request_id == req.id).order_by(Rating.at)))


def action_to_wanted(req: ServiceRequest, index: int):
    """A spare-part action becomes a "wanted" post in the spare-parts room
    (every subscriber sees it), in one click."""
    from alloyhub.spares import wanted

    _require(req, ("plant",))
    if not isinstance(index, int) or not 0 <= index < len(req.actions or []):
        raise NotFound("No such action")
    action = dict(req.actions[index])
    if action.get("kind") != "spare_part":
        raise Conflict("Only a spare-part action becomes a spare-part request")
    if action.get("wanted_id"):
        raise Conflict("This action is a spare-part request already")
    post = wanted.post(part_number=action["part_number"], description=action["text"], audience="subscribers")
    action["wanted_id"] = str(post.id)
    actions = list(req.actions)
    actions[index] = action
    req.actions = actions
    audit.record("remote_service.action_to_spares", target=req, target_type="remote_request", wanted_id=post.id)
    db.session.commit()
    return post


# ---------------------------------------------------------------- grants (the consent ledger)

def _owned(object_id) -> bool:
    return db.session.scalar(select(ServiceRequest.id).where(
        ServiceRequest.id == object_id, ServiceRequest.tenant_id == tenancy.current_tenant_id())) is not None


def _describe(object_id) -> str:
    req = db.session.get(ServiceRequest, object_id) if object_id else None
    return f"Remote service: {req.unit_code} · {req.title}" if req else "Remote service"


def _link(object_id) -> str | None:
    from flask import url_for

    return url_for("remote_service.request_detail", request_id=object_id)


def register_kind(title) -> None:
    sharing.register_kind(GRANT_KIND, MODULE, owned=_owned, describe=_describe, title=title, link=_link)


@dataclass
class Scope:
    """What the grants in force let the current company see of a request."""

    shares: list[Share] = field(default_factory=list)
    units: set[str] = field(default_factory=set)
    tags: set[tuple[str, str]] = field(default_factory=set)  # (agent_id, tag)
    may_propose: bool = False
    history_from: datetime | None = None  # None: no limit backwards
    until: datetime | None = None

    @property
    def agents(self) -> set[str]:
        return {a for a, _ in self.tags}

    def covers(self, agent_id, tags) -> bool:
        return bool(self.shares) and all((str(agent_id), t) in self.tags for t in tags)

    def share_for(self, agent_id, tags) -> Share | None:
        for share in self.shares:
            granted = {(p["agent_id"], p["tag"]) for p in share.filters.get("tags", [])}
            if all((str(agent_id), t) in granted for t in tags):
                return share
        return None


def _grants_in_force(req: ServiceRequest) -> list[Share]:
    """Grants on the request in force now for the current company (the
    window is compared with the database clock in the query)."""
    return [s for s in sharing.shares_for(grantor_tenant_id=req.tenant_id, object_kind=GRANT_KIND)
            if s.object_id == req.id]


def grant_scope(req: ServiceRequest) -> Scope:
    scope = Scope()
    if req.state in ENDED_STATES or req.expert_tenant_id != tenancy.current_tenant_id():
        return scope
    starts, unlimited = [], False
    for share in _grants_in_force(req):
        scope.shares.append(share)
        scope.units |= set(share.filters.get("unit_ids", []))
        scope.tags |= {(p["agent_id"], p["tag"]) for p in share.filters.get("tags", [])}
        scope.may_propose = scope.may_propose or bool(share.filters.get("may_propose_commands"))
        if share.valid_until and (scope.until is None or share.valid_until > scope.until):
            scope.until = share.valid_until
        start = share.filters.get("history_from")
        if start:
            starts.append(datetime.fromisoformat(start))
        else:
            unlimited = True
    scope.history_from = None if unlimited or not starts else min(starts)
    return scope


def grants_query(req: ServiceRequest):
    """Every grant on the request (the plant's list, any state)."""
    return sharing.shares_query(object_kind=GRANT_KIND, object_id=req.id)


def grantable_units(req: ServiceRequest) -> list:
    from alloyhub.tenants.equipment.models import Unit

    return list(db.session.scalars(select(Unit).where(Unit.status == "active").order_by(Unit.code)))


def grantable_tags(req: ServiceRequest, unit_ids=None) -> list[dict]:
    """Tags linked to the units (equipment registry) plus those the request names."""
    from alloyhub.tenants.equipment.models import UnitTag

    unit_ids = unit_ids or [req.unit_id]
    pairs = [{"agent_id": str(a), "tag": t} for a, t in db.session.execute(
        select(UnitTag.agent_id, UnitTag.tag).where(UnitTag.unit_id.in_(unit_ids)).order_by(UnitTag.tag))]
    for pair in req.tags or []:
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def grant_access(req: ServiceRequest, *, unit_ids, tags, hours: float = 48, may_propose_commands: bool = False,
                 history_days: int | None = None) -> Share:
    """The plant lets the engaged (or invited) expert firm see these units
    and tags for `hours` from now; read-only unless commands may be proposed."""
    from alloyhub.tenants.equipment.models import Unit

    _require(req, ("plant",), REMOTE_GRANT)
    if req.expert_tenant_id is None or req.state not in (INVITED, ACCEPTED, RESOLVED):
        raise Conflict("Grant access once an expert is invited or engaged, before the request ends")
    errors: dict[str, list[str]] = {}
    if not isinstance(unit_ids, list) or not unit_ids or len(unit_ids) > 20:
        errors["unit_ids"] = ["Choose 1 to 20 units."]
        units = []
    else:
        try:
            ids = {uuid.UUID(str(u)) for u in unit_ids}
        except ValueError:
            ids = set()
        units = list(db.session.scalars(select(Unit).where(Unit.id.in_(ids)))) if ids else []
        if not ids or len(units) != len(ids):
            errors["unit_ids"] = ["No such unit."]
    pairs = _tag_pairs(errors, tags)
    if not pairs and "tags" not in errors:
        errors["tags"] = ["Choose at least one tag."]
    if units and pairs:
        allowed = grantable_tags(req, [u.id for u in units])
        if any(p not in allowed for p in pairs):
            errors["tags"] = ["Grant tags of the chosen units (linked in the equipment registry) or named in "
                              "the request."]
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) \
            or not 0 < hours <= MAX_GRANT_HOURS:
        errors["hours"] = [f"A window of more than 0 and at most {MAX_GRANT_HOURS} hours."]
    if history_days is not None and (isinstance(history_days, bool) or not isinstance(history_days, int)
                                     or not 1 <= history_days <= 3650):
        errors["history_days"] = ["From 1 to 3,650 days back, or no limit."]
    if errors:
        raise ValidationFailed(errors=errors)
    now = utcnow()
    filters = {"unit_ids": sorted(str(u.id) for u in units), "tags": pairs,
               "may_propose_commands": bool(may_propose_commands), "read_only": not may_propose_commands,
               "history_from": (now - timedelta(days=history_days)).isoformat() if history_days else None}
    label = f"{req.unit_code}: {', '.join(p['tag'] for p in pairs)}"[:300]
    share = sharing.grant(grantee_kind="tenant", grantee_id=req.expert_tenant_id, object_kind=GRANT_KIND,
                          object_id=req.id, label=label, valid_until=now + timedelta(hours=hours), filters=filters,
                          module=MODULE, commit=False)
    audit.record("remote_service.granted", target=req, target_type="remote_request", share_id=share.id,
                 units=[u.code for u in units], tags=[p["tag"] for p in pairs], hours=hours,
                 may_propose_commands=bool(may_propose_commands))
    _event(req, "granted", share_id=str(share.id))
    db.session.commit()
    return share


def get_grant(req: ServiceRequest, grant_id) -> Share:
    share = db.session.scalar(grants_query(req).where(Share.id == grant_id))
    if share is None:
        raise NotFound("No such grant")
    return share


def revoke_grant(req: ServiceRequest, grant_id, reason: str | None = None) -> Share:
    _require(req, ("plant",), REMOTE_GRANT)
    share = get_grant(req, grant_id)
    sharing.revoke(share, reason or "revoked by the plant", commit=False)
    audit.record("remote_service.revoked", target=req, target_type="remote_request", share_id=share.id)
    _event(req, "revoked", share_id=str(share.id))
    db.session.commit()
    return share


def activity(req: ServiceRequest, limit: int = 200) -> list:
    """The plant's audit entries about the request: every expert read, grant, command."""
    from alloyhub.platform.audit import AuditEntry

    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.tenant_id == req.tenant_id, AuditEntry.target_id == str(req.id),
        AuditEntry.action.startswith("remote_service.")).order_by(AuditEntry.at.desc()).limit(limit)))


# ---------------------------------------------------------------- expert reads under a grant

def _record_read(req: ServiceRequest, share: Share, what: str, **details) -> None:
    """The ledger's feed (written as the reader) and the plant's audit log."""
    sharing.record_read(req.tenant_id, GRANT_KIND, req.id, what, share=share)
    _plant_audit(req, "remote_service.read", what=what, share_id=share.id, **details)


def _authorized(req: ServiceRequest, agent_id, tags: list[str], start: datetime | None = None) -> tuple[Scope, Share]:
    """The share under which the expert may read these tags, or 404. The
    plant reads its own data of the request's unit without any share (None)."""
    who = _require(req, ("plant", "expert"))
    if who == "plant":
        allowed = {(p["agent_id"], p["tag"]) for p in grantable_tags(req)}
        if not tags or not all((str(agent_id), t) in allowed for t in tags):
            raise NotFound("No such data in this request")
        return Scope(units={str(req.unit_id)}, tags=allowed), None
    scope = grant_scope(req)
    share = scope.share_for(agent_id, tags) if tags else None
    if share is None:
        raise NotFound("No such data under a grant in force")
    start_limit = share.filters.get("history_from")
    if start is not None and start_limit and _as_utc(start) < datetime.fromisoformat(start_limit):
        raise NotFound("No such data under a grant in force")
    return scope, share


def default_series(req: ServiceRequest) -> tuple[uuid.UUID | None, list[str]]:
    """The first agent of the request's tags and its tags (what a read without arguments shows)."""
    pairs = grant_scope(req).tags if side(req) == "expert" else {(p["agent_id"], p["tag"]) for p in grantable_tags(req)}
    pairs = sorted(pairs)
    if not pairs:
        return None, []
    agent = pairs[0][0]
    return uuid.UUID(agent), [t for a, t in pairs if a == agent][:MAX_TAGS]


def _reading_scope(req: ServiceRequest) -> tuple[Scope, Share | None]:
    """What the current company may read of the request (the plant: its own unit and tags)."""
    who = _require(req, ("plant", "expert"))
    if who == "plant":
        return Scope(units={str(req.unit_id)},
                     tags={(p["agent_id"], p["tag"]) for p in grantable_tags(req)}), None
    scope = grant_scope(req)
    if not scope.shares:
        raise NotFound("No such data under a grant in force")
    return scope, scope.shares[0]


def history(req: ServiceRequest, *, agent_id, tags: list[str], start: datetime, end: datetime, step: int | None = None,
            agg: str = "avg") -> dict:
    from alloyhub.tenants.telemetry import services as telemetry

    if not tags:
        raise ValidationFailed(errors={"tags": ["Name at least one tag."]})
    _scope, share = _authorized(req, agent_id, tags, start)
    query = telemetry.HistoryQuery(agent_id=agent_id, tags=list(tags), start=_as_utc(start), end=_as_utc(end),
                                   step=step, agg=agg)
    telemetry.plan(query)  # bad input is a 422 before anything is recorded
    if share is not None:
        _record_read(req, share, "history", agent_id=agent_id, tags=list(tags), start=query.start, end=query.end)
    with _as_plant(req):
        result = telemetry.history(query)
    db.session.commit()
    return result


def latest(req: ServiceRequest, *, agent_id, tags: list[str]) -> dict:
    from alloyhub.tenants.telemetry import services as telemetry

    if not tags:
        raise ValidationFailed(errors={"tags": ["Name at least one tag."]})
    _scope, share = _authorized(req, agent_id, tags)
    if share is not None:
        _record_read(req, share, "latest", agent_id=agent_id, tags=list(tags))
    with _as_plant(req):
        values = telemetry.latest(agent_id)["values"]
    db.session.commit()
    return {"agent_id": agent_id, "values": {t: values[t] for t in tags if t in values}}


def latest_tick(req_id, agent_id, tags: list[str]) -> dict | None:
    """One tick of a live stream: the latest values, or None once the grant
    no longer covers the tags (revoked, expired, request closed)."""
    from alloyhub.tenants.telemetry import services as telemetry

    req = db.session.scalar(select(ServiceRequest).where(ServiceRequest.id == req_id))
    me = tenancy.current_tenant_id()
    if req is None or me not in (req.tenant_id, req.expert_tenant_id):
        return None
    if req.tenant_id == me:  # the plant's own data of the request's unit
        allowed = {(p["agent_id"], p["tag"]) for p in grantable_tags(req)}
        if not all((str(agent_id), t) in allowed for t in tags):
            return None
    elif grant_scope(req).share_for(agent_id, tags) is None:
        return None
    with _as_plant(req):
        values = telemetry.latest(agent_id)["values"]
    return {t: values[t] for t in tags if t in values}


def open_stream(req: ServiceRequest, *, agent_id, tags: list[str]) -> None:
    """Check and record the start of a live stream (each tick checks again)."""
    if not tags:
        raise ValidationFailed(errors={"tags": ["Name at least one tag."]})
    _scope, share = _authorized(req, agent_id, tags)
    if share is not None:
        _record_read(req, share, "live", agent_id=agent_id, tags=list(tags))
    db.session.commit()


def alarm_history(req: ServiceRequest, limit: int = 200) -> list[dict]:
    """Alarm transitions on the granted tags."""
    from alloyhub.tenants.alarms.models import Alarm, AlarmEvent, AlarmRule

    scope, share = _reading_scope(req)
    if not scope.tags:
        return []
    conditions = [and_(AlarmRule.agent_id == uuid.UUID(a), AlarmRule.tag == t) for a, t in sorted(scope.tags)]
    if share is not None:
        _record_read(req, share, "alarms", tags=sorted(t for _, t in scope.tags))
    with _as_plant(req):
        stmt = (select(AlarmEvent, AlarmRule).join(Alarm, Alarm.id == AlarmEvent.alarm_id)
                .join(AlarmRule, AlarmRule.id == Alarm.rule_id).where(or_(*conditions)))
        if scope.history_from:
            stmt = stmt.where(AlarmEvent.at >= scope.history_from)
        rows = db.session.execute(stmt.order_by(AlarmEvent.at.desc()).limit(limit)).all()
        out = [{"at": e.at, "ts": e.ts, "event": e.event, "from_state": e.from_state, "to_state": e.to_state,
                "value": e.value, "rule": r.name, "tag": r.tag, "agent_id": r.agent_id, "priority": r.priority,
                "kind": r.kind, "limit": r.limit} for e, r in rows]
    db.session.commit()
    return out


def unit_facts(req: ServiceRequest) -> list[dict]:
    """The granted units with their maintenance history (planned stops of
    kind maintenance in the equipment registry)."""
    from alloyhub.tenants.equipment.models import Downtime, Unit

    scope, share = _reading_scope(req)
    if share is not None:
        _record_read(req, share, "units", units=sorted(scope.units))
    with _as_plant(req):
        ids = [uuid.UUID(u) for u in scope.units]
        units = list(db.session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.code)))
        stops = list(db.session.scalars(select(Downtime).where(Downtime.unit_id.in_(ids))
                                        .order_by(Downtime.starts_at.desc()).limit(100)))
        out = [{"id": u.id, "code": u.code, "name": u.name, "kind": u.kind, "processes": list(u.processes or []),
                "description": u.description,
                "maintenance": [{"starts_at": d.starts_at, "ends_at": d.ends_at, "kind": d.kind, "reason": d.reason}
                                for d in stops if d.unit_id == u.id]} for u in units]
    db.session.commit()
    return out


def peers(req: ServiceRequest) -> list[dict]:
    """The same equipment type at other plants that granted the firm access
    now: their requests and granted tags, for side-by-side trends (none
    for the plant: it sees its own data only)."""
    if _require(req, ("plant", "expert")) == "plant":
        return []
    me = _me()
    others = db.session.scalars(select(ServiceRequest).where(
        ServiceRequest.expert_tenant_id == me, ServiceRequest.id != req.id, ServiceRequest.unit_kind == req.unit_kind,
        ServiceRequest.state.not_in(ENDED_STATES)).order_by(ServiceRequest.created_at.desc()).limit(50)).all()
    names = tenant_names({o.tenant_id for o in others})
    out = []
    for other in others:
        scope = grant_scope(other)
        if scope.shares:
            out.append({"request_id": other.id, "plant": names.get(other.tenant_id, "?"), "unit_code": other.unit_code,
                        "unit_name": other.unit_name, "tags": [{"agent_id": a, "tag": t} for a, t in sorted(scope.tags)]})
    return out


# ---------------------------------------------------------------- annotations, messages, files

def annotations(req: ServiceRequest, agent_id=None, tag: str | None = None) -> list[Annotation]:
    _require(req, ("plant", "expert"))
    stmt = select(Annotation).where(Annotation.request_id == req.id)
    if agent_id:
        stmt = stmt.where(Annotation.agent_id == agent_id)
    if tag:
        stmt = stmt.where(Annotation.tag == tag)
    return list(db.session.scalars(stmt.order_by(Annotation.ts_from)))


def annotate(req: ServiceRequest, *, agent_id, tag: str, ts_from: datetime, ts_to: datetime | None = None,
             body: str) -> Annotation:
    who = _require(req, ("plant", "expert"))
    if req.state in ENDED_STATES:
        raise Conflict(f"The request is {req.state}")
    errors: dict[str, list[str]] = {}
    body, tag = _text(body, 4000), _text(tag, 200)
    if not body:
        errors["body"] = ["Write the note."]
    if ts_to is not None and _as_utc(ts_to) < _as_utc(ts_from):
        errors["ts_to"] = ["The end of the span comes after its start."]
    if errors:
        raise ValidationFailed(errors=errors)
    if who == "expert":
        _authorized(req, agent_id, [tag], ts_from)
    elif {"agent_id": str(agent_id), "tag": tag} not in grantable_tags(req):
        raise ValidationFailed(errors={"tag": ["Annotate a tag of the request's unit."]})
    row = Annotation(tenant_id=req.tenant_id, expert_tenant_id=req.expert_tenant_id, request_id=req.id,
                     agent_id=agent_id, tag=tag, ts_from=_as_utc(ts_from), ts_to=_as_utc(ts_to) if ts_to else None,
                     body=body, author_tenant_id=_me(), author_user_id=tenancy.current().user_id)
    db.session.add(row)
    db.session.commit()
    return row


def messages(req: ServiceRequest) -> list[RequestMessage]:
    _require(req, ("plant", "expert"))
    return list(db.session.scalars(select(RequestMessage).where(RequestMessage.request_id == req.id)
                                   .order_by(RequestMessage.at, RequestMessage.id)))


def thread(rows: list[RequestMessage]) -> list[tuple[RequestMessage, int]]:
    """Messages in thread order with their depth (answers under their message)."""
    children: dict = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    out: list = []

    def walk(parent, depth):
        for row in children.get(parent, []):
            out.append((row, min(depth, 6)))
            walk(row.id, depth + 1)

    walk(None, 0)
    return out


def post_message(req: ServiceRequest, body: str, parent_id=None) -> RequestMessage:
    _require(req, ("plant", "expert"))
    if req.state in ENDED_STATES:
        raise Conflict(f"The request is {req.state}")
    body = _text(body, 20000)
    if not body or "\x00" in body:
        raise ValidationFailed(errors={"body": ["Write a message."]})
    if parent_id is not None and db.session.scalar(select(RequestMessage.id).where(
            RequestMessage.id == parent_id, RequestMessage.request_id == req.id)) is None:
        raise ValidationFailed(errors={"parent_id": ["No such message in this conversation."]})
    row = RequestMessage(tenant_id=req.tenant_id, expert_tenant_id=req.expert_tenant_id, request_id=req.id,
                         parent_id=parent_id, author_tenant_id=_me(), author_user_id=tenancy.current().user_id,
                         body=body)
    db.session.add(row)
    _event(req, "message")
    db.session.commit()
    return row


def files(req: ServiceRequest) -> list[RequestFile]:
    _require(req, ("plant", "expert"))
    return list(db.session.scalars(select(RequestFile).where(RequestFile.request_id == req.id)
                                   .order_by(RequestFile.at, RequestFile.id)))


def _store_file(req: ServiceRequest, filename: str, data: bytes, content_type: str, *, kind: str = "file",
                owner=None) -> RequestFile:
    key = storage.new_key(owner or _me(), "remote_service", filename)
    storage.current().put(key, data, content_type)
    row = RequestFile(tenant_id=req.tenant_id, expert_tenant_id=req.expert_tenant_id, request_id=req.id, kind=kind,
                      filename=storage.safe_name(filename), content_type=content_type, size=len(data),
                      storage_key=key, uploaded_by_tenant_id=_me(), uploaded_by=tenancy.current().user_id)
    db.session.add(row)
    db.session.flush()
    return row


def upload(req: ServiceRequest, filename: str, data: bytes, content_type: str | None = None) -> RequestFile:
    _require(req, ("plant", "expert"))
    if req.state in ENDED_STATES:
        raise Conflict(f"The request is {req.state}")
    content_type = (content_type or mimetypes.guess_type(filename or "")[0] or "application/octet-stream")[:120]
    errors: dict[str, list[str]] = {}
    if not _text(filename, 200):
        errors["filename"] = ["Name the file."]
    if not any(content_type.startswith(t) for t in FILE_TYPES):
        errors["file"] = ["Attach a photo, a video, a PDF, a text or CSV file, an archive or an office document."]
    if not 0 < len(data) <= MAX_FILE_BYTES:
        errors["file"] = [f"Attach a file of at most {MAX_FILE_BYTES // (1024 * 1024)} MB."]
    if errors:
        raise ValidationFailed(errors=errors)
    row = _store_file(req, filename, data, content_type)
    _plant_audit(req, "remote_service.file_added", file_id=row.id, filename=row.filename)
    _event(req, "file", file_id=str(row.id))
    db.session.commit()
    return row


def get_file(file_id) -> RequestFile:
    """A file of a request the company is a party to (read with the side's permission)."""
    me = _me()
    found = db.session.scalar(select(RequestFile).where(
        RequestFile.id == file_id, or_(RequestFile.tenant_id == me, RequestFile.expert_tenant_id == me)))
    if found is None:
        raise NotFound("No such file")
    _require(get_request(found.request_id), ("plant", "expert"))
    return found


def file_bytes(row: RequestFile) -> bytes:
    try:
        return storage.current().get(row.storage_key)
    except storage.StorageError as exc:
        raise NotFound("The file is missing from storage") from exc


# ---------------------------------------------------------------- remote commands

def commands(req: ServiceRequest) -> list[RemoteCommand]:
    _require(req, ("plant", "expert"))
    rows = list(db.session.scalars(select(RemoteCommand).where(RemoteCommand.request_id == req.id)
                                   .order_by(RemoteCommand.created_at)))
    _follow(req, rows)
    return rows


def _follow(req: ServiceRequest, rows: list[RemoteCommand]) -> None:
    """Bring each proposal's status up to the agent command's (sent, acked,
    failed arrive from the outbox relay and the agent's ack)."""
    from alloyhub.tenants.agents.models import AgentCommand

    moving = [r for r in rows if r.status in ("pending_approval", "approved", "sent")]
    if not moving:
        return
    with _as_plant(req):
        found = {c.id: c for c in db.session.scalars(select(AgentCommand).where(
            AgentCommand.id.in_([r.agent_command_id for r in moving])))}
        states = {cid: (c.status, c.result) for cid, c in found.items()}
    changed = False
    for row in moving:
        status, result = states.get(row.agent_command_id, (row.status, row.result))
        if status != row.status:
            row.status, row.result, changed = status, result, True
    if changed:
        db.session.commit()


def get_command(req: ServiceRequest, command_id) -> RemoteCommand:
    found = db.session.scalar(select(RemoteCommand).where(RemoteCommand.id == command_id,
                                                          RemoteCommand.request_id == req.id))
    if found is None:
        raise NotFound("No such command")
    return found


def propose_command(req: ServiceRequest, *, agent_id, kind: str, tag: str | None = None, value=None,
                    source: str | None = None, reason: str) -> RemoteCommand:
    """The expert proposes; the agent room keeps it waiting for a plant
    engineer's approval (the expert is its requester, so four eyes hold)."""
    from alloyhub.tenants.agents import services as agents
    from alloyhub.tenants.agents.models import Agent

    _require(req, ("expert",))
    if req.state not in (ACCEPTED, RESOLVED):
        raise Conflict(f"The request is {req.state}: commands are proposed while an expert works on it")
    reason = _text(reason, 4000)
    if not reason:
        raise ValidationFailed(errors={"reason": ["Say why the command is needed."]})
    scope = grant_scope(req)
    if kind == "write":
        share = scope.share_for(agent_id, [_text(tag, 200)]) if tag else None
    else:
        share = next((s for s in scope.shares if str(agent_id) in {p["agent_id"] for p in s.filters.get("tags", [])}),
                     None)
    if share is None:
        raise NotFound("No such agent or tag under a grant in force")
    if not share.filters.get("may_propose_commands"):
        raise PermissionDenied("The plant's grant is read-only: it does not allow proposing commands")
    me, user = _me(), tenancy.current().user_id
    with _as_plant(req):
        agent = db.session.scalar(select(Agent).where(Agent.id == agent_id))
        if agent is None:
            raise NotFound("No such agent or tag under a grant in force")
        command = agents.request_command(agent, kind=kind, tag=tag, value=value, source=source)
        command_id, params = command.id, dict(command.params)
    row = RemoteCommand(tenant_id=req.tenant_id, expert_tenant_id=me, request_id=req.id, share_id=share.id,
                        agent_id=agent_id, agent_command_id=command_id, kind=kind, params=params, reason=reason,
                        status="pending_approval", proposed_by=user)
    db.session.add(row)
    db.session.flush()
    _plant_audit(req, "remote_service.command_proposed", command_id=row.id, agent_command_id=command_id, kind=kind,
                 params=params)
    _event(req, "command_proposed", command_id=str(row.id))
    db.session.commit()
    return row


def decide_command(req: ServiceRequest, command_id, approve: bool) -> RemoteCommand:
    """A plant engineer approves (the agent room sends it down the agent's
    command channel) or rejects (it never leaves)."""
    from alloyhub.tenants.agents import services as agents

    _require(req, ("plant",), REMOTE_APPROVE)
    row = get_command(req, command_id)
    if row.status != "pending_approval":
        raise Conflict(f"The command is {row.status}, not waiting for approval")
    command = agents.get_command(row.agent_command_id)
    (agents.approve_command if approve else agents.reject_command)(command)
    row.status, row.decided_by = command.status, tenancy.current().user_id
    audit.record("remote_service.command_approved" if approve else "remote_service.command_rejected", target=req,
                 target_type="remote_request", command_id=row.id, agent_command_id=command.id)
    _event(req, "command_decided", command_id=str(row.id), approved=approve)
    db.session.commit()
    return row


# ---------------------------------------------------------------- views' helpers

def counterpart_name(req: ServiceRequest) -> str:
    who = side(req)
    other = req.expert_tenant_id if who == "plant" else req.tenant_id
    return tenant_names([other]).get(other, "—") if other else "—"


def pending_for_me() -> int:
    """Commands waiting for the plant's approval and invitations waiting for the firm."""
    me = tenancy.current_tenant_id()
    if me is None:
        return 0
    waiting = db.session.scalar(select(func.count()).select_from(RemoteCommand).where(
        RemoteCommand.tenant_id == me, RemoteCommand.status == "pending_approval")) or 0
    invited = db.session.scalar(select(func.count()).select_from(ServiceRequest).where(
        ServiceRequest.expert_tenant_id == me, ServiceRequest.state == INVITED)) or 0
    return waiting + invited


def firms() -> list[Tenant]:
    """Expert firms a plant may invite by name (those with a published profile, or of kind expert)."""
    me = tenancy.current_tenant_id()
    with_profiles = select(ExpertProfile.tenant_id).where(ExpertProfile.published.is_(True)) \
        .execution_options(skip_tenant_filter=True)
    ids = set(db.session.scalars(with_profiles))
    return list(db.session.scalars(select(Tenant).where(
        or_(Tenant.id.in_(ids or [uuid.UUID(int=0)]), Tenant.kind == "expert"), Tenant.id != me,
        Tenant.status != "deleted").order_by(Tenant.name).limit(200)))


def as_json(value) -> str:
    return json.dumps(value, default=str)


