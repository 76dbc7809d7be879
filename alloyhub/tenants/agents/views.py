"""Pages: the agents list with health and backlog, an agent's page (tag
catalogue, tag mapping editor, commands), enrolment tokens shown once.

Views parse the form, call `services` and render; a service error becomes an
inline error or a flash message and changes nothing (services raise before
they write; the session is rolled back anyway).

The tag mapping editor (see `mapping`) posts the whole configuration: as
cards and rows, or as JSON from its "advanced" box. A refused form comes
back as it was typed with each message beside its field; importing a CSV
file into a source's table fills the rows for review and saves nothing.
"""
from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from alloyhub.platform.auth import current_principal, requires
from alloyhub.platform.db import db
from alloyhub.platform.errors import AppError, ValidationFailed
from alloyhub.platform.identity.models import Site

from . import mapping
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
# Messages of the configuration schema (schemas.py) and of marshmallow itself,
# shown beside the editor's fields and translated there.
CONFIG_MESSAGES = (
    N_("Use int16, uint16, int32, uint32, float32 or bool."), N_("Use at most 30 characters."),
    N_("Use a period from 10 ms to 86400000 ms (one day)."), N_("The deadband cannot be negative."),
    N_("Use 1 to 86400 seconds."), N_("Use big or little."), N_("Choose simulator, modbus or opcua."),
    N_("Use at most 5000 tags per source."), N_("Use 1-253 characters."), N_("Use a port from 1 to 65535."),
    N_("Use a unit id from 0 to 255."), N_("Use 0.1 to 60 seconds."), N_("Use 0 to 100 registers."),
    N_("Use an opc.tcp:// URL"), N_("Use at most 200 characters."), N_("Use 1 to 100000 points per second."),
    N_("Unknown fault."), N_("Use 1-100 letters, digits or . _ - : /"), N_("A Modbus source needs a host."),
    N_("An OPC UA source needs an opc.tcp:// URL."), N_("Give the tag's address."),
    N_("Two tags have the same name."), N_("Two sources have the same name."),
    N_("Another source has a tag of this name."), N_("Use 1-60 letters, digits or . _ -"),
    N_("Use 1-200 letters, digits or . _ - : /"), N_("Must not contain NUL characters."),
    N_("Use a Modbus address such as hr:0, ir:10, co:3, di:0 or 40001."),
    N_("Use a simulator signal such as 0/speed: speed, tension, entry_gauge, exit_gauge, work_roll_temp, "
       "bearing_temp, motor_current, power_kw, energy_kwh or furnace_temp, optionally after the line "
       "number and a slash."),
    N_("Use an OPC UA node id such as ns=2;s=Line1.Speed."),
    N_("Missing data for required field."), N_("Not a valid number."), N_("Not a valid integer."),
    N_("Not a valid string."), N_("Not a valid list."), N_("Unknown field."), N_("Invalid input type."),
    N_("Special numeric values (nan or infinity) are not permitted."), N_("Longer than maximum length 200."),
    N_("Longer than maximum length 50."), N_("Longer than maximum length 1000."),
    N_("Not a valid mapping type."),
)
# The connection settings of each kind of source: (field, label, kinds, hint).
CONNECTION_INPUTS = (
    ("host", _l("Host"), ("modbus",), "192.168.10.20"),
    ("port", _l("Port"), ("modbus",), "502"),
    ("unit", _l("Unit id"), ("modbus",), "1"),
    ("word_order", _l("Word order of 32-bit values"), ("modbus",), ""),
    ("max_gap", _l("Registers skipped within one read"), ("modbus",), "0"),
    ("url", _l("Endpoint URL"), ("opcua",), "opc.tcp://192.168.10.30:4840"),
    ("username", _l("User name"), ("opcua",), ""),
    ("password", _l("Password"), ("opcua",), ""),
    ("timeout_s", _l("Timeout (s)"), ("modbus", "opcua"), "2"),
    ("seed", _l("Random seed"), ("simulator",), "0"),
    ("points_per_second", _l("Points per second without a tag list"), ("simulator",), "10"),
)
FAULT_LABELS = {"bearing_drift": _l("Bearing temperature drift"), "gauge_deviation": _l("Gauge deviation"),
                "stoppage": _l("Line stoppage")}


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


def _render_detail(agent, *, editor=None, errors=None, json_text=None, json_errors=None, notice=None,
                   status=200):
    """The agent's page; the editor shows `editor` (what was typed) or the saved configuration."""
    tags = db.session.scalars(services.tags_query(agent).order_by(AgentTag.status.desc(), AgentTag.tag)).all()
    commands = db.session.scalars(services.commands_query(agent)
                                  .order_by(AgentCommand.created_at.desc()).limit(50)).all()
    if editor is None:
        editor = mapping.editor_from_config(agent.config, agent.allow_write)
    errors = errors or {}
    shown = mapping.shown_paths(editor)
    return render_template(
        "agents/detail.html", agent=agent, tags=tags, commands=commands,
        unknown_tags=[t for t in tags if t.status == "unknown"],
        editor=editor, errors=errors, other_errors={k: v for k, v in errors.items() if k not in shown},
        json_text=json_text if json_text is not None else mapping.config_json(agent.config, agent.allow_write),
        json_errors=json_errors or {}, notice=notice,
        saved_sources={src.get("name") for src in agent.config.get("sources", [])},
        kinds=s.SOURCE_KINDS, data_types=s.DATA_TYPES, word_orders=s.WORD_ORDERS, faults=s.SIM_FAULTS,
        fault_labels=FAULT_LABELS, connection_inputs=CONNECTION_INPUTS, new_tag=mapping.NEW_TAG,
        new_source=mapping.Source(kind="modbus"),
        site=db.session.get(Site, agent.site_id) if agent.site_id else None,
        broker=services.broker_status(), me=current_principal().user_id,
        can_admin=_can(p.AGENTS_ADMIN), can_command=_can(p.AGENTS_COMMAND),
        can_approve=_can(p.AGENTS_APPROVE)), status


