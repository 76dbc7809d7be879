"""Factories for the production routes' arguments (the cross-tenant probe):
a work order made as the scheduling room makes them, by a publication."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from tests.probe import BODIES, as_owner, factory, pop


@factory("work_order_id")
def make_work_order(app, made):
    from alloyhub.tenants.orders import services as orders
    from alloyhub.tenants.production import services
    from tests.tenants.mes.probe_factories import _order

    ctx = as_owner(app, made)
    try:
        order = _order()
        orders.confirm_order(order)
        line = order.lines[0]
        op = line_product_operation(line)
        start = datetime(2031, 1, 6, 8, tzinfo=timezone.utc)
        (wo,) = services.publish_plan(uuid.uuid4(), [{
            "order_line_id": line.id, "step": 0, "operation": op.process, "unit_id": op.unit_ids[0],
            "planned_start": start, "planned_end": start + timedelta(hours=2), "planned_input_kg": 1000.0,
            "planned_output_kg": 990.0, "batch_key": None}])
        from alloyhub.platform.db import db

        db.session.commit()
        return wo.id
    finally:
        pop(ctx)


def line_product_operation(line):
    from alloyhub.tenants.products import services as products

    return products.get_product(line.product_id).operations[0]


# Bodies that pass argument parsing, so that the answer reflects the lookup.
BODIES.update({
    ("production_api.WorkOrderPause", "POST"): {"reason": "breakdown"},
    ("production_api.WorkOrderOutput", "POST"): {"inputs": [{"coil_no": "PROBE"}]},
    ("production.pause", "POST"): {"reason": "breakdown"},
})
BODIES.update({("production_api.UnitScan", "POST"): {"scanned": "PROBE-COIL"}})
