"""Rate limits per token (or signed-in person) and per tenant, counted in
Redis: over the limit the API answers 429 problem+json with Retry-After, and
other callers are not affected."""
from __future__ import annotations

import uuid

import pytest

from tests.factories import ApiClient, TenantFactory


def _app_with_limits(app, *, per_token: str, per_tenant: str):
    """A dedicated app on the same services, with small limits."""
    from alloyhub import create_app

    keep = ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "MQTT_URL", "SECRET_KEY", "BASE_URL")
    return create_app({
        **{k: app.config[k] for k in keep},
        "TESTING": True,
        "RATE_LIMIT_PER_TOKEN": per_token,
        "RATE_LIMIT_PER_TENANT": per_tenant,
        "RATELIMIT_KEY_PREFIX": f"test-rl-{uuid.uuid4().hex[:8]}",
    })


@pytest.fixture(scope="module")
def token_limited(app):
    return _app_with_limits(app, per_token="3 per minute", per_tenant="1000 per minute")


@pytest.fixture(scope="module")
def tenant_limited(app):
    return _app_with_limits(app, per_token="1000 per minute", per_tenant="4 per minute")


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


def test_tenant_limit_is_shared_by_its_members(tenant_limited):
    factory = TenantFactory(tenant_limited)
    a, b = factory(), factory()
    colleague = factory.add_member(a, "viewer")
    alice = _signed_in(tenant_limited, a.owner_email)
    carol = _signed_in(tenant_limited, colleague)
    for caller in (alice, carol, alice, carol):
        assert caller.get("/api/v1/sites").status_code == 200
    # Neither has used more than 2 of a generous personal budget, but the company has used its 4.
    assert_rate_limited(carol.get("/api/v1/sites"))
    assert_rate_limited(alice.get("/api/v1/sites"))
    bob = _signed_in(tenant_limited, b.owner_email)
    assert bob.get("/api/v1/sites").status_code == 200
