"""Cross-tenant probe: every route that takes an object id, called by tenant B
with the id of tenant A's object, answers 404: not 403 (which would confirm
the object exists), not 200.

The probe walks app.url_map, so new routes are covered automatically: a route
whose id argument has no factory below fails the test until one is added.
"""
from __future__ import annotations

import secrets

import pytest
from werkzeug.routing import IntegerConverter, UUIDConverter

from alloyhub.platform import auth
from alloyhub.platform.db import db
from tests.factories import ApiClient, MadeTenant
from tests.probe import BODIES, FACTORIES, NOT_OBJECT_IDS, factory, load_room_factories
from tests.probe import as_owner as _as_owner
from tests.probe import pop as _pop

# Factories: each makes one object of the kind the route argument names, in
# tenant `made` (as its owner), and returns the value to put in the URL. The
# platform's are below; a room registers its own in
# tests/<room>/probe_factories.py (loaded by tests.probe.load_room_factories).


@factory("site_id")
def make_site(app, made):
    from alloyhub.platform.identity import services

    ctx = _as_owner(app, made)
    try:
        return services.create_site(name="Probe site", code=f"P{secrets.token_hex(3)}").id
    finally:
        _pop(ctx)


@factory("role_id")
def make_role(app, made):
    from alloyhub.platform.identity import services

    ctx = _as_owner(app, made)
    try:
        return services.create_role(key=f"probe-{secrets.token_hex(3)}", name="Probe", permissions=[]).id
    finally:
        _pop(ctx)


@factory("membership_id")
def make_membership(app, made):
    from sqlalchemy import select

    from alloyhub.platform.identity.models import Membership, User
    from tests.factories import TenantFactory

    email = TenantFactory(app).add_member(made, "viewer")
    ctx = _as_owner(app, made)
    try:
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        return db.session.scalar(select(Membership.id).where(Membership.user_id == user_id))
    finally:
        _pop(ctx)


@factory("invitation_id")
def make_invitation(app, made):
    from sqlalchemy import select

    from alloyhub.platform.identity import services
    from alloyhub.platform.identity.models import Role

    ctx = _as_owner(app, made)
    try:
        role_id = db.session.scalar(select(Role.id).where(Role.key == "viewer"))
        invitation, _ = services.invite(email=f"probe-{secrets.token_hex(3)}@example.com", role_id=role_id,
                                        base_url="http://localhost")
        return invitation.id
    finally:
        _pop(ctx)


@factory("token_id")
def make_personal_access_token(app, made):
    from alloyhub.platform import permissions as perms
    from alloyhub.platform.oauth import services as oauth

    ctx = _as_owner(app, made)
    try:
        pat, _ = oauth.create_pat(name="probe", scopes=[perms.TENANT_READ], expires_in_days=1)
        return pat.id
    finally:
        _pop(ctx)


@factory("client_pk")
def make_oauth_client(app, made):
    from alloyhub.platform import permissions as perms
    from alloyhub.platform.oauth import services as oauth

    ctx = _as_owner(app, made)
    try:
        client, _ = oauth.create_client(name="Probe integration", kind="client_credentials",
                                        scopes=[perms.TENANT_READ])
        return client.id
    finally:
        _pop(ctx)


@factory("tenant_id")
def make_tenant(app, made):
    # Operator routes (platform staff only) take a company's id; to anyone
    # else they answer 404 like any object one may not see.
    return made.tenant_id


def _make_agent(app, made, *, configured: bool = False):
    from alloyhub.tenants.agents import services as agents

    agent, _secret, _token = agents.create_agent(name="Probe agent")
    if configured:
        agent.status = "active"  # as if enrolled: commands need an active agent
        agents.set_config(agent, {"sources": [{"name": "sim", "kind": "simulator"}], "allow_write": []})
    return agent


@factory("agent_id")
def make_agent(app, made):
    ctx = _as_owner(app, made)
    try:
        return _make_agent(app, made).id
    finally:
        _pop(ctx)


