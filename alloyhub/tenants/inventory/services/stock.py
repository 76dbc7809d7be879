"""Heats, lots and coils; receipts, transfers, adjustments, quarantine and
issue to production, each with its row in the move ledger; reservations for
order lines; FIFO suggestions; where an order line's coils are.

Concurrency: every action on a coil first locks its row (SELECT … FOR UPDATE;
several coils in id order, so two actions never wait on each other in a
circle), reads it fresh, checks its status and only then changes it, all in
one transaction. The database backs the rules up: one active reservation per
coil (a partial unique index), one shipment per coil (unique), weights never
below zero (check constraints). A refused action raises before anything is
committed and the transaction is rolled back: nothing changes.
"""
from __future__ import annotations

import math
import re
import uuid
from collections import defaultdict
from datetime import datetime
from urllib.parse import unquote, urlparse

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from alloyhub.platform import audit, outbox
from alloyhub.platform.db import db, get_or_404, utcnow
from alloyhub.platform.identity.models import Site

from ..errors import (
    CoilUnavailable,
    DoubleBooking,
    Invalid,
    InventoryConflict,
    Missing,
    NegativeStock,
)
from ..models import (
    AVAILABLE,
    CONSUMED,
    IN_STOCK,
    ISSUED,
    QUARANTINED,
    RESERVED,
    Coil,
    GenealogyLink,
    Heat,
    Location,
    Lot,
    Move,
    Reservation,
    ShipmentItem,
)
from .common import (
    EPS,
    clean,
    code_error,
    current_user_id,
    kg,
    like_prefix,
    positive,
    require,
)
from .warehouses import check_capacity, lock_location

ELEMENT_RE = re.compile(r"^[A-Z][a-z]?$")


# ---------------------------------------------------------------- heats and lots

def heats_query(alloy: str | None = None, q: str | None = None):
    stmt = select(Heat)
    if alloy:
        stmt = stmt.where(Heat.alloy == alloy)
    if q:
        stmt = stmt.where(Heat.heat_no.ilike(like_prefix(q)))
    return stmt


def get_heat(heat_id) -> Heat:
    return get_or_404(Heat, heat_id, "No such heat")


def heat_by_number(heat_no: str) -> Heat | None:
    return db.session.scalar(select(Heat).where(Heat.heat_no == heat_no))


def _chemistry_errors(chemistry) -> list[str]:
    if chemistry is None:
        return []
    if not isinstance(chemistry, dict):
        return ["Give the chemistry as element: mass %."]
    total = 0.0
    for element, value in chemistry.items():
        if not isinstance(element, str) or not ELEMENT_RE.match(element):
            return ["Name the elements by their symbols (Si, Fe, Cu, …)."]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= 100:
            return ["Each element's mass % must be between 0 and 100."]
        total += value
    if total > 100.0001:
        return ["The elements add up to more than 100 %."]
    return []


def create_heat(*, heat_no: str, alloy: str, chemistry: dict | None = None, cast_at: datetime | None = None,
                weight_kg: float | None = None, site_id=None, unit_id=None, supplier: str | None = None,
                notes: str | None = None, commit: bool = True) -> Heat:
    heat_no, alloy = clean(heat_no), clean(alloy)
    errors = {"heat_no": code_error(heat_no, "Enter the heat number."), "alloy": [] if alloy else ["Enter the alloy."],
              "chemistry": _chemistry_errors(chemistry)}
    if heat_no and not errors["heat_no"] and heat_by_number(heat_no) is not None:
        errors["heat_no"] = ["Another heat already has this number."]
    if weight_kg is not None and not positive(weight_kg):
        errors["weight_kg"] = ["Enter a weight above zero."]
    if site_id is not None and db.session.scalar(select(Site.id).where(Site.id == site_id)) is None:
        errors["site_id"] = ["No such site."]
    require(errors)
    heat = Heat(heat_no=heat_no, alloy=alloy.upper(), chemistry=chemistry or {}, cast_at=cast_at,
                weight_kg=weight_kg, site_id=site_id, unit_id=unit_id, supplier=clean(supplier),
                notes=clean(notes))
    db.session.add(heat)
    db.session.flush()
    if commit:
        db.session.commit()
    return heat


def lots_query(heat_id=None, q: str | None = None):
    stmt = select(Lot)
    if heat_id:
        stmt = stmt.where(Lot.heat_id == heat_id)
    if q:
        stmt = stmt.where(Lot.lot_no.ilike(like_prefix(q)))
    return stmt


def get_lot(lot_id) -> Lot:
    return get_or_404(Lot, lot_id, "No such lot")


def lot_by_number(lot_no: str) -> Lot | None:
    return db.session.scalar(select(Lot).where(Lot.lot_no == lot_no))


