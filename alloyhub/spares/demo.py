"""Demo data of the spare-parts room (for `alloyhub up` / `alloyhub seed`):
an alliance of the two demo plants (run by East China Aluminium's owner, who
can switch to it), the sites' regions and positions, and a small stock in
each company, some of it shared with the alliance or every subscriber.
Idempotent: a company that has spare parts already is left alone."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.db import db
from alloyhub.platform.identity import services as identity
from alloyhub.platform.identity.models import Site, Tenant, User
from alloyhub.platform.sharing import services as sharing
from alloyhub.platform.sharing.models import AllianceMember

from . import listings, stock
from .models import SparePart

ALLIANCE = "长三角有色备件联盟 Yangtze Delta Spares Alliance"
ALLIANCE_FOUNDER = "华东铝业 East China Aluminium"
MEMBERS = ("华东铝业 East China Aluminium", "江南铜材 Jiangnan Copper")

# Site code -> (region, latitude, longitude)
PLACES = {
    "WX": ("Jiangsu 江苏", 31.57, 120.30), "CZ": ("Jiangsu 江苏", 31.78, 119.95),
    "SZ": ("Jiangsu 江苏", 31.30, 120.62), "NB": ("Zhejiang 浙江", 29.87, 121.84), "SH": ("Shanghai 上海", 31.23, 121.50),
}

# company -> [(part fields, quantity, sharing, terms)]
STOCK = {
    "华东铝业 East China Aluminium": [
        (dict(part_number="6205-2RS", manufacturer="SKF", description="Deep groove ball bearing 深沟球轴承 25×52×15",
              category="Bearings", equipment_models=["CM-1450"], dimensions="25×52×15 mm", location="Store A / 3-2",
              min_stock=4, unit_price=Decimal("85.00")), 10, "subscribers", {"sale_price": Decimal("120.00")}),
        (dict(part_number="22220 EK", manufacturer="FAG", description="Spherical roller bearing 调心滚子轴承",
              category="Bearings", equipment_models=["CM-1450", "Slitter S2"], location="Store A / 5-1", min_stock=2,
              unit_price=Decimal("1850.00")), 3, "alliances",
         {"exchange_fee": Decimal("900.00"), "core_return_days": 21, "loan_daily_fee": Decimal("60.00"),
          "loan_max_days": 30}),
        (dict(part_number="WR-1450-420", manufacturer="Sinosteel Xingtai", category="Work rolls",
              description="Work roll 工作辊 Ø420×1450, HSS", equipment_models=["CM-1450"], location="Roll shop",
              min_stock=2, unit_price=Decimal("68000.00"), condition="refurbished"), 2, "alliances",
         {"price_on_request": True}),
        (dict(part_number="OS-120-150-12", manufacturer="NOK", description="Oil seal 油封 120×150×12",
              category="Seals", location="Store B / 1-4", min_stock=6), 2, None, None),
    ],
    "江南铜材 Jiangnan Copper": [
        (dict(part_number="6205 2RS", manufacturer="SKF", description="Deep groove ball bearing 深沟球轴承",
              category="Bearings", equipment_models=["DW-450"], location="Spares room", min_stock=2), 6,
         "alliances", {"sale_price": Decimal("110.00")}),
        (dict(part_number="DIE-8.0-PCD", manufacturer="Fort Wayne", description="Drawing die 拉丝模 PCD Ø8.0",
              category="Dies", equipment_models=["DW-450"], location="Die cabinet", min_stock=4), 5,
         "subscribers", {"sale_price": Decimal("2600.00"), "loan_daily_fee": Decimal("45.00"), "loan_max_days": 14}),
    ],
    "Precision Bearings Supply": [
        (dict(part_number="NU 2220 ECP", manufacturer="SKF", description="Cylindrical roller bearing 圆柱滚子轴承",
              category="Bearings", location="Ningbo warehouse"), 12, "subscribers", {"sale_price": Decimal("2350.00")}),
        (dict(part_number="6205-2RSH", manufacturer="SKF", description="Deep groove ball bearing, contact seals",
              category="Bearings", location="Ningbo warehouse"), 40, "subscribers", {"sale_price": Decimal("96.00")}),
    ],
}


def _alliance(owner_id) -> Tenant:
    alliance = db.session.scalar(select(Tenant).where(Tenant.name == ALLIANCE))
    if alliance is None:
        owner = db.session.get(User, owner_id)
        alliance = identity.create_tenant(ALLIANCE, "alliance", "Secretariat 秘书处", owner)
        db.session.commit()
    return alliance


def _join(tenant: Tenant, owner_id, alliance: Tenant, report) -> None:
    with tenancy.system_context(db.session):
        row = db.session.scalar(select(AllianceMember).where(AllianceMember.tenant_id == alliance.id,
                                                             AllianceMember.member_tenant_id == tenant.id))
        state = row.state if row else None
    if state == "active":
        return
    if state != "invited":
        with tenancy.scoped(alliance.id, owner_id, session=db.session):
            row = sharing.invite_member(tenant.slug)
    with tenancy.scoped(tenant.id, owner_id, session=db.session):
        sharing.respond(sharing.get_membership(row.id), True)
    report.created.append(f"{tenant.name} in {ALLIANCE}")


def seed_demo(tenant, company, report) -> None:
    owner_id = tenancy.current().user_id
    if company.name in MEMBERS:
        founder = db.session.scalar(select(Tenant).where(Tenant.name == ALLIANCE_FOUNDER))
        founder_owner = identity.user_by_email(next(c.owner.email for c in _companies() if c.name == ALLIANCE_FOUNDER))
        if founder is not None and founder_owner is not None:
            alliance = _alliance(founder_owner.id)
            _join(tenant, founder_owner.id if tenant.id == founder.id else owner_id, alliance, report)
    with tenancy.scoped(tenant.id, owner_id, session=db.session):
        for site in db.session.scalars(select(Site)):
            if site.code in PLACES and site.latitude is None:
                region, lat, lon = PLACES[site.code]
                stock.set_site_location(site, region=region, latitude=lat, longitude=lon)
        if company.name not in STOCK or db.session.scalar(select(SparePart.id).limit(1)) is not None:
            return
        for fields, quantity, share, terms in STOCK[company.name]:
            part = stock.create_part(quantity=quantity, **fields)
            if share and (share != "alliances" or sharing.alliances_of()):
                listings.set_listing(part, visibility=share, shared_quantity=max(1, quantity // 2), **terms)
        report.created.append(f"spare parts of {company.name}")


def _companies():
    from alloyhub.platform.seed import COMPANIES

    return COMPANIES
