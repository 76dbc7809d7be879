"""Shipments: drafted for a customer (and order), coils added, confirmed
(the coils leave stock, in one transaction), delivered. The packing list."""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from alloyhub.platform import audit, outbox
from alloyhub.platform.db import db, get_or_404, utcnow

from ..errors import CoilUnavailable, DoubleBooking, Invalid, InventoryConflict, Missing
from ..models import (
    AVAILABLE,
    IN_STOCK,
    RESERVED,
    SHIPPED,
    Coil,
    Reservation,
    Shipment,
    ShipmentItem,
    Warehouse,
)
from .common import EPS, clean, code_error, current_user_id, kg, like_anywhere, require
from .stock import (
    active_reservation,
    end_reservation,
    lock_coil,
    lock_coils,
    record_move,
    refuse_unless,
    save,
)

# ---------------------------------------------------------------- shipments

def shipments_query(*, status=None, q: str | None = None, order_id=None):
    stmt = select(Shipment)
    if status:
        stmt = stmt.where(Shipment.status == status)
    if q:
        pattern = like_anywhere(q)
        stmt = stmt.where(or_(Shipment.shipment_no.ilike(pattern), Shipment.customer_name.ilike(pattern)))
    if order_id:
        stmt = stmt.where(Shipment.order_id == order_id)
    return stmt


def get_shipment(shipment_id) -> Shipment:
    return get_or_404(Shipment, shipment_id, "No such shipment")


def _lock_shipment(shipment_id) -> Shipment:
    shipment = db.session.scalar(select(Shipment).where(Shipment.id == shipment_id)
                                 .with_for_update(of=Shipment).execution_options(populate_existing=True))
    if shipment is None:
        raise Missing("No such shipment")
    return shipment


SHIPMENT_FIELDS = ("customer_name", "customer_ref", "order_id", "warehouse_id", "ship_to", "carrier", "vehicle_no",
                   "planned_date", "notes")


def _shipment_errors(values: dict) -> dict:
    errors: dict[str, list[str]] = {}
    if not values.get("customer_name"):
        errors["customer_name"] = ["Enter the customer."]
    warehouse_id = values.get("warehouse_id")
    if warehouse_id and db.session.scalar(select(Warehouse.id).where(Warehouse.id == warehouse_id)) is None:
        errors["warehouse_id"] = ["No such warehouse."]
    return errors


def _next_shipment_no(day: date) -> str:
    prefix = f"SH{day:%y%m%d}-"
    last = db.session.scalar(select(func.max(Shipment.shipment_no)).where(Shipment.shipment_no.like(prefix + "%")))
    try:
        n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    except ValueError:
        n = 1
    return f"{prefix}{n:03d}"


def create_shipment(*, customer_name: str, shipment_no: str | None = None, **fields) -> Shipment:
    values = {k: (clean(v) if isinstance(v, str) else v) for k, v in fields.items() if k in SHIPMENT_FIELDS}
    values["customer_name"] = clean(customer_name)
    errors = _shipment_errors(values)
    shipment_no = clean(shipment_no)
    if shipment_no:
        if code_error(shipment_no, "Enter the shipment number.", 40):
            errors["shipment_no"] = code_error(shipment_no, "Enter the shipment number.", 40)
        elif db.session.scalar(select(Shipment.id).where(Shipment.shipment_no == shipment_no)):
            errors["shipment_no"] = ["Another shipment already has this number."]
    require(errors)
    for attempt in range(5):
        number = shipment_no or _next_shipment_no(utcnow().date())
        shipment = Shipment(shipment_no=number, status="draft", created_by=current_user_id(), **values)
        savepoint = db.session.begin_nested()
        db.session.add(shipment)
        try:
            savepoint.commit()
            break
        except IntegrityError:  # someone took the number at the same moment
            savepoint.rollback()
            if shipment_no:
                raise Invalid("Another shipment already has this number.", field="shipment_no") from None
    else:  # pragma: no cover - five clashes in a row
        raise InventoryConflict("Could not number the shipment; try again.")
    outbox.publish("inventory.shipment.created", _shipment_payload(shipment))
    save()
    return shipment


