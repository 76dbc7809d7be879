"""/api/v1/equipment: the hierarchy (areas, lines, units with their
capabilities), shift calendars, planned downtime, tag links, working time
and live states."""
from __future__ import annotations

from datetime import timedelta

from flask.views import MethodView

from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires
from alloyhub.platform.db import utcnow
from alloyhub.platform.errors import ValidationFailed

from . import schemas as s
from . import services
from .models import Area, Calendar, Downtime, Line, Unit
from .permissions import EQUIPMENT_READ, EQUIPMENT_WRITE

blp = Blueprint("equipment_api", __name__, url_prefix="/api/v1/equipment",
                description="Equipment hierarchy, capabilities, calendars, downtime and live state")


def _state_dict(unit, state) -> dict:
    return {"unit_id": unit.id, "unit_code": unit.code, "state": state.state, "reason": state.reason, "at": state.at,
            "values": state.values}


@blp.route("/tree")
class Tree(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.response(200, s.EquipmentTreeSchema)
    def get(self):
        """Sites with their areas, lines and units"""
        sites = []
        for node in services.tree():
            site = node["site"]
            sites.append({"id": site.id, "code": site.code, "name": site.name, "areas": [
                {"id": a["area"].id, "code": a["area"].code, "name": a["area"].name, "lines": [
                    {"id": li["line"].id, "code": li["line"].code, "name": li["line"].name, "kind": li["line"].kind,
                     "units": li["units"]} for li in a["lines"]]} for a in node["areas"]]})
        return {"sites": sites}


# ---------------------------------------------------------------- areas

@blp.route("/areas")
class Areas(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.AreaFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.AreaSchema))
    def get(self, args, site_id=None):
        """Areas (of one site)"""
        return paginate(services.areas_query(site_id), args, (Area.code, Area.id))

    @requires(EQUIPMENT_WRITE)
    @blp.arguments(s.AreaSchema)
    @blp.response(201, s.AreaSchema)
    def post(self, data):
        """Add an area to a site"""
        return services.create_area(**data)


@blp.route("/areas/<uuid:area_id>")
class AreaItem(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.etag
    @blp.response(200, s.AreaSchema)
    def get(self, area_id):
        """One area"""
        return services.get_area(area_id)

    @requires(EQUIPMENT_WRITE)
    @blp.etag
    @blp.arguments(s.AreaUpdateSchema)
    @blp.response(200, s.AreaSchema)
    def patch(self, data, area_id):
        """Change an area (send If-Match with its ETag)"""
        area = services.get_area(area_id)
        blp.check_etag(area, s.AreaSchema)
        return services.update_area(area, **data)

    @requires(EQUIPMENT_WRITE)
    @blp.response(204)
    def delete(self, area_id):
        """Delete an area without lines (409 otherwise)"""
        services.delete_area(services.get_area(area_id))


# ---------------------------------------------------------------- lines

@blp.route("/lines")
class Lines(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.EquipmentLineFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.EquipmentLineSchema))
    def get(self, args, area_id=None):
        """Lines and work centres (of one area)"""
        return paginate(services.lines_query(area_id), args, (Line.code, Line.id))

    @requires(EQUIPMENT_WRITE)
    @blp.arguments(s.EquipmentLineSchema)
    @blp.response(201, s.EquipmentLineSchema)
    def post(self, data):
        """Add a line or work centre to an area"""
        return services.create_line(**data)


