"""Customers, orders and their lifecycle.

The lifecycle is a table (`LINE_TRANSITIONS`) on order lines:

    draft → confirmed → planned → in production → finished → in stock → shipped → delivered
    draft / confirmed / planned → cancelled;  planned → confirmed (taken off a schedule)

An order's status follows its lines: the least advanced status of its live
(not cancelled) lines, or cancelled when all are (`derive_status`). People
confirm and cancel orders and may move all lines of an order one step on
(`advance_order`); scheduling, production and inventory move single lines
(`mark_planned`, `mark_in_production`, … `mark_delivered`). An illegal move
is a 409 problem naming the line, its status and what it may become; the
whole request changes nothing.

Every change writes an `order_history` row (who, when, which fields from
what to what) and, once an order is past draft, an outbox event in the same
transaction: order.confirmed, order.changed, order.cancelled,
order.status_changed (with order.<status>), order.line_status_changed.

Also here: the signed tracking link for the customer (`tracking_token`),
and `line_location(line_id)`, the hook through which the inventory room
tells where a line's coils are. The import (importing.py) and the
promised-date check (promising.py) are services of this room too.
"""
from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, text

from alloyhub.platform import audit, outbox, tenancy
from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.errors import Conflict, NotFound, ValidationFailed
from alloyhub.tenants.equipment.messages import msg
from alloyhub.tenants.products import services as products
from alloyhub.tenants.products.models import Product

from .models import (
    CANCELLED, CONFIRMED, DELIVERED, DRAFT, FINISHED, FLOW, IN_PRODUCTION, IN_STOCK, PLANNED, PRIORITIES,
    QUANTITY_UNITS, SHIPPED, STATUSES, Customer, HistoryEntry, Order, OrderLine,
)

LINE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    DRAFT: (CONFIRMED, CANCELLED),
    CONFIRMED: (PLANNED, CANCELLED),
    PLANNED: (IN_PRODUCTION, CONFIRMED, CANCELLED),
    IN_PRODUCTION: (FINISHED,),
    FINISHED: (IN_STOCK,),
    IN_STOCK: (SHIPPED,),
    SHIPPED: (DELIVERED,),
    DELIVERED: (),
    CANCELLED: (),
}
# Lines whose product and quantity may still change.
EDITABLE = (DRAFT, CONFIRMED)
# Lines whose due date and priority may still change.
RESCHEDULABLE = (DRAFT, CONFIRMED, PLANNED, IN_PRODUCTION)
COMMITTED = (CONFIRMED, PLANNED, IN_PRODUCTION)
PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(2100, 12, 31)


def rank(status: str) -> int:
    return FLOW.index(status) if status in FLOW else len(FLOW)


def _text(value) -> str | None:
    return (value or "").strip() or None


def _user_id():
    return tenancy.current().user_id


# ---------------------------------------------------------------- customers

CUSTOMER_FIELDS = ("code", "name", "contact_name", "email", "phone", "address", "transit_days", "notes", "active")


def customers_query(q: str | None = None, active: bool | None = None):
    stmt = select(Customer)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Customer.code.ilike(like) | Customer.name.ilike(like))
    if active is not None:
        stmt = stmt.where(Customer.active.is_(active))
    return stmt


def customers(active_only: bool = False) -> list[Customer]:
    return list(db.session.scalars(customers_query(active=True if active_only else None).order_by(Customer.code)))


def get_customer(customer_id) -> Customer:
    return get_or_404(Customer, customer_id, "No such customer")


def customer_by_code(code: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(Customer.code == (code or "").strip().upper()))


