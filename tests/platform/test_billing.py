"""Plans, entitlements, limits, read-only mode, downgrades, usage and the
operator admin, with billing off (no STRIPE_API_KEY): the embedded default."""
from __future__ import annotations

import dataclasses

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import select, text

from alloyhub.platform import permissions as perms
from alloyhub.platform import tenancy
from alloyhub.platform.auth import requires
from alloyhub.platform.billing import entitlements, plans, services
from alloyhub.platform.db import db, utcnow
from tests.factories import ApiClient, csrf_token, mail_links, sign_in

PROBLEM = "application/problem+json"


# ------------------------------------------------------------------ a gated app

def gated_blueprints() -> list[Blueprint]:
    """Two stand-in rooms: `scheduling` (not in Trial) and `orders` (in Trial),
    each with an API and a page blueprint, declared the way a room does."""
    made = []
    for module in ("scheduling", "orders"):
        for kind, prefix in (("api", f"/api/v1/probe-{module}"), ("page", f"/probe-{module}")):
            bp = Blueprint(f"probe_{module}_{kind}", __name__, url_prefix=prefix)

            @bp.route("", methods=["GET", "POST"], endpoint="index")
            @requires(perms.TENANT_READ)
            def index(module=module, kind=kind):
                if kind == "page":
                    return f'<!doctype html><h1 data-testid="module-page">{module}</h1>'
                return jsonify({"module": module, "ok": True})

            entitlements.require_module(bp, module)
            made.append(bp)
    return made


def make_gated_app(app, extra_config: dict | None = None):
    """A second app on the same database and Redis, with the stand-in rooms.
    (The session app has served requests; Flask takes no new blueprints then.)"""
    from alloyhub import create_app

    config = {k: v for k, v in app.config.items() if k.isupper()}
    config.update(extra_config or {})
    gated = create_app(config)
    for bp in gated_blueprints():
        gated.register_blueprint(bp)
    return gated


@pytest.fixture(scope="module")
def gated_app(app):
    return make_gated_app(app)


def make_staff(owner_engine, email: str) -> None:
    with owner_engine.begin() as conn:
        conn.execute(text("update users set is_platform_staff = true where email = :e"), {"e": email})


@pytest.fixture
def operator(tenant_factory, make_client, owner_engine):
    """A signed-in member of AlloyHub's own staff."""
    staff_company = tenant_factory(kind="expert", name=None)
    make_staff(owner_engine, staff_company.owner_email)
    return ApiClient(make_client()).sign_in(staff_company.owner_email)


def set_plan(operator, tenant_id, plan: str, **extra):
    return operator.client.put(f"/api/v1/operator/tenants/{tenant_id}/plan",
                               json={"plan": plan, "reason": "test", **extra},
                               headers=operator._headers())


def site_count(owner_engine, tenant_id) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("select count(*) from sites where tenant_id = :t"), {"t": tenant_id}).scalar()


# ------------------------------------------------------------------ plans

def test_plans_are_data_and_consistent():
    assert set(plans.PLANS) == {"partner", "trial", "starter", "professional", "enterprise"}
    for plan in plans.PLANS.values():
        assert set(plan.limits) == set(plans.LIMITS), plan.key
        assert plan.modules <= set(plans.MODULES), plan.key
    paid = sorted((p for p in plans.PLANS.values() if p.monthly_price), key=lambda p: p.rank)
    # Dearer plans include everything the cheaper ones do.
    for cheaper, dearer in zip(paid, paid[1:]):
        assert cheaper.modules <= dearer.modules and cheaper.monthly_price < dearer.monthly_price
    assert plans.PLANS["trial"].trial_days == 30
    assert plans.cheapest_with_module("scheduling").key == "professional"
    assert plans.cheapest_with_module("marketplace", "supplier").key == "partner"
    assert plans.cheapest_with_room("sites", 2, "plant").key == "professional"