@blp.route("/lines/<uuid:line_id>")
class LineItem(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.etag
    @blp.response(200, s.EquipmentLineSchema)
    def get(self, line_id):
        """One line"""
        return services.get_line(line_id)

    @requires(EQUIPMENT_WRITE)
    @blp.etag
    @blp.arguments(s.EquipmentLineUpdateSchema)
    @blp.response(200, s.EquipmentLineSchema)
    def patch(self, data, line_id):
        """Change a line (send If-Match with its ETag)"""
        line = services.get_line(line_id)
        blp.check_etag(line, s.EquipmentLineSchema)
        return services.update_line(line, **data)

    @requires(EQUIPMENT_WRITE)
    @blp.response(204)
    def delete(self, line_id):
        """Delete a line without units (409 otherwise)"""
        services.delete_line(services.get_line(line_id))


# ---------------------------------------------------------------- units

@blp.route("/units")
class Units(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.UnitFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.UnitSchema))
    def get(self, args, line_id=None, kind=None, process=None, status=None):
        """Units with their capabilities (filter by line, kind, process, status)"""
        return paginate(services.units_query(line_id, kind, process, status), args, (Unit.code, Unit.id))

    @requires(EQUIPMENT_WRITE)
    @blp.arguments(s.UnitSchema)
    @blp.response(201, s.UnitSchema)
    def post(self, data):
        """Add a unit (a mill, a furnace, a slitter …) to a line"""
        return services.create_unit(**data)