def create_lot(*, lot_no: str, heat_id=None, alloy: str | None = None, temper: str | None = None,
               gauge_mm: float | None = None, width_mm: float | None = None, product_id=None,
               order_line_id=None, notes: str | None = None, commit: bool = True) -> Lot:
    lot_no = clean(lot_no)
    errors = {"lot_no": code_error(lot_no, "Enter the lot number.")}
    if lot_no and not errors["lot_no"] and lot_by_number(lot_no) is not None:
        errors["lot_no"] = ["Another lot already has this number."]
    heat = None
    if heat_id is not None:
        heat = db.session.scalar(select(Heat).where(Heat.id == heat_id))
        if heat is None:
            errors["heat_id"] = ["No such heat."]
    for key, value in (("gauge_mm", gauge_mm), ("width_mm", width_mm)):
        if value is not None and not positive(value):
            errors[key] = ["Enter a size above zero."]
    require(errors)
    lot = Lot(lot_no=lot_no, heat_id=heat_id, alloy=(clean(alloy) or (heat.alloy if heat else None)),
              temper=clean(temper), gauge_mm=gauge_mm, width_mm=width_mm, product_id=product_id,
              order_line_id=order_line_id, notes=clean(notes))
    if lot.alloy:
        lot.alloy = lot.alloy.upper()
    db.session.add(lot)
    db.session.flush()
    if commit:
        db.session.commit()
    return lot


def stock_by_lot(lot_id=None) -> list[dict]:
    """Per lot: coils and kg by status (stock and what left it)."""
    stmt = (select(Coil.lot_id, Coil.status, func.count(), func.coalesce(func.sum(Coil.weight_kg), 0))
            .where(Coil.lot_id.is_not(None)).group_by(Coil.lot_id, Coil.status))
    if lot_id:
        stmt = stmt.where(Coil.lot_id == lot_id)
    by_lot: dict = defaultdict(lambda: {"coils": 0, "weight_kg": 0.0, "by_status": {}})
    for lot, status, n, weight in db.session.execute(stmt):
        entry = by_lot[lot]
        entry["by_status"][status] = {"coils": n, "weight_kg": kg(weight)}
        if status in IN_STOCK:
            entry["coils"] += n
            entry["weight_kg"] = kg(entry["weight_kg"] + weight)
    lots = {lot.id: lot for lot in db.session.scalars(select(Lot).where(Lot.id.in_(list(by_lot))))}
    rows = [{"lot": lots[k], **v} for k, v in by_lot.items() if k in lots]
    return sorted(rows, key=lambda r: r["lot"].lot_no)


def stock_summary() -> list[dict]:
    """Stock (available, reserved, quarantined) by alloy and temper."""
    stmt = (select(Coil.alloy, Coil.temper, Coil.status, func.count(), func.coalesce(func.sum(Coil.weight_kg), 0))
            .where(Coil.status.in_(IN_STOCK)).group_by(Coil.alloy, Coil.temper, Coil.status)
            .order_by(Coil.alloy, Coil.temper))
    rows: dict = {}
    for alloy, temper, status, n, weight in db.session.execute(stmt):
        row = rows.setdefault((alloy, temper), {"alloy": alloy, "temper": temper, "coils": 0, "weight_kg": 0.0,
                                                 **{s: 0.0 for s in IN_STOCK}})
        row["coils"] += n
        row["weight_kg"] = kg(row["weight_kg"] + weight)
        row[status] = kg(weight)
    return list(rows.values())


# ---------------------------------------------------------------- coils

def coils_query(*, status=None, alloy=None, temper=None, location_id=None, warehouse_id=None, lot_id=None,
                heat_id=None, gauge_min=None, gauge_max=None, width_min=None, width_max=None, q=None,
                order_line_id=None, in_stock: bool | None = None):
    stmt = select(Coil)
    if status:
        stmt = stmt.where(Coil.status.in_(status) if isinstance(status, (list, tuple)) else Coil.status == status)
    if in_stock:
        stmt = stmt.where(Coil.status.in_(IN_STOCK))
    if alloy:
        stmt = stmt.where(Coil.alloy == alloy.upper())
    if temper:
        stmt = stmt.where(Coil.temper == temper)
    if location_id:
        stmt = stmt.where(Coil.location_id == location_id)
    if warehouse_id:
        stmt = stmt.where(Coil.location_id.in_(select(Location.id).where(Location.warehouse_id == warehouse_id)))
    if lot_id:
        stmt = stmt.where(Coil.lot_id == lot_id)
    if heat_id:
        stmt = stmt.where(Coil.heat_id == heat_id)
    if gauge_min is not None:
        stmt = stmt.where(Coil.gauge_mm >= gauge_min)
    if gauge_max is not None:
        stmt = stmt.where(Coil.gauge_mm <= gauge_max)
    if width_min is not None:
        stmt = stmt.where(Coil.width_mm >= width_min)
    if width_max is not None:
        stmt = stmt.where(Coil.width_mm <= width_max)
    if q:
        stmt = stmt.where(Coil.coil_no.ilike(like_prefix(q)))
    if order_line_id:
        stmt = stmt.where(Coil.order_line_id == order_line_id)
    return stmt


