"""Property-based run over /api/openapi.json (schemathesis): whatever a
signed-in client sends, the API never answers 5xx and every answer matches
the documented schema (status code, content type, body).

schemathesis' lazy pytest loader does not work with pytest 9, so each
operation's hypothesis strategy is driven here directly, one pytest case per
operation."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from tests.factories import ApiClient, TenantFactory
from tests.platform.test_cross_tenant_probe import bearer_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 10


@pytest.fixture(scope="module")
def signed_in(app):
    """Credentials of two owners: a session cookie with its CSRF header, and a
    bearer token (when the OAuth room provides them).
    Rate limits are lifted for the run so that 429s do not hide anything."""
    saved = {k: app.config[k] for k in ("RATE_LIMIT_PER_TENANT", "RATE_LIMIT_PER_TOKEN", "RATE_LIMIT_FROM_PLAN")}
    app.config.update(RATE_LIMIT_PER_TENANT="100000 per minute", RATE_LIMIT_PER_TOKEN="100000 per minute",
                      RATE_LIMIT_FROM_PLAN=False)  # the plans' API rates too
    made = TenantFactory(app)()
    client = app.test_client()
    api = ApiClient(client).sign_in(made.owner_email)
    cookie = client.get_cookie("session")
    found = {"session": {"headers": {"X-CSRFToken": api.token}, "cookies": {"session": cookie.value}}}
    token = bearer_token(app, TenantFactory(app)())
    if token is not None:
        found["bearer"] = {"headers": {"Authorization": f"Bearer {token}"}}
    yield found
    app.config.update(saved)


@pytest.fixture(scope="module")
def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_schema_lists_the_api(operations):
    assert "GET /api/v1/sites" in operations and "PATCH /api/v1/sites/{site_id}" in operations


@pytest.mark.parametrize("via", ["session", "bearer"])
def test_api_conforms_to_its_schema(operations, signed_in, via):
    assert via in signed_in, "the OAuth room issued no bearer token"
    credentials = signed_in[via]
    failures, statuses = [], set()
    for label, operation in sorted(operations.items()):
        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(**credentials)
            statuses.add(response.status_code)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, report together
            failures.append(f"{label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # The run really was signed in and reached the services, not only the error paths.
    assert {200, 201} <= statuses, statuses
