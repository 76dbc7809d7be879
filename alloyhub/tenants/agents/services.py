"""The agents room's rules: agents and their enrolment, broker credentials,
the tag catalogue, the configuration pushed down, and commands with their
four-eyes approval. Every write goes through here; the API and the pages
only parse and render.

Down-link messages (config, commands) leave through the outbox, so a broker
outage delays them but loses nothing; the handlers at the bottom publish
them with QoS 1. `handle_state` and `handle_ack` are called by the ingest
process for up-link messages that concern this room.
"""
from __future__ import annotations

import hashlib
import logging
import math
import secrets
import uuid
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from alloyhub.platform import audit, outbox, tenancy
from alloyhub.platform.billing import entitlements
from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.errors import AppError, PermissionDenied, ValidationFailed
from alloyhub.platform.identity.models import Site

from . import broker
from .models import Agent, AgentCommand, AgentTag, EnrollmentToken
from .schemas import AgentConfigSchema

log = logging.getLogger(__name__)

TOKEN_TTL = timedelta(hours=24)


class EnrollmentRefused(AppError):
    status, slug, title = 401, "enrollment-token-invalid", "The enrolment token is not valid"


class EnrollmentTokenSpent(AppError):
    status, slug, title = 410, "enrollment-token-spent", "The enrolment token was used or has expired"


class BrokerUnavailable(AppError):
    status, slug, title = 503, "broker-unavailable", "The MQTT broker cannot be reached"


class StateConflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


def _storable(value) -> bool:
    """PostgreSQL JSONB cannot hold NUL characters; such input is refused, not a 500."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_storable(v) for v in value)
    return True


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def access():
    return broker.access_for(current_app.config)


def broker_status() -> dict:
    return access().status()


# ---------------------------------------------------------------- agents

def agents_query(status: str | None = None):
    stmt = select(Agent)
    if status:
        stmt = stmt.where(Agent.status == status)
    return stmt


def get_agent(agent_id) -> Agent:
    return get_or_404(Agent, agent_id, "No such agent")


def _check_site(site_id) -> None:
    if site_id is not None and db.session.scalar(select(Site.id).where(Site.id == site_id)) is None:
        raise ValidationFailed(errors={"site_id": ["No such site."]})


def _new_token(agent: Agent, ttl: timedelta) -> tuple[str, EnrollmentToken]:
    """A fresh one-time token; earlier unused ones of the agent stop working."""
    now = utcnow()
    db.session.execute(update(EnrollmentToken)
                       .where(EnrollmentToken.agent_id == agent.id, EnrollmentToken.used_at.is_(None))
                       .values(used_at=now, expires_at=now))
    secret = "ahe_" + secrets.token_urlsafe(32)
    token = EnrollmentToken(agent_id=agent.id, token_hash=_hash(secret), expires_at=now + ttl)
    db.session.add(token)
    return secret, token


def create_agent(*, name: str, site_id=None, ttl: timedelta = TOKEN_TTL) -> tuple[Agent, str, EnrollmentToken]:
    """A new agent, pending until enrolled, and its one-time enrolment token
    (returned once, stored hashed)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(errors={"name": ["Enter a name."]})
    _check_site(site_id)
    entitlements.check_limit(tenancy.current_tenant_id(), "agents")  # the plan's agent limit, before anything is made
    agent = Agent(name=name, site_id=site_id, status="pending", config={"sources": []}, config_version=0,
                  allow_write=[], health={})
    db.session.add(agent)
    db.session.flush()
    secret, token = _new_token(agent, ttl)
    audit.record("agent.created", target=agent, name=name, site_id=site_id)
    db.session.commit()
    return agent, secret, token


def update_agent(agent: Agent, **fields) -> Agent:
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name:
            raise ValidationFailed(errors={"name": ["Enter a name."]})
        agent.name = name
    if "site_id" in fields:
        _check_site(fields["site_id"])
        agent.site_id = fields["site_id"]
    audit.record("agent.updated", target=agent, fields=sorted(fields))
    db.session.commit()
    return agent


