"""The demo plant's simulated agent, for `alloyhub up`.

The seed makes the agent and its configuration (the simulated cold-rolling
line of the agent distribution, tags named as the simulator names them);
`up` then enrols it with a fresh one-time token through the public
enrolment endpoint, exactly as a plant PC would (`alloyhub-agent enroll`),
and runs it. The catalogue is filled from the configuration, so the live
page shows the line's tags by their units at once.
"""
from __future__ import annotations

from sqlalchemy import select

from alloyhub.platform.db import db

from . import services
from .models import Agent

DEMO_AGENT_NAME = "Cold mill line 1 (simulated) 冷轧一线（模拟）"
DEMO_PLANT = "华东铝业 East China Aluminium"

# (tag, unit) as the agent's simulator reads them off its model of the line.
_LINE_TAGS = (
    ("speed", "m/min"), ("tension", "kN"), ("entry_gauge", "mm"), ("exit_gauge", "mm"),
    ("work_roll_temp", "degC"), ("bearing_temp", "degC"), ("motor_current", "A"), ("power_kw", "kW"),
    ("energy_kwh", "kWh"), ("furnace_temp", "degC"),
)


def demo_config(period_ms: int = 1000) -> dict:
    tags = [{"tag": f"line0.{name}", "address": f"0/{name}", "unit": unit, "period_ms": period_ms,
             "deadband": 0} for name, unit in _LINE_TAGS]
    return {"sources": [{"name": "sim", "kind": "simulator", "tags": tags}],
            # The demo lets a planner inject the simulator's faults from the cloud.
            "allow_write": ["sim.fault.bearing_drift", "sim.fault.gauge_deviation", "sim.fault.stoppage"]}


def demo_agent() -> Agent | None:
    return db.session.scalar(select(Agent).where(Agent.name == DEMO_AGENT_NAME))


def seed_demo(tenant, company, report) -> None:
    if company.name != DEMO_PLANT or demo_agent() is not None:
        return
    agent, _secret, _token = services.create_agent(name=DEMO_AGENT_NAME)
    services.set_config(agent, demo_config())
    report.created.append(f"agent {DEMO_AGENT_NAME} for {company.name}")


def enrolment_token() -> str | None:
    """A fresh one-time token for the demo agent (None when there is none or
    it was revoked). Needs the demo plant's scope."""
    agent = demo_agent()
    if agent is None or agent.status == "revoked":
        return None
    token, _ = services.regenerate_token(agent)
    db.session.commit()
    return token


def demo_plant_enrolment_token() -> str | None:
    """As the demo plant's owner: a fresh token for its simulated agent."""
    from alloyhub.platform import seed, tenancy
    from alloyhub.platform.identity import services as identity

    company = next(c for c in seed.COMPANIES if c.name == DEMO_PLANT)
    owner = identity.user_by_email(company.owner.email)
    tenant = next((t for t in identity.tenants_of(owner.id) if t.kind == company.kind), None) if owner else None
    if tenant is None:
        return None
    with tenancy.scoped(tenant.id, owner.id, session=db.session):
        return enrolment_token()