def test_new_companies_start_on_trial_or_partner(tenant_factory, make_client):
    plant, supplier = tenant_factory("plant"), tenant_factory("supplier")
    mine = ApiClient(make_client()).sign_in(plant.owner_email).get("/api/v1/billing/subscription").get_json()
    assert (mine["plan"]["key"], mine["status"]) == ("trial", "trialing")
    assert mine["trial_ends_at"] and mine["billing_enabled"] is False
    theirs = ApiClient(make_client()).sign_in(supplier.owner_email).get("/api/v1/billing/subscription").get_json()
    assert (theirs["plan"]["key"], theirs["status"]) == ("partner", "active")
    assert "marketplace" in theirs["plan"]["modules"] and "telemetry" not in theirs["plan"]["modules"]


# ------------------------------------------------------------------ modules

def test_unentitled_module_answers_plan_required_naming_the_cheapest_plan(gated_app, tenant_factory):
    plant = tenant_factory()
    api = ApiClient(gated_app.test_client()).sign_in(plant.owner_email)
    response = api.get("/api/v1/probe-scheduling")
    assert response.status_code == 403 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "https://alloyhub.io/errors/plan-required"
    assert (body["module"], body["cheapest_plan"], body["plan"]) == ("scheduling", "professional", "trial")
    # Writes are refused the same way, before the endpoint runs.
    assert api.post("/api/v1/probe-scheduling", json={}).status_code == 403
    # A module the trial includes works.
    assert api.get("/api/v1/probe-orders").get_json() == {"module": "orders", "ok": True}


def test_unentitled_page_shows_an_upgrade_prompt(gated_app, tenant_factory):
    plant = tenant_factory()
    client = gated_app.test_client()
    sign_in(client, plant.owner_email)
    response = client.get("/probe-scheduling", headers={"Accept": "text/html"})
    html = response.get_data(as_text=True)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert 'data-testid="upgrade-prompt"' in html and 'data-module="scheduling"' in html
    assert "Professional" in html


def test_the_operator_unlocks_a_module(gated_app, tenant_factory, operator):
    plant = tenant_factory()
    api = ApiClient(gated_app.test_client()).sign_in(plant.owner_email)
    assert api.get("/api/v1/probe-scheduling").status_code == 403
    assert set_plan(operator, plant.tenant_id, "professional").status_code == 200
    assert api.get("/api/v1/probe-scheduling").status_code == 200


def test_unauthenticated_calls_to_a_gated_module_still_get_401(gated_app):
    response = gated_app.test_client().get("/api/v1/probe-scheduling")
    assert response.status_code == 401


def test_require_module_refuses_an_unknown_module():
    with pytest.raises(ValueError):
        entitlements.require_module(Blueprint("nope", __name__), "teleportation")


# ------------------------------------------------------------------ limits

def test_a_site_beyond_the_plan_is_refused_and_nothing_is_created(tenant_factory, make_client, operator,
                                                                  owner_engine):
    plant = tenant_factory()
    assert set_plan(operator, plant.tenant_id, "starter").status_code == 200  # 1 site allowed, 1 in use
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    response = api.post("/api/v1/sites", json={"name": "Hot mill", "code": "HM"})
    assert response.status_code == 403 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "https://alloyhub.io/errors/plan-required"
    assert (body["limit"], body["allowed"], body["usage"], body["cheapest_plan"]) == ("sites", 1, 1, "professional")
    assert site_count(owner_engine, plant.tenant_id) == 1
    # The page says so in the form.
    page = api.client.post("/sites", data={"name": "Hot mill", "code": "HM", "csrf_token": api.token})
    assert page.status_code == 422 and "allows 1 sites" in page.get_data(as_text=True)
    assert site_count(owner_engine, plant.tenant_id) == 1


