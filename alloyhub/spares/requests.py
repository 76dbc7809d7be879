"""Requests between companies: one shared record per request line that both
sides see and act on, with a conversation that also logs each system event.

    requested --accept--> accepted --ship--> shipped --receive--> received
        |  \\--counter--> countered --accept offer--> accepted            |
        |                                   buy: completed  <-------------+
        |                  borrow: --send back--> return_shipped --returned--> completed
        |                exchange: --send core--> core_shipped --core received--> completed
    decline (holder, before acceptance) / cancel (requester until shipped, holder once accepted)

Quantity: an open request (requested, countered, accepted) reserves units
at the holder (`SpareReservation`), so two companies cannot both get the
last one: every change of what a listing can give takes the listing's lock
(a PostgreSQL advisory lock). Stock moves on both sides with each step:
the holder's part goes down on shipment, the requester's (an existing part
of the same number, maker and condition, or a new one) up on receipt; a loan
goes back the same way. Each step notifies the other company (outbox).
"""
from __future__ import annotations

import secrets
import statistics
import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from alloyhub.platform import audit, mail, outbox, tenancy
from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from alloyhub.platform.identity.models import Membership, MembershipRole, Role, User
from alloyhub.platform.sharing import services as sharing

from . import listings, payments, stock
from .models import (
    ACCEPTED, CANCELLED, COMPLETED, CORE_SHIPPED, COUNTERED, DECLINED, HOLDING_STATES, PART_KIND, RECEIVED,
    REQUEST_KINDS, REQUESTED, RETURN_SHIPPED, SHIPPED, URGENCIES, SparePart, SpareHolderStats, SpareListing,
    SpareNotification, SpareRating, SpareRequest, SpareRequestMessage, SpareReservation,
)

EVENT = "spares.request.event"
CLOSED_STATES = (COMPLETED, DECLINED, CANCELLED)


# ---------------------------------------------------------------- reading

def _me() -> uuid.UUID:
    me = tenancy.current_tenant_id()
    if me is None:
        raise NotFound("No such request")
    return me


def requests_query(role: str | None = None, status: str | None = None):
    """Requests the current company is a party to (as holder: incoming; as
    requester: outgoing)."""
    me = _me()
    if role == "incoming":
        stmt = select(SpareRequest).where(SpareRequest.tenant_id == me)
    elif role == "outgoing":
        stmt = select(SpareRequest).where(SpareRequest.requester_tenant_id == me)
    else:
        stmt = select(SpareRequest).where(or_(SpareRequest.tenant_id == me, SpareRequest.requester_tenant_id == me))
    if status == "open":
        stmt = stmt.where(SpareRequest.status.not_in(CLOSED_STATES))
    elif status:
        stmt = stmt.where(SpareRequest.status == status)
    return stmt


