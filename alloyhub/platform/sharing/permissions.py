"""The ledger's permissions (registered at import time)."""
from ..permissions import register

SHARING_READ = register("sharing.read", "See what the company shares, with whom, and who read it",
                        roles=("planner", "maintenance"))
SHARING_ADMIN = register("sharing.admin", "Revoke shares and manage alliance memberships")