def _validate_customer(values: dict, customer_id=None) -> None:
    errors: dict[str, list] = {}
    code = values["code"]
    if not code:
        errors["code"] = ["Enter a customer code."]
    elif not re.match(r"^[A-Z0-9][A-Z0-9_.\-]{0,39}$", code):
        errors["code"] = ["Use letters, digits, '-', '_' or '.' (at most 40)."]
    else:
        stmt = select(Customer.id).where(Customer.code == code)
        if customer_id is not None:
            stmt = stmt.where(Customer.id != customer_id)
        if db.session.scalar(stmt) is not None:
            errors["code"] = ["Another customer already uses this code."]
    if not values.get("name"):
        errors["name"] = ["Enter the customer's name."]
    email = values.get("email")
    if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        errors["email"] = ["Enter a valid e-mail address."]
    days = values.get("transit_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 90:
        errors["transit_days"] = ["Enter 0-90 days."]
    if errors:
        raise ValidationFailed(errors=errors)


def _normalise_customer(values: dict) -> dict:
    values["code"] = (values.get("code") or "").strip().upper()
    for key in ("name", "contact_name", "email", "phone", "address", "notes"):
        values[key] = _text(values.get(key))
    return values


def create_customer(**data) -> Customer:
    values = _normalise_customer({"transit_days": 1, "active": True,
                                  **{k: v for k, v in data.items() if k in CUSTOMER_FIELDS and v is not None}})
    _validate_customer(values)
    customer = Customer(**{k: values.get(k) for k in CUSTOMER_FIELDS})
    db.session.add(customer)
    db.session.commit()
    return customer


def update_customer(customer: Customer, **data) -> Customer:
    values = {k: getattr(customer, k) for k in CUSTOMER_FIELDS}
    values.update({k: v for k, v in data.items() if k in CUSTOMER_FIELDS})
    values = _normalise_customer(values)
    _validate_customer(values, customer.id)
    for key in CUSTOMER_FIELDS:
        setattr(customer, key, values[key])
    db.session.commit()
    return customer


def delete_customer(customer: Customer) -> None:
    count = db.session.scalar(select(func.count()).select_from(Order).where(Order.customer_id == customer.id))
    if count:
        raise Conflict(msg("The customer %(code)s has %(count)s orders; mark it inactive instead.",
                           code=customer.code, count=count))
    db.session.delete(customer)
    db.session.commit()


# ---------------------------------------------------------------- orders: reading

def orders_query(status=None, customer_id=None, q=None, due_from=None, due_to=None):
    stmt = select(Order)
    if status:
        stmt = stmt.where(Order.status == status)
    if customer_id:
        stmt = stmt.where(Order.customer_id == customer_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Order.number.ilike(like) | Order.customer_po.ilike(like))
    if due_from or due_to:
        lines = select(OrderLine.order_id)
        if due_from:
            lines = lines.where(OrderLine.due_date >= due_from)
        if due_to:
            lines = lines.where(OrderLine.due_date <= due_to)
        stmt = stmt.where(Order.id.in_(lines))
    return stmt


def get_order(order_id) -> Order:
    return get_or_404(Order, order_id, "No such order")


def order_by_number(number: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.number == (number or "").strip()))


def get_line(order_line_id) -> OrderLine:
    return get_or_404(OrderLine, order_line_id, "No such order line")


def lines_query(status=None, statuses=None, product_id=None):
    stmt = select(OrderLine)
    if status:
        stmt = stmt.where(OrderLine.status == status)
    if statuses:
        stmt = stmt.where(OrderLine.status.in_(statuses))
    if product_id:
        stmt = stmt.where(OrderLine.product_id == product_id)
    return stmt


def committed_lines() -> list[OrderLine]:
    """Lines the plant has promised and not yet made: confirmed, planned, in production."""
    return list(db.session.scalars(lines_query(statuses=COMMITTED)
                                   .order_by(OrderLine.due_date, OrderLine.priority.desc(), OrderLine.created_at,
                                             OrderLine.id)))


def line_tonnes(line: OrderLine, product: Product | None = None) -> float:
    product = product or db.session.get(Product, line.product_id)
    return products.tonnes(product, line.quantity, line.quantity_unit)