@factory("tag_id")
def make_agent_tag(app, made):
    from alloyhub.tenants.agents import services as agents

    ctx = _as_owner(app, made)
    try:
        return agents.add_tag(_make_agent(app, made), tag="probe.tag").id
    finally:
        _pop(ctx)


@factory("command_id")
def make_agent_command(app, made):
    from alloyhub.tenants.agents import services as agents

    ctx = _as_owner(app, made)
    try:
        return agents.request_command(_make_agent(app, made, configured=True), kind="restart_source",
                                      source="sim").id
    finally:
        _pop(ctx)


def _make_alarm_rule(app, made):
    from alloyhub.tenants.alarms import services as alarms

    return alarms.create_rule(agent_id=_make_agent(app, made).id, tag="probe.tag", name="Probe", kind="high",
                              limit=1.0)


@factory("rule_id")
def make_alarm_rule(app, made):
    ctx = _as_owner(app, made)
    try:
        return _make_alarm_rule(app, made).id
    finally:
        _pop(ctx)


@factory("alarm_id")
def make_alarm(app, made):
    ctx = _as_owner(app, made)
    try:
        return _make_alarm_rule(app, made).alarm.id
    finally:
        _pop(ctx)


@factory("window_id")
def make_maintenance_window(app, made):
    from alloyhub.tenants.alarms import services as alarms

    ctx = _as_owner(app, made)
    try:
        return alarms.start_maintenance(_make_agent(app, made).id, 1.0, "probe").id
    finally:
        _pop(ctx)


NOT_OBJECT_IDS.update({
    "filename": "static files",
    "code": "a language code",
    "slug": "a company's public slug, to start its single sign-on",
    "token": "a secret link token (invitation, password reset): whoever holds it may use it",
})

BODIES.update({
    ("agents_api.AgentConfig", "PUT"): {"sources": []},
    ("agents_api.AgentTags", "POST"): {"tag": "probe.other"},
    ("agents_api.AgentCommands", "POST"): {"kind": "restart_source", "source": "sim"},
    ("alarms_api.AlarmShelve", "POST"): {"reason": "probe", "minutes": 5},
})

load_room_factories()

PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _id_rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            continue
        yield rule


def _is_id_argument(name: str, converter) -> bool:
    return isinstance(converter, (UUIDConverter, IntegerConverter)) or name == "id" or name.endswith("_id")


def test_every_routed_argument_is_known(app):
    """A route argument must either have a factory or be declared not to be an object id."""
    missing = []
    for rule in _id_rules(app):
        for name, converter in rule._converters.items():
            if name in FACTORIES:
                continue
            if name in NOT_OBJECT_IDS and not _is_id_argument(name, converter):
                continue
            missing.append(f"add a factory for {name} (route {rule.rule}, endpoint {rule.endpoint}) "
                           f"in tests/platform/test_cross_tenant_probe.py")
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------ callers

def _session_caller(client, made: MadeTenant):
    api = ApiClient(client).sign_in(made.owner_email)

    def call(method, url, *, api_route: bool, body):
        headers = {"If-Match": "*"}
        if api_route:
            return api.client.open(url, method=method, json=body, headers=api._headers(headers))
        return api.client.open(url, method=method, data=body, headers=api._headers(headers))

    return call


def bearer_token(app, made: MadeTenant) -> str | None:
    """A bearer token for the owner of `made`, or None while the OAuth room
    provides none. Extend here when other kinds of token appear."""
    if not auth._bearer_resolvers:
        return None
    try:
        from alloyhub.platform import permissions as perms
        from alloyhub.platform.oauth.services import create_pat
    except ImportError:
        return None
    ctx = _as_owner(app, made)
    try:
        _, value = create_pat(name="probe", scopes=sorted(perms.REGISTRY), expires_in_days=1)
        return value
    finally:
        _pop(ctx)