def update_shipment(shipment: Shipment, **fields) -> Shipment:
    shipment = _lock_shipment(shipment.id)
    if shipment.status != "draft":
        raise InventoryConflict("Shipment %(shipment_no)s is %(shipment_status)s: only a draft can be changed.",
                                shipment_no=shipment.shipment_no, shipment_status=shipment.status)
    values = {k: getattr(shipment, k) for k in SHIPMENT_FIELDS}
    values.update({k: (clean(v) if isinstance(v, str) else v) for k, v in fields.items() if k in SHIPMENT_FIELDS})
    require(_shipment_errors(values))
    for key, value in values.items():
        setattr(shipment, key, value)
    save()
    return shipment


def _shipment_payload(shipment: Shipment) -> dict:
    return {"shipment_id": str(shipment.id), "shipment_no": shipment.shipment_no, "status": shipment.status,
            "customer_name": shipment.customer_name,
            "order_id": str(shipment.order_id) if shipment.order_id else None,
            "coils": [{"coil_id": str(i.coil_id), "coil_no": i.coil.coil_no,
                       "order_line_id": str(i.order_line_id) if i.order_line_id else None,
                       "weight_kg": kg(i.weight_kg if i.weight_kg is not None else i.coil.weight_kg)}
                      for i in shipment.items]}


def add_to_shipment(shipment: Shipment, coil_id, order_line_id=None) -> ShipmentItem:
    """Put a coil on a draft shipment. A coil reserved for an order line goes
    only on that line; a coil on another shipment, quarantined, issued or
    gone does not go."""
    shipment = _lock_shipment(shipment.id)
    if shipment.status != "draft":
        raise InventoryConflict("Shipment %(shipment_no)s is %(shipment_status)s: coils can be added to a draft only.",
                                shipment_no=shipment.shipment_no, shipment_status=shipment.status)
    if coil_id is None:
        raise Invalid("Choose a coil.", field="coil_id")
    coil = lock_coil(coil_id, field="coil_id")
    if coil.shipment_id is not None:
        other = coil.shipment
        raise DoubleBooking("Coil %(coil_no)s is on shipment %(shipment_no)s already.", coil_no=coil.coil_no,
                            shipment_no=other.shipment_no if other else "?")
    order_line_id = _shippable_line(coil, order_line_id, "shipped")
    item = ShipmentItem(shipment_id=shipment.id, coil_id=coil.id, order_line_id=order_line_id, added_by=current_user_id())
    coil.shipment_id = shipment.id
    db.session.add(item)
    save()
    db.session.refresh(shipment)
    return item


def _shippable_line(coil: Coil, order_line_id, action: str):
    """The order line the coil ships on: the one it is reserved for, if any."""
    if coil.status == RESERVED:
        reservation = active_reservation(coil)
        if reservation is not None:
            if order_line_id is not None and str(order_line_id) != str(reservation.order_line_id):
                raise DoubleBooking("Coil %(coil_no)s is reserved for order line %(order_line_id)s: "
                                    "it cannot be %(action)s for another line.", coil_no=coil.coil_no,
                                    order_line_id=reservation.order_line_id, action=action, coil_status=coil.status)
            return reservation.order_line_id
    refuse_unless(coil, (AVAILABLE,), action)
    if coil.weight_kg < EPS:
        raise CoilUnavailable("Coil %(coil_no)s weighs nothing.", coil_no=coil.coil_no, coil_status=coil.status)
    return order_line_id


def remove_from_shipment(shipment: Shipment, coil_id) -> Shipment:
    shipment = _lock_shipment(shipment.id)
    if shipment.status != "draft":
        raise InventoryConflict("Shipment %(shipment_no)s is %(shipment_status)s: coils can be taken off a draft only.",
                                shipment_no=shipment.shipment_no, shipment_status=shipment.status)
    item = db.session.scalar(select(ShipmentItem).where(ShipmentItem.shipment_id == shipment.id,
                                                        ShipmentItem.coil_id == coil_id))
    if item is None:
        raise Missing("This coil is not on the shipment")
    coil = lock_coil(coil_id)
    coil.shipment_id = None
    db.session.delete(item)
    save()
    db.session.refresh(shipment)
    return shipment