def test_inviting_and_joining_beyond_the_user_limit_is_refused(tenant_factory, make_client, operator,
                                                              owner_engine, app, monkeypatch):
    plant = tenant_factory()
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    viewer = api.get("/api/v1/roles").get_json()["items"]
    viewer_id = next(r["id"] for r in viewer if r["key"] == "viewer")
    invited = api.post("/api/v1/invitations", json={"email": "joiner@example.com", "role_id": viewer_id})
    assert invited.status_code == 201, invited.get_data(as_text=True)
    # Now the plan shrinks to one user: the owner.
    monkeypatch.setitem(plans.PLANS, "trial", dataclasses.replace(
        plans.PLANS["trial"], limits={**plans.PLANS["trial"].limits, "users": 1}))
    again = api.post("/api/v1/invitations", json={"email": "second@example.com", "role_id": viewer_id})
    assert again.status_code == 403 and again.get_json()["limit"] == "users"
    (link,) = mail_links(app, "joiner@example.com", "/invitations/")
    joiner = make_client()
    joined = joiner.post(link, data={"name": "Joiner", "password": "Rolling-mill-42",
                                     "csrf_token": csrf_token(joiner, link)})
    assert joined.status_code == 422 and "allows 1 users" in joined.get_data(as_text=True)
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from users where email = 'joiner@example.com'")).scalar() == 0
        assert conn.execute(text("select count(*) from memberships where tenant_id = :t"),
                            {"t": plant.tenant_id}).scalar() == 1


# ------------------------------------------------------------------ read-only

def test_lapsed_grace_makes_the_company_read_only_but_reads_and_exports_work(
        gated_app, app, tenant_factory, owner_engine):
    plant = tenant_factory()
    with owner_engine.begin() as conn:
        conn.execute(text("update billing_subscriptions set status = 'past_due', "
                          "grace_until = now() - interval '1 day' where tenant_id = :t"), {"t": plant.tenant_id})
    with app.app_context():
        assert services.enforce_deadlines() >= 1
    with owner_engine.connect() as conn:
        assert conn.execute(text("select status from billing_subscriptions where tenant_id = :t"),
                            {"t": plant.tenant_id}).scalar() == "read_only"
        audited = conn.execute(text("select count(*) from audit_log where tenant_id = :t and "
                                    "action = 'billing.read_only'"), {"t": plant.tenant_id}).scalar()
    assert audited == 1
    api = ApiClient(gated_app.test_client()).sign_in(plant.owner_email)
    assert api.get("/api/v1/probe-orders").status_code == 200
    refused = api.post("/api/v1/probe-orders", json={})
    assert refused.status_code == 403
    assert refused.get_json()["type"] == "https://alloyhub.io/errors/subscription-read-only"
    assert api.get("/api/v1/exports/members.csv").status_code == 200
    home = api.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-testid="billing-banner"' in home and 'data-status="read_only"' in home
    assert site_count(owner_engine, plant.tenant_id) == 1  # nothing deleted


def test_grace_period_shows_a_banner_and_allows_writes(gated_app, tenant_factory, owner_engine):
    plant = tenant_factory()
    with owner_engine.begin() as conn:
        conn.execute(text("update billing_subscriptions set status = 'past_due', "
                          "grace_until = now() + interval '10 days' where tenant_id = :t"), {"t": plant.tenant_id})
    api = ApiClient(gated_app.test_client()).sign_in(plant.owner_email)
    assert api.post("/api/v1/probe-orders", json={}).status_code == 200
    home = api.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-status="past_due"' in home


def test_an_expired_trial_is_read_only(gated_app, tenant_factory, owner_engine):
    plant = tenant_factory()
    with owner_engine.begin() as conn:
        conn.execute(text("update billing_subscriptions set trial_ends_at = now() - interval '1 hour' "
                          "where tenant_id = :t"), {"t": plant.tenant_id})
    api = ApiClient(gated_app.test_client()).sign_in(plant.owner_email)
    assert api.get("/api/v1/billing/subscription").get_json()["status"] == "read_only"
    assert api.post("/api/v1/probe-orders", json={}).status_code == 403
    assert api.get("/api/v1/probe-orders").status_code == 200


# ------------------------------------------------------------------ downgrade

