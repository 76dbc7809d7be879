"""The spare-parts room's permissions (registered at import time)."""
from alloyhub.platform.permissions import register

SPARES_READ = register("spares.read", "See the spare-parts stock and the industry catalogue",
                       roles=("planner", "operator", "quality", "maintenance", "viewer"))
SPARES_WRITE = register("spares.write", "Edit the spare-parts stock, import it, attach files",
                        roles=("maintenance",))
SPARES_SHARE = register("spares.share", "Decide which spare parts are shared, with whom and on which terms")
SPARES_TRADE = register("spares.trade", "Request parts from other companies and answer their requests",
                        roles=("maintenance", "planner"))
