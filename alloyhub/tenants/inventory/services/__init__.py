"""The inventory room's services: every write goes through here. Other rooms
call them too: production calls `record_production_output` (and `issue`),
orders calls `line_location`, `reserve` and `release_line`.

    from alloyhub.tenants.inventory import services as inventory
    inventory.record_production_output(inputs=[...], outputs=[...], operation="slit", unit_id=...)
"""
from .genealogy import *
from .shipments import *
from .stock import *
from .warehouses import *
