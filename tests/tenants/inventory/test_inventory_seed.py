"""The demo stock: made through the services, idempotent."""
from __future__ import annotations

from sqlalchemy import select

from alloyhub.platform import seed as demo
from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Tenant
from alloyhub.tenants.inventory import demo as inventory_demo
from alloyhub.tenants.inventory import services


def test_demo_stock_with_a_slitting_genealogy(app):
    with app.app_context():
        demo.seed("http://localhost")
        second = demo.seed("http://localhost")
        assert not second.changed, second.created
        tenant = db.session.scalar(select(Tenant).where(Tenant.name == inventory_demo.ALUMINIUM_PLANT))
        with tenancy.scoped(tenant.id, session=db.session):
            heat = services.heat_by_number("H24-0317")
            coils = services.descendant_coils(heat.id)
            assert sorted(c["label"] for c in coils) == [
                "CR24-0317-1", "HR24-0317-1", "SL24-0317-1", "SL24-0317-2", "SL24-0317-3", "SL24-0317-4"]
            slit = services.coil_by_number("SL24-0317-2")
            route = [step["operation"] for step in services.ancestry("coil", slit.id)["route"]]
            assert route == ["hot roll", "cold roll", "slit"]
            assert slit.status == "available" and slit.location.label == "FG/A-02"
            fifo = services.fifo_suggestions(alloy="3003", temper="H14")
            assert [i["coil"].coil_no for i in fifo["items"]] == ["P3003-001", "P3003-002", "P3003-003"]
            yields = {row["key"]: row["yield_pct"] for row in services.yields()}
            assert set(yields) >= {"hot roll", "cold roll", "slit"}
        copper = db.session.scalar(select(Tenant).where(Tenant.name == inventory_demo.COPPER_PLANT))
        with tenancy.scoped(copper.id, session=db.session):
            assert sorted(c["label"] for c in services.descendant_coils(services.heat_by_number("CU24-118").id)) == [
                "RD24-118-1", "RD24-118-2"]