@bp.get("/<uuid:agent_id>")
@requires(p.AGENTS_READ)
def detail(agent_id):
    return _render_detail(services.get_agent(agent_id))


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


def _problem_text(problem: mapping.FormProblem) -> str:
    return _(problem.message, **problem.params)


def _import_csv(agent, editor: mapping.Editor, index: str):
    """Fill one source's tag table from an uploaded CSV file, for review: nothing is saved."""
    found = [(i, src) for i, src in enumerate(editor.sources) if str(src.sent_as) == index]
    if not found:
        abort(400)
    i, source = found[0]  # i: its place on the page that comes back
    upload = request.files.get(f"sources-{index}-csv")
    if upload is None or not upload.filename:
        return _render_detail(agent, editor=editor, status=422,
                              errors={f"sources.{i}.csv": [_("Choose a CSV file to import.")]})
    try:
        source.tags = mapping.tags_from_csv(upload.read(), source.name)
    except mapping.FormProblem as problem:
        return _render_detail(agent, editor=editor, status=422, errors={f"sources.{i}.csv": [_problem_text(problem)]})
    notice = _("%(count)s tags read into the source %(source)s. Check them, then save to send them to the agent.",
               count=len(source.tags), source=source.name or "?")
    return _render_detail(agent, editor=editor, notice=notice)


@bp.post("/<uuid:agent_id>/config")
@requires(p.AGENTS_ADMIN)
def save_config(agent_id):
    """Save the editor's cards and rows, or (mode=json) the advanced box's JSON, through
    `services.set_config`, like the API. A version other than the one the form was made
    from means someone saved meanwhile: the form comes back, as typed, for a second look."""
    agent = services.get_agent(agent_id)
    editor = json_text = None
    if request.form.get("mode") == "json":
        upload = request.files.get("config_file")
        if upload is not None and upload.filename:
            json_text = upload.read().decode("utf-8-sig", errors="replace")
        else:
            json_text = request.form.get("config_json") or ""
        try:
            data = mapping.config_from_json(json_text)
        except mapping.FormProblem as problem:
            return _render_detail(agent, json_text=json_text, json_errors={"__all__": [_problem_text(problem)]},
                                  status=422)
    else:
        editor = mapping.editor_from_form(request.form)
        if request.form.get("import_csv") is not None:
            return _import_csv(agent, editor, request.form["import_csv"])
        data = mapping.config_from_editor(editor)
    sent_version = request.form.get("version")
    if sent_version is not None and sent_version != str(agent.config_version):
        message = _("Someone saved version %(version)s while you were editing. Nothing is saved: check the form "
                    "and save again to replace their version with yours.", version=agent.config_version)
        return _render_detail(agent, editor=editor, json_text=json_text, errors={"__all__": [message]},
                              json_errors={"__all__": [message]} if json_text is not None else None, status=409)
    try:
        services.set_config(agent, data)
    except AppError as exc:
        db.session.rollback()
        errors = mapping.flatten_errors(exc.errors) if exc.errors else {"__all__": [exc.detail]}
        if json_text is not None:
            return _render_detail(agent, json_text=json_text, json_errors=errors, status=exc.status)
        return _render_detail(agent, editor=editor, errors=errors, status=exc.status)
    flash(_("Configuration version %(version)s is saved and sent to the agent.",
            version=agent.config_version), "success")
    return redirect(url_for("agents.detail", agent_id=agent_id, _anchor="mapping"))


@bp.get("/<uuid:agent_id>/config.json")
@requires(p.AGENTS_READ)
def export_config(agent_id):
    """The configuration as the API and the JSON box take it, as a file."""
    agent = services.get_agent(agent_id)
    return Response(mapping.config_json(agent.config, agent.allow_write) + "\n", mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="agent-{agent.id}-config.json"'})


@bp.get("/<uuid:agent_id>/tags.csv")
@requires(p.AGENTS_READ)
def export_tags_csv(agent_id):
    """The saved tag table of one source (?source=name), or of every source
    with a first column naming the source, as CSV for a spreadsheet."""
    agent = services.get_agent(agent_id)
    editor = mapping.editor_from_config(agent.config, agent.allow_write)
    name = request.args.get("source")
    if name is None:
        return Response(mapping.agent_tags_csv(editor), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="agent-{agent.id}-tags.csv"'})
    source = next((src for src in editor.sources if src.name == name), None)
    if source is None:
        abort(404)
    return Response(mapping.tags_to_csv(source.tags), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{source.name}-tags.csv"'})


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
