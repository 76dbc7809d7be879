"""The demo plant's schedule for `make up`: one version solved in a few
seconds over the demo orders and, when the production room is installed,
published (work orders released). Idempotent: a company that has any
schedule version is left alone."""
from __future__ import annotations

from sqlalchemy import select

from alloyhub.platform.billing import services as billing
from alloyhub.platform.db import db
from alloyhub.tenants.equipment.demo import ALUMINIUM_PLANT

from . import services
from .models import SOLVED, ScheduleVersion

DEMO_TIME_LIMIT = 3


def seed_demo(tenant, company, report) -> None:
    if company.name != ALUMINIUM_PLANT:
        return
    if db.session.scalar(select(ScheduleVersion.id).limit(1)) is not None:
        return
    if not _has_module(tenant):
        return
    try:
        version = services.create_version(name="Demo plan 演示排程", objective="mix",
                                          weights={"weighted_tardiness": 10, "total_setup": 1},
                                          time_limit=DEMO_TIME_LIMIT, enqueue=False)
    except services.Unschedulable as exc:
        report.created.append(f"no demo schedule for {company.name}: {exc.detail}")
        return
    version = services.solve(version.id)
    if version.status != SOLVED:
        report.created.append(f"demo schedule for {company.name} failed: {version.failure}")
        return
    report.created.append(f"schedule version {version.number} for {company.name}")
    if services.can_publish():
        services.publish(version)
        report.created.append(f"schedule version {version.number} published for {company.name}")


def _has_module(tenant) -> bool:
    return billing.state(tenant.id).plan.includes("scheduling")
