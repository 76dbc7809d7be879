"""The demo data of `make up`: the demo plant's request to the demo expert
firm renders for both sides, in English and Chinese, with the link from the
unit's page, the firm's profiles in the directory and the workspace on the
granted tags."""
from __future__ import annotations

import re

from sqlalchemy import select

from alloyhub.platform import seed as demo
from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Tenant
from alloyhub.remote_service.demo import DEMO_FIRM, DEMO_PLANT
from alloyhub.remote_service.models import ServiceRequest
from tests.factories import csrf_token, sign_in


def _get(client, url):
    response = client.get(url, follow_redirects=True)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_the_demo_request_renders_for_the_plant_and_the_firm(app, make_client):
    with app.app_context():
        demo.seed("http://localhost")
        plant_owner = next(c for c in demo.COMPANIES if c.name == DEMO_PLANT).owner.email
        firm_owner = next(c for c in demo.COMPANIES if c.name == DEMO_FIRM).owner.email
        plant_id = db.session.scalar(select(Tenant.id).where(Tenant.name == DEMO_PLANT))
        with tenancy.scoped(plant_id, session=db.session):
            req = db.session.scalar(select(ServiceRequest).where(ServiceRequest.title.like("CM1 thickness%")))
        assert req is not None, "the demo seeder made no request"
        req_id, unit_id = req.id, req.unit_id

    plant = make_client()
    sign_in(plant, plant_owner, demo.DEMO_PASSWORD)
    firm = make_client()
    sign_in(firm, firm_owner, demo.DEMO_PASSWORD)
    for lang in ("en", "zh_CN"):
        for client in (plant, firm):
            client.post(f"/lang/{lang}", data={"csrf_token": csrf_token(client, "/remote")})
        overview = _get(plant, "/remote")
        assert str(req_id) in overview
        directory = _get(plant, "/remote/directory?q=Maria")
        assert "Maria Rossi" in directory and "Erik Larsen" not in directory
        page = _get(plant, f"/remote/requests/{req_id}")
        assert 'data-testid="grant-row" data-state="active"' in page
        unit_page = _get(plant, f"/equipment/units/{unit_id}")
        assert re.search(r'data-testid="remote-service-link"', unit_page)
        assert str(req_id) in _get(firm, "/remote")
        assert "Maria Rossi" in _get(firm, "/remote/profiles")
        expert_page = _get(firm, f"/remote/requests/{req_id}")
        assert 'data-testid="open-workspace"' in expert_page
        workspace = _get(firm, f"/remote/requests/{req_id}/workspace")
        assert 'data-testid="trend-chart"' in workspace and 'data-testid="no-access"' not in workspace
