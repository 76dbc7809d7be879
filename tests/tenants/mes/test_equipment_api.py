"""The equipment API: the hierarchy, capabilities, calendars and working time,
downtime, tag links, live state; bad input answers 4xx and changes nothing."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from alloyhub.platform import tenancy
from alloyhub.platform.db import db, utcnow
from alloyhub.tenants.agents.models import Agent
from alloyhub.tenants.equipment import services as equipment
from tests.factories import ApiClient

PROBLEM = "application/problem+json"


def test_hierarchy_through_the_api(plant, owner):
    tree = owner.get("/api/v1/equipment/tree").get_json()
    (site,) = [s for s in tree["sites"] if s["areas"]]
    assert site["areas"][0]["code"] == "COLD"
    assert [u["code"] for u in site["areas"][0]["lines"][0]["units"]] == ["AF1", "CM1", "PK1", "SL1"]

    area = owner.post("/api/v1/equipment/areas", json={"site_id": str(plant.site_id), "code": "fin",
                                                       "name": "Finishing"})
    assert area.status_code == 201 and area.get_json()["code"] == "FIN"
    line = owner.post("/api/v1/equipment/lines", json={"area_id": area.get_json()["id"], "code": "FNL",
                                                       "name": "Finishing line", "kind": "work_centre"})
    assert line.status_code == 201
    unit = owner.post("/api/v1/equipment/units", json={"line_id": line.get_json()["id"], "code": "SL2",
                                                       "name": "Slitter 2", "kind": "slitter", "max_width_mm": 1500})
    assert unit.status_code == 201
    body = unit.get_json()
    assert body["processes"] == ["slit"]  # from its kind
    assert owner.get("/api/v1/equipment/units?process=slit").get_json()["items"][0]["code"] in ("SL1", "SL2")
    assert {u["code"] for u in owner.get("/api/v1/equipment/units?kind=slitter").get_json()["items"]} == {"SL1",
                                                                                                          "SL2"}
    # Codes are unique in the company.
    again = owner.post("/api/v1/equipment/units", json={"line_id": line.get_json()["id"], "code": "sl2",
                                                        "name": "Dup", "kind": "slitter"})
    assert again.status_code == 422 and "code" in again.get_json()["errors"]
    # An area with lines cannot go; an empty one can.
    assert owner.delete(f"/api/v1/equipment/areas/{area.get_json()['id']}").status_code == 409
    assert owner.delete(f"/api/v1/equipment/units/{body['id']}").status_code == 204
    assert owner.delete(f"/api/v1/equipment/lines/{line.get_json()['id']}").status_code == 204
    assert owner.delete(f"/api/v1/equipment/areas/{area.get_json()['id']}").status_code == 204


def test_capabilities_and_etag(plant, owner):
    url = f"/api/v1/equipment/units/{plant.units['SL1']}"
    got = owner.get(url)
    etag = got.headers["ETag"]
    assert owner.patch(url, json={"min_width_mm": 100}).status_code == 428
    assert owner.patch(url, json={"min_width_mm": 100}, headers={"If-Match": '"stale"'}).status_code == 412
    changed = owner.patch(url, json={"min_width_mm": 100, "alloy_families": ["3xxx", "5xxx"]},
                          headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["alloy_families"] == ["3xxx", "5xxx"]
    assert owner.patch(url, json={"name": "x"}, headers={"If-Match": etag}).status_code == 412  # the old ETag
    bad = owner.patch(url, json={"min_width_mm": 2000, "max_width_mm": 1500},
                      headers={"If-Match": changed.headers["ETag"]})
    assert bad.status_code == 422 and "max_width_mm" in bad.get_json()["errors"]


def test_a_furnace_needs_its_load_capacity(plant, owner):
    bad = owner.post("/api/v1/equipment/units", json={"line_id": str(plant.line_id), "code": "AF9", "name": "F",
                                                      "kind": "annealing_furnace"})
    assert bad.status_code == 422 and "batch_capacity_t" in bad.get_json()["errors"]
    good = owner.post("/api/v1/equipment/units", json={"line_id": str(plant.line_id), "code": "AF9", "name": "F",
                                                       "kind": "annealing_furnace", "batch_capacity_coils": 3})
    assert good.status_code == 201


def test_capability_change_that_breaks_a_routing_is_refused(plant, owner, snapshot):
    """CM1 rolls P1 (1000 mm wide): narrowing it to 900 mm would make P1 impossible."""
    url = f"/api/v1/equipment/units/{plant.units['CM1']}"
    before = snapshot(plant.made.tenant_id)
    response = owner.patch(url, json={"max_width_mm": 900}, headers={"If-Match": owner.get(url).headers["ETag"]})
    assert response.status_code == 422 and response.mimetype == PROBLEM
    (message,) = response.get_json()["errors"]["__all__"]
    assert "P1" in message and "CM1" in message and "900" in message
    assert owner.get(url).get_json()["max_width_mm"] == 1700
    retire = owner.patch(url, json={"status": "retired"}, headers={"If-Match": owner.get(url).headers["ETag"]})
    assert retire.status_code == 422 and "retired" in retire.get_json()["errors"]["__all__"][0]
    assert owner.delete(url).status_code == 409  # in a routing
    assert snapshot(plant.made.tenant_id) == before


def test_calendar_shifts_and_working_time(plant, owner):
    calendar = owner.post("/api/v1/equipment/calendars", json={
        "name": "Two shifts", "timezone": "Asia/Shanghai",
        "shifts": [{"weekday": d, "start": "06:00", "end": "14:00"} for d in range(5)]
        + [{"weekday": d, "start": "22:00", "end": "06:00", "name": "Night"} for d in range(5)]})
    assert calendar.status_code == 201, calendar.get_json()
    body = calendar.get_json()
    assert body["weekly_hours"] == 80
    night = [s for s in body["shifts"] if s["name"] == "Night"][0]
    assert night["start"] == "22:00" and night["end"] == "06:00" and night["duration_minutes"] == 480
    unit_url = f"/api/v1/equipment/units/{plant.units['CM1']}"
    owner.patch(unit_url, json={"calendar_id": body["id"]}, headers={"If-Match": owner.get(unit_url).headers["ETag"]})
    # Monday 2031-01-06 00:00 Shanghai = Sunday 16:00 UTC; the day has 06-14 and 22-24 local (10 h).
    start = "2031-01-05T16:00:00Z"
    got = owner.get(f"{unit_url}/availability?from={start}&to=2031-01-06T16:00:00Z").get_json()
    assert got["hours"] == 10
    assert got["intervals"][0] == {"start": "2031-01-05T22:00:00+00:00", "end": "2031-01-06T06:00:00+00:00"}
    # Planned downtime takes working time away.
    down = owner.post(f"{unit_url}/downtimes", json={"starts_at": "2031-01-05T23:00:00Z",
                                                     "ends_at": "2031-01-06T01:00:00Z", "reason": "Roll change"})
    assert down.status_code == 201
    assert owner.get(f"{unit_url}/availability?from={start}&to=2031-01-06T16:00:00Z").get_json()["hours"] == 8
    listed = owner.get(f"/api/v1/equipment/downtimes?unit_id={plant.units['CM1']}&from=2031-01-01T00:00:00Z")
    assert [d["reason"] for d in listed.get_json()["items"]] == ["Roll change"]
    # A calendar in use cannot be deleted.
    assert owner.delete(f"/api/v1/equipment/calendars/{body['id']}").status_code == 409


def test_overlapping_or_bad_shifts_are_refused(owner, plant, snapshot):
    before = snapshot(plant.made.tenant_id)
    overlap = owner.post("/api/v1/equipment/calendars", json={"name": "Bad", "shifts": [
        {"weekday": 0, "start": "06:00", "end": "14:00"}, {"weekday": 0, "start": "12:00", "end": "20:00"}]})
    assert overlap.status_code == 422 and "overlap" in overlap.get_json()["errors"]["shifts"][0]
    wrap = owner.post("/api/v1/equipment/calendars", json={"name": "Wrap", "shifts": [
        {"weekday": 6, "start": "22:00", "end": "06:00"}, {"weekday": 0, "start": "05:00", "end": "08:00"}]})
    assert wrap.status_code == 422  # Sunday night runs into Monday 05:00
    assert owner.post("/api/v1/equipment/calendars", json={"name": "Zone", "timezone": "Mars/Base"}).status_code == 422
    assert owner.post("/api/v1/equipment/calendars", json={"name": "T", "shifts": [
        {"weekday": 0, "start": "25:00", "end": "06:00"}]}).status_code == 422
    assert snapshot(plant.made.tenant_id) == before


def test_downtime_must_end_after_it_starts(plant, owner, snapshot):
    before = snapshot(plant.made.tenant_id)
    response = owner.post(f"/api/v1/equipment/units/{plant.units['CM1']}/downtimes",
                          json={"starts_at": "2031-01-06T08:00:00Z", "ends_at": "2031-01-06T07:00:00Z"})
    assert response.status_code == 422 and "ends_at" in response.get_json()["errors"]
    assert snapshot(plant.made.tenant_id) == before


def _agent(plant, *, online=True, name="Mill agent"):
    with plant.scope():
        agent = Agent(name=name, status="active", last_seen_at=utcnow(), health={"online": online})
        db.session.add(agent)
        db.session.commit()
        return agent.id


def _latest(app, made, agent_id, values: dict):
    from alloyhub.platform.jobs import redis

    with app.app_context():
        redis().hset(f"ah:latest:{made.tenant_id}:{agent_id}",
                     mapping={tag: json.dumps(doc) for tag, doc in values.items()})


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def test_live_state_running_idle_down_unknown(app, plant, owner):
    unit_url = f"/api/v1/equipment/units/{plant.units['CM1']}"
    assert owner.get(f"{unit_url}/state").get_json()["state"] == "unknown"  # no tag linked
    agent_id = _agent(plant)
    link = owner.post(f"{unit_url}/tags", json={"agent_id": str(agent_id), "tag": "mill.speed", "role": "speed",
                                                "running_above": 5.0})
    assert link.status_code == 201
    assert owner.post(f"{unit_url}/tags", json={"agent_id": str(agent_id), "tag": "mill.speed"}).status_code == 422
    state = owner.get(f"{unit_url}/state").get_json()
    assert state["state"] == "unknown" and "recent" in state["reason"]
    now = utcnow()
    _latest(app, plant.made, agent_id, {"mill.speed": {"v": 412.5, "ts": _iso(now), "q": "good"}})
    state = owner.get(f"{unit_url}/state").get_json()
    assert state["state"] == "running" and "412.5" in state["reason"]
    assert state["values"][0]["fresh"] is True
    _latest(app, plant.made, agent_id, {"mill.speed": {"v": 0.0, "ts": _iso(now + timedelta(seconds=1)), "q": "good"}})
    assert owner.get(f"{unit_url}/state").get_json()["state"] == "idle"
    # A stale value says nothing.
    _latest(app, plant.made, agent_id, {"mill.speed": {"v": 400.0, "ts": _iso(now - timedelta(hours=2)), "q": "good"}})
    assert owner.get(f"{unit_url}/state").get_json()["state"] == "unknown"
    _latest(app, plant.made, agent_id, {"mill.speed": {"v": 400.0, "ts": _iso(now), "q": "good"}})
    # An active high alarm on the linked tag: down.
    with plant.scope():
        from alloyhub.tenants.alarms import services as alarms

        rule = alarms.create_rule(agent_id=agent_id, tag="mill.speed", name="Overspeed", kind="high", limit=300.0,
                                  priority="high")
        alarms.evaluate_points(plant.made.tenant_id, agent_id, [{"tag": "mill.speed", "ts": now, "v": 400.0,
                                                                 "q": "good"}])
        rule_id = rule.id
    state = owner.get(f"{unit_url}/state").get_json()
    assert state["state"] == "down" and "Overspeed" in state["reason"]
    # The rule says only critical alarms count: running again.
    owner.patch(unit_url, json={"down_on_alarm_priority": "critical"},
                headers={"If-Match": owner.get(unit_url).headers["ETag"]})
    assert owner.get(f"{unit_url}/state").get_json()["state"] == "running"
    # The agent goes offline: down.
    with plant.scope():
        agent = db.session.scalar(select(Agent).where(Agent.id == agent_id))
        agent.health = {"online": False}
        db.session.commit()
    state = owner.get(f"{unit_url}/state").get_json()
    assert state["state"] == "down" and "offline" in state["reason"]
    states = owner.get("/api/v1/equipment/states").get_json()["items"]
    assert {s["unit_code"]: s["state"] for s in states}["CM1"] == "down"
    assert {s["unit_code"]: s["state"] for s in states}["AF1"] == "unknown"
    assert rule_id


def test_planned_downtime_now_means_down(plant, owner):
    unit_url = f"/api/v1/equipment/units/{plant.units['SL1']}"
    now = utcnow()
    owner.post(f"{unit_url}/downtimes", json={"starts_at": _iso(now - timedelta(hours=1)),
                                              "ends_at": _iso(now + timedelta(hours=1)), "reason": "Knife change"})
    state = owner.get(f"{unit_url}/state").get_json()
    assert state["state"] == "down" and "Knife change" in state["reason"]


def test_tag_link_needs_an_agent_of_the_company(plant, owner, tenant_factory, app):
    other = tenant_factory()
    with app.app_context(), tenancy.scoped(other.tenant_id, other.owner_id, session=db.session):
        foreign = Agent(name="Foreign", status="active")
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    response = owner.post(f"/api/v1/equipment/units/{plant.units['CM1']}/tags",
                          json={"agent_id": str(foreign_id), "tag": "x"})
    assert response.status_code == 422 and "agent_id" in response.get_json()["errors"]


def test_reading_is_for_plant_roles_writing_for_planners(plant, tenant_factory, make_client, app):
    from tests.factories import TenantFactory

    email = TenantFactory(app).add_member(plant.made, "operator")
    operator = ApiClient(make_client()).sign_in(email)
    assert operator.get("/api/v1/equipment/tree").status_code == 200
    refused = operator.post("/api/v1/equipment/areas", json={"site_id": str(plant.site_id), "code": "X", "name": "X"})
    assert refused.status_code == 403


def test_unknown_unit_is_404(owner):
    assert owner.get(f"/api/v1/equipment/units/{uuid.uuid4()}").status_code == 404
    assert owner.get(f"/api/v1/equipment/units/{uuid.uuid4()}/state").status_code == 404


def test_advance_along_a_calendar(plant):
    """Service level: 10 h of work from Friday 12:00 on a Mon-Fri 06:00-14:00
    calendar: 2 h on Friday, 8 h on Monday, done Monday 14:00."""
    with plant.scope():
        calendar = equipment.create_calendar(name="Day shift", timezone="UTC", shifts=[
            {"weekday": d, "start": "06:00", "end": "14:00"} for d in range(5)])
        unit = equipment.get_unit(plant.units["PK1"])
        equipment.update_unit(unit, calendar_id=calendar.id)
        avail = equipment.Availability.of(unit)
        friday_noon = datetime(2031, 1, 10, 12, tzinfo=timezone.utc)
        assert avail.advance(friday_noon, 10) == datetime(2031, 1, 13, 14, tzinfo=timezone.utc)
        assert avail.next_working(datetime(2031, 1, 11, 9, tzinfo=timezone.utc)) == datetime(
            2031, 1, 13, 6, tzinfo=timezone.utc)
        empty = equipment.create_calendar(name="Never", timezone="UTC")
        equipment.update_unit(unit, calendar_id=empty.id)
        try:
            equipment.Availability.of(unit).advance(friday_noon, 1)
        except equipment.NoCapacity:
            pass
        else:
            raise AssertionError("an empty calendar has no capacity")
