"""/api/v1/production: work orders (list, one, start, pause, resume, finish,
output, pauses, actual against planned), a unit's queue and a coil scan for
the shop floor, and yields per operation, order line, product or unit."""
from __future__ import annotations

from flask.views import MethodView

from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import schemas as s
from . import services
from .labels import label
from .models import PAUSE_REASONS, WorkOrder
from .permissions import PRODUCTION_EXECUTE, PRODUCTION_READ

blp = Blueprint("production_api", __name__, url_prefix="/api/v1/production",
                description="Production execution: work orders, the shop floor, output reports and yields")


@blp.route("/work-orders")
class WorkOrders(MethodView):
    @requires(PRODUCTION_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.WorkOrderFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.WorkOrderSchema))
    def get(self, args, **filters):
        """Work orders in planned order, filtered by status, unit, order line, schedule, product or time"""
        return paginate(services.work_orders_query(**filters), args, (WorkOrder.planned_start, WorkOrder.id))


@blp.route("/work-orders/<uuid:work_order_id>")
class WorkOrderItem(MethodView):
    @requires(PRODUCTION_READ)
    @blp.response(200, s.WorkOrderDetailSchema)
    def get(self, work_order_id):
        """One work order, with its pauses and actual against planned"""
        return services.get_work_order(work_order_id)


@blp.route("/work-orders/<uuid:work_order_id>/start")
class WorkOrderStart(MethodView):
    @requires(PRODUCTION_EXECUTE)
    @blp.response(200, s.WorkOrderDetailSchema)
    def post(self, work_order_id):
        """Start a released work order; 409 when its unit runs another one or the previous step has not started"""
        return services.start(work_order_id)


@blp.route("/work-orders/<uuid:work_order_id>/pause")
class WorkOrderPause(MethodView):
    @requires(PRODUCTION_EXECUTE)
    @blp.arguments(s.PauseArgsSchema)
    @blp.response(200, s.WorkOrderDetailSchema)
    def post(self, data, work_order_id):
        """Pause a started work order with a reason from the list ('other' needs a note)"""
        return services.pause(work_order_id, data["reason"], data.get("note"))


@blp.route("/work-orders/<uuid:work_order_id>/resume")
class WorkOrderResume(MethodView):
    @requires(PRODUCTION_EXECUTE)
    @blp.response(200, s.WorkOrderDetailSchema)
    def post(self, work_order_id):
        """Resume a paused work order; 409 when its unit runs another one"""
        return services.resume(work_order_id)


@blp.route("/work-orders/<uuid:work_order_id>/finish")
class WorkOrderFinish(MethodView):
    @requires(PRODUCTION_EXECUTE)
    @blp.response(200, s.WorkOrderDetailSchema)
    def post(self, work_order_id):
        """Finish a started or paused work order"""
        return services.finish(work_order_id)


@blp.route("/work-orders/<uuid:work_order_id>/output")
class WorkOrderOutput(MethodView):
    @requires(PRODUCTION_READ)
    @blp.response(200, s.ProductionEventSchema(many=True))
    def get(self, work_order_id):
        """The output reports of a work order (inventory production steps)"""
        return services.events(services.get_work_order(work_order_id))

    @requires(PRODUCTION_EXECUTE)
    @blp.arguments(s.OutputReportSchema)
    @blp.response(201, s.ProductionEventSchema)
    def post(self, data, work_order_id):
        """Report output: inputs consumed (coils by number or id, or a heat), output coils made with their
        genealogy, scrap with reasons; all at once or nothing"""
        return services.report_output(work_order_id, **data)


@blp.route("/work-orders/<uuid:work_order_id>/pauses")
class WorkOrderPauses(MethodView):
    @requires(PRODUCTION_READ)
    @blp.response(200, s.PauseSchema(many=True))
    def get(self, work_order_id):
        """The pauses of a work order: reason, from, to"""
        return services.pauses(services.get_work_order(work_order_id))


@blp.route("/units/<uuid:unit_id>/queue")
class UnitQueue(MethodView):
    @requires(PRODUCTION_READ)
    @blp.response(200, s.UnitQueueSchema)
    def get(self, unit_id):
        """A unit's released, started and paused work orders in planned order"""
        unit = services.get_unit(unit_id)
        return {"unit_id": unit.id, "items": services.queue(unit.id)}


@blp.route("/units/<uuid:unit_id>/scan")
class UnitScan(MethodView):
    @requires(PRODUCTION_READ)
    @blp.arguments(s.ScanArgsSchema)
    @blp.response(200, s.ScanResultSchema)
    def post(self, args, unit_id):
        """A coil label scanned at a unit: the work orders of its queue the coil is an input of (changes nothing)"""
        return services.find_for_coil(unit_id, args["scanned"])


@blp.route("/pause-reasons")
class PauseReasons(MethodView):
    @requires(PRODUCTION_READ)
    @blp.response(200, s.PauseReasonSchema(many=True))
    def get(self):
        """The reasons a work order may be paused for"""
        return [{"key": key, "label": label(key)} for key in PAUSE_REASONS]


@blp.route("/yields")
class Yields(MethodView):
    @requires(PRODUCTION_READ)
    @blp.arguments(s.ProductionYieldArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, s.ProductionYieldSchema)
    def get(self, group_by="operation", since=None, until=None):
        """Yield (good output / input weight) per operation, order line, product or unit"""
        return {"group_by": group_by, "items": services.yields(group_by, since=since, until=until)}