def get_request(request_id, *, for_update: bool = False) -> SpareRequest:
    stmt = requests_query().where(SpareRequest.id == request_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = db.session.scalar(stmt)
    if found is None:
        raise NotFound("No such request")
    return found


def role_of(req: SpareRequest) -> str:
    return "holder" if req.tenant_id == tenancy.current_tenant_id() else "requester"


def messages_of(req: SpareRequest) -> list[SpareRequestMessage]:
    return list(db.session.scalars(select(SpareRequestMessage).where(SpareRequestMessage.request_id == req.id)
                                   .order_by(SpareRequestMessage.at, SpareRequestMessage.id)))


def messages_query(req: SpareRequest):
    return select(SpareRequestMessage).where(SpareRequestMessage.request_id == req.id)


def ratings_of(req: SpareRequest) -> list[SpareRating]:
    return list(db.session.scalars(select(SpareRating).where(SpareRating.request_id == req.id)))


def reserved_by(req: SpareRequest) -> int:
    return db.session.scalar(select(SpareReservation.quantity).where(SpareReservation.id == req.id)) or 0


# ---------------------------------------------------------------- helpers

lock_listing = listings.lock_listing


def _log(req: SpareRequest, event: str | None, body: str = "", *, kind: str = "event") -> SpareRequestMessage:
    scope = tenancy.current()
    message = SpareRequestMessage(tenant_id=req.tenant_id, requester_tenant_id=req.requester_tenant_id,
                                  request_id=req.id, author_tenant_id=scope.tenant_id, author_user_id=scope.user_id,
                                  kind=kind, event=event, body=(body or "").strip()[:4000])
    db.session.add(message)
    return message


def _notify(req: SpareRequest, event: str, note: str | None = None) -> None:
    """Tell the other company (the relay makes the in-app notice and mail)."""
    me = tenancy.current_tenant_id()
    other = req.requester_tenant_id if me == req.tenant_id else req.tenant_id
    outbox.publish(EVENT, {"request_id": str(req.id), "event": event, "to": str(other), "from": str(me),
                           "holder": str(req.tenant_id), "number": req.number, "part": req.part_label,
                           "status": req.status, "note": note})


def _step(req: SpareRequest, event: str, status: str, note: str | None = None) -> SpareRequest:
    req.status = status
    _log(req, event, note or "")
    _notify(req, event, note)
    audit.record(f"spares.request.{event}", target_type="spare_request", target_id=req.id, number=req.number,
                 status=status)
    try:
        db.session.commit()
    except StaleDataError as exc:  # the other side changed it meanwhile
        db.session.rollback()
        raise Conflict("The request changed meanwhile; reload it and try again") from exc
    return req


def _require(req: SpareRequest, role: str, *states: str) -> None:
    if role_of(req) != role:
        raise PermissionDenied("The other company takes this step" if role == "holder"
                               else "Only the requesting company takes this step")
    if req.status not in states:
        raise Conflict(f"Not possible while the request is {req.status}")


def _release(req: SpareRequest) -> None:
    row = db.session.scalar(select(SpareReservation).where(SpareReservation.id == req.id))
    if row is not None:
        db.session.delete(row)


def _first_reply(req: SpareRequest) -> None:
    if req.first_reply_at is None:
        req.first_reply_at = utcnow()


def _note(value) -> str | None:
    return (value or "").strip()[:4000] or None


# ---------------------------------------------------------------- opening a request

def create_request(*, listing_id, kind: str, quantity: int, urgency: str = "routine", needed_by: date | None = None,
                   loan_days: int | None = None, note: str | None = None) -> SpareRequest:
    """Ask the holder of a shared part for it. 404 unless the listing is
    shared with the company; 409 if fewer units are available."""
    me = _me()
    listing = listings.get_visible_listing(listing_id, action=None)
    if listing.tenant_id == me:
        raise Conflict("This is the company's own part")
    errors: dict[str, list[str]] = {}
    offered = listings.offers(listing)
    if kind not in REQUEST_KINDS or kind not in offered:
        errors["kind"] = [f"The holder offers: {', '.join(offered) or 'nothing'}."]
    if urgency not in URGENCIES:
        errors["urgency"] = ["Choose routine, urgent or line down."]
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        errors["quantity"] = ["Ask for at least one."]
    if kind == "borrow":
        limit = listing.loan_max_days or 730
        if not loan_days or not 1 <= loan_days <= limit:
            errors["loan_days"] = [f"Borrow for 1-{limit} days."]
    if needed_by is not None and needed_by < date.today():
        errors["needed_by"] = ["The date has passed."]
    if errors:
        raise ValidationFailed(errors=errors)
    lock_listing(listing.id)
    available = listings.available_of([listing.id]).get(listing.id, 0)
    if quantity > available:
        raise Conflict(f"Only {available} available", available=available)
    price = {"buy": listing.sale_price, "exchange": listing.exchange_fee, "borrow": listing.loan_daily_fee}[kind]
    req = SpareRequest(
        id=uuid.uuid4(), tenant_id=listing.tenant_id, requester_tenant_id=me, listing_id=listing.id,
        number=f"SR-{utcnow():%y%m%d}-{secrets.token_hex(3).upper()}", kind=kind, quantity=quantity,
        urgency=urgency, status=REQUESTED,
        part_label=" ".join(x for x in (listing.manufacturer, listing.part_number) if x)[:300],
        part_number=listing.part_number, manufacturer=listing.manufacturer, condition=listing.condition,
        unit_price=price, currency=listing.currency,
        core_return_days=listing.core_return_days if kind == "exchange" else None,
        loan_days=loan_days if kind == "borrow" else None, needed_by=needed_by,
        requested_by=tenancy.current().user_id, settlement="offline")
    db.session.add(req)
    db.session.flush()
    db.session.add(SpareReservation(id=req.id, tenant_id=req.tenant_id, listing_id=listing.id, quantity=quantity))
    sharing.record_read(listing.tenant_id, PART_KIND, listing.id, "requested")
    _log(req, "requested", note or "")
    _notify(req, "requested", note)
    audit.record("spares.request.requested", target_type="spare_request", target_id=req.id, number=req.number,
                 holder=req.tenant_id, quantity=quantity, kind=kind)
    db.session.commit()
    return req


# ---------------------------------------------------------------- the holder answers

def accept(req: SpareRequest, note: str | None = None) -> SpareRequest:
    _require(req, "holder", REQUESTED)
    if req.unit_price is None:
        raise Conflict("Price on request: send a quote (counter-offer) first")
    _first_reply(req)
    req.accepted_at = utcnow()
    payments.open_payment(req)
    return _step(req, "accepted", ACCEPTED, note)


def counter(req: SpareRequest, *, price: Decimal | None = None, quantity: int | None = None,
            alternate: str | None = None, note: str | None = None) -> SpareRequest:
    """Offer other terms: a price (a quote, for price on request), a
    quantity, or an interchangeable part instead (which the requester must
    approve). The reservation follows the offered quantity."""
    _require(req, "holder", REQUESTED, COUNTERED)
    alternate = (alternate or "").strip()[:300] or None
    if price is None and quantity is None and alternate is None:
        raise ValidationFailed(errors={"price": ["Offer a price, a quantity or an interchangeable part."]})
    if price is not None and (not price.is_finite() or price < 0):
        raise ValidationFailed(errors={"price": ["Enter a price, zero or more."]})
    if quantity is not None and quantity < 1:
        raise ValidationFailed(errors={"quantity": ["Offer at least one."]})
    if price is None and req.unit_price is None:
        raise ValidationFailed(errors={"price": ["Price on request: quote a price."]})
    if quantity is not None and quantity > req.quantity:
        lock_listing(req.listing_id)
        available = listings.available_of([req.listing_id]).get(req.listing_id, 0)
        if quantity - reserved_by(req) > available:
            raise Conflict(f"Only {available + reserved_by(req)} available")
    if quantity is not None:
        row = db.session.scalar(select(SpareReservation).where(SpareReservation.id == req.id))
        if row is not None:
            row.quantity = quantity
    req.offer_price, req.offer_quantity, req.offer_alternate = price, quantity, alternate
    req.offer_note = _note(note)
    _first_reply(req)
    body = "; ".join(x for x in (
        f"price {price} {req.currency}" if price is not None else None,
        f"quantity {quantity}" if quantity is not None else None,
        f"instead: {alternate}" if alternate else None, _note(note)) if x)
    return _step(req, "countered", COUNTERED, body)


def decline(req: SpareRequest, note: str | None = None) -> SpareRequest:
    _require(req, "holder", REQUESTED, COUNTERED)
    _first_reply(req)
    _release(req)
    req.closed_at = utcnow()
    return _step(req, "declined", DECLINED, note)


# ---------------------------------------------------------------- the requester answers an offer

def accept_offer(req: SpareRequest, note: str | None = None) -> SpareRequest:
    """The requester approves the counter-offer (and any interchangeable part in it)."""
    _require(req, "requester", COUNTERED)
    if req.offer_price is not None:
        req.unit_price = req.offer_price
    if req.offer_quantity is not None:
        req.quantity = req.offer_quantity
    if req.offer_alternate:
        req.part_label = f"{req.offer_alternate} (interchangeable for {req.part_label}, approved)"[:300]
    req.offer_price = req.offer_quantity = req.offer_alternate = None
    req.accepted_at = utcnow()
    payments.open_payment(req)
    return _step(req, "offer_accepted", ACCEPTED, note)


def cancel(req: SpareRequest, note: str | None = None) -> SpareRequest:
    """Withdraw: the requester until shipment, the holder once it accepted."""
    me = tenancy.current_tenant_id()
    allowed = (REQUESTED, COUNTERED, ACCEPTED) if me == req.requester_tenant_id else (ACCEPTED,)
    if req.status not in allowed:
        raise Conflict(f"Not possible while the request is {req.status}")
    _release(req)
    req.closed_at = utcnow()
    payments.refund_on_cancel(req)
    return _step(req, "cancelled", CANCELLED, note)


# ---------------------------------------------------------------- goods move

def _holder_part(req: SpareRequest) -> SparePart:
    part = db.session.scalar(select(SparePart).where(SparePart.id == req.listing_id))
    if part is None:
        raise Conflict("The part is no longer in the holder's stock")
    return part


def ship(req: SpareRequest, tracking: str | None = None, note: str | None = None) -> SpareRequest:
    """The holder sends the parts: its stock and shared quantity go down,
    the reservation ends."""
    _require(req, "holder", ACCEPTED)
    payments.require_paid_before_shipping(req)
    lock_listing(req.listing_id)
    part = _holder_part(req)
    listing = db.session.scalar(select(SpareListing).where(SpareListing.id == part.id))
    if part.quantity < req.quantity:
        raise Conflict(f"Only {part.quantity} in stock")
    _release(req)
    if listing is not None:
        listing.shared_quantity = max(0, listing.shared_quantity - req.quantity)
    stock.move_stock(part, -req.quantity, "request_ship", request_id=req.id, note=req.number, commit=False)
    req.shipped_at = utcnow()
    req.tracking = (tracking or "").strip()[:120] or None
    if req.kind == "borrow":
        req.return_due = date.today() + timedelta(days=req.loan_days or 0)
    return _step(req, "shipped", SHIPPED, _with_tracking(req.tracking, note))


def _with_tracking(tracking: str | None, note: str | None) -> str | None:
    return "; ".join(x for x in (f"tracking {tracking}" if tracking else None, _note(note)) if x) or None


def _requester_part(req: SpareRequest) -> SparePart:
    """Where received units go in the requester's stock: its part of the
    same number, maker and condition, else a new one."""
    from alloyhub.platform.search import normalise_code

    norm = normalise_code(req.part_number)
    part = db.session.scalar(select(SparePart).where(
        SparePart.part_number_norm == norm,
        func.lower(func.coalesce(SparePart.manufacturer, "")) == (req.manufacturer or "").lower(),
        SparePart.condition == req.condition).order_by(SparePart.created_at).limit(1))
    if part is None:
        part = stock.create_part(part_number=req.part_number, manufacturer=req.manufacturer,
                                 condition=req.condition, description=req.part_label, quantity=0, commit=False)
    return part


def receive(req: SpareRequest, note: str | None = None) -> SpareRequest:
    """The requester confirms receipt: its stock goes up. A purchase is
    then complete; a loan waits for its return, an exchange for the core."""
    _require(req, "requester", SHIPPED)
    part = _requester_part(req)
    stock.move_stock(part, req.quantity, "request_receive", request_id=req.id, note=req.number, commit=False)
    req.requester_part_id = part.id
    req.received_at = utcnow()
    if req.kind == "buy":
        req.closed_at = utcnow()
        return _step(req, "received", COMPLETED, note)
    return _step(req, "received", RECEIVED, note)


def send_back(req: SpareRequest, tracking: str | None = None, note: str | None = None) -> SpareRequest:
    """A loan goes back (the requester's stock goes down), or an exchange's
    failed core is sent (it came out of the machine: no stock of the
    requester's moves)."""
    _require(req, "requester", RECEIVED)
    req.return_tracking = (tracking or "").strip()[:120] or None
    req.return_shipped_at = utcnow()
    if req.kind == "borrow":
        part = db.session.scalar(select(SparePart).where(SparePart.id == req.requester_part_id)) \
            if req.requester_part_id else None
        if part is None or part.quantity < req.quantity:
            raise Conflict("The borrowed parts are not in stock to send back")
        stock.move_stock(part, -req.quantity, "loan_return_ship", request_id=req.id, note=req.number, commit=False)
        return _step(req, "returned", RETURN_SHIPPED, _with_tracking(req.return_tracking, note))
    if req.kind == "exchange":
        return _step(req, "core_sent", CORE_SHIPPED, _with_tracking(req.return_tracking, note))
    raise Conflict("A purchase is not sent back")


def confirm_return(req: SpareRequest, note: str | None = None) -> SpareRequest:
    """The holder receives the loan back (stock up, shared again) or the
    exchange's core (into its stock as a used part, to be refurbished)."""
    _require(req, "holder", RETURN_SHIPPED, CORE_SHIPPED)
    if req.status == RETURN_SHIPPED:
        lock_listing(req.listing_id)
        part = _holder_part(req)
        stock.move_stock(part, req.quantity, "loan_return_receive", request_id=req.id, note=req.number,
                         commit=False)
        listing = db.session.scalar(select(SpareListing).where(SpareListing.id == part.id))
        if listing is not None:
            listing.shared_quantity = min(part.quantity, listing.shared_quantity + req.quantity)
        event = "return_received"
    else:
        part = _core_part(req)
        stock.move_stock(part, req.quantity, "core_receive", request_id=req.id, note=req.number, commit=False)
        event = "core_received"
    req.closed_at = utcnow()
    return _step(req, event, COMPLETED, note)


def _core_part(req: SpareRequest) -> SparePart:
    part = _holder_part(req)
    if part.condition == "used":
        return part
    found = db.session.scalar(select(SparePart).where(
        SparePart.part_number_norm == part.part_number_norm, SparePart.condition == "used",
        func.lower(func.coalesce(SparePart.manufacturer, "")) == (part.manufacturer or "").lower())
        .order_by(SparePart.created_at).limit(1))
    if found is None:
        found = stock.create_part(part_number=part.part_number, manufacturer=part.manufacturer,
                                  description=part.description, category=part.category,
                                  equipment_models=part.equipment_models, site_id=part.site_id,
                                  condition="used", quantity=0, commit=False)
    return found


# ---------------------------------------------------------------- conversation and ratings

def post_message(req: SpareRequest, body: str) -> SpareRequestMessage:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(errors={"body": ["Write a message."]})
    message = _log(req, None, body, kind="message")
    _notify(req, "message", body[:300])
    db.session.commit()
    return message


def rate(req: SpareRequest, score: int, comment: str | None = None) -> SpareRating:
    """Each side rates the other once the request is complete."""
    if req.status != COMPLETED:
        raise Conflict("Rate the other company once the request is complete")
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise ValidationFailed(errors={"score": ["Give 1 to 5 stars."]})
    me = _me()
    if db.session.scalar(select(SpareRating.id).where(SpareRating.request_id == req.id,
                                                      SpareRating.rater_tenant_id == me)):
        raise Conflict("The company has rated this request already")
    other = req.requester_tenant_id if me == req.tenant_id else req.tenant_id
    rating = SpareRating(tenant_id=req.tenant_id, requester_tenant_id=req.requester_tenant_id, request_id=req.id,
                         rater_tenant_id=me, rated_tenant_id=other, score=score, comment=_note(comment))
    db.session.add(rating)
    _log(req, "rated", f"{score}/5" + (f": {rating.comment}" if rating.comment else ""))
    _notify(req, "rated", f"{score}/5")
    db.session.commit()
    return rating


# ---------------------------------------------------------------- the relay: notices and standing

def notifications_query(unread_only: bool = False):
    stmt = select(SpareNotification)
    if unread_only:
        stmt = stmt.where(SpareNotification.read_at.is_(None))
    return stmt


def unread_count() -> int:
    return db.session.scalar(select(func.count()).select_from(SpareNotification)
                             .where(SpareNotification.read_at.is_(None))) or 0


def mark_read() -> int:
    rows = db.session.scalars(notifications_query(unread_only=True)).all()
    for row in rows:
        row.read_at = utcnow()
    db.session.commit()
    return len(rows)


NOTICE = {
    "requested": "{from_} requests {part} ({number})",
    "accepted": "{from_} accepted request {number} for {part}",
    "countered": "{from_} made a counter-offer on {number} for {part}",
    "declined": "{from_} declined request {number} for {part}",
    "offer_accepted": "{from_} accepted your offer on {number} for {part}",
    "cancelled": "{from_} cancelled request {number} for {part}",
    "shipped": "{from_} shipped {part} ({number})",
    "received": "{from_} received {part} ({number})",
    "returned": "{from_} sent back the borrowed {part} ({number})",
    "core_sent": "{from_} sent the core back for {number}",
    "return_received": "{from_} received the loan back ({number})",
    "core_received": "{from_} received the core ({number})",
    "message": "{from_} wrote on {number}: {note}",
    "rated": "{from_} rated request {number}: {note}",
    "paid": "Request {number} for {part} is paid online: {note}",
    "refunded": "The payment of request {number} was refunded: {note}",
}


def _emails_of_admins(tenant_id) -> list[str]:
    return list(db.session.scalars(
        select(User.email).join(Membership, Membership.user_id == User.id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .join(Role, Role.id == MembershipRole.role_id)
        .where(Membership.tenant_id == tenant_id, Membership.status == "active", Role.key.in_(("owner", "admin")))
        .distinct()))


@outbox.subscribe(EVENT)
def _deliver(event) -> None:
    """In-app notice and mail to the other company; the holder's standing."""
    p = event.payload
    names = sharing.names_of([uuid.UUID(p["from"])])
    body = NOTICE.get(p["event"], "{number}: {event}").format(
        from_=names.get(uuid.UUID(p["from"]), "?"), part=p.get("part") or "", number=p.get("number") or "",
        note=p.get("note") or "", event=p["event"])
    to = uuid.UUID(p["to"])
    db.session.add(SpareNotification(tenant_id=to, request_id=uuid.UUID(p["request_id"]), event=p["event"],
                                     body=body[:2000]))
    for email in _emails_of_admins(to):
        mail.queue(email, f"AlloyHub spare parts: {body[:120]}", f"{body}\n\nRequest {p.get('number')}.")
    if p["event"] in ("accepted", "countered", "declined", "rated"):
        refresh_stats(uuid.UUID(p["holder"]) if p["event"] != "rated" else None, request_id=p["request_id"])


def refresh_stats(holder_id=None, *, request_id=None) -> None:
    """Recompute a company's median first-reply time and rating (system scope)."""
    ids = set()
    if holder_id is not None:
        ids.add(holder_id)
    if request_id is not None:
        req = db.session.scalar(select(SpareRequest).where(SpareRequest.id == uuid.UUID(str(request_id))))
        if req is not None:
            ids |= {req.tenant_id, req.requester_tenant_id}
    for tenant_id in ids:
        rows = db.session.execute(select(SpareRequest.created_at, SpareRequest.first_reply_at).where(
            SpareRequest.tenant_id == tenant_id, SpareRequest.first_reply_at.is_not(None))).all()
        waits = [(r.first_reply_at - r.created_at).total_seconds() for r in rows]
        scores = list(db.session.scalars(select(SpareRating.score).where(SpareRating.rated_tenant_id == tenant_id)))
        stats = db.session.get(SpareHolderStats, tenant_id) or SpareHolderStats(tenant_id=tenant_id)
        stats.median_first_reply_s = statistics.median(waits) if waits else None
        stats.replies = len(waits)
        stats.rating_avg = round(sum(scores) / len(scores), 2) if scores else None
        stats.ratings = len(scores)
        db.session.add(stats)
