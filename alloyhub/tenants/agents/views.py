"""Pages: the agents list with health and backlog, an agent's page (tag
catalogue, tag mapping editor, commands), enrolment tokens shown once.

Views parse the form, call `services` and render; a service error becomes an
inline error or a flash message and changes nothing (services raise before
they write; the session is rolled back anyway).
"""
from __future__ import annotations

import json

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError, ValidationFailed
from alloyhub.platform.identity.models import Site

from . import permissions as p
from . import schemas as s
from . import services
from .models import Agent, AgentCommand, AgentTag

bp = Blueprint("agents", __name__, template_folder="templates", url_prefix="/agents")


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext marker
    """Marks a string for extraction without translating it here."""
    return message


# Stored in English and translated when shown: states of agents, tags and
# commands, and this room's permissions (listed on the roles page).
STORED_WORDS = (
    N_("pending"), N_("active"), N_("revoked"), N_("unknown"), N_("ignored"),
    N_("pending_approval"), N_("approved"), N_("sent"), N_("acked"), N_("failed"), N_("rejected"),
    N_("See agents, their health, tags and commands"),
    N_("Create, enrol and revoke agents; edit their tags and configuration"),
    N_("Request commands to agents (tag writes, source restarts)"),
    N_("Approve or reject commands requested by someone else"),
)


def _can(permission: str) -> bool:
    principal = current_principal()
    return bool(principal and principal.can(permission))


def _fail(exc: AppError) -> None:
    db.session.rollback()
    messages = [m for msgs in (exc.errors or {}).values() for m in (msgs if isinstance(msgs, list) else [str(msgs)])]
    for message in messages or [exc.detail]:
        flash(str(message), "error")


def _sites():
    return db.session.scalars(select(Site).order_by(Site.code)).all()


def _render_list(errors=None, form=None, status=200):
    agents = db.session.scalars(services.agents_query().order_by(Agent.created_at.desc(), Agent.id)).all()
    sites = {site.id: site for site in _sites()}
    return render_template("agents/list.html", agents=agents, sites=sites, errors=errors or {}, form=form or {},
                           broker=services.broker_status(), can_admin=_can(p.AGENTS_ADMIN)), status


@bp.get("")
@requires(p.AGENTS_READ)
def list_page():
    return _render_list()


@bp.post("")
@requires(p.AGENTS_ADMIN)
def create():
    site_id = request.form.get("site_id") or None
    try:
        data = s.AgentSchema().load({"name": request.form.get("name", ""), "site_id": site_id})
        agent, secret, token = services.create_agent(**data)
    except ma.ValidationError as exc:
        return _render_list(exc.messages, request.form, 422)
    except AppError as exc:
        db.session.rollback()
        return _render_list(exc.errors or {"__all__": [exc.detail]}, request.form, 422)
    return render_template("agents/token.html", agent=agent, secret=secret, token=token)


@bp.get("/<uuid:agent_id>")
@requires(p.AGENTS_READ)
def detail(agent_id):
    agent = services.get_agent(agent_id)
    tags = db.session.scalars(services.tags_query(agent).order_by(AgentTag.status.desc(), AgentTag.tag)).all()
    commands = db.session.scalars(services.commands_query(agent)
                                  .order_by(AgentCommand.created_at.desc()).limit(50)).all()
    config_text = json.dumps(agent.config.get("sources", []), indent=2, ensure_ascii=False)
    return render_template(
        "agents/detail.html", agent=agent, tags=tags, commands=commands, config_text=config_text,
        site=db.session.get(Site, agent.site_id) if agent.site_id else None,
        broker=services.broker_status(), me=current_principal().user_id,
        can_admin=_can(p.AGENTS_ADMIN), can_command=_can(p.AGENTS_COMMAND), can_approve=_can(p.AGENTS_APPROVE))


def _back(agent_id):
    return redirect(url_for("agents.detail", agent_id=agent_id))


@bp.post("/<uuid:agent_id>/token")
@requires(p.AGENTS_ADMIN)
def regenerate_token(agent_id):
    agent = services.get_agent(agent_id)
    try:
        secret, token = services.regenerate_token(agent)
    except AppError as exc:
        _fail(exc)
        return _back(agent_id)
    return render_template("agents/token.html", agent=agent, secret=secret, token=token)


