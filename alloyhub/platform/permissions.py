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


def register(name: str, description: str) -> str:
    REGISTRY[name] = Permission(name, description)
    return name


TENANT_READ = register("tenant.read", "See the company profile and its sites")
TENANT_ADMIN = register("tenant.admin", "Edit the company profile, sites and single sign-on")
MEMBERS_READ = register("members.read", "See members, roles and invitations")
MEMBERS_ADMIN = register("members.admin", "Invite, deactivate members and edit roles")
TOKENS_ADMIN = register("tokens.admin", "Manage OAuth clients of the company")
AUDIT_READ = register("audit.read", "Read the audit log")

# key -> (display name, permissions); "*" means every registered permission.
BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "owner": ("Owner", ["*"]),
    "admin": ("Administrator", ["*"]),
    "planner": ("Planner", [TENANT_READ, MEMBERS_READ]),
    "operator": ("Operator", [TENANT_READ]),
    "quality": ("Quality engineer", [TENANT_READ]),
    "maintenance": ("Maintenance engineer", [TENANT_READ]),
    "viewer": ("Viewer", [TENANT_READ]),
}


def expand(perms: list[str]) -> set[str]:
    if "*" in perms:
        return set(REGISTRY)
    return {p for p in perms if p in REGISTRY}