def regenerate_token(agent: Agent, ttl: timedelta = TOKEN_TTL) -> tuple[str, EnrollmentToken]:
    """A new enrolment token (e.g. the first was lost, or the plant PC was
    replaced). Enrolling again gives the agent a new MQTT password."""
    if agent.status == "revoked":
        raise StateConflict("A revoked agent cannot be enrolled again; create a new agent")
    secret, token = _new_token(agent, ttl)
    audit.record("agent.token_regenerated", target=agent)
    db.session.commit()
    return secret, token


def revoke_agent(agent: Agent) -> Agent:
    """Cut the agent off: its broker client is deleted (which disconnects it)
    at once, and again from the outbox should the broker be unreachable now."""
    if agent.status == "revoked":
        return agent
    now = utcnow()
    agent.status, agent.revoked_at = "revoked", now
    agent.mqtt_password_hash = None
    db.session.execute(update(EnrollmentToken)
                       .where(EnrollmentToken.agent_id == agent.id, EnrollmentToken.used_at.is_(None))
                       .values(used_at=now, expires_at=now))
    db.session.execute(update(AgentCommand)
                       .where(AgentCommand.agent_id == agent.id,
                              AgentCommand.status.in_(("pending_approval", "approved")))
                       .values(status="rejected", result={"error": "agent revoked"}))
    outbox.publish("agent.revoked", {"agent_id": str(agent.id)})
    audit.record("agent.revoked", target=agent)
    db.session.commit()
    try:
        access().remove_agent(agent.id)
    except broker.BrokerError as exc:
        log.warning("revoking agent %s at the broker failed, the outbox will retry: %s", agent.id, exc)
    return agent


# ---------------------------------------------------------------- enrolment

def _public_mqtt_url() -> str:
    return current_app.config.get("MQTT_PUBLIC_URL") or current_app.config["MQTT_URL"]


def _ca_cert() -> str | None:
    path = current_app.config.get("MQTT_CA_FILE")
    return Path(path).read_text() if path else None


def enroll(*, token: str, hostname: str | None = None, agent_version: str | None = None) -> dict:
    """Exchange a one-time token for the agent's MQTT credentials. The token
    row is locked, so of two concurrent uses exactly one wins; if the broker
    refuses, nothing is committed and the token can be used again."""
    session = db.session
    with tenancy.system_context(session):
        row = session.scalar(select(EnrollmentToken).where(EnrollmentToken.token_hash == _hash(token or ""))
                             .with_for_update())
    if row is None:
        session.rollback()
        raise EnrollmentRefused("This enrolment token is not known")
    if row.used_at is not None or row.expires_at <= utcnow():
        session.rollback()
        raise EnrollmentTokenSpent("This enrolment token was already used or has expired; "
                                   "ask for a new one")
    tenant_id = row.tenant_id
    with tenancy.scoped(tenant_id, session=session):
        agent = session.scalar(select(Agent).where(Agent.id == row.agent_id).with_for_update())
        if agent is None or agent.status == "revoked":
            session.rollback()
            raise EnrollmentTokenSpent("This agent was revoked")
        password = secrets.token_urlsafe(32)
        now = utcnow()
        row.used_at = now
        agent.status, agent.enrolled_at = "active", now
        agent.hostname, agent.agent_version = hostname, agent_version
        agent.mqtt_password_hash = _hash(password)
        audit.record("agent.enrolled", target=agent, actor_label=f"agent-{agent.id}", hostname=hostname,
                     agent_version=agent_version, broker_access_control=access().enabled)
        try:
            access().ensure_agent(agent.id, password)
        except broker.BrokerError as exc:
            session.rollback()
            log.error("enrolment of agent %s: broker refused: %s", agent.id, exc)
            raise BrokerUnavailable("The broker could not be configured for this agent; try again later") from exc
        answer = {
            "agent_id": agent.id,
            "tenant_id": tenant_id,
            "mqtt": {"url": _public_mqtt_url(), "username": agent.mqtt_username, "password": password,
                     "client_id": agent.mqtt_username},
            "topic_prefix": agent.topic_prefix,
            "ca_cert": _ca_cert(),
            "config": config_message(agent) if agent.config_version else None,
        }
        session.commit()
    return answer


# ---------------------------------------------------------------- configuration

def config_message(agent: Agent) -> dict:
    """The retained message on ah/v1/{id}/config: the agent's contract."""
    return {"version": agent.config_version, "sources": agent.config.get("sources", []),
            "allow_write": list(agent.allow_write)}


