"""The scheduling room's permissions (owners and administrators get them all)."""
from alloyhub.platform.permissions import register

SCHEDULING_READ = register("scheduling.read", "See schedule versions, the Gantt, KPIs and unit disruptions",
                           roles=("planner", "operator", "quality", "maintenance", "viewer"))
SCHEDULING_PLAN = register("scheduling.plan", "Solve, lock, move, re-solve and publish schedules; mark units down",
                           roles=("planner",))