def confirm_shipment(shipment: Shipment) -> Shipment:
    """The coils leave: each must still be shippable (not quarantined,
    issued, consumed, or reserved for a line other than its item's). Either
    every coil ships or none does."""
    shipment = _lock_shipment(shipment.id)
    if shipment.status != "draft":
        raise InventoryConflict("Shipment %(shipment_no)s is %(shipment_status)s already.",
                                shipment_no=shipment.shipment_no, shipment_status=shipment.status)
    items = list(db.session.scalars(select(ShipmentItem).where(ShipmentItem.shipment_id == shipment.id)
                                    .execution_options(populate_existing=True)))
    if not items:
        raise Invalid("Add coils to the shipment first.", field="items")
    coils = lock_coils([i.coil_id for i in items])
    at = utcnow()
    for item in sorted(items, key=lambda i: coils[i.coil_id].coil_no):
        coil = coils[item.coil_id]
        item.order_line_id = _shippable_line(coil, item.order_line_id, "shipped")
    for item in items:
        coil = coils[item.coil_id]
        before = (coil.status, coil.location_id, coil.weight_kg)
        end_reservation(coil, "fulfilled", f"shipped on {shipment.shipment_no}")
        coil.status, coil.location_id = SHIPPED, None
        item.weight_kg = kg(coil.weight_kg)
        record_move(coil, "shipment", from_status=before[0], from_location_id=before[1], weight_before=before[2],
                    reason=shipment.shipment_no, shipment_id=shipment.id, order_line_id=item.order_line_id, at=at)
    shipment.status, shipment.shipped_at, shipment.shipped_by = "shipped", at, current_user_id()
    db.session.flush()
    _lines_follow(shipment, {item.order_line_id or coils[item.coil_id].order_line_id for item in items}, "shipped")
    db.session.refresh(shipment)
    payload = _shipment_payload(shipment)
    outbox.publish("inventory.shipment.shipped", payload)
    audit.record("inventory.shipment_confirmed", target_type="shipment", target_id=shipment.id,
                 shipment_no=shipment.shipment_no, customer=shipment.customer_name, coils=len(items),
                 weight_kg=kg(sum(i.weight_kg for i in items)))
    save()
    return shipment


def deliver_shipment(shipment: Shipment, *, received_by: str | None = None, note: str | None = None,
                     delivered_at: datetime | None = None) -> Shipment:
    shipment = _lock_shipment(shipment.id)
    if shipment.status != "shipped":
        raise InventoryConflict("Shipment %(shipment_no)s is %(shipment_status)s: only a shipped one can be delivered.",
                                shipment_no=shipment.shipment_no, shipment_status=shipment.status)
    when = delivered_at or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if shipment.shipped_at and when < shipment.shipped_at:
        raise Invalid("The delivery cannot be before the shipment left.", field="delivered_at")
    shipment.status, shipment.delivered_at, shipment.delivered_by = "delivered", when, current_user_id()
    shipment.received_by, shipment.delivery_note = clean(received_by), clean(note)
    db.session.flush()
    _lines_follow(shipment, _lines_on(shipment), "delivered")
    outbox.publish("inventory.shipment.delivered", {**_shipment_payload(shipment),
                                                     "received_by": shipment.received_by,
                                                     "delivered_at": when.isoformat()})
    audit.record("inventory.shipment_delivered", target_type="shipment", target_id=shipment.id,
                 shipment_no=shipment.shipment_no, received_by=shipment.received_by)
    save()
    return shipment


def _lines_on(shipment: Shipment) -> set:
    rows = db.session.execute(select(ShipmentItem.order_line_id, Coil.order_line_id)
                              .join(Coil, Coil.id == ShipmentItem.coil_id)
                              .where(ShipmentItem.shipment_id == shipment.id)).all()
    return {item_line or coil_line for item_line, coil_line in rows}


def _still_in_stock(line_id) -> bool:
    """Coils made for or reserved to the line that are still here."""
    made = select(Coil.id).where(Coil.order_line_id == line_id, Coil.status.in_(IN_STOCK))
    reserved = (select(Coil.id).join(Reservation, Reservation.coil_id == Coil.id)
                .where(Reservation.order_line_id == line_id, Reservation.status == "active",
                       Coil.status.in_(IN_STOCK)))
    return db.session.scalar(select(made.union(reserved).exists())) or False


