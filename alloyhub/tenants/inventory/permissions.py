"""The inventory room's permissions (registered at import time)."""
from alloyhub.platform.permissions import register

INVENTORY_READ = register("inventory.read", "See stock, moves, reservations, shipments and genealogy",
                          roles=("planner", "operator", "quality", "maintenance", "viewer"))
INVENTORY_WRITE = register("inventory.write", "Receive, move and issue coils, reserve them and record production",
                           roles=("planner", "operator"))
INVENTORY_SHIP = register("inventory.ship", "Prepare, confirm and deliver shipments", roles=("planner",))
INVENTORY_ADJUST = register("inventory.adjust", "Adjust stock weights and quarantine coils, with a reason",
                            roles=("quality",))
INVENTORY_CONFIGURE = register("inventory.configure", "Set up warehouses and locations", roles=("planner",))