def history(order: Order, limit: int = 500) -> list[HistoryEntry]:
    return list(db.session.scalars(select(HistoryEntry).where(HistoryEntry.order_id == order.id)
                                   .order_by(HistoryEntry.at.desc(), HistoryEntry.id).limit(limit)))


def history_query(order: Order):
    return select(HistoryEntry).where(HistoryEntry.order_id == order.id)


def user_names(user_ids) -> dict:
    from alloyhub.platform.identity.models import User

    ids = [i for i in user_ids if i]
    if not ids:
        return {}
    return {u.id: u.name or u.email for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def products_by_id(ids) -> dict:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(ids)))}


# ---------------------------------------------------------------- history and events

def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _record(order: Order, action: str, *, line: OrderLine | None = None, changes: dict | None = None,
            from_status=None, to_status=None, note=None) -> HistoryEntry:
    entry = HistoryEntry(order_id=order.id, line_id=line.id if line is not None else None,
                         line_no=line.line_no if line is not None else None, user_id=_user_id(), action=action,
                         from_status=from_status, to_status=to_status,
                         changes={k: [_jsonable(a), _jsonable(b)] for k, (a, b) in (changes or {}).items()},
                         note=note)
    db.session.add(entry)
    return entry


def _payload(order: Order, **extra) -> dict:
    return {"order_id": str(order.id), "number": order.number, "customer_id": str(order.customer_id),
            "status": order.status, **{k: _jsonable(v) for k, v in extra.items()}}


def _publish(topic: str, order: Order, **extra) -> None:
    outbox.publish(topic, _payload(order, **extra))


# ---------------------------------------------------------------- orders: writing

def next_number(today: date | None = None) -> str:
    """SO-<year>-NNNN, one more than the highest. Two people entering orders at
    once must not draw the same number: a transaction-level advisory lock per
    company serialises the draw until the order is committed."""
    db.session.execute(text("select pg_advisory_xact_lock(hashtext(:key))"),
                       {"key": f"order-number:{tenancy.current_tenant_id()}"})
    prefix = f"SO-{(today or utcnow().date()).year}-"
    existing = db.session.scalars(select(Order.number).where(Order.number.like(prefix + "%")))
    highest = max((int(n[len(prefix):]) for n in existing if n[len(prefix):].isdigit()), default=0)
    return f"{prefix}{highest + 1:04d}"


def _check_number(errors: dict, number: str, order_id=None) -> None:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,39}$", number):
        errors["number"] = ["Use letters, digits, '-', '_', '.' or '/' (at most 40)."]
        return
    stmt = select(Order.id).where(Order.number == number)
    if order_id is not None:
        stmt = stmt.where(Order.id != order_id)
    if db.session.scalar(stmt) is not None:
        errors["number"] = ["Another order already has this number."]


def _line_values(raw: dict, errors: dict, prefix: str = "") -> dict:
    """Check one line's fields; problems go to errors[prefix + field]."""
    def add(name, message):
        errors.setdefault(prefix + name, []).append(message)

    product = None
    product_id = raw.get("product_id")
    if product_id is not None:
        product = db.session.scalar(select(Product).where(Product.id == product_id)) \
            if isinstance(product_id, uuid.UUID) else None
    if product is None:
        add("product_id", "No such product.")
    elif not product.active:
        add("product_id", msg("The product %(code)s is no longer made.", code=product.code))
    quantity = raw.get("quantity")
    if not isinstance(quantity, (int, float)) or isinstance(quantity, bool) or quantity != quantity:
        add("quantity", "Enter the quantity.")
    elif quantity <= 0:
        add("quantity", "The quantity must be above zero.")
    elif quantity > 100000:
        add("quantity", "At most 100000.")
    unit = raw.get("quantity_unit") or "t"
    if unit not in QUANTITY_UNITS:
        add("quantity_unit", "The quantity is in tonnes (t) or coils.")
    elif unit == "coils" and isinstance(quantity, (int, float)) and quantity != int(quantity):
        add("quantity", "Coils come whole.")
    due = raw.get("due_date")
    if not isinstance(due, date) or isinstance(due, datetime):
        add("due_date", "Give the due date.")
    elif not MIN_DATE <= due <= MAX_DATE:
        add("due_date", "Give a due date between 2000 and 2100.")
    priority = raw.get("priority", 2)
    if priority is None:
        priority = 2
    if priority not in PRIORITIES or isinstance(priority, bool):
        add("priority", "The priority is 1 (low) to 4 (urgent).")
    return {"product_id": product.id if product else None, "quantity": quantity, "quantity_unit": unit,
            "due_date": due, "priority": priority, "notes": _text(raw.get("notes"))}