def _bearer_caller(client, token: str):
    def call(method, url, *, api_route: bool, body):
        headers = {"If-Match": "*", "Authorization": f"Bearer {token}"}
        if api_route:
            return client.open(url, method=method, json=body, headers=headers)
        return client.open(url, method=method, data=body, headers=headers)

    return call


def _every_module(app, *made) -> None:
    """The probing company holds the plan with every module, so gated rooms
    answer on their merits (404), not with 403 plan-required. (Only the
    prober: the probed company makes many objects, more than a paid plan's
    limits allow; services do not check the plan.)"""
    from alloyhub.platform.billing import services as billing

    with app.app_context():
        for m in made:
            billing.override_plan(m.tenant_id, "enterprise", reason="cross-tenant probe")


@pytest.fixture
def probe(app, tenant_factory, make_client):
    a, b = tenant_factory(), tenant_factory()
    _every_module(app, b)
    callers = {"session": _session_caller(make_client(), b)}
    token = bearer_token(app, b)
    if token is not None:
        assert make_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        callers["bearer"] = _bearer_caller(make_client(), token)
    return a, b, callers


def test_objects_of_another_tenant_are_not_found(app, probe):
    a, b, callers = probe
    checked, wrong = [], []
    for rule in _id_rules(app):
        names = [n for n in rule.arguments if n in FACTORIES]
        if not names:
            continue
        for method in sorted((rule.methods or set()) & set(PROBED_METHODS)):
            for via, call in callers.items():
                # A fresh object per call: a DELETE that wrongly succeeded must not hide the next one.
                values = {n: FACTORIES[n](app, a) for n in names}
                for n in set(rule.arguments) - set(names):
                    values[n] = "x"
                url = rule.build(values, append_unknown=False)[1]
                api_route = url.startswith("/api/")
                body = BODIES.get((rule.endpoint, method), {}) if method not in ("GET", "DELETE") else None
                response = call(method, url, api_route=api_route, body=body)
                checked.append((via, method, rule.rule))
                if response.status_code != 404:
                    wrong.append(f"{via} {method} {url} ({rule.endpoint}) -> {response.status_code}: "
                                 f"{response.get_data(as_text=True)[:200]}")
    assert checked, "the probe found no routes with object ids"
    assert not wrong, "tenant B reached tenant A's objects:\n" + "\n".join(wrong)


def test_own_objects_are_found(app, tenant_factory, make_client):
    """The control: the same kind of request for one's own object is not a 404,
    so the 404s above come from tenant isolation, not from a broken URL."""
    b = tenant_factory()
    _every_module(app, b)
    call = _session_caller(make_client(), b)
    for rule in _id_rules(app):
        names = [n for n in rule.arguments if n in FACTORIES]
        if not names or "GET" not in (rule.methods or ()):
            continue
        values = {n: FACTORIES[n](app, b) for n in names}
        url = rule.build(values, append_unknown=False)[1]
        response = call("GET", url, api_route=url.startswith("/api/"), body=None)
        assert response.status_code == 200, f"GET {url} of one's own object -> {response.status_code}"


def test_idempotency_key_does_not_replay_across_tenants(tenant_factory, make_client):
    """A stored response is replayed only to the caller who made it: the same
    key and body from another company creates that company's own object."""
    a, b = tenant_factory(), tenant_factory()
    alice = ApiClient(make_client()).sign_in(a.owner_email)
    bob = ApiClient(make_client()).sign_in(b.owner_email)
    body, key = {"name": "Hot mill", "code": "HM1"}, {"Idempotency-Key": "same-key"}
    first = alice.post("/api/v1/sites", json=body, headers=key)
    other = bob.post("/api/v1/sites", json=body, headers=key)
    assert first.status_code == other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert first.get_json()["id"] != other.get_json()["id"]
    assert [s["code"] for s in bob.get("/api/v1/sites").get_json()["items"]] == ["MAIN", "HM1"]