def _config_tags(sources: list[dict]) -> dict[str, dict]:
    return {t["tag"]: t for s in sources for t in s.get("tags") or []}


def _writable(name: str, sources: list[dict], tags: dict) -> bool:
    """A tag in the config, or a simulator's fault switch (sim.fault.<fault>)."""
    if name in tags:
        return True
    return any(s["kind"] == "simulator" and name.startswith(s.get("fault_prefix", "sim.fault."))
               for s in sources)


def set_config(agent: Agent, data: dict) -> Agent:
    """Validate and save the sources/tags and the write allow-list, bump the
    version and push it (retained) through the outbox. Tags named in the
    config join the catalogue as active."""
    if agent.status == "revoked":
        raise StateConflict("A revoked agent has no configuration")
    try:
        clean = AgentConfigSchema().load(data)
    except Exception as exc:  # marshmallow.ValidationError: reported per field
        messages = getattr(exc, "messages", None)
        if messages is None:
            raise
        raise ValidationFailed(errors=messages) from exc
    if not _storable(clean):
        raise ValidationFailed(errors={"sources": ["Must not contain NUL characters."]})
    sources, allow = clean["sources"], clean["allow_write"]
    tags = _config_tags(sources)
    bad = [name for name in allow if not _writable(name, sources, tags)]
    if bad:
        raise ValidationFailed(errors={"allow_write": [f"Not a tag of this configuration: {', '.join(bad)}"]})
    agent.config = {"sources": sources}
    agent.allow_write = sorted(set(allow))
    agent.config_version += 1
    _catalogue_from_config(agent, tags)
    outbox.publish("agent.config", {"agent_id": str(agent.id), "version": agent.config_version})
    audit.record("agent.config_changed", target=agent, version=agent.config_version,
                 sources=[s["name"] for s in sources], tags=len(tags), allow_write=agent.allow_write)
    db.session.commit()
    return agent


def _catalogue_from_config(agent: Agent, tags: dict[str, dict]) -> None:
    existing = {t.tag: t for t in db.session.scalars(select(AgentTag).where(AgentTag.agent_id == agent.id))}
    for name, spec in tags.items():
        row = existing.get(name)
        data_type = "bool" if spec.get("data_type") == "bool" else (
            "int" if spec.get("data_type", "").startswith(("int", "uint")) and spec.get("scale", 1.0) == 1.0
            else "float")
        if row is None:
            db.session.add(AgentTag(agent_id=agent.id, tag=name, unit=spec.get("unit") or None,
                                    data_type=data_type, status="active", unknown_points=0))
        elif row.status != "active":
            row.status = "active"


# ---------------------------------------------------------------- tag catalogue

def tags_query(agent: Agent, status: str | None = None):
    stmt = select(AgentTag).where(AgentTag.agent_id == agent.id)
    if status:
        stmt = stmt.where(AgentTag.status == status)
    return stmt


def get_tag(tag_id) -> AgentTag:
    return get_or_404(AgentTag, tag_id, "No such tag")


def add_tag(agent: Agent, *, tag: str, description=None, unit=None, data_type: str = "float") -> AgentTag:
    if db.session.scalar(select(AgentTag.id).where(AgentTag.agent_id == agent.id, AgentTag.tag == tag)):
        raise ValidationFailed(errors={"tag": ["This agent already has this tag."]})
    row = AgentTag(agent_id=agent.id, tag=tag, description=description, unit=unit, data_type=data_type,
                   status="active", unknown_points=0)
    db.session.add(row)
    db.session.flush()
    audit.record("agent.tag_added", target=row, agent_id=agent.id, tag=tag)
    db.session.commit()
    return row


def update_tag(row: AgentTag, **fields) -> AgentTag:
    if fields.get("status") == "active" and row.status == "unknown":
        fields.pop("status")
        return adopt_tag(row, **fields)
    for key in ("description", "unit", "data_type", "status"):
        if key in fields:
            setattr(row, key, fields[key])
    audit.record("agent.tag_updated", target=row, tag=row.tag, fields=sorted(fields))
    db.session.commit()
    return row


