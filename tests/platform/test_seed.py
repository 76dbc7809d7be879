"""The demo data: idempotent, usable for signing in, one person in two companies."""
from __future__ import annotations

from sqlalchemy import func, select

from alloyhub.platform import seed as demo
from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity import services
from alloyhub.platform.identity.models import Invitation, Membership, Site, Tenant, User
from tests.factories import sign_in


def _snapshot():
    """The demo companies and people, as comparable values (the registry of
    companies and the people are global, not tenant-owned)."""
    names = [c.name for c in demo.COMPANIES]
    emails = sorted({login.email for login in demo.demo_logins()})
    tenants = sorted(db.session.execute(select(Tenant.name, Tenant.kind).where(Tenant.name.in_(names))).all())
    users = sorted(db.session.scalars(select(User.email).where(User.email.in_(emails))).all())
    return tenants, users


def _count_in(tenant_id, model, *where):
    with tenancy.scoped(tenant_id, session=db.session):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _tenant(name):
    return db.session.scalar(select(Tenant).where(Tenant.name == name))


def test_seeding_twice_changes_nothing_the_second_time(app):
    with app.app_context():
        first = demo.seed("http://localhost")
        tenants, users = _snapshot()
        east = _tenant(demo.COMPANIES[0].name)
        counts = (_count_in(east.id, Membership), _count_in(east.id, Site),
                  _count_in(east.id, Invitation, Invitation.accepted_at.is_(None)))

        second = demo.seed("http://localhost")

        # (Another test may have seeded this database already.)
        assert not second.changed, second.created
        assert first.created == [] or any(c.startswith("company") for c in first.created)
        assert _snapshot() == (tenants, users)
        assert counts == (_count_in(east.id, Membership), _count_in(east.id, Site),
                          _count_in(east.id, Invitation, Invitation.accepted_at.is_(None)))
    kinds = {kind for _, kind in tenants}
    assert {"plant", "supplier", "expert"} <= kinds
    assert sum(kind == "plant" for _, kind in tenants) >= 2
    assert set(users) == {login.email for login in demo.demo_logins()}
    # Six members, two sites and one pending invitation in the first plant.
    assert counts == (6, 2, 1)


def test_every_demo_login_authenticates_with_its_role(app):
    with app.app_context():
        demo.seed("http://localhost")
        roles_seen = set()
        for login in demo.demo_logins():
            user = services.authenticate(login.email, demo.DEMO_PASSWORD)
            tenant = _tenant(login.company)
            granted = services.permissions_for(user.id, tenant.id)
            assert granted is not None, f"{login.email} is not an active member of {login.company}"
            with tenancy.scoped(tenant.id, user.id, session=db.session):
                membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
                assert login.role in [r.key for r in membership.roles]
            roles_seen.add(login.role)
    assert {"owner", "admin", "planner", "operator", "quality", "maintenance"} <= roles_seen


def test_the_multi_company_person_has_two_memberships_and_can_sign_in(app, client):
    with app.app_context():
        demo.seed("http://localhost")
        user = services.user_by_email(demo.CHEN_JING.email)
        companies = sorted(t.name for t in services.tenants_of(user.id))
    assert companies == sorted([demo.COMPANIES[0].name, demo.COMPANIES[1].name])
    sign_in(client, demo.CHEN_JING.email, demo.DEMO_PASSWORD)
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Jiangnan Copper" in page or "East China Aluminium" in page


def test_rooms_seed_through_the_registry_and_the_demo_plant_gets_its_simulated_agent(app):
    from alloyhub.tenants.agents import demo as agent_demo
    from alloyhub.tenants.agents.models import Agent, AgentTag

    assert agent_demo.seed_demo in demo.DEMO_SEEDERS  # registered by the agents room, not called by the platform
    with app.app_context():
        demo.seed("http://localhost")
        east = _tenant(agent_demo.DEMO_PLANT)
        with tenancy.scoped(east.id, session=db.session):
            agents = db.session.scalars(select(Agent).where(Agent.name == agent_demo.DEMO_AGENT_NAME)).all()
            assert len(agents) == 1
            tags = dict(db.session.execute(select(AgentTag.tag, AgentTag.status)
                                           .where(AgentTag.agent_id == agents[0].id)).all())
        assert len(tags) == 10 and set(tags.values()) == {"active"}
        assert "line0.bearing_temp" in tags
        # The other plant has none: the demo agent belongs to the first plant only.
        west = _tenant(demo.COMPANIES[1].name)
        assert _count_in(west.id, Agent, Agent.name == agent_demo.DEMO_AGENT_NAME) == 0
        # `up` enrols it with a fresh one-time token each first run.
        token = agent_demo.demo_plant_enrolment_token()
        assert token and token.startswith("ahe_")
