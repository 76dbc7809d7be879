"""The demo schedule for `make up`: the demo aluminium plant gets one solved
version over its demo orders, published when the production room is there;
seeding again changes nothing."""
from __future__ import annotations

from sqlalchemy import select

from alloyhub.platform import seed as demo
from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Tenant
from alloyhub.tenants.equipment.demo import ALUMINIUM_PLANT, COPPER_PLANT
from alloyhub.tenants.scheduling import services
from alloyhub.tenants.scheduling.models import ScheduleVersion


def test_demo_plant_gets_a_published_schedule_once(app):
    with app.app_context():
        demo.seed("http://localhost")
        second = demo.seed("http://localhost")
        assert not [c for c in second.created if "schedule" in c], second.created
        tenant = db.session.scalar(select(Tenant).where(Tenant.name == ALUMINIUM_PLANT))
        with tenancy.scoped(tenant.id, session=db.session):
            versions = list(db.session.scalars(select(ScheduleVersion)))
            assert len(versions) == 1
            version = versions[0]
            assert version.status == ("published" if services.can_publish() else "solved")
            assert version.kpis["lines"] >= 5 and len(version.operations) >= 20
            assert {op.frozen for op in version.operations} == {False}
        copper = db.session.scalar(select(Tenant).where(Tenant.name == COPPER_PLANT))
        with tenancy.scoped(copper.id, session=db.session):     # Starter: no scheduling module
            assert db.session.scalar(select(ScheduleVersion.id)) is None
