"""Named permissions and the built-in roles that bundle them.

Modules register their own permissions at import time with `register`; the
built-in roles of a new tenant are made from `BUILTIN_ROLES`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    name: str
    description: str


REGISTRY: dict[str, Permission] = {}

# Endpoints that need a signed-in principal but no particular permission.
AUTHENTICATED = "authenticated"
# Endpoints open to anyone (sign-in, discovery documents).
PUBLIC = "public"


def register(name: str, description: str, roles: tuple[str, ...] = ()) -> str:
    """Register a permission; `roles` names the built-in roles (besides owner
    and admin, which hold everything) that a new tenant grants it to, so a
    room declares its own role grants without editing this file."""
    REGISTRY[name] = Permission(name, description)
    for role in roles:
        granted = BUILTIN_ROLES[role][1]
        if name not in granted:
            granted.append(name)
    return name


# key -> (display name, permissions); "*" means every registered permission.
BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "owner": ("Owner", ["*"]),
    "admin": ("Administrator", ["*"]),
    "planner": ("Planner", ["tenant.read", "members.read", "telemetry.read", "alarms.read"]),
    "operator": ("Operator", ["tenant.read", "telemetry.read", "alarms.read", "alarms.ack"]),
    "quality": ("Quality engineer", ["tenant.read", "telemetry.read", "alarms.read"]),
    "maintenance": ("Maintenance engineer", ["tenant.read", "telemetry.read", "alarms.read", "alarms.ack"]),
    "viewer": ("Viewer", ["tenant.read", "telemetry.read", "alarms.read"]),
}


TENANT_READ = register("tenant.read", "See the company profile and its sites")
TENANT_ADMIN = register("tenant.admin", "Edit the company profile, sites and single sign-on")
MEMBERS_READ = register("members.read", "See members, roles and invitations")
MEMBERS_ADMIN = register("members.admin", "Invite, deactivate members and edit roles")
TOKENS_ADMIN = register("tokens.admin", "Manage OAuth clients of the company")
AUDIT_READ = register("audit.read", "Read the audit log")


def expand(perms: list[str]) -> set[str]:
    if "*" in perms:
        return set(REGISTRY)
    return {p for p in perms if p in REGISTRY}
