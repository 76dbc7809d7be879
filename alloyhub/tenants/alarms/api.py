"""/api/v1: alarm rules, alarms (acknowledge, shelve), history, maintenance windows."""
from __future__ import annotations

from flask.views import MethodView

from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import schemas as s
from . import services
from .models import Alarm, AlarmEvent, AlarmRule, MaintenanceWindow
from .permissions import ALARMS_ACK, ALARMS_CONFIGURE, ALARMS_READ

blp = Blueprint("alarms_api", __name__, url_prefix="/api/v1", description="Alarm rules, alarms and their history")


@blp.route("/alarm-rules")
class Rules(MethodView):
    @requires(ALARMS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.RuleFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.AlarmRuleSchema))
    def get(self, args, agent_id=None, kind=None):
        """Alarm rules, optionally of one agent or one kind"""
        return paginate(services.rules_query(agent_id, kind), args, (AlarmRule.created_at, AlarmRule.id))

    @requires(ALARMS_CONFIGURE)
    @blp.arguments(s.AlarmRuleSchema)
    @blp.response(201, s.AlarmRuleSchema)
    def post(self, data):
        """Add an alarm rule (high/low limit, rate of change, stale data, agent offline)"""
        return services.create_rule(**data)


@blp.route("/alarm-rules/<uuid:rule_id>")
class RuleItem(MethodView):
    @requires(ALARMS_READ)
    @blp.etag
    @blp.response(200, s.AlarmRuleSchema)
    def get(self, rule_id):
        """One alarm rule"""
        return services.get_rule(rule_id)

    @requires(ALARMS_CONFIGURE)
    @blp.etag
    @blp.arguments(s.AlarmRuleUpdateSchema)
    @blp.response(200, s.AlarmRuleSchema)
    def patch(self, data, rule_id):
        """Change an alarm rule (send If-Match with its ETag)"""
        rule = services.get_rule(rule_id)
        blp.check_etag(rule, s.AlarmRuleSchema)
        return services.update_rule(rule, **data)

    @requires(ALARMS_CONFIGURE)
    @blp.response(204)
    def delete(self, rule_id):
        """Delete an alarm rule with its alarm and history"""
        services.delete_rule(services.get_rule(rule_id))


@blp.route("/alarms")
class Alarms(MethodView):
    @requires(ALARMS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.AlarmFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.AlarmSchema))
    def get(self, args, state=None, priority=None, agent_id=None):
        """Alarms (one per rule) with their ISA-18.2 state"""
        return paginate(services.alarms_query(state, priority, agent_id), args, (Alarm.created_at, Alarm.id))


@blp.route("/alarms/<uuid:alarm_id>")
class AlarmItem(MethodView):
    @requires(ALARMS_READ)
    @blp.response(200, s.AlarmSchema)
    def get(self, alarm_id):
        """One alarm"""
        return services.get_alarm(alarm_id)


@blp.route("/alarms/<uuid:alarm_id>/history")
class AlarmHistory(MethodView):
    @requires(ALARMS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.AlarmEventSchema))
    def get(self, args, alarm_id):
        """Every transition of the alarm, newest first, with who and when"""
        alarm = services.get_alarm(alarm_id)
        return paginate(services.history_query(alarm), args, (AlarmEvent.at, AlarmEvent.id), descending=True)


@blp.route("/alarms/<uuid:alarm_id>/ack")
class AlarmAck(MethodView):
    @requires(ALARMS_ACK)
    @blp.arguments(s.AckSchema)
    @blp.response(200, s.AlarmSchema)
    def post(self, data, alarm_id):
        """Acknowledge an alarm (409 when it needs none)"""
        return services.acknowledge(services.get_alarm(alarm_id), data.get("note"))


@blp.route("/alarms/<uuid:alarm_id>/shelve")
class AlarmShelve(MethodView):
    @requires(ALARMS_ACK)
    @blp.arguments(s.ShelveSchema)
    @blp.response(200, s.AlarmSchema)
    def post(self, data, alarm_id):
        """Shelve an alarm for a while, with a reason"""
        return services.shelve(services.get_alarm(alarm_id), data["reason"], data["minutes"])


@blp.route("/alarms/<uuid:alarm_id>/unshelve")
class AlarmUnshelve(MethodView):
    @requires(ALARMS_ACK)
    @blp.response(200, s.AlarmSchema)
    def post(self, alarm_id):
        """Take an alarm off the shelf before its expiry"""
        return services.unshelve(services.get_alarm(alarm_id))


@blp.route("/alarm-maintenance")
class Windows(MethodView):
    @requires(ALARMS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(s.MaintenanceWindowSchema))
    def get(self, args):
        """Maintenance windows: an agent's alarms are suppressed during them"""
        return paginate(services.windows_query(), args, (MaintenanceWindow.created_at, MaintenanceWindow.id))

    @requires(ALARMS_CONFIGURE)
    @blp.arguments(s.MaintenanceWindowSchema)
    @blp.response(201, s.MaintenanceWindowSchema)
    def post(self, data):
        """Put an agent's equipment in maintenance from now (for `hours`, or until ended)"""
        return services.start_maintenance(data["agent_id"], data.get("hours"), data.get("reason"))


@blp.route("/alarm-maintenance/<uuid:window_id>/end")
class WindowEnd(MethodView):
    @requires(ALARMS_CONFIGURE)
    @blp.response(200, s.MaintenanceWindowSchema)
    def post(self, window_id):
        """End a maintenance window now"""
        return services.end_maintenance(services.get_window(window_id))
