"""Property-based run (schemathesis, as tests/platform/test_schemathesis.py)
over the spare-parts and sharing operations, signed in as a company whose
plan includes the spares module, so the calls reach the services: never a
5xx, and every answer matches the documented schema."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from tests.factories import ApiClient, TenantFactory
from tests.spares.conftest import give_plan

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 8
OURS = ("/api/v1/spare", "/api/v1/spares", "/api/v1/share", "/api/v1/alliance")


@pytest.fixture(scope="module")
def credentials(app):
    saved = {k: app.config[k] for k in ("RATE_LIMIT_PER_TENANT", "RATE_LIMIT_PER_TOKEN")}
    app.config.update(RATE_LIMIT_PER_TENANT="100000 per minute", RATE_LIMIT_PER_TOKEN="100000 per minute")
    made = TenantFactory(app)()
    give_plan(app, made.tenant_id)
    client = app.test_client()
    api = ApiClient(client).sign_in(made.owner_email)
    yield {"headers": {"X-CSRFToken": api.token}, "cookies": {"session": client.get_cookie("session").value}}
    app.config.update(saved)


def test_spares_and_sharing_operations_conform(app, credentials):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    ours = [op for op in operations if op.path.startswith(OURS)]
    assert len(ours) >= 30
    failures, statuses = [], set()
    for operation in ours:
        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(**credentials)
            statuses.add(response.status_code)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert {200, 201} <= statuses, statuses
