"""The production room's permissions (registered at import time)."""
from alloyhub.platform.permissions import register

PRODUCTION_READ = register("production.read", "See work orders, the shop floor, pauses and yields",
                           roles=("planner", "operator", "quality", "maintenance", "viewer"))
PRODUCTION_EXECUTE = register("production.execute",
                              "Start, pause, resume and finish work orders and report their output",
                              roles=("planner", "operator"))
