"""The equipment room's permissions (owners and administrators get them all)."""
from alloyhub.platform.permissions import register

EQUIPMENT_READ = register("equipment.read", "See the equipment, its calendars, downtime and live state",
                          roles=("planner", "operator", "quality", "maintenance", "viewer"))
EQUIPMENT_WRITE = register("equipment.write",
                           "Edit areas, lines, units, capabilities, calendars, downtime and tag links",
                           roles=("planner", "maintenance"))
