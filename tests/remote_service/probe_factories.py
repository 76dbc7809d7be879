"""Cross-tenant probe factories for the remote-service room's routes. Each
makes an object of company `made` that another company must not reach: an
unpublished expert profile, a service request that invites a third firm
(not posted to the directory), a grant on it, a file, a proposed command."""
from __future__ import annotations

from alloyhub.platform.db import db
from tests.factories import TenantFactory
from tests.probe import BODIES, NOT_OBJECT_IDS, as_owner, factory, pop


def _unit():
    from alloyhub.platform.identity.models import Site
    from alloyhub.tenants.equipment import services as equipment
    from sqlalchemy import select
    import secrets

    site = db.session.scalar(select(Site).order_by(Site.code))
    code = secrets.token_hex(3).upper()
    area = equipment.create_area(site_id=site.id, code=f"A{code}", name="Probe area")
    line = equipment.create_line(area_id=area.id, code=f"L{code}", name="Probe line")
    return equipment.create_unit(line_id=line.id, code=f"U{code}", name="Probe mill", kind="cold_mill")


def _request(app, made, with_agent=False):
    """A request of `made` inviting a third firm; with an agent and a tag linked to the unit when asked."""
    from alloyhub.remote_service import services
    from alloyhub.tenants.agents import services as agents
    from alloyhub.tenants.equipment import services as equipment

    firm = TenantFactory(app)("expert")
    ctx = as_owner(app, made)
    try:
        unit = _unit()
        agent = None
        if with_agent:
            agent, _secret, _token = agents.create_agent(name="Probe agent")
            agent.status = "active"
            agents.set_config(agent, {"sources": [{"name": "sim", "kind": "simulator", "tags": [{"tag": "probe.tag", "address": "0/speed"}]}], "allow_write": ["probe.tag"]})
            equipment.add_unit_tag(unit, agent_id=agent.id, tag="probe.tag")
        req = services.create_request(unit_id=unit.id, title="Probe", symptoms="Probe", expert_tenant_id=firm.tenant_id)
        return req, firm, agent
    finally:
        pop(ctx)


@factory("profile_id")
def make_profile(app, made):
    from alloyhub.remote_service import services

    ctx = as_owner(app, made)
    try:
        return services.create_profile(name="Probe expert", published=False).id
    finally:
        pop(ctx)


@factory("service_request_id")
def make_service_request(app, made):
    return _request(app, made)[0].id


@factory("grant_id")
def make_grant(app, made):
    from alloyhub.remote_service import services

    req, _firm, agent = _request(app, made, with_agent=True)
    ctx = as_owner(app, made)
    try:
        req = services.get_request(req.id)
        return services.grant_access(req, unit_ids=[str(req.unit_id)],
                                     tags=[{"agent_id": str(agent.id), "tag": "probe.tag"}], hours=1).id
    finally:
        pop(ctx)


@factory("remote_file_id")
def make_file(app, made):
    import tempfile

    from alloyhub.remote_service import services

    app.config["STORAGE_DIR"] = app.config.get("PROBE_STORAGE_DIR") or tempfile.mkdtemp(prefix="alloyhub-probe-")
    app.config["PROBE_STORAGE_DIR"] = app.config["STORAGE_DIR"]
    req, _firm, _agent = _request(app, made)
    ctx = as_owner(app, made)
    try:
        return services.upload(services.get_request(req.id), "probe.txt", b"probe", "text/plain").id
    finally:
        pop(ctx)


@factory("remote_command_id")
def make_command(app, made):
    """A command the invited firm proposed under a grant that allows it."""
    from alloyhub.platform import tenancy
    from alloyhub.remote_service import services

    req, firm, agent = _request(app, made, with_agent=True)
    ctx = as_owner(app, made)
    try:
        req = services.get_request(req.id)
        services.grant_access(req, unit_ids=[str(req.unit_id)], tags=[{"agent_id": str(agent.id), "tag": "probe.tag"}],
                              hours=1, may_propose_commands=True)
    finally:
        pop(ctx)
    ctx = as_owner(app, firm)
    try:
        req = services.get_request(req.id)
        services.accept(req)
        row = services.propose_command(req, agent_id=agent.id, kind="write", tag="probe.tag", value=1.0,
                                       reason="probe")
        tenancy.set_scope(None, None)
        return row.id
    finally:
        pop(ctx)


NOT_OBJECT_IDS.update({
    "step": "the name of a request's next step (accept, decline, invite, post, cancel, close)",
    "decision": "approve or reject, of a proposed command",
})

BODIES.update({
    ("remote_service_api.ProfileItem", "PATCH"): {"name": "X"},
    ("remote_service_api.RequestResolve", "POST"): {"findings": "probe"},
    ("remote_service_api.RequestRatings", "POST"): {"score": 5},
    ("remote_service_api.RequestSpares", "POST"): {"action": 0},
    ("remote_service_api.RequestGrants", "POST"): {"unit_ids": ["00000000-0000-0000-0000-000000000000"],
                                                   "tags": [{"agent_id": "00000000-0000-0000-0000-000000000000",
                                                             "tag": "x"}]},
    ("remote_service_api.RequestAnnotations", "POST"): {"agent_id": "00000000-0000-0000-0000-000000000000",
                                                        "tag": "x", "ts_from": "2024-01-01T00:00:00Z", "body": "x"},
    ("remote_service_api.RequestMessages", "POST"): {"body": "probe"},
    ("remote_service_api.RequestCommands", "POST"): {"agent_id": "00000000-0000-0000-0000-000000000000",
                                                     "kind": "write", "tag": "x", "value": 1, "reason": "x"},
})
