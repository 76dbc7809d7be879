"""The equipment unit page and an alarm's page link to a new service request,
only when the company's plan includes the room and the person may open
requests; the link lands on the request form for that unit or alarm."""
from __future__ import annotations

import re

from tests.factories import csrf_token, sign_in
from tests.remote_service.conftest import _give_plan

LINK = re.compile(r'<a class="button[^"]*" href="([^"]+)" data-testid="remote-service-link">([^<]+)</a>')


def _links(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return LINK.findall(response.get_data(as_text=True))


def test_links_from_the_unit_and_the_alarm(world):
    w = world
    plant = w.plant.browser()
    unit_links = _links(plant, f"/equipment/units/{w.cm1}")
    assert unit_links == [(f"/remote/requests/new?unit_id={w.cm1}", "Ask a remote expert")]
    alarm_links = _links(plant, f"/alarms/{w.alarm_id}")
    assert alarm_links == [(f"/remote/requests/new?alarm_id={w.alarm_id}", "Ask a remote expert")]
    # Each lands on the form for its unit (the alarm's through its tag's unit).
    for href, _label in unit_links + alarm_links:
        form = plant.get(href).get_data(as_text=True)
        assert 'data-testid="request-form"' in form and f'name="unit_id" value="{w.cm1}"' in form
    assert f'name="alarm_id" value="{w.alarm_id}"' in plant.get(alarm_links[0][0]).get_data(as_text=True)
    # In Chinese too.
    plant.post("/lang/zh_CN", data={"csrf_token": csrf_token(plant, "/remote")})
    assert [label for _href, label in _links(plant, f"/alarms/{w.alarm_id}")] == ["请远程专家诊断"]


def test_no_link_without_the_permission(world, tenant_factory, make_client):
    w = world
    viewer = make_client()
    sign_in(viewer, tenant_factory.add_member(w.plant.made, "viewer"))
    assert _links(viewer, f"/equipment/units/{w.cm1}") == []
    assert _links(viewer, f"/alarms/{w.alarm_id}") == []
    assert viewer.get(f"/remote/requests/new?unit_id={w.cm1}").status_code == 403
    # maintenance engineers open requests: they see it
    engineer = make_client()
    sign_in(engineer, tenant_factory.add_member(w.plant.made, "maintenance"))
    assert len(_links(engineer, f"/alarms/{w.alarm_id}")) == 1


def test_no_link_when_the_plan_lacks_the_room(app, world):
    w = world
    _give_plan(app, w.plant.id, "starter")  # telemetry and alarms, no remote experts
    plant = w.plant.browser()
    assert _links(plant, f"/alarms/{w.alarm_id}") == []
    assert plant.get(f"/remote/requests/new?alarm_id={w.alarm_id}").status_code == 403