def _raise(errors: dict, detail: str | None = None) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(detail, errors=errors)


def create_order(*, customer_id, lines: list[dict] | None = None, customer_po=None, notes=None, number=None,
                 commit: bool = True, note: str | None = None) -> Order:
    """A draft order with its lines (all checked together)."""
    errors: dict[str, list] = {}
    customer = db.session.scalar(select(Customer).where(Customer.id == customer_id)) \
        if isinstance(customer_id, uuid.UUID) else None
    if customer is None:
        errors["customer_id"] = ["No such customer."]
    number = (number or "").strip() or next_number()
    _check_number(errors, number)
    po = _text(customer_po)
    if po and len(po) > 80:
        errors["customer_po"] = ["At most 80 characters."]
    if len(lines or []) > 200:
        errors["lines"] = ["At most 200 lines."]
    values = [_line_values(raw, errors, f"lines.{i}.") for i, raw in enumerate((lines or [])[:200])]
    _raise(errors)
    order = Order(number=number, customer_id=customer.id, customer_po=po, notes=_text(notes), status=DRAFT,
                  created_by=_user_id(), tracking_nonce=secrets.token_urlsafe(16))
    order.lines = [OrderLine(line_no=i + 1, status=DRAFT, **v) for i, v in enumerate(values)]
    db.session.add(order)
    db.session.flush()
    _record(order, "created", note=note, changes={"lines": [None, len(values)]})
    if commit:
        db.session.commit()
    return order


ORDER_FIELDS = ("customer_id", "customer_po", "notes", "number")


def update_order(order: Order, **data) -> Order:
    errors: dict[str, list] = {}
    changes = {}
    if "customer_id" in data and data["customer_id"] != order.customer_id:
        if order.status != DRAFT:
            raise Conflict(msg("Order %(number)s is %(status)s: its customer can no longer change.",
                               number=order.number, status=order.status))
        if db.session.scalar(select(Customer.id).where(Customer.id == data["customer_id"])) is None:
            errors["customer_id"] = ["No such customer."]
        changes["customer_id"] = (order.customer_id, data["customer_id"])
    if "number" in data and (data["number"] or "").strip() != order.number:
        if order.status != DRAFT:
            raise Conflict(msg("Order %(number)s is %(status)s: its number can no longer change.",
                               number=order.number, status=order.status))
        _check_number(errors, (data["number"] or "").strip(), order.id)
        changes["number"] = (order.number, (data["number"] or "").strip())
    for key in ("customer_po", "notes"):
        if key in data and _text(data[key]) != getattr(order, key):
            changes[key] = (getattr(order, key), _text(data[key]))
    if changes.get("customer_po") and changes["customer_po"][1] and len(changes["customer_po"][1]) > 80:
        errors["customer_po"] = ["At most 80 characters."]
    _raise(errors)
    if not changes:
        return order
    for key, (_old, new) in changes.items():
        setattr(order, key, new)
    _record(order, "changed", changes=changes)
    if order.status != DRAFT:
        _publish("order.changed", order, changes={k: [_jsonable(a), _jsonable(b)] for k, (a, b) in changes.items()})
    order.updated_at = utcnow()
    db.session.commit()
    return order