@blp.route("/units/<uuid:unit_id>")
class UnitItem(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.etag
    @blp.response(200, s.UnitSchema)
    def get(self, unit_id):
        """One unit with its capabilities"""
        return services.get_unit(unit_id)

    @requires(EQUIPMENT_WRITE)
    @blp.etag
    @blp.arguments(s.UnitUpdateSchema)
    @blp.response(200, s.UnitSchema)
    def patch(self, data, unit_id):
        """Change a unit or its capabilities (If-Match). A change that would make
        a product's routing impossible is refused with 422, naming the routings."""
        unit = services.get_unit(unit_id)
        blp.check_etag(unit, s.UnitSchema)
        return services.update_unit(unit, **data)

    @requires(EQUIPMENT_WRITE)
    @blp.response(204)
    def delete(self, unit_id):
        """Delete a unit no routing uses (409 otherwise)"""
        services.delete_unit(services.get_unit(unit_id))


@blp.route("/units/<uuid:unit_id>/state")
class UnitState(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.response(200, s.LiveStateSchema)
    def get(self, unit_id):
        """The unit's live state (running, idle, down, unknown) and why"""
        unit = services.get_unit(unit_id)
        return _state_dict(unit, services.live_state(unit))


@blp.route("/states")
class States(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.response(200, s.LiveStatesSchema)
    def get(self):
        """The live state of every unit"""
        units = services.units()
        states = services.live_states(units)
        return {"items": [_state_dict(u, states[u.id]) for u in units]}


@blp.route("/units/<uuid:unit_id>/availability")
class UnitAvailability(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.arguments(s.UnitAvailabilityArgs, location="query")
    @blp.response(200, s.UnitAvailabilitySchema)
    def get(self, args, unit_id):
        """Working time of the unit between `from` and `to` (at most 92 days):
        its shifts minus planned downtime, as UTC intervals"""
        unit = services.get_unit(unit_id)
        start = services._as_utc(args.get("start") or utcnow())
        end = services._as_utc(args.get("end") or start + timedelta(days=7))
        if end <= start or end - start > timedelta(days=92):
            raise ValidationFailed(errors={"to": ["Give a range of up to 92 days, 'to' after 'from'."]})
        avail = services.Availability.of(unit, start, end)
        intervals = avail.intervals(start, end)
        calendar = services.calendar_of(unit)
        return {"unit_id": unit.id, "calendar_id": calendar.id if calendar else None,
                "hours": round(sum((b - a).total_seconds() for a, b in intervals) / 3600, 3),
                "intervals": [{"start": a, "end": b} for a, b in intervals]}


# ---------------------------------------------------------------- tag links

@blp.route("/units/<uuid:unit_id>/tags")
class UnitTags(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.response(200, s.UnitTagSchema(many=True))
    def get(self, unit_id):
        """Agent tags linked to the unit"""
        return services.unit_tags(services.get_unit(unit_id))

    @requires(EQUIPMENT_WRITE)
    @blp.arguments(s.UnitTagSchema)
    @blp.response(201, s.UnitTagSchema)
    def post(self, data, unit_id):
        """Link an agent's tag to the unit (with `running_above`, it tells the live state)"""
        return services.add_unit_tag(services.get_unit(unit_id), **data)


@blp.route("/unit-tags/<uuid:unit_tag_id>")
class UnitTagItem(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.etag
    @blp.response(200, s.UnitTagSchema)
    def get(self, unit_tag_id):
        """One tag link"""
        return services.get_unit_tag(unit_tag_id)

    @requires(EQUIPMENT_WRITE)
    @blp.etag
    @blp.arguments(s.UnitTagUpdateSchema)
    @blp.response(200, s.UnitTagSchema)
    def patch(self, data, unit_tag_id):
        """Change a tag link (If-Match)"""
        link = services.get_unit_tag(unit_tag_id)
        blp.check_etag(link, s.UnitTagSchema)
        return services.update_unit_tag(link, **data)

    @requires(EQUIPMENT_WRITE)
    @blp.response(204)
    def delete(self, unit_tag_id):
        """Unlink a tag"""
        services.delete_unit_tag(services.get_unit_tag(unit_tag_id))


# ---------------------------------------------------------------- downtime

@blp.route("/downtimes")
class Downtimes(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.DowntimeFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.DowntimeSchema))
    def get(self, args, unit_id=None, start=None, end=None):
        """Planned downtime windows (of one unit, overlapping [from, to])"""
        return paginate(services.downtimes_query(unit_id, start, end), args, (Downtime.starts_at, Downtime.id))


@blp.route("/units/<uuid:unit_id>/downtimes")
class UnitDowntimes(MethodView):
    @requires(EQUIPMENT_WRITE)
    @blp.arguments(s.DowntimeSchema)
    @blp.response(201, s.DowntimeSchema)
    def post(self, data, unit_id):
        """Plan a downtime window for the unit"""
        unit = services.get_unit(unit_id)
        return services.create_downtime(unit_id=unit.id, **data)


@blp.route("/downtimes/<uuid:downtime_id>")
class DowntimeItem(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.etag
    @blp.response(200, s.DowntimeSchema)
    def get(self, downtime_id):
        """One downtime window"""
        return services.get_downtime(downtime_id)

    @requires(EQUIPMENT_WRITE)
    @blp.etag
    @blp.arguments(s.DowntimeUpdateSchema)
    @blp.response(200, s.DowntimeSchema)
    def patch(self, data, downtime_id):
        """Move or change a downtime window (If-Match)"""
        downtime = services.get_downtime(downtime_id)
        blp.check_etag(downtime, s.DowntimeSchema)
        return services.update_downtime(downtime, **data)

    @requires(EQUIPMENT_WRITE)
    @blp.response(204)
    def delete(self, downtime_id):
        """Remove a downtime window"""
        services.delete_downtime(services.get_downtime(downtime_id))


# ---------------------------------------------------------------- calendars

@blp.route("/calendars")
class Calendars(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.CalendarSchema))
    def get(self, args):
        """Shift calendars"""
        return paginate(services.calendars_query(), args, (Calendar.name, Calendar.id))

    @requires(EQUIPMENT_WRITE)
    @blp.arguments(s.CalendarSchema)
    @blp.response(201, s.CalendarSchema)
    def post(self, data):
        """Add a shift calendar with its weekly shifts"""
        return services.create_calendar(**data)


@blp.route("/calendars/<uuid:calendar_id>")
class CalendarItem(MethodView):
    @requires(EQUIPMENT_READ)
    @blp.etag
    @blp.response(200, s.CalendarSchema)
    def get(self, calendar_id):
        """One shift calendar"""
        return services.get_calendar(calendar_id)

    @requires(EQUIPMENT_WRITE)
    @blp.etag
    @blp.arguments(s.CalendarUpdateSchema)
    @blp.response(200, s.CalendarSchema)
    def patch(self, data, calendar_id):
        """Change a calendar; `shifts` replaces every shift (If-Match)"""
        calendar = services.get_calendar(calendar_id)
        blp.check_etag(calendar, s.CalendarSchema)
        return services.update_calendar(calendar, **data)

    @requires(EQUIPMENT_WRITE)
    @blp.response(204)
    def delete(self, calendar_id):
        """Delete a calendar no line or unit uses (409 otherwise)"""
        services.delete_calendar(services.get_calendar(calendar_id))
