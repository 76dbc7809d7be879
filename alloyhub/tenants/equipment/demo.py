"""Demo equipment for the demo plants (`alloyhub up`, `alloyhub seed`).

East China Aluminium runs an aluminium cold-rolling plant: a DC caster, a
hot mill, two cold mills, two annealing furnaces, a slitter and packing,
in four areas, on three-shift and two-shift calendars; its cold mill 1 is
linked to the simulated agent's speed tag, so its badge moves. Jiangnan
Copper draws wire: an up-cast rod caster, two drawing benches, a furnace
and packing. Everything goes through the services; what exists is left
alone, so seeding again changes nothing.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from alloyhub.platform.db import db, utcnow
from alloyhub.platform.identity.models import Site

from . import services
from .models import Area, Calendar, Downtime, Line, Unit, UnitTag

ALUMINIUM_PLANT = "华东铝业 East China Aluminium"
COPPER_PLANT = "江南铜材 Jiangnan Copper"

THREE_SHIFTS = [{"weekday": d, "start": start, "end": end, "name": name}
                for d in range(6) for start, end, name in (("00:00", "08:00", "Night 夜班"),
                                                           ("08:00", "16:00", "Day 白班"),
                                                           ("16:00", "00:00", "Evening 中班"))]
TWO_SHIFTS = [{"weekday": d, "start": start, "end": end, "name": name}
              for d in range(5)
              for start, end, name in (("06:00", "14:00", "Early 早班"), ("14:00", "22:00", "Late 晚班"))]

PLANTS = {
    ALUMINIUM_PLANT: {
        "calendars": {"3 shifts Mon-Sat 三班制": THREE_SHIFTS, "2 shifts Mon-Fri 两班制": TWO_SHIFTS},
        "areas": [
            ("CAST", "Casting shop 熔铸车间", [
                ("CST", "Casting line 熔铸线", "line", "3 shifts Mon-Sat 三班制", [
                    dict(code="DC1", name="DC caster 1 半连续铸造机", kind="caster", alloy_families=[
                        "1xxx", "3xxx", "5xxx", "8xxx"], max_width_mm=2000, max_gauge_mm=600)]),
            ]),
            ("HOT", "Hot rolling 热轧车间", [
                ("HRL", "Hot rolling line 热轧线", "line", "3 shifts Mon-Sat 三班制", [
                    dict(code="HM1", name="Hot mill 1 热轧机", kind="hot_mill", max_width_mm=2000, min_gauge_mm=2.5,
                         max_gauge_mm=600)]),
            ]),
            ("COLD", "Cold rolling hall 冷轧车间", [
                ("CRL", "Cold rolling 冷轧线", "line", "3 shifts Mon-Sat 三班制", [
                    dict(code="CM1", name="Cold mill 1 (4-high) 1号冷轧机", kind="cold_mill", min_width_mm=800,
                         max_width_mm=1700, min_gauge_mm=0.15, max_gauge_mm=8),
                    dict(code="CM2", name="Cold mill 2 (foil stock) 2号冷轧机", kind="cold_mill",
                         alloy_families=["1xxx", "3xxx", "8xxx"], min_width_mm=800, max_width_mm=1450,
                         min_gauge_mm=0.1, max_gauge_mm=7)]),
                ("ANN", "Annealing 退火工段", "work_centre", None, [
                    dict(code="AF1", name="Annealing furnace 1 1号退火炉", kind="annealing_furnace",
                         batch_capacity_t=60, batch_capacity_coils=4),
                    dict(code="AF2", name="Annealing furnace 2 2号退火炉", kind="annealing_furnace",
                         batch_capacity_t=40, batch_capacity_coils=3)]),
            ]),
            ("FIN", "Finishing 精整车间", [
                ("FNL", "Finishing line 精整线", "line", "2 shifts Mon-Fri 两班制", [
                    dict(code="SL1", name="Slitter 1 纵剪机", kind="slitter", max_width_mm=1700, min_gauge_mm=0.1,
                         max_gauge_mm=3),
                    dict(code="PK1", name="Packing 包装", kind="packing")]),
            ]),
        ],
        "tags": {"CM1": [("line0.speed", "speed", 5.0), ("line0.motor_current", "current", None)]},
        "downtime": {"CM1": (10, 8, "Work-roll change and bearing check 换辊及轴承检查")},
    },
    COPPER_PLANT: {
        "calendars": {"2 shifts Mon-Sat 两班制": [
            {"weekday": d, "start": s, "end": e, "name": None}
            for d in range(6) for s, e in (("07:00", "15:00"), ("15:00", "23:00"))]},
        "areas": [
            ("WIRE", "Wire shop 线材车间", [
                ("WDL", "Wire drawing line 拉丝线", "line", "2 shifts Mon-Sat 两班制", [
                    dict(code="UC1", name="Up-cast rod caster 上引连铸机", kind="caster",
                         alloy_families=["copper", "brass"], max_width_mm=20, max_gauge_mm=20),
                    dict(code="DB1", name="Drawing bench 1 1号拉丝机", kind="drawing_bench", min_gauge_mm=0.5,
                         max_gauge_mm=20, max_width_mm=20),
                    dict(code="DB2", name="Drawing bench 2 2号拉丝机", kind="drawing_bench", min_gauge_mm=1.0,
                         max_gauge_mm=20, max_width_mm=20),
                    dict(code="BF1", name="Bell furnace 罩式炉", kind="annealing_furnace", batch_capacity_t=12,
                         batch_capacity_coils=8),
                    dict(code="WP1", name="Packing 包装", kind="packing")]),
            ]),
        ],
        "tags": {},
        "downtime": {},
    },
}


def _main_site() -> Site | None:
    return db.session.scalar(select(Site).order_by(Site.created_at, Site.code).limit(1))


def seed_demo(tenant, company, report) -> None:
    plant = PLANTS.get(company.name)
    site = _main_site()
    if plant is None or site is None:
        return
    calendars = {}
    for name, shifts in plant["calendars"].items():
        calendar = db.session.scalar(select(Calendar).where(Calendar.name == name))
        if calendar is None:
            calendar = services.create_calendar(name=name, timezone=site.timezone, shifts=shifts)
            report.created.append(f"calendar {name} for {company.name}")
        calendars[name] = calendar
    for area_code, area_name, lines in plant["areas"]:
        area = db.session.scalar(select(Area).where(Area.code == area_code))
        if area is None:
            area = services.create_area(site_id=site.id, code=area_code, name=area_name)
        for line_code, line_name, kind, calendar_name, units in lines:
            line = db.session.scalar(select(Line).where(Line.code == line_code))
            if line is None:
                calendar = calendars.get(calendar_name)
                line = services.create_line(area_id=area.id, code=line_code, name=line_name, kind=kind,
                                            calendar_id=calendar.id if calendar else None)
            for fields in units:
                if db.session.scalar(select(Unit.id).where(Unit.code == fields["code"])) is None:
                    services.create_unit(line_id=line.id, **fields)
                    report.created.append(f"unit {fields['code']} for {company.name}")
    _seed_tags(plant, report, company)
    for code, (in_days, hours, reason) in plant["downtime"].items():
        unit = services.unit_by_code(code)
        if unit is not None and db.session.scalar(select(Downtime.id).where(Downtime.unit_id == unit.id)) is None:
            start = (utcnow() + timedelta(days=in_days)).replace(hour=0, minute=0, second=0, microsecond=0)
            services.create_downtime(unit_id=unit.id, starts_at=start, ends_at=start + timedelta(hours=hours),
                                     kind="maintenance", reason=reason)


def _seed_tags(plant: dict, report, company) -> None:
    from alloyhub.tenants.agents.models import Agent

    agent = db.session.scalar(select(Agent).where(Agent.status != "revoked").order_by(Agent.created_at).limit(1))
    if agent is None:
        return
    for code, links in plant["tags"].items():
        unit = services.unit_by_code(code)
        if unit is None:
            continue
        for tag, role, above in links:
            exists = db.session.scalar(select(UnitTag.id).where(UnitTag.unit_id == unit.id, UnitTag.tag == tag))
            if exists is None:
                services.add_unit_tag(unit, agent_id=agent.id, tag=tag, role=role, running_above=above)
                report.created.append(f"tag link {code} ← {tag} for {company.name}")
