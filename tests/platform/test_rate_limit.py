"""Rate limits per token (or signed-in person) and per tenant, counted in
Redis: over the limit the API answers 429 problem+json with Retry-After, and
other callers are not affected. The per-tenant limit is the company's plan's
`api_rate_per_minute`; RATE_LIMIT_PER_TENANT when the plan states none."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from alloyhub.platform.billing import plans, services
from tests.factories import ApiClient, TenantFactory


def _app_with_limits(app, *, per_token: str, per_tenant: str, **extra):
    """A dedicated app on the same services, with small limits."""
    from alloyhub import create_app

    keep = ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "MQTT_URL", "SECRET_KEY", "BASE_URL")
    return create_app({
        **{k: app.config[k] for k in keep},
        "TESTING": True,
        "RATE_LIMIT_PER_TOKEN": per_token,
        "RATE_LIMIT_PER_TENANT": per_tenant,
        "RATELIMIT_KEY_PREFIX": f"test-rl-{uuid.uuid4().hex[:8]}",
        **extra,
    })


@pytest.fixture(scope="module")
def token_limited(app):
    return _app_with_limits(app, per_token="3 per minute", per_tenant="1000 per minute")


@pytest.fixture(scope="module")
def tenant_limited(app):
    return _app_with_limits(app, per_token="1000 per minute", per_tenant="4 per minute")


@pytest.fixture(scope="module")
def plan_limited(app):
    """Generous configured limits: only the plans limit here."""
    return _app_with_limits(app, per_token="1000 per minute", per_tenant="1000 per minute")


@pytest.fixture
def plan_with_rate(monkeypatch):
    """A plan like Starter with its own API rate, in the catalogue for one test."""
    def make(per_minute):
        base = plans.PLANS["starter"]
        key = f"api{per_minute}_{uuid.uuid4().hex[:6]}"
        plan = dataclasses.replace(base, key=key, name=f"API {per_minute}",
                                   limits={**base.limits, "api_rate_per_minute": per_minute})
        monkeypatch.setitem(plans.PLANS, key, plan)
        return key

    return make


def put_on_plan(limited_app, tenant_id, plan_key) -> None:
    with limited_app.app_context():
        services.override_plan(tenant_id, plan_key, reason="rate-limit test")


def _signed_in(limited_app, email) -> ApiClient:
    return ApiClient(limited_app.test_client()).sign_in(email)


def assert_rate_limited(response):
    assert response.status_code == 429, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 429 and body["type"].endswith("/rate-limited")
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and int(retry_after) >= 0


def test_fourth_call_in_the_window_is_429(token_limited):
    factory = TenantFactory(token_limited)
    a, b = factory(), factory()
    alice = _signed_in(token_limited, a.owner_email)
    for _ in range(3):
        assert alice.get("/api/v1/sites").status_code == 200
    assert_rate_limited(alice.get("/api/v1/sites"))
    # Every endpoint shares the caller's budget, writes included, and nothing is written.
    assert_rate_limited(alice.post("/api/v1/sites", json={"name": "Hot mill", "code": "HM"}))
    # Another company is not affected.
    bob = _signed_in(token_limited, b.owner_email)
    assert bob.get("/api/v1/sites").status_code == 200
    # Pages are not counted against the API budget.
    assert alice.get("/").status_code == 200


def test_each_person_has_their_own_token_budget(token_limited):
    factory = TenantFactory(token_limited)
    a = factory()
    colleague = factory.add_member(a, "viewer")
    alice = _signed_in(token_limited, a.owner_email)
    carol = _signed_in(token_limited, colleague)
    for _ in range(3):
        assert alice.get("/api/v1/sites").status_code == 200
    assert_rate_limited(alice.get("/api/v1/sites"))
    assert carol.get("/api/v1/sites").status_code == 200


def test_tenant_limit_is_shared_by_its_members(plan_limited, plan_with_rate):
    factory = TenantFactory(plan_limited)
    a, b = factory(), factory()
    put_on_plan(plan_limited, a.tenant_id, plan_with_rate(4))
    colleague = factory.add_member(a, "viewer")
    alice = _signed_in(plan_limited, a.owner_email)
    carol = _signed_in(plan_limited, colleague)
    for caller in (alice, carol, alice, carol):
        assert caller.get("/api/v1/sites").status_code == 200
    # Neither has used more than 2 of a generous personal budget, but the company has used its 4.
    assert_rate_limited(carol.get("/api/v1/sites"))
    assert_rate_limited(alice.get("/api/v1/sites"))
    bob = _signed_in(plan_limited, b.owner_email)
    assert bob.get("/api/v1/sites").status_code == 200


def test_the_plan_sets_the_company_api_rate(plan_limited, plan_with_rate):
    factory = TenantFactory(plan_limited)
    small, big = factory(), factory()
    put_on_plan(plan_limited, small.tenant_id, plan_with_rate(3))
    put_on_plan(plan_limited, big.tenant_id, plan_with_rate(12))
    alice = _signed_in(plan_limited, small.owner_email)
    bob = _signed_in(plan_limited, big.owner_email)
    for _ in range(3):
        assert alice.get("/api/v1/sites").status_code == 200
    limited = alice.get("/api/v1/sites")
    assert_rate_limited(limited)
    assert limited.headers["X-RateLimit-Limit"] == "3"
    for _ in range(8):  # past the small plan's 3, within the big plan's 12
        response = bob.get("/api/v1/sites")
        assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "12"
    # A bigger plan takes effect at once.
    put_on_plan(plan_limited, small.tenant_id, plan_with_rate(10))
    assert alice.get("/api/v1/sites").status_code == 200


def test_a_plan_without_an_api_rate_falls_back_to_the_configured_limit(tenant_limited, plan_with_rate):
    factory = TenantFactory(tenant_limited)
    a = factory()
    put_on_plan(tenant_limited, a.tenant_id, plan_with_rate(None))
    alice = _signed_in(tenant_limited, a.owner_email)
    for _ in range(4):  # RATE_LIMIT_PER_TENANT of this app: 4 per minute
        assert alice.get("/api/v1/sites").status_code == 200
    assert_rate_limited(alice.get("/api/v1/sites"))


def test_the_configured_limit_holds_for_everyone_when_plans_are_not_used(app, plan_with_rate):
    configured = _app_with_limits(app, per_token="1000 per minute", per_tenant="4 per minute",
                                  RATE_LIMIT_FROM_PLAN=False)
    factory = TenantFactory(configured)
    a = factory()
    put_on_plan(configured, a.tenant_id, plan_with_rate(1000))
    alice = _signed_in(configured, a.owner_email)
    for _ in range(4):
        assert alice.get("/api/v1/sites").status_code == 200
    assert_rate_limited(alice.get("/api/v1/sites"))


def test_the_real_plans_state_their_api_rates(plan_limited):
    """Every plan a company can hold says how many calls it may make."""
    factory = TenantFactory(plan_limited)
    plant, supplier = factory("plant"), factory("supplier")
    for made, plan in ((plant, "trial"), (supplier, "partner")):
        response = _signed_in(plan_limited, made.owner_email).get("/api/v1/sites")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == str(plans.PLANS[plan].limit("api_rate_per_minute"))