@bp.post("/<uuid:agent_id>/revoke")
@requires(p.AGENTS_ADMIN)
def revoke(agent_id):
    agent = services.revoke_agent(services.get_agent(agent_id))
    flash(_("The agent %(name)s is revoked and disconnected.", name=agent.name), "success")
    return _back(agent_id)


@bp.post("/<uuid:agent_id>/config")
@requires(p.AGENTS_ADMIN)
def save_config(agent_id):
    agent = services.get_agent(agent_id)
    try:
        sources = json.loads(request.form.get("sources") or "[]")
    except ValueError:
        flash(_("The sources are not valid JSON."), "error")
        return _back(agent_id)
    allow = [t.strip() for t in (request.form.get("allow_write") or "").replace(",", "\n").splitlines() if t.strip()]
    try:
        services.set_config(agent, {"sources": sources, "allow_write": allow})
    except AppError as exc:
        db.session.rollback()
        flash(_("The configuration was not saved:") + " " + json.dumps(exc.errors or exc.detail, ensure_ascii=False),
              "error")
    else:
        flash(_("Configuration version %(version)s is saved and sent to the agent.",
                version=agent.config_version), "success")
    return _back(agent_id)


@bp.post("/<uuid:agent_id>/tags")
@requires(p.AGENTS_ADMIN)
def add_tag(agent_id):
    agent = services.get_agent(agent_id)
    try:
        data = s.TagSchema().load({k: request.form.get(k) or None for k in ("tag", "unit", "description")}
                                  | {"data_type": request.form.get("data_type") or "float"})
        services.add_tag(agent, **data)
    except ma.ValidationError as exc:
        _fail(ValidationFailed(errors=exc.messages))
    except AppError as exc:
        _fail(exc)
    return _back(agent_id)


@bp.post("/tags/<uuid:tag_id>")
@requires(p.AGENTS_ADMIN)
def edit_tag(tag_id):
    row = services.get_tag(tag_id)
    try:
        data = s.TagUpdateSchema().load({"unit": request.form.get("unit") or None,
                                         "description": request.form.get("description") or None,
                                         "data_type": request.form.get("data_type") or row.data_type})
        services.update_tag(row, **data)
    except ma.ValidationError as exc:
        _fail(ValidationFailed(errors=exc.messages))
    return _back(row.agent_id)


@bp.post("/tags/<uuid:tag_id>/adopt")
@requires(p.AGENTS_ADMIN)
def adopt_tag(tag_id):
    row = services.adopt_tag(services.get_tag(tag_id))
    flash(_("The tag %(tag)s is in the catalogue.", tag=row.tag), "success")
    return _back(row.agent_id)


@bp.post("/tags/<uuid:tag_id>/ignore")
@requires(p.AGENTS_ADMIN)
def ignore_tag(tag_id):
    row = services.ignore_tag(services.get_tag(tag_id))
    return _back(row.agent_id)


@bp.post("/<uuid:agent_id>/commands")
@requires(p.AGENTS_COMMAND)
def request_command(agent_id):
    agent = services.get_agent(agent_id)
    form = {"kind": request.form.get("kind", "")}
    if request.form.get("tag"):
        form["tag"] = request.form["tag"]
        raw = (request.form.get("value") or "").strip().lower()
        try:
            form["value"] = {"true": True, "false": False}[raw] if raw in ("true", "false") else float(raw)
        except ValueError:
            form["value"] = None
    if request.form.get("source"):
        form["source"] = request.form["source"]
    try:
        services.request_command(agent, **s.CommandCreateSchema().load(form))
    except ma.ValidationError as exc:
        _fail(ValidationFailed(errors=exc.messages))
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The command waits for approval by a second person."), "success")
    return _back(agent_id)


@bp.post("/commands/<uuid:command_id>/approve")
@requires(p.AGENTS_APPROVE)
def approve_command(command_id):
    command = services.get_command(command_id)
    try:
        services.approve_command(command)
    except AppError as exc:
        _fail(exc)
    else:
        flash(_("The command is approved and being sent."), "success")
    return _back(command.agent_id)


@bp.post("/commands/<uuid:command_id>/reject")
@requires(p.AGENTS_APPROVE)
def reject_command(command_id):
    command = services.get_command(command_id)
    try:
        services.reject_command(command)
    except AppError as exc:
        _fail(exc)
    return _back(command.agent_id)
