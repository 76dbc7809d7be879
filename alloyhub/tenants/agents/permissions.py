"""The agents room's permissions (owners and administrators get them all)."""
from alloyhub.platform.permissions import register

AGENTS_READ = register("agents.read", "See agents, their health, tags and commands")
AGENTS_ADMIN = register("agents.admin", "Create, enrol and revoke agents; edit their tags and configuration")
AGENTS_COMMAND = register("agents.command", "Request commands to agents (tag writes, source restarts)")
AGENTS_APPROVE = register("agents.approve", "Approve or reject commands requested by someone else")
