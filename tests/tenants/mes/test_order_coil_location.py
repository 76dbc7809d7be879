"""The orders room shows where a line's coils are, as the inventory room
knows it: on the order page and on the customer's tracking link."""
from __future__ import annotations

from alloyhub.tenants.inventory import services as inventory
from alloyhub.tenants.orders import services as orders


def test_reserved_and_shipped_coils_show_on_the_order_and_the_tracking_link(plant, owner, app):
    order_id = plant.order([{"quantity": 10.0}], confirm=True)
    (line_id,) = plant.line_ids(order_id)
    with plant.scope():
        assert orders.line_location(line_id).known is False  # nothing made or held for it yet
        warehouse = inventory.create_warehouse(site_id=plant.site_id, code="FG", name="Finished goods")
        location = inventory.create_location(warehouse, code="A-07", kind="storage")
        coils = inventory.receive([{"coil_no": f"K-{n}", "alloy": "3003", "temper": "H14", "gauge_mm": 1.0,
                                    "width_mm": 1000.0, "weight_kg": 5000.0} for n in (1, 2)],
                                  location_id=location.id)
        inventory.reserve([c.id for c in coils], line_id)
        where = orders.line_location(line_id)
        token = orders.tracking_token(orders.get_order(order_id))
    assert where.known and {c["coil"] for c in where.coils} == {"K-1", "K-2"}
    assert all(c["location"].endswith("A-07") or "A-07" in c["location"] for c in where.coils)
    assert "2 × reserved" in where.summary

    page = owner.client.get(f"/orders/{order_id}")
    assert page.status_code == 200 and "K-1" in page.get_data(as_text=True)
    tracking = app.test_client().get(f"/track/{token}")
    assert tracking.status_code == 200 and "K-2" in tracking.get_data(as_text=True)