def alloys_in_use() -> list[str]:
    return list(db.session.scalars(select(Coil.alloy).distinct().order_by(Coil.alloy)))


def get_coil(coil_id) -> Coil:
    return get_or_404(Coil, coil_id, "No such coil")


def coil_by_number(coil_no: str) -> Coil | None:
    return db.session.scalar(select(Coil).where(Coil.coil_no == coil_no))


def get_coil_by_number(coil_no: str) -> Coil:
    coil = coil_by_number(coil_no)
    if coil is None:
        raise Missing("No coil numbered %(coil_no)s.", coil_no=coil_no)
    return coil


LABEL_PATH = "/inventory/c/"


def coil_no_from_scan(scanned: str) -> str:
    """What a scanner typed: the coil number, or the label's URL ending in it."""
    text_ = (scanned or "").strip()
    if "://" in text_ or text_.startswith(LABEL_PATH):
        path = urlparse(text_).path
        if LABEL_PATH in path:
            return unquote(path.split(LABEL_PATH, 1)[1]).strip("/")
    return text_


def scanned_coil(scanned: str, field: str = "coil_no") -> Coil:
    """The coil a typed number or a scanned label names (422 when none)."""
    coil_no = coil_no_from_scan(scanned)
    coil = coil_by_number(coil_no) if coil_no else None
    if coil is None:
        raise Invalid("No coil numbered %(coil_no)s.", field=field, coil_no=coil_no or "-")
    return coil


def lock_coils(coil_ids) -> dict:
    """The coils, locked in id order (so two actions never deadlock), fresh from the database."""
    ids = sorted({uuid.UUID(str(i)) for i in coil_ids})
    rows = db.session.scalars(select(Coil).where(Coil.id.in_(ids)).order_by(Coil.id).with_for_update(of=Coil)
                              .execution_options(populate_existing=True)).unique().all()
    return {c.id: c for c in rows}


def lock_coil(coil_id, field: str | None = None) -> Coil:
    coil = lock_coils([coil_id]).get(uuid.UUID(str(coil_id)))
    if coil is None:
        if field:
            raise Invalid("No such coil.", field=field)
        raise Missing("No such coil")
    return coil


def record_move(coil: Coil, kind: str, *, from_status: str | None, weight_before: float,
                from_location_id=None, reason: str | None = None, at: datetime | None = None, **refs) -> Move:
    """Append a ledger row for what just happened to `coil` (its new state is read from it)."""
    move = Move(coil_id=coil.id, kind=kind, at=at or utcnow(), from_location_id=from_location_id,
                to_location_id=coil.location_id, from_status=from_status, to_status=coil.status,
                weight_before_kg=kg(weight_before), weight_after_kg=kg(coil.weight_kg), reason=reason,
                user_id=current_user_id(), **refs)
    db.session.add(move)
    return move


def announce_move(move: Move, coil: Coil) -> None:
    outbox.publish(f"inventory.move.{move.kind}", {
        "move_id": str(move.id), "coil_id": str(coil.id), "coil_no": coil.coil_no, "kind": move.kind,
        "from_status": move.from_status, "to_status": move.to_status,
        "weight_before_kg": move.weight_before_kg, "weight_after_kg": move.weight_after_kg,
        "order_line_id": str(coil.order_line_id) if coil.order_line_id else None,
        "reason": move.reason})