def test_downgrade_below_current_usage_is_refused_with_a_clear_message(
        tenant_factory, make_client, operator, owner_engine):
    plant = tenant_factory()
    assert set_plan(operator, plant.tenant_id, "professional").status_code == 200
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    for code in ("HM", "CM"):
        assert api.post("/api/v1/sites", json={"name": code, "code": code}).status_code == 201
    response = set_plan(operator, plant.tenant_id, "starter")
    assert response.status_code == 409 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "https://alloyhub.io/errors/plan-limits-exceeded"
    assert body["over"] == {"sites": {"usage": 3, "allowed": 1}}
    assert "Nothing has been changed or deleted" in body["detail"]
    assert api.get("/api/v1/billing/subscription").get_json()["plan"]["key"] == "professional"
    assert site_count(owner_engine, plant.tenant_id) == 3
    # Forced, the plan changes and still nothing is deleted; more sites are refused.
    assert set_plan(operator, plant.tenant_id, "starter", force=True).status_code == 200
    assert site_count(owner_engine, plant.tenant_id) == 3
    assert api.post("/api/v1/sites", json={"name": "X", "code": "X"}).status_code == 403


# ------------------------------------------------------------------ operator

def test_the_operator_area_does_not_exist_for_other_people(tenant_factory, make_client):
    plant = tenant_factory()
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    assert api.get("/api/v1/operator/tenants").status_code == 404
    assert api.get("/operator/tenants", headers={"Accept": "text/html"}).status_code == 404
    assert 'data-testid="operator-link"' not in api.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert set_plan(api, plant.tenant_id, "enterprise").status_code == 404
    assert api.get("/api/v1/billing/subscription").get_json()["plan"]["key"] == "trial"


def test_operator_override_is_audited(tenant_factory, operator, owner_engine):
    plant = tenant_factory()
    listing = operator.get("/api/v1/operator/tenants").get_json()["items"]
    row = next(r for r in listing if r["tenant_id"] == str(plant.tenant_id))
    assert (row["plan"], row["status"], row["usage"]["sites"], row["usage"]["users"]) == ("trial", "trialing", 1, 1)
    response = set_plan(operator, plant.tenant_id, "enterprise", reason="signed contract #42")
    assert response.status_code == 200 and response.get_json()["plan"]["key"] == "enterprise"
    with owner_engine.connect() as conn:
        entry = conn.execute(text("select actor_user_id, details from audit_log where tenant_id = :t and "
                                  "action = 'billing.plan_overridden'"), {"t": plant.tenant_id}).one()
    assert entry.details["reason"] == "signed contract #42"
    assert entry.details["before"]["plan"] == "trial" and entry.details["after"]["plan"] == "enterprise"
    assert entry.actor_user_id is not None


@pytest.mark.parametrize("body, field", [
    ({"plan": "enterprise"}, "reason"),
    ({"plan": "platinum", "reason": "x"}, "plan"),
    ({"plan": "partner", "reason": "x"}, "plan"),  # not for plants
])
def test_operator_override_bad_input(tenant_factory, operator, body, field):
    plant = tenant_factory()
    response = operator.client.put(f"/api/v1/operator/tenants/{plant.tenant_id}/plan", json=body,
                                   headers=operator._headers())
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert field in response.get_json()["errors"]


def test_operator_override_of_an_unknown_company_is_404(operator):
    import uuid

    response = set_plan(operator, uuid.uuid4(), "starter")
    assert response.status_code == 404 and response.mimetype == PROBLEM


