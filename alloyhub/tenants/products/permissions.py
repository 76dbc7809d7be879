"""The products room's permissions (owners and administrators get them all)."""
from alloyhub.platform.permissions import register

PRODUCTS_READ = register("products.read", "See products, routings and set-up rules",
                         roles=("planner", "operator", "quality", "maintenance", "viewer"))
PRODUCTS_WRITE = register("products.write", "Edit products, routings and set-up rules", roles=("planner", "quality"))