def adopt_tag(row: AgentTag, **fields) -> AgentTag:
    """One click: an unknown (or ignored) tag seen in telemetry becomes a catalogue tag."""
    for key in ("description", "unit", "data_type"):
        if key in fields:
            setattr(row, key, fields[key])
    row.status = "active"
    audit.record("agent.tag_adopted", target=row, tag=row.tag, unknown_points=row.unknown_points)
    db.session.commit()
    return row


def ignore_tag(row: AgentTag) -> AgentTag:
    row.status = "ignored"
    audit.record("agent.tag_ignored", target=row, tag=row.tag)
    db.session.commit()
    return row


def note_unknown_tags(agent_id, counts: dict[str, int], *, session=None) -> None:
    """For ingest: tags seen in telemetry that the catalogue lacks are
    recorded as 'unknown' with a point count, for adoption in the UI. The
    caller is in the agent's tenant scope and commits."""
    session = session or db.session
    now = utcnow()
    existing = {t.tag: t for t in session.scalars(
        select(AgentTag).where(AgentTag.agent_id == agent_id, AgentTag.tag.in_(list(counts))))}
    for name, count in counts.items():
        row = existing.get(name)
        if row is None:
            session.add(AgentTag(agent_id=agent_id, tag=name[:200], status="unknown", unknown_points=count,
                                 data_type="float", first_seen_at=now))
        elif row.status != "active":
            row.unknown_points += count


# ---------------------------------------------------------------- commands

def commands_query(agent: Agent, status: str | None = None):
    stmt = select(AgentCommand).where(AgentCommand.agent_id == agent.id)
    if status:
        stmt = stmt.where(AgentCommand.status == status)
    return stmt


def get_command(command_id) -> AgentCommand:
    return get_or_404(AgentCommand, command_id, "No such command")


def request_command(agent: Agent, *, kind: str, tag: str | None = None, value=None,
                    source: str | None = None) -> AgentCommand:
    """A command waits for a second person's approval before it is sent."""
    if agent.status != "active":
        raise StateConflict("Only an enrolled, active agent takes commands")
    if kind == "write":
        if tag not in agent.allow_write:
            raise ValidationFailed(errors={"tag": ["This tag is not on the agent's write allow-list."]})
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationFailed(errors={"value": ["Give a finite number."]})
        params = {"tag": tag, "value": value}
    elif kind == "restart_source":
        names = [s["name"] for s in agent.config.get("sources", [])]
        if source not in names:
            raise ValidationFailed(errors={"source": ["The agent's configuration has no source of this name."]})
        params = {"source": source}
    else:
        raise ValidationFailed(errors={"kind": ["Unknown command."]})
    command = AgentCommand(agent_id=agent.id, kind=kind, params=params, status="pending_approval",
                           requested_by=tenancy.current().user_id)
    db.session.add(command)
    db.session.flush()
    audit.record("agent.command_requested", target=command, agent_id=agent.id, kind=kind, **params)
    db.session.commit()
    return command


def approve_command(command: AgentCommand) -> AgentCommand:
    """Four eyes: someone other than the requester approves; it is then sent
    through the outbox."""
    me = tenancy.current().user_id
    if command.status != "pending_approval":
        raise StateConflict(f"The command is {command.status}, not waiting for approval")
    if me is None or me == command.requested_by:
        raise PermissionDenied("A command must be approved by someone other than the person who requested it")
    command.status, command.approved_by = "approved", me
    outbox.publish("agent.command", {"command_id": str(command.id), "agent_id": str(command.agent_id)})
    audit.record("agent.command_approved", target=command, agent_id=command.agent_id)
    db.session.commit()
    return command


def reject_command(command: AgentCommand) -> AgentCommand:
    if command.status != "pending_approval":
        raise StateConflict(f"The command is {command.status}, not waiting for approval")
    command.status, command.approved_by = "rejected", tenancy.current().user_id
    audit.record("agent.command_rejected", target=command, agent_id=command.agent_id)
    db.session.commit()
    return command


def command_message(command: AgentCommand) -> dict:
    return {"id": str(command.id), "kind": command.kind, **command.params}


# ---------------------------------------------------------------- up-link (called by ingest)

def _agent_for_uplink(session, agent_id):
    """The agent named by an MQTT topic, found before its tenant is known."""
    try:
        agent_uuid = uuid.UUID(str(agent_id))
    except ValueError:
        return None
    with tenancy.system_context(session):
        return session.scalar(select(Agent).where(Agent.id == agent_uuid))


