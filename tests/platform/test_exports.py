import csv
import io

from tests.factories import ApiClient


def _rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_members_export_is_csv_of_own_tenant_and_audited(tenant_factory, make_client):
    mine, other = tenant_factory(), tenant_factory()
    tenant_factory.add_member(mine, "planner", email="planner-export@example.com")
    api = ApiClient(make_client()).sign_in(mine.owner_email)
    response = api.get("/api/v1/exports/members.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = _rows(response)
    assert rows[0][:3] == ["name", "email", "roles"]
    emails = sorted(r[1] for r in rows[1:])
    assert emails == sorted([mine.owner_email, "planner-export@example.com"])
    assert other.owner_email not in response.get_data(as_text=True)
    log = api.get("/api/v1/audit?action=data.exported").get_json()["items"]
    assert log and log[0]["target_id"] == "members" and log[0]["details"]["rows"] == 2


def test_audit_export_needs_permission(tenant_factory, make_client):
    mine = tenant_factory()
    viewer = tenant_factory.add_member(mine, "viewer")
    api = ApiClient(make_client()).sign_in(viewer)
    response = api.get("/api/v1/exports/audit.csv")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    owner = ApiClient(make_client()).sign_in(mine.owner_email)
    rows = _rows(owner.get("/api/v1/exports/audit.csv?action=auth."))
    assert rows[0][1] == "action"
    assert {r[1] for r in rows[1:]} <= {"auth.sign_in", "auth.sign_in_failed"} and len(rows) > 1