def delete_order(order: Order) -> None:
    if order.status != DRAFT:
        raise Conflict(msg("Order %(number)s is %(status)s: cancel it instead of deleting it.",
                           number=order.number, status=order.status))
    db.session.delete(order)
    db.session.commit()


def add_line(order: Order, **raw) -> OrderLine:
    if order.status not in (DRAFT, CONFIRMED):
        raise Conflict(msg("Order %(number)s is %(status)s: add a new order instead.", number=order.number,
                           status=order.status))
    errors: dict[str, list] = {}
    values = _line_values(raw, errors)
    if not errors and order.status == CONFIRMED:
        _require_routing(db.session.get(Product, values["product_id"]), errors, "product_id")
    _raise(errors)
    # Never reuse the number of a removed line: the history names it.
    used = db.session.scalar(select(func.max(HistoryEntry.line_no)).where(HistoryEntry.order_id == order.id)) or 0
    line_no = max([li.line_no for li in order.lines] + [used]) + 1
    line = OrderLine(line_no=line_no, status=order.status, **values)
    order.lines.append(line)
    db.session.flush()
    _record(order, "line_added", line=line, changes={k: [None, v] for k, v in values.items()})
    if order.status != DRAFT:
        _publish("order.changed", order, line_no=line_no, changes={"line_added": [None, line_no]})
    order.updated_at = utcnow()
    db.session.commit()
    return line


LINE_FIELDS = ("product_id", "quantity", "quantity_unit", "due_date", "priority", "notes")


def update_line(line: OrderLine, **data) -> OrderLine:
    order = line.order
    current = {k: getattr(line, k) for k in LINE_FIELDS}
    proposed = {**current, **{k: v for k, v in data.items() if k in LINE_FIELDS}}
    errors: dict[str, list] = {}
    values = _line_values(proposed, errors)
    if errors.get("product_id") and proposed["product_id"] == current["product_id"]:
        errors.pop("product_id")  # a product retired since keeps its old lines editable
        values["product_id"] = current["product_id"]
    _raise(errors)
    changes = {k: (current[k], values[k]) for k in LINE_FIELDS if values[k] != current[k]}
    if not changes:
        return line
    if set(changes) & {"product_id", "quantity", "quantity_unit"} and line.status not in EDITABLE:
        raise Conflict(msg("Line %(line)s of %(number)s is %(status)s: its product and quantity can no longer "
                           "change.", line=line.line_no, number=order.number, status=line.status))
    if set(changes) & {"due_date", "priority"} and line.status not in RESCHEDULABLE:
        raise Conflict(msg("Line %(line)s of %(number)s is %(status)s: its due date and priority can no longer "
                           "change.", line=line.line_no, number=order.number, status=line.status))
    if "product_id" in changes and line.status != DRAFT:
        route_errors: dict[str, list] = {}
        _require_routing(db.session.get(Product, values["product_id"]), route_errors, "product_id")
        _raise(route_errors)
    for key, (_old, new) in changes.items():
        setattr(line, key, new)
    _record(order, "line_changed", line=line, changes=changes)
    if order.status != DRAFT:
        _publish("order.changed", order, line_no=line.line_no,
                 changes={k: [_jsonable(a), _jsonable(b)] for k, (a, b) in changes.items()})
    order.updated_at = utcnow()
    db.session.commit()
    return line


def remove_line(line: OrderLine) -> None:
    order = line.order
    if line.status != DRAFT:
        raise Conflict(msg("Line %(line)s of %(number)s is %(status)s: cancel it instead of removing it.",
                           line=line.line_no, number=order.number, status=line.status))
    _record(order, "line_removed", changes={"line_no": [line.line_no, None], "product_id": [line.product_id, None],
                                            "quantity": [line.quantity, None]})
    order.lines.remove(line)
    order.updated_at = utcnow()
    db.session.commit()


# ---------------------------------------------------------------- the lifecycle

