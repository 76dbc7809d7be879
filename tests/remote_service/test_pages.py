"""The room's pages render for both sides, in English and Chinese, and the
forms drive the same services (open a request, grant, revoke, message)."""
from __future__ import annotations

import re

from tests.factories import csrf_token
from tests.remote_service.conftest import accepted_request, grant


def test_pages_for_the_plant_and_the_expert(world):
    w = world
    req_id = accepted_request(w)
    grant(w, req_id)
    plant, expert = w.plant.browser(), w.expert.browser()
    for client, urls in ((plant, ["/remote", "/remote/directory", f"/remote/directory/{w.profile_id}",
                                  "/remote/requests/new", f"/remote/requests/new?unit_id={w.cm1}",
                                  f"/remote/requests/new?alarm_id={w.alarm_id}", f"/remote/requests/{req_id}"]),
                         (expert, ["/remote", "/remote/profiles", f"/remote/profiles/{w.profile_id}",
                                   f"/remote/requests/{req_id}", f"/remote/requests/{req_id}/workspace"])):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
    page = plant.get(f"/remote/requests/{req_id}").get_data(as_text=True)
    assert 'data-testid="grant-row"' in page and 'data-testid="activity"' in page
    work = expert.get(f"/remote/requests/{req_id}/workspace").get_data(as_text=True)
    assert "line1.speed" in work and "line1.secret" not in work


def test_forms_open_grant_and_revoke(world):
    w = world
    plant = w.plant.browser()
    token = csrf_token(plant, "/remote/requests/new")
    opened = plant.post("/remote/requests/new", data={
        "csrf_token": token, "unit_id": str(w.cm1), "title": "Chatter on CM1", "symptoms": "Chatter marks",
        "tag": [f"{w.agent_id}|line1.speed"], "urgency": "normal", "audience": "invite",
        "profile_id": str(w.profile_id), "range_from": ["2024-01-01T00:00"], "range_to": ["2024-01-01T06:00"],
        "range_label": ["before"]})
    assert opened.status_code == 302
    req_id = re.search(r"/remote/requests/([0-9a-f-]{36})", opened.headers["Location"]).group(1)
    granted = plant.post(f"/remote/requests/{req_id}/grants", data={
        "csrf_token": token, "unit_id": str(w.cm1), "tag": f"{w.agent_id}|line1.speed", "hours": "4"})
    assert granted.status_code == 302
    page = plant.get(f"/remote/requests/{req_id}").get_data(as_text=True)
    grant_id = re.search(r"/grants/([0-9a-f-]{36})/revoke", page).group(1)
    assert plant.post(f"/remote/requests/{req_id}/grants/{grant_id}/revoke", data={"csrf_token": token}) \
        .status_code == 302
    assert 'data-state="revoked"' in plant.get(f"/remote/requests/{req_id}").get_data(as_text=True)
    assert plant.post(f"/remote/requests/{req_id}/messages", data={"csrf_token": token, "body": "Hello"}) \
        .status_code == 302
    assert "Hello" in plant.get(f"/remote/requests/{req_id}").get_data(as_text=True)


def test_pages_in_chinese(world):
    w = world
    plant = w.plant.browser()
    plant.post("/lang/zh_CN", data={"csrf_token": csrf_token(plant, "/remote")})
    page = plant.get("/remote").get_data(as_text=True)
    assert "远程专家" in page and "新建服务请求" in page