def handle_state(agent_id, payload, *, session=None) -> bool:
    """A state message (retained heartbeat or Last Will): health, last seen,
    online. Returns False (and changes nothing) for an unknown or revoked
    agent or a payload that is not an object; never raises for bad input."""
    session = session or db.session
    if not isinstance(payload, dict) or not _storable(payload):
        return False
    agent = _agent_for_uplink(session, agent_id)
    if agent is None or agent.status == "revoked":
        session.rollback()
        return False
    with tenancy.scoped(agent.tenant_id, session=session):
        agent.health = {k: v for k, v in payload.items() if isinstance(k, str)}
        agent.last_seen_at = utcnow()
        if isinstance(payload.get("hostname"), str):
            agent.hostname = payload["hostname"][:253]
        if isinstance(payload.get("agent_version"), str):
            agent.agent_version = payload["agent_version"][:40]
        session.commit()
    return True


def handle_ack(agent_id, payload, *, session=None) -> bool:
    """A command acknowledgement {"id", "ok", "result"?, "error"?}: the command
    becomes acked or failed, with the result. Returns False for anything that
    does not match a command of this agent; never raises for bad input."""
    session = session or db.session
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool) or not _storable(payload):
        return False
    try:
        command_id = uuid.UUID(str(payload.get("id")))
    except ValueError:
        return False
    agent = _agent_for_uplink(session, agent_id)
    if agent is None:
        session.rollback()
        return False
    with tenancy.scoped(agent.tenant_id, session=session):
        command = session.scalar(select(AgentCommand).where(AgentCommand.id == command_id,
                                                            AgentCommand.agent_id == agent.id).with_for_update())
        if command is None or command.status in ("acked", "failed", "rejected", "pending_approval"):
            session.rollback()
            return False
        ok = payload["ok"]
        command.status = "acked" if ok else "failed"
        command.acked_at = utcnow()
        command.result = {"ok": ok, "result": payload.get("result"), "error": payload.get("error")}
        audit.record("agent.command_acked" if ok else "agent.command_failed", target=command,
                     actor_label=f"agent-{agent.id}", agent_id=agent.id, error=payload.get("error"))
        session.commit()
    return True


# ---------------------------------------------------------------- down-link (outbox handlers)

def _leave_relay_scope():
    """The relay's own pending changes (earlier events marked sent) must be
    written in its system scope before a handler switches to a tenant's."""
    db.session.flush()
    return db.session


@outbox.subscribe("agent.config")
def _push_config(event) -> None:
    """Publish the agent's current config (not the event's: a retried old
    event must not overwrite a newer retained config)."""
    session = _leave_relay_scope()
    with tenancy.scoped(event.tenant_id, session=session):
        agent = session.scalar(select(Agent).where(Agent.id == uuid.UUID(event.payload["agent_id"])))
        if agent is None or agent.status == "revoked":
            return
        message = config_message(agent)
    broker.publish(current_app.config, f"{agent.topic_prefix}/config", message, retain=True)


@outbox.subscribe("agent.command")
def _send_command(event) -> None:
    session = _leave_relay_scope()
    with tenancy.scoped(event.tenant_id, session=session):
        command = session.scalar(select(AgentCommand)
                                 .where(AgentCommand.id == uuid.UUID(event.payload["command_id"])))
        if command is None or command.status != "approved":
            return
        topic = f"ah/v1/{command.agent_id}/cmd"
        message = command_message(command)
    # Publish first: a failure leaves the event for a retry with nothing changed.
    broker.publish(current_app.config, topic, message)
    with tenancy.scoped(event.tenant_id, session=session):
        # Conditional: an ack may already have arrived and must not be overwritten.
        sent = session.execute(update(AgentCommand)
                               .where(AgentCommand.id == command.id, AgentCommand.status == "approved")
                               .values(status="sent", sent_at=utcnow())
                               .execution_options(synchronize_session=False))
        if sent.rowcount:
            audit.record("agent.command_sent", target=command, tenant_id=event.tenant_id, actor_label="system",
                         agent_id=command.agent_id)


@outbox.subscribe("agent.revoked")
def _revoke_at_broker(event) -> None:
    broker.access_for(current_app.config).remove_agent(event.payload["agent_id"])
