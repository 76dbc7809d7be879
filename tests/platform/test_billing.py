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


def test_telemetry_points_are_counted_per_day_from_the_rollups(app, tenant_factory, owner_engine):
    import uuid
    from datetime import timedelta

    from alloyhub.platform.billing import usage as metering

    plant, other = tenant_factory(), tenant_factory()
    today = utcnow().date()
    with owner_engine.begin() as conn:
        has_table = conn.execute(text("select to_regclass('telemetry_rollup_hour') is not null")).scalar()
        if not has_table:
            pytest.skip("the telemetry room is not installed")
        rows = ((plant, today, 1, 100), (plant, today, 2, 50), (plant, today - timedelta(days=1), 3, 7),
                (other, today, 1, 999))
        for tenant, day, hour, n in rows:
            conn.execute(text(
                "insert into telemetry_rollup_hour (tenant_id, agent_id, tag, bucket, n, last_ts) "
                "values (:t, :a, 'mill.speed', (cast(:d as date) + make_interval(hours => :h)) at time zone 'UTC', "
                ":n, now())"), {"t": tenant.tenant_id, "a": uuid.uuid4(), "d": day, "h": hour, "n": n})
    with app.app_context(), tenancy.scoped(plant.tenant_id, plant.owner_id, session=db.session):
        assert metering.count(plant.tenant_id, "telemetry_points", today) == 150
        assert metering.count(plant.tenant_id, "telemetry_points", today - timedelta(days=1)) == 7


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
