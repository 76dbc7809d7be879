"""An order line follows its coils out of the plant: shipped once none of
its coils is left in stock, delivered once no shipment carrying it is still
on the road; partial shipments leave it where it is."""
from __future__ import annotations


def _in_stock_line(shop):
    """A line walked to in stock, with two coils reserved for it."""
    from alloyhub.tenants.inventory import services as inventory
    from alloyhub.tenants.orders import services as orders

    line_id = shop.order_line()
    coils = [shop.receive(f"SHIP-{n}", 5000.0) for n in (1, 2)]
    with shop.scope():
        line = orders.get_line(line_id)
        for status in ("planned", "in_production", "finished", "in_stock"):
            orders.set_line_status(line, status)
        inventory.reserve(coils, line_id)
    return line_id, coils


def _ship(shop, coil_id):
    from alloyhub.tenants.inventory import services as inventory

    with shop.scope():
        shipment = inventory.create_shipment(customer_name="Customer one")
        inventory.add_to_shipment(shipment, coil_id)
        inventory.confirm_shipment(shipment)
        return shipment.id


def _deliver(shop, shipment_id):
    from alloyhub.tenants.inventory import services as inventory

    with shop.scope():
        inventory.deliver_shipment(inventory.get_shipment(shipment_id), received_by="张三")


def test_a_line_ships_with_its_last_coil_and_is_delivered_with_its_last_shipment(shop):
    line_id, (first, second) = _in_stock_line(shop)
    one = _ship(shop, first)
    assert shop.line_status(line_id) == "in_stock"  # one coil still in the warehouse
    two = _ship(shop, second)
    assert shop.line_status(line_id) == "shipped"
    _deliver(shop, one)
    assert shop.line_status(line_id) == "shipped"  # the other truck is on the road
    _deliver(shop, two)
    assert shop.line_status(line_id) == "delivered"


def test_coils_of_no_line_move_no_line(shop):
    line_id, _ = _in_stock_line(shop)
    stray = shop.receive("SHIP-STRAY", 3000.0)
    _deliver(shop, _ship(shop, stray))
    assert shop.line_status(line_id) == "in_stock"
