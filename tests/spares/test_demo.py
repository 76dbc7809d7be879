"""The spare-parts demo data: the two demo plants in an alliance, stock in
each, shared as the demo says; seeding again adds nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from alloyhub.platform import seed, tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Tenant
from alloyhub.platform.sharing import services as sharing
from alloyhub.spares import demo, listings
from alloyhub.spares.models import SparePart


def test_demo_alliance_and_stock(app):
    with app.app_context():
        seed.seed("http://localhost")
        second = seed.seed("http://localhost")
        assert not [x for x in second.created if "spare" in x or "Alliance" in x]
        alliance = db.session.scalar(select(Tenant).where(Tenant.name == demo.ALLIANCE))
        copper = db.session.scalar(select(Tenant).where(Tenant.name == "江南铜材 Jiangnan Copper"))
        supplier = db.session.scalar(select(Tenant).where(Tenant.name == "Precision Bearings Supply"))
        assert alliance.kind == "alliance"
        with tenancy.scoped(copper.id, session=db.session):
            assert [a.id for a in sharing.alliances_of()] == [alliance.id]
            numbers = {x.part_number for x in db.session.scalars(listings.visible_listings())}
            assert {"22220 EK", "WR-1450-420", "NU 2220 ECP"} <= numbers  # alliance's and everyone's
            assert "OS-120-150-12" not in numbers  # not shared
        with tenancy.scoped(supplier.id, session=db.session):
            numbers = {x.part_number for x in db.session.scalars(listings.visible_listings())}
            assert "6205-2RS" in numbers and "WR-1450-420" not in numbers  # not in the alliance
        with tenancy.system_context(db.session):
            counts = dict(db.session.execute(select(SparePart.tenant_id, func.count()).group_by(SparePart.tenant_id)
                                             .where(SparePart.tenant_id.in_([copper.id, supplier.id]))).all())
        assert counts == {copper.id: 2, supplier.id: 2}
