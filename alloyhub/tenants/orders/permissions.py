"""The orders room's permissions (owners and administrators get them all)."""
from alloyhub.platform.permissions import register

ORDERS_READ = register("orders.read", "See customers, orders, their history and promised dates",
                       roles=("planner", "quality", "viewer"))
ORDERS_WRITE = register("orders.write", "Enter, change, import, confirm and cancel orders; edit customers",
                        roles=("planner",))
