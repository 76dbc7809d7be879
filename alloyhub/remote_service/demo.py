"""Demo data for `alloyhub up`: the expert firm's published profiles and,
at the demo aluminium plant, a service request on cold mill CM1 that
invites the firm's senior expert, with a 48-hour read-only grant on the
mill's linked tags. Idempotent: what exists is left alone.

The seeder runs once per demo company in that company's scope; the plant's
request is made when the firm is seeded (the firm comes after the plants),
in the plant's own scope, as its owner."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.db import db

from . import services
from .models import ExpertProfile, ServiceRequest

DEMO_FIRM = "Rolling Mill Diagnostics"
DEMO_PLANT = "华东铝业 East China Aluminium"
PROFILES = (
    dict(name="Maria Rossi", email="maria.rossi@rollingmill-diagnostics.example.com",
         headline="Cold and foil rolling: gauge control, chatter, bearings", languages=["en", "it", "zh"],
         equipment_types=["cold_mill", "foil_mill", "hot_mill"], processes=["cold_roll", "foil_roll"],
         brands=["SMS group", "Danieli", "Primetals"], hourly_rate=Decimal("900.00"),
         bio="20 years commissioning 4-high and 6-high mills; AGC tuning and vibration analysis."),
    dict(name="Erik Larsen", email="erik.larsen@rollingmill-diagnostics.example.com",
         headline="Annealing furnaces and drives", languages=["en", "de"],
         equipment_types=["annealing_furnace", "slitter"], processes=["anneal", "slit"],
         brands=["Ebner", "ABB", "Siemens"], hourly_rate=Decimal("650.00"),
         bio="Furnace atmosphere and temperature uniformity; drive and motor diagnostics."),
)


def seed_demo(tenant, company, report) -> None:
    if company.name != DEMO_FIRM:
        return
    from alloyhub.platform.identity import services as identity

    first = None
    for spec in PROFILES:
        spec = dict(spec)
        user = identity.user_by_email(spec.pop("email"))
        found = db.session.scalar(services.own_profiles_query().where(ExpertProfile.name == spec["name"]))
        if found is None:
            found = services.create_profile(**spec, user_id=user.id if user else None, published=True)
            report.created.append(f"expert profile {spec['name']}")
        first = first or found
    _plant_request(first, tenant, report)


def _plant_request(profile: ExpertProfile, firm, report) -> None:
    from alloyhub.platform import seed
    from alloyhub.platform.identity import services as identity
    from alloyhub.tenants.equipment.models import Unit

    company = next((c for c in seed.COMPANIES if c.name == DEMO_PLANT), None)
    owner = identity.user_by_email(company.owner.email) if company else None
    plant = next((t for t in identity.tenants_of(owner.id) if t.kind == "plant"), None) if owner else None
    if plant is None:
        return
    with tenancy.scoped(plant.id, owner.id, session=db.session):
        exists = db.session.scalar(select(ServiceRequest.id).where(ServiceRequest.tenant_id == plant.id).limit(1))
        unit = db.session.scalar(select(Unit).where(Unit.code == "CM1"))
        if exists is not None or unit is None:
            return
        req = services.create_request(
            unit_id=unit.id, title="CM1 thickness deviation after work-roll change 换辊后厚差超标",
            symptoms="Exit gauge oscillates ±8 µm at 2-3 Hz since the last work-roll change; motor current shows "
                     "the same period. 换辊后出口厚度以2-3Hz波动±8µm，主电机电流同频波动。",
            urgency="high", audience="invite", profile_id=profile.id)
        tags = services.unit_tag_pairs(unit.id)
        if tags:
            services.grant_access(req, unit_ids=[str(unit.id)], tags=tags, hours=48)
        report.created.append(f"remote service request at {company.name} for {firm.name}")