def test_operator_page_lists_and_changes_plans(tenant_factory, operator):
    plant = tenant_factory()
    page = operator.get("/operator/tenants", headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'data-tenant="{plant.tenant_id}"' in html
    assert 'data-testid="operator-link"' in html  # reachable from the account menu
    changed = operator.client.post(f"/operator/tenants/{plant.tenant_id}/plan", data={
        "plan": "starter", "reason": "pilot", "csrf_token": operator.token})
    assert changed.status_code == 302
    after = operator.get("/api/v1/operator/tenants").get_json()["items"]
    assert next(r for r in after if r["tenant_id"] == str(plant.tenant_id))["plan"] == "starter"


# ------------------------------------------------------------------ usage

def test_usage_page_and_daily_record(app, tenant_factory, make_client):
    plant = tenant_factory()
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    assert api.post("/api/v1/sites", json={"name": "Cold mill", "code": "CM"}).status_code == 201
    view = api.get("/api/v1/billing/subscription").get_json()
    usage = {row["metric"]: row for row in view["usage"]}
    assert usage["sites"] == {"metric": "sites", "usage": 2, "limit": None}
    assert usage["agents"]["limit"] is None and usage["users"]["usage"] == 1
    with app.app_context():
        from alloyhub.platform.billing import usage as metering

        assert metering.record_all(utcnow().date()) >= 1
        assert metering.record_all(utcnow().date()) >= 1  # twice a day: overwritten, not doubled
    recorded = api.get("/api/v1/billing/usage").get_json()
    sites_rows = [r for r in recorded if r["metric"] == "sites"]
    assert len(sites_rows) == 1 and sites_rows[0]["value"] == 2
    page = api.get("/billing", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-testid="current-plan" data-plan="trial"' in page and 'data-metric="sites"' in page
    assert "contact the AlloyHub operator" in page  # billing off: no Checkout buttons
    assert 'data-testid="choose-professional"' not in page


def test_usage_of_other_companies_is_not_visible(app, tenant_factory):
    a, b = tenant_factory(), tenant_factory()
    with app.app_context():
        from alloyhub.platform.billing import usage as metering

        metering.record_all(utcnow().date())
        with tenancy.scoped(b.tenant_id, b.owner_id, session=db.session):
            rows = metering.history(a.tenant_id)
    assert rows == []


def test_checkout_without_stripe_says_billing_is_off(tenant_factory, make_client):
    plant = tenant_factory()
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    response = api.post("/api/v1/billing/checkout", json={"plan": "professional"})
    assert response.status_code == 409 and response.get_json()["type"].endswith("/billing-disabled")
    assert api.post("/api/v1/billing/checkout", json={"plan": "gold"}).status_code == 422


def test_members_without_billing_permission_cannot_see_billing(tenant_factory, make_client):
    plant = tenant_factory()
    email = tenant_factory.add_member(plant, "operator")
    api = ApiClient(make_client()).sign_in(email)
    assert api.get("/api/v1/billing/subscription").status_code == 403
    assert api.post("/api/v1/billing/checkout", json={"plan": "professional"}).status_code == 403


def test_demo_data_has_plans_and_an_operator(app, make_client):
    from alloyhub.platform import seed as demo
    from alloyhub.platform.identity.models import Tenant, User

    with app.app_context():
        demo.seed("http://localhost")
        with tenancy.system_context(db.session):
            plan_of = {c.name: services.subscription_of(
                db.session.scalar(select(Tenant.id).where(Tenant.name == c.name))).plan_key
                for c in demo.COMPANIES}
            staff = db.session.scalars(select(User.email).where(User.is_platform_staff.is_(True))).all()
    kinds = {c.name: c.kind for c in demo.COMPANIES}
    assert plan_of[demo.COMPANIES[0].name] == "professional" and plan_of[demo.COMPANIES[1].name] == "starter"
    assert all(plan == "partner" for name, plan in plan_of.items() if kinds[name] != "plant")
    assert staff
    if demo.OPERATOR.email in staff:
        operator = ApiClient(make_client()).sign_in(demo.OPERATOR.email, demo.DEMO_PASSWORD)
        assert operator.get("/api/v1/operator/tenants").status_code == 200


def test_telemetry_points_are_counted_per_day_they_were_stored(app, tenant_factory, owner_engine):
    """The metered figure is what the ingest stored each day (its counters,
    tests/tenants/test_telemetry_retention.py shows the ingest keeping them),
    whatever the points' own timestamps: a backlog drained today counts today."""
    from datetime import timedelta

    from alloyhub.platform.billing import usage as metering

    plant, other = tenant_factory(), tenant_factory()
    today = utcnow().date()
    with owner_engine.begin() as conn:
        for tenant, day, n in ((plant, today, 150), (plant, today - timedelta(days=1), 7), (other, today, 999)):
            conn.execute(text("insert into telemetry_usage_received (tenant_id, day, points) values (:t, :d, :n)"),
                         {"t": tenant.tenant_id, "d": day, "n": n})
    with app.app_context(), tenancy.scoped(plant.tenant_id, plant.owner_id, session=db.session):
        assert metering.count(plant.tenant_id, "telemetry_points", today) == 150
        assert metering.count(plant.tenant_id, "telemetry_points", today - timedelta(days=1)) == 7
    with app.app_context():  # from the system scope (the jobs) the same figure
        assert metering.count(plant.tenant_id, "telemetry_points", today) == 150


def test_the_sixth_agent_on_a_five_agent_plan_is_refused(tenant_factory, make_client, operator, owner_engine):
    plant = tenant_factory()
    assert set_plan(operator, plant.tenant_id, "professional").status_code == 200  # 5 agents
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    for i in range(5):
        assert api.post("/api/v1/agents", json={"name": f"Agent {i}"}).status_code == 201
    sixth = api.post("/api/v1/agents", json={"name": "Agent 6"})
    assert sixth.status_code == 403 and sixth.mimetype == PROBLEM
    body = sixth.get_json()
    assert body["type"] == "https://alloyhub.io/errors/plan-required"
    assert (body["limit"], body["allowed"], body["usage"], body["cheapest_plan"]) == ("agents", 5, 5, "enterprise")
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from agents where tenant_id = :t"),
                            {"t": plant.tenant_id}).scalar() == 5


# ------------------------------------------------------------------ pinned overrides

def audit_entries(owner_engine, tenant_id, action: str) -> list:
    with owner_engine.connect() as conn:
        return conn.execute(text("select actor_user_id, details from audit_log where tenant_id = :t and action = :a "
                                 "order by at"), {"t": tenant_id, "a": action}).all()


def test_an_override_pins_the_plan_and_says_so_until_the_operator_releases_it(
        tenant_factory, operator, make_client, owner_engine):
    plant = tenant_factory()
    assert set_plan(operator, plant.tenant_id, "professional", reason="pilot contract").status_code == 200
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    view = api.get("/api/v1/billing/subscription").get_json()
    assert view["plan"]["key"] == "professional" and view["plan_pinned"] is True and view["plan_pinned_at"]
    page = api.get("/billing", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-testid="plan-pinned"' in page
    row = next(r for r in operator.get("/api/v1/operator/tenants").get_json()["items"]
               if r["tenant_id"] == str(plant.tenant_id))
    assert (row["plan_pinned"], row["plan_pin_reason"]) == (True, "pilot contract")
    html = operator.get("/operator/tenants", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-pinned="yes"' in html and 'data-testid="unpin"' in html
    # Released: without Stripe the plan stays as it is, no longer pinned.
    released = operator.client.delete(f"/api/v1/operator/tenants/{plant.tenant_id}/plan/pin?reason=contract+ended",
                                      headers=operator._headers())
    assert released.status_code == 200, released.get_json()
    assert (released.get_json()["plan"]["key"], released.get_json()["plan_pinned"]) == ("professional", False)
    page = api.get("/billing", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'data-testid="plan-pinned"' not in page
    (cleared,) = audit_entries(owner_engine, plant.tenant_id, "billing.plan_override_cleared")
    assert cleared.details["reason"] == "contract ended" and cleared.actor_user_id is not None
    assert cleared.details["before"]["pinned"] is True and cleared.details["after"]["pinned"] is False
    (pinned,) = audit_entries(owner_engine, plant.tenant_id, "billing.plan_overridden")
    assert pinned.details["after"] == {"plan": "professional", "status": "active", "pinned": True}
    # Nothing pinned now: releasing again is a conflict, and others may not release at all.
    again = operator.client.delete(f"/api/v1/operator/tenants/{plant.tenant_id}/plan/pin",
                                   headers=operator._headers())
    assert again.status_code == 409 and again.mimetype == PROBLEM
    assert api.delete(f"/api/v1/operator/tenants/{plant.tenant_id}/plan/pin").status_code == 404


def test_the_operator_page_releases_a_pin(tenant_factory, operator):
    plant = tenant_factory()
    assert set_plan(operator, plant.tenant_id, "starter").status_code == 200
    released = operator.client.post(f"/operator/tenants/{plant.tenant_id}/plan/unpin",
                                    data={"csrf_token": operator.token})
    assert released.status_code == 302
    row = next(r for r in operator.get("/api/v1/operator/tenants").get_json()["items"]
               if r["tenant_id"] == str(plant.tenant_id))
    assert (row["plan"], row["plan_pinned"]) == ("starter", False)


# ------------------------------------------------------------------ storage limit

def files_app(app):
    """A stand-in room that keeps uploads in the platform's file storage, the
    way a room does (storage.current().put under the company's prefix): the
    storage's quota guard, not the room, refuses what the plan has no room for."""
    from flask import request

    from alloyhub.platform import api as platform_api
    from alloyhub.platform import storage

    bp = Blueprint("probe_files_api", __name__, url_prefix="/api/v1/probe-files")

    @bp.route("", methods=["POST"], endpoint="upload")
    @requires(perms.TENANT_READ)
    def upload():
        key = storage.new_key(tenancy.current_tenant_id(), "probe", "upload.bin")
        storage.current().put(key, request.get_data(), "application/octet-stream")
        return jsonify({"key": key}), 201

    gated = make_gated_app(app)
    gated.register_blueprint(bp)
    platform_api.NON_JSON_BODY_ENDPOINTS.add("probe_files_api.upload")  # a file store takes raw bodies
    return gated


def sparse_file(root, tenant_id, size: int) -> None:
    """A file of `size` bytes in the company's part of the store, taking no disk."""
    path = root / str(tenant_id) / "probe" / "existing" / "archive.bin"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        f.truncate(size)


def test_an_upload_beyond_the_plans_storage_is_refused_naming_a_plan_with_room(app, tenant_factory, tmp_path):
    from alloyhub.platform.billing import usage as metering

    files = files_app(app)
    files.config["STORAGE_DIR"] = str(tmp_path)
    plant, other = tenant_factory(), tenant_factory()
    with files.app_context():
        services.override_plan(plant.tenant_id, "starter", reason="test")  # 20 GB
    sparse_file(tmp_path, plant.tenant_id, 19_999_500_000)  # the company already keeps 19.9995 GB of files
    api = ApiClient(files.test_client()).sign_in(plant.owner_email)
    assert api.post("/api/v1/probe-files", data=b"x" * 1000).status_code == 201
    refused = api.post("/api/v1/probe-files", data=b"x" * 600_000)  # 0.6 MB more: past 20 GB
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    body = refused.get_json()
    assert body["type"] == "https://alloyhub.io/errors/plan-required"
    assert (body["limit"], body["allowed"], body["plan"], body["cheapest_plan"]) == (
        "storage_gb", 20, "starter", "professional")
    assert body["usage_bytes"] == 19_999_501_000 and "Professional plan stores 200 GB" in body["detail"]
    # Nothing of the refused upload was kept; the usage page shows the files with the limit.
    with files.app_context():
        assert metering.storage_breakdown(plant.tenant_id)["files"] == 19_999_501_000
    view = api.get("/api/v1/billing/subscription").get_json()
    assert view["storage"]["files"] == 19_999_501_000
    assert next(r for r in view["usage"] if r["metric"] == "storage_bytes")["limit"] == 20 * 10**9
    # Another company is not affected.
    assert ApiClient(files.test_client()).sign_in(other.owner_email).post(
        "/api/v1/probe-files", data=b"x" * 600_000).status_code == 201


def test_a_spare_part_attachment_beyond_the_plans_storage_is_refused(
        app, tenant_factory, tmp_path, monkeypatch):
    import io

    from alloyhub.spares import stock

    monkeypatch.setitem(app.config, "STORAGE_DIR", str(tmp_path))
    plant = tenant_factory()
    with app.app_context():
        services.override_plan(plant.tenant_id, "professional", reason="test")  # spares; 200 GB
        with tenancy.scoped(plant.tenant_id, plant.owner_id, session=db.session):
            part = stock.create_part(part_number="22220-EK", quantity=2, manufacturer="FAG").id
    sparse_file(tmp_path, plant.tenant_id, 200 * 10**9 - 10)  # 10 bytes left
    api = ApiClient(app.test_client()).sign_in(plant.owner_email)
    pdf = b"%PDF-1.4\n% mill test certificate\n%%EOF\n"
    response = api.post(f"/api/v1/spare-parts/{part}/attachments", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(pdf), "cert.pdf"), "kind": "certificate"})
    assert response.status_code == 403 and response.mimetype == PROBLEM
    assert (response.get_json()["limit"], response.get_json()["cheapest_plan"]) == ("storage_gb", "enterprise")
    assert api.get(f"/api/v1/spare-parts/{part}/attachments").get_json() == []


# ------------------------------------------------------------------ expert time

def test_expert_hours_are_recorded_once_per_reference(app, tenant_factory, owner_engine):
    from alloyhub.platform.billing import usage as metering
    from alloyhub.platform.errors import Conflict, ValidationFailed

    plant, expert = tenant_factory(), tenant_factory(kind="expert")
    with app.app_context():
        # Recorded by the remote-service room while working as the expert firm: it belongs to the plant.
        with tenancy.scoped(expert.tenant_id, expert.owner_id, session=db.session):
            first = metering.record_expert_hours(plant.tenant_id, 1.5, "remote-session-1")
            db.session.commit()
        assert (first.quantity, first.tenant_id) == (90, plant.tenant_id)
        again = metering.record_expert_hours(plant.tenant_id, "1.5", "remote-session-1")
        assert again.id == first.id
        metering.record_expert_hours(plant.tenant_id, 0.25, "remote-session-2")
        db.session.commit()
        with pytest.raises(Conflict):
            metering.record_expert_hours(plant.tenant_id, 2, "remote-session-1")
        for hours, ref in ((0, "x"), (-1, "x"), ("soon", "x"), (float("nan"), "x"), (1, ""), (1, "r" * 201)):
            with pytest.raises(ValidationFailed):
                metering.record_expert_hours(plant.tenant_id, hours, ref)
        db.session.rollback()
        assert metering.count(plant.tenant_id, "expert_minutes") == 105
        assert metering.count(expert.tenant_id, "expert_minutes") == 0
    with owner_engine.connect() as conn:
        rows = conn.execute(text("select tenant_id, count(*) from billing_usage_events where tenant_id in (:a, :b) "
                                 "group by 1"), {"a": plant.tenant_id, "b": expert.tenant_id}).all()
    assert rows == [(plant.tenant_id, 2)]


def test_the_billing_pages_speak_chinese_too(tenant_factory, operator, make_client):
    from pathlib import Path

    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    catalogue = Path(__file__).parents[2] / "alloyhub/platform/billing/translations/zh_CN/LC_MESSAGES"
    po = read_po((catalogue / "messages.po").open("rb"), locale="zh_CN")
    assert [m.id for m in po if m.id and not m.string] == []
    assert {m.id: m.string for m in read_mo((catalogue / "messages.mo").open("rb")) if m.id} == {
        m.id: m.string for m in po if m.id}
    plant = tenant_factory()
    assert set_plan(operator, plant.tenant_id, "starter").status_code == 200
    chinese = {"Accept": "text/html", "Accept-Language": "zh-CN"}
    api = ApiClient(make_client()).sign_in(plant.owner_email)
    page = api.get("/billing", headers=chinese).get_data(as_text=True)
    assert "在运营方解除锁定之前" in page and "小时均值保留 730 天" in page
    assert "解除锁定，交由 Stripe" in operator.get("/operator/tenants", headers=chinese).get_data(as_text=True)