class IllegalTransition(Conflict):
    slug, title = "illegal-transition", "This status change is not allowed"


def _require_routing(product: Product | None, errors: dict, key: str) -> None:
    if product is not None and not product.operations:
        errors.setdefault(key, []).append(msg("The product %(code)s has no routing yet: it cannot be made.",
                                              code=product.code))


def _illegal(line: OrderLine, to_status: str) -> IllegalTransition:
    allowed = LINE_TRANSITIONS.get(line.status, ())
    return IllegalTransition(
        msg("Line %(line)s of %(number)s is %(status)s; it cannot become %(to)s (it may become: %(allowed)s).",
            line=line.line_no, number=line.order.number, status=line.status, to=to_status,
            allowed=", ".join(allowed) or "nothing"),
        line_id=str(line.id), from_status=line.status, to_status=to_status, allowed=list(allowed))


def derive_status(order: Order) -> str:
    live = [li for li in order.lines if li.status != CANCELLED]
    if not live:
        return CANCELLED if order.lines else order.status
    return min((li.status for li in live), key=rank)


def _move_line(line: OrderLine, to_status: str, note: str | None = None) -> None:
    if to_status not in LINE_TRANSITIONS.get(line.status, ()):
        raise _illegal(line, to_status)
    before = line.status
    line.status = to_status
    _record(line.order, "status", line=line, from_status=before, to_status=to_status, note=note)
    if line.order.status != DRAFT:
        _publish("order.line_status_changed", line.order, line_id=line.id, line_no=line.line_no,
                 from_status=before, to_status=to_status)


def _settle(order: Order, note: str | None = None) -> None:
    """Make the order's status follow its lines; record and announce a change."""
    after = derive_status(order)
    before = order.status
    if after == before:
        return
    order.status = after
    now = utcnow()
    if after == CONFIRMED and order.confirmed_at is None:
        order.confirmed_at = now
    if after == CANCELLED:
        order.cancelled_at = now
    order.updated_at = now
    _record(order, "status", from_status=before, to_status=after, note=note)
    _publish("order.status_changed", order, from_status=before, to_status=after)
    _publish(f"order.{after}", order, from_status=before)


def confirm_order(order: Order, note: str | None = None, *, commit: bool = True) -> Order:
    if order.status != DRAFT:
        raise IllegalTransition(msg("Order %(number)s is %(status)s; only a draft can be confirmed.",
                                    number=order.number, status=order.status),
                                from_status=order.status, to_status=CONFIRMED)
    live = [li for li in order.lines if li.status != CANCELLED]
    errors: dict[str, list] = {}
    if not live:
        errors["lines"] = ["Add at least one line before confirming."]
    for i, line in enumerate(order.lines):
        product = db.session.get(Product, line.product_id)
        if line.status != CANCELLED:
            _require_routing(product, errors, f"lines.{i}.product_id")
            if product is not None and not product.active:
                errors.setdefault(f"lines.{i}.product_id", []).append(
                    msg("The product %(code)s is no longer made.", code=product.code))
    _raise(errors, msg("Order %(number)s cannot be confirmed yet.", number=order.number))
    for line in live:
        _move_line(line, CONFIRMED, note)
    _settle(order, note)
    if commit:
        db.session.commit()
    return order


def cancel_order(order: Order, reason: str) -> Order:
    reason = _text(reason)
    if not reason:
        raise ValidationFailed(errors={"reason": ["Give a reason for the cancellation."]})
    if order.status == CANCELLED:
        raise IllegalTransition(msg("Order %(number)s is cancelled already.", number=order.number),
                                from_status=order.status, to_status=CANCELLED)
    live = [li for li in order.lines if li.status != CANCELLED]
    for line in live:
        if CANCELLED not in LINE_TRANSITIONS.get(line.status, ()):
            raise _illegal(line, CANCELLED)
    for line in live:
        _move_line(line, CANCELLED, reason)
    order.cancel_reason = reason
    if not order.lines:  # an empty draft
        order.status = CANCELLED
        order.cancelled_at = utcnow()
        _record(order, "status", from_status=DRAFT, to_status=CANCELLED, note=reason)
        _publish("order.cancelled", order, from_status=DRAFT)
    else:
        _settle(order, reason)
    audit.record("order.cancelled", target=order, target_type="order", number=order.number, reason=reason)
    db.session.commit()
    return order


