"""/api/v1/agents: agents, enrolment, tag catalogue, configuration, commands."""
from __future__ import annotations

from datetime import timedelta

from flask.views import MethodView

from alloyhub.platform import permissions as perms
from alloyhub.platform.api import Blueprint, PageArgs, page_of, paginate
from alloyhub.platform.auth import requires

from . import permissions as p
from . import schemas as s
from . import services
from .models import Agent, AgentCommand, AgentTag

blp = Blueprint("agents_api", __name__, url_prefix="/api/v1",
                description="On-prem agents: enrolment, tag catalogue, configuration and commands")


def _token_answer(agent, secret, token):
    return {"agent": agent, "enrollment_token": secret, "expires_at": token.expires_at}


@blp.route("/agents")
class Agents(MethodView):
    @requires(p.AGENTS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.AgentFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.AgentSchema))
    def get(self, args, status=None):
        """Agents of the company"""
        return paginate(services.agents_query(status), args, (Agent.created_at, Agent.id))

    @requires(p.AGENTS_ADMIN)
    @blp.arguments(s.AgentSchema)
    @blp.arguments(s.TokenArgsSchema, location="query")
    @blp.response(201, s.EnrollmentTokenSchema)
    def post(self, data, token_args):
        """Create an agent; the answer carries its one-time enrolment token (shown once)"""
        agent, secret, token = services.create_agent(
            name=data["name"], site_id=data.get("site_id"),
            ttl=timedelta(hours=token_args["expires_in_hours"]))
        return _token_answer(agent, secret, token)


@blp.route("/agents/broker")
class BrokerStatus(MethodView):
    @requires(p.AGENTS_READ)
    @blp.response(200, s.BrokerStatusSchema)
    def get(self):
        """Whether the broker enforces per-agent access control"""
        return services.broker_status()


@blp.route("/agents/enroll")
class Enroll(MethodView):
    @requires(perms.PUBLIC)
    @blp.arguments(s.EnrollRequestSchema)
    @blp.response(200, s.EnrollResponseSchema)
    def post(self, data):
        """Exchange a one-time enrolment token for the agent's MQTT credentials (authenticated by the token)"""
        return services.enroll(**data)


@blp.route("/agents/<uuid:agent_id>")
class AgentItem(MethodView):
    @requires(p.AGENTS_READ)
    @blp.etag
    @blp.response(200, s.AgentSchema)
    def get(self, agent_id):
        """One agent, with its health"""
        return services.get_agent(agent_id)

    @requires(p.AGENTS_ADMIN)
    @blp.etag
    @blp.arguments(s.AgentUpdateSchema)
    @blp.response(200, s.AgentSchema)
    def patch(self, data, agent_id):
        """Rename an agent or move it to another site"""
        agent = services.get_agent(agent_id)
        blp.check_etag(agent, s.AgentSchema)
        return services.update_agent(agent, **data)


@blp.route("/agents/<uuid:agent_id>/token")
class AgentToken(MethodView):
    @requires(p.AGENTS_ADMIN)
    @blp.arguments(s.TokenArgsSchema, location="query")
    @blp.response(201, s.EnrollmentTokenSchema)
    def post(self, token_args, agent_id):
        """A new one-time enrolment token; earlier unused ones stop working"""
        agent = services.get_agent(agent_id)
        secret, token = services.regenerate_token(agent, ttl=timedelta(hours=token_args["expires_in_hours"]))
        return _token_answer(agent, secret, token)


@blp.route("/agents/<uuid:agent_id>/revoke")
class AgentRevoke(MethodView):
    @requires(p.AGENTS_ADMIN)
    @blp.response(200, s.AgentSchema)
    def post(self, agent_id):
        """Revoke an agent: it is disconnected from the broker at once and cannot connect again"""
        return services.revoke_agent(services.get_agent(agent_id))


@blp.route("/agents/<uuid:agent_id>/config")
class AgentConfig(MethodView):
    @requires(p.AGENTS_READ)
    @blp.etag
    @blp.response(200, s.AgentConfigOutSchema)
    def get(self, agent_id):
        """The agent's configuration (sources, tag mapping, write allow-list) and its version"""
        return services.config_message(services.get_agent(agent_id))

    @requires(p.AGENTS_ADMIN)
    @blp.etag
    @blp.arguments(s.AgentConfigSchema)
    @blp.response(200, s.AgentConfigOutSchema)
    def put(self, data, agent_id):
        """Replace the configuration: the version goes up and it is pushed to the agent (retained)"""
        agent = services.get_agent(agent_id)
        blp.check_etag(services.config_message(agent), s.AgentConfigOutSchema)
        return services.config_message(services.set_config(agent, data))