def save(*fresh) -> None:
    """Commit; a constraint the checks above missed (a race) is a conflict, not
    a 500. Objects in `fresh` are re-read (their relationships follow the
    ids that changed)."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
        if "coil_no" in name:
            raise Invalid("Another coil already has this number.", field="coil_no") from exc
        if "reservations_active" in name or "shipment_items_coil" in name:
            raise DoubleBooking("The coil was booked by someone else just now; reload and try again.") from exc
        raise InventoryConflict("The stock changed while this was saved; reload and try again.") from exc
    for obj in fresh:
        db.session.refresh(obj)


def _coil_fields_errors(spec: dict, prefix: str = "") -> dict:
    errors: dict[str, list[str]] = {}
    coil_no = clean(spec.get("coil_no"))
    if code_error(coil_no, "Enter the coil number."):
        errors[prefix + "coil_no"] = code_error(coil_no, "Enter the coil number.")
    if not clean(spec.get("alloy")):
        errors[prefix + "alloy"] = ["Enter the alloy."]
    for key, message in (("gauge_mm", "Enter the gauge (above zero)."), ("width_mm", "Enter the width (above zero)."),
                         ("weight_kg", "Enter the weight (above zero).")):
        if not positive(spec.get(key)):
            errors[prefix + key] = [message]
    length = spec.get("length_m")
    if length is not None and not positive(length):
        errors[prefix + "length_m"] = ["Enter the length (above zero), or leave it empty."]
    return errors


def receive(coils: list[dict], *, location_id=None, reference: str | None = None,
            received_at: datetime | None = None) -> list[Coil]:
    """Coils coming into stock (from a supplier, the caster, another plant):
    all of them or none. Each may name its heat and lot by id or number; a
    heat number or lot number not known yet is created with the coil's
    description."""
    if not coils:
        raise Invalid("Add at least one coil.", field="coils")
    errors: dict[str, list[str]] = {}
    numbers = [(clean(c.get("coil_no")) or "") for c in coils]
    for i, spec in enumerate(coils):
        prefix = f"coils.{i}." if len(coils) > 1 else ""
        errors.update(_coil_fields_errors(spec, prefix))
        if numbers[i] and numbers.count(numbers[i]) > 1:
            errors[prefix + "coil_no"] = ["This coil number appears twice."]
        elif numbers[i] and coil_by_number(numbers[i]) is not None:
            errors[prefix + "coil_no"] = ["Another coil already has this number."]
        if not (spec.get("location_id") or location_id):
            errors[prefix + "location_id"] = ["Choose where the coil goes."]
        for key, model, message in (("heat_id", Heat, "No such heat."), ("lot_id", Lot, "No such lot.")):
            if spec.get(key) and db.session.scalar(select(model.id).where(model.id == spec[key])) is None:
                errors[prefix + key] = [message]
        for key, missing in (("heat_no", "Enter the heat number."), ("lot_no", "Enter the lot number.")):
            if clean(spec.get(key)) and code_error(clean(spec[key]), missing):
                errors[prefix + key] = code_error(clean(spec[key]), missing)
    require(errors)
    at = received_at or utcnow()
    made: list[Coil] = []
    by_location: dict = defaultdict(list)
    for spec in coils:
        by_location[spec.get("location_id") or location_id].append(spec)
    for loc_id in sorted(by_location, key=str):
        location = lock_location(loc_id)
        specs = by_location[loc_id]
        check_capacity(location, len(specs), sum(float(s["weight_kg"]) for s in specs))
    for spec in coils:
        heat = _heat_for(spec)
        lot = _lot_for(spec, heat)
        if heat is None and lot is not None and lot.heat_id:
            heat = db.session.get(Heat, lot.heat_id)
        coil = Coil(coil_no=clean(spec["coil_no"]), lot_id=lot.id if lot else None, heat_id=heat.id if heat else None,
                    alloy=clean(spec["alloy"]).upper(), temper=clean(spec.get("temper")),
                    gauge_mm=spec["gauge_mm"], width_mm=spec["width_mm"], weight_kg=kg(spec["weight_kg"]),
                    initial_weight_kg=kg(spec["weight_kg"]), length_m=spec.get("length_m"), status=AVAILABLE,
                    location_id=spec.get("location_id") or location_id, product_id=spec.get("product_id"),
                    order_line_id=spec.get("order_line_id"), origin="receipt", fifo_at=at,
                    notes=clean(spec.get("notes")))
        db.session.add(coil)
        db.session.flush()
        move = record_move(coil, "receipt", from_status=None, weight_before=0, reason=clean(reference), at=at)
        if heat is not None:
            new_link("heat", heat.id, "coil", coil.id, operation="cast", at=heat.cast_at or at,
                     weight_kg=coil.weight_kg)
        db.session.flush()
        announce_move(move, coil)
        made.append(coil)
    save()
    return made


def _heat_for(spec: dict) -> Heat | None:
    if spec.get("heat_id"):
        return db.session.get(Heat, spec["heat_id"])
    heat_no = clean(spec.get("heat_no"))
    if not heat_no:
        return None
    return heat_by_number(heat_no) or create_heat(heat_no=heat_no, alloy=spec["alloy"], commit=False)


def _lot_for(spec: dict, heat: Heat | None) -> Lot | None:
    if spec.get("lot_id"):
        return db.session.get(Lot, spec["lot_id"])
    lot_no = clean(spec.get("lot_no"))
    if not lot_no:
        return None
    return lot_by_number(lot_no) or create_lot(lot_no=lot_no, heat_id=heat.id if heat else None,
                                               alloy=spec.get("alloy"), temper=spec.get("temper"),
                                               gauge_mm=spec.get("gauge_mm"), width_mm=spec.get("width_mm"),
                                               commit=False)


def refuse_unless(coil: Coil, allowed: tuple[str, ...], action: str) -> None:
    if coil.status in allowed:
        return
    if coil.status == QUARANTINED:
        raise CoilUnavailable("Coil %(coil_no)s is quarantined (%(reason)s): it cannot be %(action)s.",
                              coil_no=coil.coil_no, reason=coil.quarantine_reason or "-", action=action,
                              coil_status=coil.status)
    if coil.status == RESERVED:
        line = active_reservation(coil)
        raise DoubleBooking("Coil %(coil_no)s is reserved for order line %(order_line_id)s: it cannot be %(action)s.",
                            coil_no=coil.coil_no, order_line_id=line.order_line_id if line else "?", action=action,
                            coil_status=coil.status)
    if coil.status == ISSUED:
        raise DoubleBooking("Coil %(coil_no)s is issued to production: it cannot be %(action)s.",
                            coil_no=coil.coil_no, action=action, coil_status=coil.status)
    raise CoilUnavailable("Coil %(coil_no)s is %(coil_status)s: it cannot be %(action)s.",
                          coil_no=coil.coil_no, coil_status=coil.status, action=action)


def transfer(coil: Coil, location_id, reason: str | None = None) -> Coil:
    """Move a coil in stock to another location; a coil issued to production
    comes back into stock this way (a `return`)."""
    coil = lock_coil(coil.id)
    refuse_unless(coil, (*IN_STOCK, ISSUED), "moved")
    if location_id is None:
        raise Invalid("Choose where the coil goes.", field="location_id")
    if coil.location_id is not None and str(coil.location_id) == str(location_id):
        raise Invalid("The coil is already there.", field="location_id")
    location = lock_location(location_id)
    check_capacity(location, 1, coil.weight_kg)
    before = (coil.status, coil.location_id, coil.weight_kg)
    kind = "return" if coil.status == ISSUED else "transfer"
    if coil.status == ISSUED:
        coil.status, coil.unit_id = AVAILABLE, None
    coil.location_id = location.id
    move = record_move(coil, kind, from_status=before[0], from_location_id=before[1], weight_before=before[2],
                       reason=clean(reason))
    db.session.flush()
    announce_move(move, coil)
    save(coil)
    return coil


def adjust(coil: Coil, *, reason: str, weight_kg: float | None = None, delta_kg: float | None = None) -> Coil:
    """Correct a coil's weight (a re-weighing, damage written off), with a
    reason. Weight never goes below zero; at zero the coil is used up."""
    reason = clean(reason)
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Give the reason for the adjustment."]
    if (weight_kg is None) == (delta_kg is None):
        errors["weight_kg"] = ["Give either the new weight or the change."]
    for key, value in (("weight_kg", weight_kg), ("delta_kg", delta_kg)):
        if value is not None and (isinstance(value, bool) or not math.isfinite(value)):
            errors[key] = ["Enter a number."]
    require(errors)
    coil = lock_coil(coil.id)
    refuse_unless(coil, (*IN_STOCK, ISSUED), "adjusted")
    new = kg(weight_kg if weight_kg is not None else coil.weight_kg + delta_kg)
    if new < 0:
        raise NegativeStock("Coil %(coil_no)s weighs %(weight)s kg: it cannot lose %(loss)s kg.",
                            field="weight_kg" if weight_kg is not None else "delta_kg", coil_no=coil.coil_no,
                            weight=kg(coil.weight_kg), loss=kg(coil.weight_kg - new))
    if abs(new - coil.weight_kg) < EPS:
        raise Invalid("The weight is unchanged.", field="weight_kg" if weight_kg is not None else "delta_kg")
    if new < EPS and coil.shipment_id is not None:
        raise InventoryConflict("Coil %(coil_no)s is on shipment %(shipment_no)s: take it off first.",
                                coil_no=coil.coil_no, shipment_no=coil.shipment.shipment_no)
    before = (coil.status, coil.location_id, coil.weight_kg)
    coil.weight_kg = new
    if new < EPS:
        end_reservation(coil, "released", "used up by an adjustment")
        coil.status, coil.location_id, coil.unit_id = CONSUMED, None, None
    move = record_move(coil, "adjustment", from_status=before[0], from_location_id=before[1],
                       weight_before=before[2], reason=reason)
    db.session.flush()
    audit.record("inventory.adjusted", target_type="coil", target_id=coil.id, coil_no=coil.coil_no,
                 weight_before_kg=kg(before[2]), weight_after_kg=new, reason=reason)
    announce_move(move, coil)
    save(coil)
    return coil


def quarantine(coil: Coil, reason: str) -> Coil:
    """Block a coil (quality hold). A reservation it had is released."""
    reason = clean(reason)
    if not reason:
        raise Invalid("Give the reason for the quarantine.", field="reason")
    coil = lock_coil(coil.id)
    refuse_unless(coil, (AVAILABLE, RESERVED), "quarantined")
    before = coil.status
    end_reservation(coil, "released", "quarantined: " + reason)
    coil.status, coil.quarantine_reason = QUARANTINED, reason
    move = record_move(coil, "quarantine", from_status=before, from_location_id=coil.location_id,
                       weight_before=coil.weight_kg, reason=reason)
    db.session.flush()
    audit.record("inventory.quarantined", target_type="coil", target_id=coil.id, coil_no=coil.coil_no, reason=reason)
    announce_move(move, coil)
    save(coil)
    return coil


def release_quarantine(coil: Coil, reason: str) -> Coil:
    reason = clean(reason)
    if not reason:
        raise Invalid("Give the reason for lifting the quarantine.", field="reason")
    coil = lock_coil(coil.id)
    if coil.status != QUARANTINED:
        raise CoilUnavailable("Coil %(coil_no)s is not quarantined.", coil_no=coil.coil_no, coil_status=coil.status)
    coil.status, coil.quarantine_reason = AVAILABLE, None
    move = record_move(coil, "release", from_status=QUARANTINED, from_location_id=coil.location_id,
                       weight_before=coil.weight_kg, reason=reason)
    db.session.flush()
    audit.record("inventory.quarantine_lifted", target_type="coil", target_id=coil.id, coil_no=coil.coil_no,
                 reason=reason)
    announce_move(move, coil)
    save(coil)
    return coil


def issue(coil: Coil, *, unit_id=None, work_order_id=None, order_line_id=None, reason: str | None = None,
          commit: bool = True) -> Coil:
    """Hand a coil from stock to production. A coil reserved for an order
    line goes only to work for that line (its reservation is then fulfilled);
    a coil on a shipment, quarantined or already issued does not go."""
    coil = lock_coil(coil.id)
    _issue_locked(coil, unit_id=unit_id, work_order_id=work_order_id, order_line_id=order_line_id, reason=reason)
    if commit:
        save(coil)
    return coil


def _issue_locked(coil: Coil, *, unit_id=None, work_order_id=None, order_line_id=None, reason=None,
                  at: datetime | None = None, event_id=None) -> Move:
    before = (coil.status, coil.location_id, coil.weight_kg)
    if coil.shipment_id is not None:
        raise DoubleBooking("Coil %(coil_no)s is on shipment %(shipment_no)s: it cannot be %(action)s.",
                            coil_no=coil.coil_no, shipment_no=coil.shipment.shipment_no, action="issued to production")
    if coil.status == RESERVED:
        reservation = active_reservation(coil)
        if reservation is not None and order_line_id is not None \
                and str(reservation.order_line_id) == str(order_line_id):
            end_reservation(coil, "fulfilled", "issued to production")
    refuse_unless(coil, (AVAILABLE,), "issued to production")
    coil.status, coil.location_id, coil.unit_id = ISSUED, None, unit_id
    move = record_move(coil, "issue", from_status=before[0], from_location_id=before[1], weight_before=before[2],
                       reason=clean(reason), unit_id=unit_id, work_order_id=work_order_id,
                       order_line_id=order_line_id, at=at, event_id=event_id)
    db.session.flush()
    announce_move(move, coil)
    return move


def new_link(parent_kind: str, parent_id, child_kind: str, child_id, *, operation: str, at: datetime | None = None,
             unit_id=None, work_order_id=None, event_id=None, weight_kg: float | None = None,
             note: str | None = None) -> GenealogyLink:
    """A genealogy link to a node made just now (it has no descendants, so no
    cycle is possible). Links between existing nodes go through
    `genealogy.add_link`, which checks."""
    link = GenealogyLink(parent_kind=parent_kind, parent_id=parent_id, child_kind=child_kind, child_id=child_id,
                         operation=operation, at=at or utcnow(), unit_id=unit_id, work_order_id=work_order_id,
                         event_id=event_id, weight_kg=None if weight_kg is None else kg(weight_kg),
                         user_id=current_user_id(), note=note)
    db.session.add(link)
    return link


# ---------------------------------------------------------------- moves

def moves_query(*, coil_id=None, kind=None, location_id=None, since=None, until=None):
    stmt = select(Move)
    if coil_id:
        stmt = stmt.where(Move.coil_id == coil_id)
    if kind:
        stmt = stmt.where(Move.kind == kind)
    if location_id:
        stmt = stmt.where(or_(Move.from_location_id == location_id, Move.to_location_id == location_id))
    if since:
        stmt = stmt.where(Move.at >= since)
    if until:
        stmt = stmt.where(Move.at < until)
    return stmt


def coil_moves(coil: Coil) -> list[Move]:
    return list(db.session.scalars(moves_query(coil_id=coil.id).order_by(Move.at, Move.seq)))


def unit_labels() -> dict:
    """Equipment units by id ("CM1 Cold mill 1"), when the equipment room is installed."""
    try:
        from alloyhub.tenants.equipment import services as equipment
    except ImportError:  # no equipment room: units are shown by id
        return {}
    return {u.id: f"{u.code} {u.name}" for u in equipment.units()}


def user_names(user_ids) -> dict:
    from alloyhub.platform.identity.models import User

    ids = [i for i in set(user_ids) if i]
    if not ids:
        return {}
    return {u.id: u.name or u.email for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


# ---------------------------------------------------------------- reservations

def active_reservation(coil: Coil) -> Reservation | None:
    return db.session.scalar(select(Reservation).where(Reservation.coil_id == coil.id,
                                                       Reservation.status == "active"))


def reservations_query(*, order_line_id=None, status=None, coil_id=None):
    stmt = select(Reservation)
    if order_line_id:
        stmt = stmt.where(Reservation.order_line_id == order_line_id)
    if status:
        stmt = stmt.where(Reservation.status == status)
    if coil_id:
        stmt = stmt.where(Reservation.coil_id == coil_id)
    return stmt


def get_reservation(reservation_id) -> Reservation:
    return get_or_404(Reservation, reservation_id, "No such reservation")


def reserve(coil_ids, order_line_id, note: str | None = None) -> list[Reservation]:
    """Hold coils for an order line: all of them or none. A coil already
    reserved (for any line), on a shipment, quarantined, issued or gone is refused."""
    ids = list(dict.fromkeys(str(i) for i in (coil_ids if isinstance(coil_ids, (list, tuple)) else [coil_ids])))
    if not ids:
        raise Invalid("Choose at least one coil.", field="coil_ids")
    if order_line_id is None:
        raise Invalid("Name the order line.", field="order_line_id")
    coils = lock_coils(ids)
    missing = [i for i in ids if uuid.UUID(i) not in coils]
    if missing:
        raise Invalid("No such coil.", field="coil_ids")
    made = []
    for coil_id in ids:
        coil = coils[uuid.UUID(coil_id)]
        if coil.status == RESERVED:
            line = active_reservation(coil)
            same = line is not None and str(line.order_line_id) == str(order_line_id)
            raise DoubleBooking(
                ("Coil %(coil_no)s is already reserved for this order line." if same else
                 "Coil %(coil_no)s is already reserved for order line %(order_line_id)s."),
                coil_no=coil.coil_no, order_line_id=line.order_line_id if line else "?", coil_status=coil.status)
        refuse_unless(coil, (AVAILABLE,), "reserved")
        if coil.shipment_id is not None:
            raise DoubleBooking("Coil %(coil_no)s is on shipment %(shipment_no)s: it cannot be reserved.",
                                coil_no=coil.coil_no, shipment_no=coil.shipment.shipment_no)
        reservation = Reservation(coil_id=coil.id, order_line_id=order_line_id, status="active",
                                  reserved_by=current_user_id(), note=clean(note))
        coil.status = RESERVED
        db.session.add(reservation)
        made.append(reservation)
    db.session.flush()
    for reservation in made:
        outbox.publish("inventory.coil.reserved", {
            "reservation_id": str(reservation.id), "coil_id": str(reservation.coil_id),
            "coil_no": coils[reservation.coil_id].coil_no, "order_line_id": str(order_line_id),
            "weight_kg": kg(coils[reservation.coil_id].weight_kg)})
    save()
    return made


def end_reservation(coil: Coil, status: str, note: str | None) -> Reservation | None:
    reservation = active_reservation(coil)
    if reservation is None:
        return None
    reservation.status, reservation.ended_at, reservation.ended_by = status, utcnow(), current_user_id()
    reservation.note = "; ".join(x for x in (reservation.note, note) if x) or None
    if coil.status == RESERVED:
        coil.status = AVAILABLE
    db.session.flush()
    outbox.publish(f"inventory.coil.reservation_{status}", {
        "reservation_id": str(reservation.id), "coil_id": str(coil.id), "coil_no": coil.coil_no,
        "order_line_id": str(reservation.order_line_id), "note": note})
    return reservation


def release(reservation: Reservation, note: str | None = None) -> Reservation:
    """Give a reserved coil back to free stock."""
    coil = lock_coil(reservation.coil_id)
    reservation = db.session.scalar(select(Reservation).where(Reservation.id == reservation.id)
                                    .execution_options(populate_existing=True))
    if reservation.status != "active":
        raise InventoryConflict("This reservation is %(reservation_status)s already.",
                                reservation_status=reservation.status)
    if coil.shipment_id is not None and coil.shipment.status == "draft":
        raise InventoryConflict("Coil %(coil_no)s is on shipment %(shipment_no)s: take it off first.",
                                coil_no=coil.coil_no, shipment_no=coil.shipment.shipment_no)
    end_reservation(coil, "released", clean(note) or "released")
    save()
    return reservation


def release_line(order_line_id, note: str | None = None) -> int:
    """Release every active reservation of an order line (a cancelled line)."""
    ids = list(db.session.scalars(select(Reservation.coil_id).where(Reservation.order_line_id == order_line_id,
                                                                     Reservation.status == "active")))
    coils = lock_coils(ids)
    released = 0
    for coil in coils.values():
        if coil.shipment_id is not None and coil.shipment.status == "draft":
            raise InventoryConflict("Coil %(coil_no)s is on shipment %(shipment_no)s: take it off first.",
                                    coil_no=coil.coil_no, shipment_no=coil.shipment.shipment_no)
        if end_reservation(coil, "released", clean(note) or "order line released"):
            released += 1
    save()
    return released


# ---------------------------------------------------------------- FIFO

def fifo_suggestions(*, alloy: str, temper: str | None = None, gauge_mm: float | None = None,
                     gauge_tol_mm: float = 0.0, width_mm: float | None = None, width_tol_mm: float = 0.0,
                     quantity_kg: float | None = None, max_coils: int | None = None, warehouse_id=None,
                     limit: int = 200) -> dict:
    """Available coils matching a spec, oldest first (first in, first out):
    the coils to use or ship next. With `quantity_kg`, as many as it takes
    to reach it (the last one may overshoot)."""
    errors: dict[str, list[str]] = {}
    if not clean(alloy):
        errors["alloy"] = ["Enter the alloy."]
    for key, value in (("gauge_tol_mm", gauge_tol_mm), ("width_tol_mm", width_tol_mm)):
        if value is None or not math.isfinite(value) or value < 0:
            errors[key] = ["The tolerance cannot be negative."]
    for key, value in (("gauge_mm", gauge_mm), ("width_mm", width_mm), ("quantity_kg", quantity_kg)):
        if value is not None and not positive(value):
            errors[key] = ["Enter a number above zero, or leave it empty."]
    require(errors)
    stmt = coils_query(status=AVAILABLE, alloy=alloy, temper=clean(temper), warehouse_id=warehouse_id)
    stmt = stmt.where(Coil.shipment_id.is_(None), Coil.weight_kg > 0)
    if gauge_mm is not None:
        stmt = stmt.where(func.abs(Coil.gauge_mm - gauge_mm) <= gauge_tol_mm + 1e-9)
    if width_mm is not None:
        stmt = stmt.where(func.abs(Coil.width_mm - width_mm) <= width_tol_mm + 1e-9)
    stmt = stmt.order_by(Coil.fifo_at, Coil.coil_no).limit(limit)
    picked, total = [], 0.0
    for coil in db.session.scalars(stmt):
        if quantity_kg is not None and total >= quantity_kg - EPS:
            break
        if max_coils is not None and len(picked) >= max_coils:
            break
        total = kg(total + coil.weight_kg)
        picked.append({"coil": coil, "cumulative_kg": total})
    return {"items": picked, "total_kg": total,
            "covered": quantity_kg is None or total >= quantity_kg - EPS, "quantity_kg": quantity_kg}


# ---------------------------------------------------------------- the orders room's hook

def line_location(order_line_id, *, include_consumed: bool = False) -> dict:
    """Where an order line's coils are now: coils reserved for it, made for
    it or shipped on it, each with its status, location and shipment.
    Called by the orders room (and shown on its pages)."""
    reserved = select(Reservation.coil_id).where(Reservation.order_line_id == order_line_id,
                                                 Reservation.status.in_(("active", "fulfilled")))
    shipped = select(ShipmentItem.coil_id).where(ShipmentItem.order_line_id == order_line_id)
    stmt = select(Coil).where(or_(Coil.order_line_id == order_line_id, Coil.id.in_(reserved), Coil.id.in_(shipped)))
    if not include_consumed:
        stmt = stmt.where(Coil.status != CONSUMED)
    coils = list(db.session.scalars(stmt.order_by(Coil.coil_no)))
    active = {r.coil_id: r for r in db.session.scalars(
        select(Reservation).where(Reservation.order_line_id == order_line_id, Reservation.status == "active"))}
    rows, summary = [], defaultdict(lambda: {"coils": 0, "weight_kg": 0.0})
    for coil in coils:
        shipment = coil.shipment
        rows.append({
            "coil_id": coil.id, "coil_no": coil.coil_no, "status": coil.status, "weight_kg": kg(coil.weight_kg),
            "alloy": coil.alloy, "temper": coil.temper, "gauge_mm": coil.gauge_mm, "width_mm": coil.width_mm,
            "location": coil.location.label if coil.location else None,
            "warehouse": coil.location.warehouse.name if coil.location else None,
            "reserved": coil.id in active,
            "shipment_id": shipment.id if shipment else None,
            "shipment_no": shipment.shipment_no if shipment else None,
            "shipment_status": shipment.status if shipment else None,
        })
        where = "delivered" if shipment is not None and shipment.status == "delivered" else coil.status
        summary[where]["coils"] += 1
        summary[where]["weight_kg"] = kg(summary[where]["weight_kg"] + coil.weight_kg)
    return {"order_line_id": order_line_id, "coils": rows, "summary": dict(summary),
            "total_weight_kg": kg(sum(r["weight_kg"] for r in rows))}
