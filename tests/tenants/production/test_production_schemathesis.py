"""The production API fuzzed (schemathesis) by a company whose plan includes
the room, with real work orders in it: whatever is sent, never a 5xx, and
every answer matches the documented schema. (The platform-wide run signs in
with a trial company, which the plan keeps out of this room: 403s only.)"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.factories import ApiClient
from tests.platform.test_schemathesis import CHECKS


@pytest.fixture
def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/production/"):
            found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_production_api_conforms_to_its_schema(shop, app, make_client, operations):
    line = shop.order_line()
    shop.publish(line)
    shop.receive("FZ-1", 5000.0)
    client = make_client()
    api = ApiClient(client).sign_in(shop.made.owner_email)
    credentials = {"headers": {"X-CSRFToken": api.token}, "cookies": {"session": client.get_cookie("session").value}}
    assert len(operations) >= 12
    failures, statuses = [], set()
    for label, operation in sorted(operations.items()):
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(**credentials)
            statuses.add(response.status_code)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every operation's failure, reported together
            failures.append(f"{label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert 200 in statuses and 403 not in statuses, statuses
