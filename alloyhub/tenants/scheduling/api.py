"""/api/v1/scheduling: schedule versions (solving runs as an RQ job: 202 and a
status URL to poll), their operations, lock/move/re-solve, compare, publish,
and unit disruptions with the one-action re-schedule."""
from __future__ import annotations

from flask.views import MethodView

from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import schemas as s
from . import services
from .models import Disruption, ScheduledOperation, ScheduleVersion
from .permissions import SCHEDULING_PLAN, SCHEDULING_READ

blp = Blueprint("scheduling_api", __name__, url_prefix="/api/v1/scheduling",
                description="APS scheduling: schedule versions, the solver's progress, locks and moves, "
                            "compare, publish, unit disruptions")


def _accepted(version: ScheduleVersion):
    return version, 202, {"Location": f"/api/v1/scheduling/versions/{version.id}/status"}


@blp.route("/versions")
class Versions(MethodView):
    @requires(SCHEDULING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ScheduleVersionFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ScheduleVersionSchema))
    def get(self, args, status=None):
        """Schedule versions, newest first"""
        return paginate(services.versions_query(status), args, (ScheduleVersion.number, ScheduleVersion.id),
                        descending=True)

    @requires(SCHEDULING_PLAN)
    @blp.arguments(s.ScheduleVersionCreateSchema)
    @blp.response(202, s.ScheduleVersionSchema)
    def post(self, data):
        """Make a schedule of the committed order lines (solved in the background; poll status_url)"""
        return _accepted(services.create_version(**data))


@blp.route("/versions/<uuid:version_id>")
class VersionItem(MethodView):
    @requires(SCHEDULING_READ)
    @blp.response(200, s.ScheduleVersionSchema)
    def get(self, version_id):
        """One version with its KPIs and explanation"""
        return services.get_version(version_id)


@blp.route("/versions/<uuid:version_id>/status")
class VersionStatus(MethodView):
    @requires(SCHEDULING_READ)
    @blp.response(200, s.SchedStatusSchema)
    def get(self, version_id):
        """The solver's progress (best objective, bound, elapsed seconds) and the version's status"""
        return services.progress(services.get_version(version_id))


@blp.route("/versions/<uuid:version_id>/operations")
class VersionOperations(MethodView):
    @requires(SCHEDULING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.ScheduledOperationFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.ScheduledOperationSchema))
    def get(self, args, version_id, unit_id=None):
        """The version's operations by start (filter by unit)"""
        version = services.get_version(version_id)
        return paginate(services.operations_query(version, unit_id), args,
                        (ScheduledOperation.start, ScheduledOperation.id))


@blp.route("/versions/<uuid:version_id>/resolve")
class VersionResolve(MethodView):
    @requires(SCHEDULING_PLAN)
    @blp.arguments(s.SchedResolveSchema)
    @blp.response(202, s.ScheduleVersionSchema)
    def post(self, data, version_id):
        """A new version from this one, its locked operations pinned (solved in the background)"""
        return _accepted(services.resolve(services.get_version(version_id), **data))


@blp.route("/versions/<uuid:version_id>/publish")
class VersionPublish(MethodView):
    @requires(SCHEDULING_PLAN)
    @blp.response(200, s.ScheduleVersionSchema)
    def post(self, version_id):
        """Publish a solved version: work orders are made, lines planned, the version before superseded (409 if not solved)"""
        return services.publish(services.get_version(version_id))


@blp.route("/operations/<uuid:scheduled_operation_id>")
class OperationItem(MethodView):
    @requires(SCHEDULING_READ)
    @blp.response(200, s.ScheduledOperationSchema)
    def get(self, scheduled_operation_id):
        """One scheduled operation"""
        return services.get_operation(scheduled_operation_id)


@blp.route("/operations/<uuid:scheduled_operation_id>/lock")
class OperationLock(MethodView):
    @requires(SCHEDULING_PLAN)
    @blp.arguments(s.SchedLockSchema)
    @blp.response(200, s.ScheduledOperationSchema)
    def post(self, data, scheduled_operation_id):
        """Lock (or unlock) an operation where it is, for the next re-solve"""
        return services.lock_operation(services.get_operation(scheduled_operation_id), data["locked"])


@blp.route("/operations/<uuid:scheduled_operation_id>/move")
class OperationMove(MethodView):
    @requires(SCHEDULING_PLAN)
    @blp.arguments(s.SchedMoveSchema)
    @blp.response(202, s.ScheduleVersionSchema)
    def post(self, data, scheduled_operation_id):
        """Move an operation (unit and start) and re-solve around it: a new version"""
        return _accepted(services.move_operation(services.get_operation(scheduled_operation_id), **data))


@blp.route("/compare")
class Compare(MethodView):
    @requires(SCHEDULING_READ)
    @blp.arguments(s.VersionCompareArgs, location="query")
    @blp.response(200, s.VersionCompareSchema)
    def get(self, args):
        """Two versions side by side: KPIs and the operations that moved"""
        return services.compare(services.get_version(args["a"]), services.get_version(args["b"]))


@blp.route("/disruptions")
class Disruptions(MethodView):
    @requires(SCHEDULING_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.DisruptionFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.DisruptionSchema))
    def get(self, args, status=None):
        """Units down (alarms and the planner's windows), newest first"""
        return paginate(services.disruptions_query(status), args, (Disruption.created_at, Disruption.id),
                        descending=True)

    @requires(SCHEDULING_PLAN)
    @blp.arguments(s.DisruptionCreateSchema)
    @blp.response(201, s.DisruptionDetailSchema)
    def post(self, data):
        """Mark a unit down for a window; the answer lists the published operations affected"""
        disruption = services.mark_down(**data)
        return _detail(disruption)


def _detail(disruption: Disruption) -> dict:
    data = {c: getattr(disruption, c) for c in ("id", "unit_id", "source", "starts_at", "ends_at", "reason",
                                                 "alarm_id", "status", "version_id", "resolved_by_version_id",
                                                 "created_at")}
    data["affected"] = services.affected(disruption) if disruption.status == "open" else []
    return data


@blp.route("/disruptions/<uuid:disruption_id>")
class DisruptionItem(MethodView):
    @requires(SCHEDULING_READ)
    @blp.response(200, s.DisruptionDetailSchema)
    def get(self, disruption_id):
        """One disruption with the published operations it affects"""
        return _detail(services.get_disruption(disruption_id))


@blp.route("/disruptions/<uuid:disruption_id>/reschedule")
class DisruptionReschedule(MethodView):
    @requires(SCHEDULING_PLAN)
    @blp.arguments(s.SchedRescheduleSchema)
    @blp.response(202, s.ScheduleVersionSchema)
    def post(self, data, disruption_id):
        """Re-schedule around the down window: begun work stays, the rest moves off it (a new version)"""
        return _accepted(services.reschedule(services.get_disruption(disruption_id), **data))


@blp.route("/disruptions/<uuid:disruption_id>/dismiss")
class DisruptionDismiss(MethodView):
    @requires(SCHEDULING_PLAN)
    @blp.response(200, s.DisruptionSchema)
    def post(self, disruption_id):
        """Dismiss a disruption without re-scheduling"""
        return services.dismiss(services.get_disruption(disruption_id))