def cancel_line(line: OrderLine, reason: str) -> OrderLine:
    reason = _text(reason)
    if not reason:
        raise ValidationFailed(errors={"reason": ["Give a reason for the cancellation."]})
    _move_line(line, CANCELLED, reason)
    _settle(line.order, reason)
    line.order.updated_at = utcnow()
    db.session.commit()
    return line


def advance_order(order: Order, to_status: str, note: str | None = None) -> Order:
    """Move every live line of the order to `to_status` (each must be allowed
    to), or refuse and change nothing. Confirming and cancelling have their
    own rules (confirm_order, cancel_order)."""
    if to_status not in STATUSES:
        raise ValidationFailed(errors={"status": ["Unknown status."]})
    if to_status == CONFIRMED and order.status == DRAFT:
        return confirm_order(order, note)
    if to_status == CANCELLED:
        return cancel_order(order, note or "")
    live = [li for li in order.lines if li.status != CANCELLED]
    if not live:
        raise IllegalTransition(msg("Order %(number)s has no live lines.", number=order.number),
                                from_status=order.status, to_status=to_status)
    for line in live:
        if line.status != to_status and to_status not in LINE_TRANSITIONS.get(line.status, ()):
            raise _illegal(line, to_status)
    for line in live:
        if line.status != to_status:
            _move_line(line, to_status, note)
    _settle(order, note)
    order.updated_at = utcnow()
    db.session.commit()
    return order


def next_statuses(order: Order) -> list[str]:
    """The statuses every live line of the order may move to (the buttons)."""
    live = [li for li in order.lines if li.status != CANCELLED]
    if not live:
        return []
    common = None
    for line in live:
        allowed = set(LINE_TRANSITIONS.get(line.status, ()))
        common = allowed if common is None else common & allowed
    return [s for s in STATUSES if s in (common or set())]


def set_line_status(line_or_id, to_status: str, note: str | None = None, *, commit: bool = True) -> OrderLine:
    """Move one line (for the scheduling, production and inventory rooms)."""
    line = line_or_id if isinstance(line_or_id, OrderLine) else get_line(line_or_id)
    _move_line(line, to_status, note)
    _settle(line.order, note)
    line.order.updated_at = utcnow()
    if commit:
        db.session.commit()
    return line


def mark_planned(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, PLANNED, note, **kw)


def mark_unplanned(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, CONFIRMED, note, **kw)


def mark_in_production(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, IN_PRODUCTION, note, **kw)


def mark_finished(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, FINISHED, note, **kw)


def mark_in_stock(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, IN_STOCK, note, **kw)


def mark_shipped(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, SHIPPED, note, **kw)


def mark_delivered(line, note=None, **kw) -> OrderLine:
    return set_line_status(line, DELIVERED, note, **kw)


# ---------------------------------------------------------------- where the coils are

@dataclass
class LineLocation:
    """What is known about where a line's material is now. `coils`: one dict
    per coil ({"coil": label, "location": where, "status": …}); `summary`:
    one sentence for people."""

    known: bool = False
    summary: str | None = None
    coils: list[dict[str, Any]] = field(default_factory=list)


LocationProvider = Callable[[OrderLine], "LineLocation | None"]
LOCATION_PROVIDERS: list[LocationProvider] = []


def register_line_location(fn: LocationProvider) -> LocationProvider:
    """The inventory room plugs in here: given a line, where its coils are
    (None: it knows nothing of this line)."""
    if fn not in LOCATION_PROVIDERS:
        LOCATION_PROVIDERS.append(fn)
    return fn