def _still_on_the_road(line_id) -> bool:
    carried = (select(ShipmentItem.id).join(Shipment, Shipment.id == ShipmentItem.shipment_id)
               .join(Coil, Coil.id == ShipmentItem.coil_id)
               .where(Shipment.status == "shipped",
                      or_(ShipmentItem.order_line_id == line_id, Coil.order_line_id == line_id)))
    return db.session.scalar(select(carried.exists())) or False


def _lines_follow(shipment: Shipment, line_ids, to_status: str) -> None:
    """Order lines follow their coils: a line in stock is shipped once none
    of its coils is left in stock; a shipped line is delivered once no
    shipment carrying it is still on the road. In the shipment's own
    transaction, so the coils and the lines never disagree."""
    try:
        from alloyhub.tenants.orders import services as orders
        from alloyhub.tenants.orders.models import OrderLine
    except ImportError:  # the orders room is not installed
        return
    before, waiting = ("in_stock", _still_in_stock) if to_status == "shipped" else ("shipped", _still_on_the_road)
    for line_id in sorted(filter(None, line_ids), key=str):
        line = db.session.get(OrderLine, line_id)
        if line is None or line.status != before or waiting(line_id):
            continue
        orders.set_line_status(line, to_status, f"{to_status} on {shipment.shipment_no}", commit=False)


def cancel_shipment(shipment: Shipment, reason: str | None = None) -> Shipment:
    """A draft that will not go: its coils come off it (they stay in stock)."""
    shipment = _lock_shipment(shipment.id)
    if shipment.status != "draft":
        raise InventoryConflict("Shipment %(shipment_no)s is %(shipment_status)s: only a draft can be cancelled.",
                                shipment_no=shipment.shipment_no, shipment_status=shipment.status)
    items = list(db.session.scalars(select(ShipmentItem).where(ShipmentItem.shipment_id == shipment.id)))
    coils = lock_coils([i.coil_id for i in items])
    for item in items:
        coils[item.coil_id].shipment_id = None
        db.session.delete(item)
    shipment.status = "cancelled"
    shipment.notes = "; ".join(x for x in (shipment.notes, clean(reason)) if x) or None
    db.session.flush()
    outbox.publish("inventory.shipment.cancelled", {"shipment_id": str(shipment.id),
                                                     "shipment_no": shipment.shipment_no})
    save()
    db.session.refresh(shipment)
    return shipment


def packing_list(shipment: Shipment) -> dict:
    """The coils of a shipment as a packing list, with totals."""
    rows = []
    for n, item in enumerate(sorted(shipment.items, key=lambda i: i.coil.coil_no), start=1):
        coil = item.coil
        rows.append({"n": n, "coil_no": coil.coil_no, "lot_no": coil.lot.lot_no if coil.lot else None,
                     "heat_no": coil.heat.heat_no if coil.heat else None, "alloy": coil.alloy,
                     "temper": coil.temper, "gauge_mm": coil.gauge_mm, "width_mm": coil.width_mm,
                     "length_m": coil.length_m,
                     "weight_kg": kg(item.weight_kg if item.weight_kg is not None else coil.weight_kg),
                     "order_line_id": item.order_line_id, "coil_id": coil.id, "coil_status": coil.status})
    return {"shipment": shipment, "rows": rows, "coils": len(rows),
            "total_weight_kg": kg(sum(r["weight_kg"] for r in rows))}


PACKING_COLUMNS = ["n", "coil_no", "lot_no", "heat_no", "alloy", "temper", "gauge_mm", "width_mm", "length_m",
                   "weight_kg", "order_line_id"]


def packing_list_rows(shipment: Shipment) -> tuple[list[str], list[list]]:
    data = packing_list(shipment)
    rows = [[("" if r[c] is None else r[c]) for c in PACKING_COLUMNS] for r in data["rows"]]
    rows.append(["", "TOTAL", "", "", "", "", "", "", "", data["total_weight_kg"], ""])
    return PACKING_COLUMNS, rows