@blp.route("/agents/<uuid:agent_id>/tags")
class AgentTags(MethodView):
    @requires(p.AGENTS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.TagFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.TagSchema))
    def get(self, args, agent_id, status=None):
        """The agent's tag catalogue (unknown tags seen in telemetry included)"""
        agent = services.get_agent(agent_id)
        return paginate(services.tags_query(agent, status), args, (AgentTag.tag, AgentTag.id))

    @requires(p.AGENTS_ADMIN)
    @blp.arguments(s.TagSchema)
    @blp.response(201, s.TagSchema)
    def post(self, data, agent_id):
        """Add a tag to the catalogue"""
        return services.add_tag(services.get_agent(agent_id), **data)


@blp.route("/agent-tags/<uuid:tag_id>")
class TagItem(MethodView):
    @requires(p.AGENTS_READ)
    @blp.etag
    @blp.response(200, s.TagSchema)
    def get(self, tag_id):
        """One catalogue tag"""
        return services.get_tag(tag_id)

    @requires(p.AGENTS_ADMIN)
    @blp.etag
    @blp.arguments(s.TagUpdateSchema)
    @blp.response(200, s.TagSchema)
    def patch(self, data, tag_id):
        """Edit a tag's unit, description or data type; status active adopts, ignored ignores"""
        row = services.get_tag(tag_id)
        blp.check_etag(row, s.TagSchema)
        return services.update_tag(row, **data)


@blp.route("/agent-tags/<uuid:tag_id>/adopt")
class TagAdopt(MethodView):
    @requires(p.AGENTS_ADMIN)
    @blp.response(200, s.TagSchema)
    def post(self, tag_id):
        """Adopt an unknown tag into the catalogue in one step"""
        return services.adopt_tag(services.get_tag(tag_id))


@blp.route("/agent-tags/<uuid:tag_id>/ignore")
class TagIgnore(MethodView):
    @requires(p.AGENTS_ADMIN)
    @blp.response(200, s.TagSchema)
    def post(self, tag_id):
        """Ignore a tag (its points are still counted, never stored as catalogue data)"""
        return services.ignore_tag(services.get_tag(tag_id))


@blp.route("/agents/<uuid:agent_id>/commands")
class AgentCommands(MethodView):
    @requires(p.AGENTS_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.arguments(s.CommandFilterSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(s.CommandSchema))
    def get(self, args, agent_id, status=None):
        """Commands to the agent, newest first"""
        agent = services.get_agent(agent_id)
        return paginate(services.commands_query(agent, status), args, (AgentCommand.created_at, AgentCommand.id),
                        descending=True)

    @requires(p.AGENTS_COMMAND)
    @blp.arguments(s.CommandCreateSchema)
    @blp.response(201, s.CommandSchema)
    def post(self, data, agent_id):
        """Request a command (write an allow-listed tag, restart a source); it waits for approval"""
        return services.request_command(services.get_agent(agent_id), **data)


@blp.route("/agent-commands/<uuid:command_id>")
class CommandItem(MethodView):
    @requires(p.AGENTS_READ)
    @blp.response(200, s.CommandSchema)
    def get(self, command_id):
        """One command with its status and the agent's result"""
        return services.get_command(command_id)


@blp.route("/agent-commands/<uuid:command_id>/approve")
class CommandApprove(MethodView):
    @requires(p.AGENTS_APPROVE)
    @blp.response(200, s.CommandSchema)
    def post(self, command_id):
        """Approve a command requested by someone else; it is then sent to the agent"""
        return services.approve_command(services.get_command(command_id))


@blp.route("/agent-commands/<uuid:command_id>/reject")
class CommandReject(MethodView):
    @requires(p.AGENTS_APPROVE)
    @blp.response(200, s.CommandSchema)
    def post(self, command_id):
        """Reject a command waiting for approval"""
        return services.reject_command(services.get_command(command_id))