def line_location(line_id) -> LineLocation:
    """Where the line's coils are now: the first provider that knows, else
    what the line's status alone says."""
    line = line_id if isinstance(line_id, OrderLine) else get_line(line_id)
    for provider in LOCATION_PROVIDERS:
        found = provider(line)
        if found is not None:
            return found
    return LineLocation(False, None, [])


# ---------------------------------------------------------------- the customer's tracking link

TRACKING_SALT = "alloyhub.order-tracking"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TRACKING_SALT)


def tracking_token(order: Order) -> str:
    """Signed with the app's secret: the company, the order and the order's
    random nonce. Whoever holds it may read the order's tracking view."""
    return _serializer().dumps([str(order.tenant_id), str(order.id), order.tracking_nonce])


def rotate_tracking(order: Order) -> Order:
    """A new link; links handed out before stop working."""
    order.tracking_nonce = secrets.token_urlsafe(16)
    audit.record("order.tracking_link_renewed", target=order, target_type="order", number=order.number)
    db.session.commit()
    return order


def tracking_view(token: str) -> dict:
    """The customer's view of an order (no login): read in the owning
    company's scope, which the signed token names. Any doubt is a 404."""
    from alloyhub.platform.billing import services as billing

    try:
        tenant_text, order_text, nonce = _serializer().loads(token or "")
        tenant_id, order_id = uuid.UUID(tenant_text), uuid.UUID(order_text)
    except (BadSignature, ValueError, TypeError):
        raise NotFound("No such order") from None
    with tenancy.scoped(tenant_id, session=db.session):
        order = db.session.scalar(select(Order).where(Order.id == order_id))
        if order is None or order.status == DRAFT or not hmac.compare_digest(order.tracking_nonce, str(nonce)):
            raise NotFound("No such order")
        if not billing.state(tenant_id).plan.includes("orders"):
            raise NotFound("No such order")
        view = _tracking_dict(order)
    db.session.rollback()
    return view


def _tracking_dict(order: Order) -> dict:
    from alloyhub.platform.identity.models import Tenant

    plant = db.session.scalar(select(Tenant.name).where(Tenant.id == order.tenant_id))
    by_id = products_by_id(li.product_id for li in order.lines)
    changes = db.session.scalars(select(HistoryEntry).where(HistoryEntry.order_id == order.id,
                                                            HistoryEntry.action == "status",
                                                            HistoryEntry.line_id.is_(None))
                                 .order_by(HistoryEntry.at, HistoryEntry.id))
    lines = []
    for line in order.lines:
        product = by_id.get(line.product_id)
        location = line_location(line)
        lines.append({
            "line_no": line.line_no, "product": product.code if product else None,
            "spec": product.spec if product else None, "quantity": line.quantity,
            "quantity_unit": line.quantity_unit, "due_date": line.due_date, "status": line.status,
            "location": {"known": location.known, "summary": location.summary, "coils": location.coils},
        })
    return {"number": order.number, "plant": plant, "customer": order.customer.name,
            "customer_po": order.customer_po, "status": order.status, "confirmed_at": order.confirmed_at,
            "lines": lines, "timeline": [{"at": h.at, "status": h.to_status} for h in changes]}


# ---------------------------------------------------------------- guards for the products room

@products.register_product_delete_guard
def _product_on_order(product: Product) -> list:
    count = db.session.scalar(select(func.count()).select_from(OrderLine).where(OrderLine.product_id == product.id))
    if count:
        return [msg("The product %(code)s is on %(count)s order lines; mark it inactive instead.",
                    code=product.code, count=count)]
    return []


def due_soon_count(days: int = 7) -> int:
    limit = utcnow().date() + timedelta(days=days)
    return db.session.scalar(select(func.count()).select_from(OrderLine).where(
        OrderLine.status.in_(COMMITTED), OrderLine.due_date <= limit)) or 0
