"""A part's shared face: its listing (public projection + terms), the
sharing decision recorded in the consent ledger, and the industry catalogue
("cloud inventory") other companies read through the ledger.

The decision per part is one of: not shared, the company's alliances (all or
some), or every subscriber; it is the set of shares of kind "spares.part" in
the ledger, so revoking one on the Sharing page changes it here too.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

from flask import has_request_context, url_for
from sqlalchemy import Select, func, or_, select, text

from alloyhub.platform import outbox, tenancy
from alloyhub.platform.db import db
from alloyhub.platform.errors import NotFound, ValidationFailed
from alloyhub.platform.identity.models import Site
from alloyhub.platform.search import normalise_code
from alloyhub.platform.sharing import services as sharing
from alloyhub.platform.sharing.models import SUBSCRIBERS

from .models import PART_KIND, VISIBILITIES, SpareAlternate, SparePart, SpareListing, SpareReservation

SKIP = {"skip_tenant_filter": True}
TERM_FIELDS = ("sale_price", "exchange_fee", "core_return_days", "loan_daily_fee", "loan_max_days",
               "price_on_request", "currency", "terms_note")
PROJECTED = ("part_number", "part_number_norm", "manufacturer", "manufacturer_part_number", "description",
             "category", "equipment_models", "dimensions", "condition")
CHANGED = "spares.listing.changed"


# ---------------------------------------------------------------- the ledger's kind

def _owned(object_id) -> bool:
    return db.session.scalar(select(SparePart.id).where(SparePart.id == object_id)) is not None


def _describe(object_id) -> str:
    part = db.session.scalar(select(SparePart).where(SparePart.id == object_id)) if object_id else None
    if part is None:
        return "Every spare part"
    return " ".join(x for x in (part.manufacturer, part.part_number) if x) + \
        (f" — {part.description[:120]}" if part.description else "")


def _link(object_id) -> str | None:
    return url_for("spares.part_detail", part_id=object_id) if has_request_context() else None


def register_kind(title) -> None:
    sharing.register_kind(PART_KIND, "spares", owned=_owned, describe=_describe, title=title, link=_link)


# ---------------------------------------------------------------- projection

def _geo(site_id) -> tuple[str | None, float | None, float | None]:
    site = db.session.scalar(select(Site).where(Site.id == site_id)) if site_id else None
    if site is None:
        return None, None, None
    lat = round(site.latitude, 2) if site.latitude is not None else None
    lon = round(site.longitude, 2) if site.longitude is not None else None
    return site.region, lat, lon


def _project(part: SparePart, listing: SpareListing) -> None:
    for key in PROJECTED:
        setattr(listing, key, getattr(part, key))
    listing.region, listing.latitude, listing.longitude = _geo(part.site_id)
    listing.shared_quantity = min(listing.shared_quantity or 0, part.quantity)


def listing_of(part: SparePart) -> SpareListing | None:
    return db.session.scalar(select(SpareListing).where(SpareListing.id == part.id))


def reindex(part_id, tenant_id=None) -> None:
    """Tell the search index (through the outbox) that a part changed."""
    from alloyhub.platform import search

    search.request_index("spares.parts", [part_id], tenant_id=tenant_id)


def part_changed(part: SparePart) -> None:
    listing = listing_of(part)
    if listing is not None:
        _project(part, listing)
    db.session.flush()
    reindex(part.id)


def quantity_changed(part: SparePart) -> None:
    listing = listing_of(part)
    if listing is not None and listing.shared_quantity > part.quantity:
        listing.shared_quantity = part.quantity
    reindex(part.id)


def part_removed(part: SparePart) -> None:
    sharing.revoke_object(PART_KIND, part.id, "part deleted")
    reindex(part.id)


def site_changed(site: Site) -> None:
    for part in db.session.scalars(select(SparePart).where(SparePart.site_id == site.id)):
        part_changed(part)


# ---------------------------------------------------------------- the sharing decision

def decision(part: SparePart) -> dict:
    """The part's sharing as the ledger records it: visibility, the
    alliances it is shared with, and the shares themselves."""
    shares = sharing.active_shares_of(PART_KIND, part.id)
    keys = {s.grantee_key for s in shares}
    if SUBSCRIBERS in keys:
        visibility = "subscribers"
    elif any(s.grantee_kind == "alliance" for s in shares):
        visibility = "alliances"
    elif shares:
        visibility = "companies"  # shared with single companies through the ledger's API
    else:
        visibility = "none"
    return {"visibility": visibility, "shares": shares,
            "alliance_ids": sorted((s.grantee_key for s in shares if s.grantee_kind == "alliance"), key=str)}


def _validate_terms(values: dict, errors: dict) -> None:
    for key in ("sale_price", "exchange_fee", "loan_daily_fee"):
        value = values.get(key)
        if value is not None and (not isinstance(value, Decimal) or not value.is_finite()
                                  or not 0 <= value < 10**12):
            errors[key] = ["Enter a price, zero or more."]
    for key, limit in (("core_return_days", 365), ("loan_max_days", 730)):
        value = values.get(key)
        if value is not None and not (isinstance(value, int) and 1 <= value <= limit):
            errors[key] = [f"Enter 1-{limit} days."]
    if values.get("exchange_fee") is not None and values.get("core_return_days") is None:
        errors["core_return_days"] = ["Say within how many days the failed core must come back."]
    if values.get("loan_daily_fee") is not None and values.get("loan_max_days") is None:
        errors["loan_max_days"] = ["Say for how many days at most the part may be borrowed."]
    currency = values.get("currency") or ""
    if not (len(currency) == 3 and currency.isalpha() and currency.isupper()):
        errors["currency"] = ["Use a three-letter currency code, e.g. CNY."]


def offers(listing: SpareListing) -> list[str]:
    """The request kinds a listing's terms allow (price on request allows any)."""
    kinds = []
    if listing.sale_price is not None or listing.price_on_request:
        kinds.append("buy")
    if listing.exchange_fee is not None or listing.price_on_request:
        kinds.append("exchange")
    if listing.loan_daily_fee is not None or listing.price_on_request:
        kinds.append("borrow")
    return kinds


def set_listing(part: SparePart, *, visibility: str, alliance_ids=None, shared_quantity: int | None = None,
                **terms) -> SpareListing | None:
    """Decide what to share of a part, how many, and on which terms."""
    errors: dict[str, list[str]] = {}
    if visibility not in VISIBILITIES:
        errors["visibility"] = ["Choose not shared, the company's alliances or every subscriber."]
    listing = listing_of(part)
    values = {k: getattr(listing, k) if listing else None for k in TERM_FIELDS}
    values["price_on_request"] = bool(values["price_on_request"])
    values["currency"] = values["currency"] or part.currency
    values.update({k: v for k, v in terms.items() if k in TERM_FIELDS})
    if isinstance(values.get("currency"), str):
        values["currency"] = values["currency"].strip().upper()
    if isinstance(values.get("terms_note"), str):
        values["terms_note"] = values["terms_note"].strip()[:2000] or None
    _validate_terms(values, errors)
    quantity = shared_quantity if shared_quantity is not None else (listing.shared_quantity if listing else 0)
    lock_listing(part.id)
    reserved = reserved_of(part.id)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        errors["shared_quantity"] = ["Enter a whole number, zero or more."]
    elif quantity > part.quantity:
        errors["shared_quantity"] = [f"At most the {part.quantity} held can be shared."]
    elif quantity < reserved:
        errors["shared_quantity"] = [f"Open requests hold {reserved}; share at least that many."]
    wanted: dict[uuid.UUID, tuple[str, uuid.UUID | None]] = {}
    if visibility == "subscribers":
        wanted = {SUBSCRIBERS: ("subscribers", None)}
    elif visibility == "alliances":
        mine = [a for a in sharing.audiences_of()[1:-1]]
        chosen = [tenancy._as_uuid(a) for a in (alliance_ids or mine)]
        if not mine:
            errors["visibility"] = ["The company belongs to no alliance; share with every subscriber instead."]
        elif not set(chosen) <= set(mine):
            errors["alliance_ids"] = ["Choose among the company's alliances."]
        wanted = {a: ("alliance", a) for a in chosen}
    if visibility != "none" and not (values.get("sale_price") is not None or values.get("exchange_fee") is not None
                                     or values.get("loan_daily_fee") is not None or values.get("price_on_request")):
        errors["terms"] = ["Offer the part for sale, exchange or loan, or on request."]
    if errors:
        raise ValidationFailed(errors=errors)
    if listing is None:
        listing = SpareListing(id=part.id, shared_quantity=0)
        db.session.add(listing)
    for key in TERM_FIELDS:
        setattr(listing, key, values[key])
    listing.shared_quantity = quantity
    _project(part, listing)
    db.session.flush()
    existing = sharing.active_shares_of(PART_KIND, part.id)
    for share in existing:
        if share.grantee_key not in wanted:
            sharing.revoke(share, "sharing changed", commit=False)
    have = {s.grantee_key for s in existing}
    label = _describe(part.id)
    for key, (kind, grantee_id) in wanted.items():
        if key not in have:
            sharing.grant(grantee_kind=kind, grantee_id=grantee_id, object_kind=PART_KIND, object_id=part.id,
                          label=label, module="spares", commit=False)
    reindex(part.id)
    db.session.commit()
    return listing


# ---------------------------------------------------------------- availability

def lock_listing(listing_id) -> None:
    """Serialise every change of what a listing can give (a transaction-scoped
    advisory lock: requests, shipments and the holder's own changes queue)."""
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                       {"k": f"spares.listing:{listing_id}"})


def reserved_of(listing_id) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(SpareReservation.quantity), 0))
                             .where(SpareReservation.listing_id == listing_id)) or 0


def available_of(listing_ids) -> dict[uuid.UUID, int]:
    """Shared quantity less what open requests hold, per listing."""
    ids = list(listing_ids)
    if not ids:
        return {}
    reserved = dict(db.session.execute(
        select(SpareReservation.listing_id, func.sum(SpareReservation.quantity))
        .where(SpareReservation.listing_id.in_(ids)).group_by(SpareReservation.listing_id)).all())
    shared = dict(db.session.execute(select(SpareListing.id, SpareListing.shared_quantity)
                                     .where(SpareListing.id.in_(ids)).execution_options(**SKIP)).all())
    return {i: max(0, shared.get(i, 0) - int(reserved.get(i, 0) or 0)) for i in ids}


# ---------------------------------------------------------------- the catalogue (others' listings)

def visible_listings() -> Select:
    """Listings of other companies the ledger shares with the current one
    (layer one: this clause; layer two: the table's RLS policy)."""
    me = tenancy.current_tenant_id()
    return (select(SpareListing)
            .where(SpareListing.tenant_id != me,
                   sharing.visible_clause(PART_KIND, SpareListing.tenant_id, SpareListing.id))
            .execution_options(**SKIP))


def catalogue_query(q: str | None = None, category: str | None = None, condition: str | None = None,
                    manufacturer: str | None = None) -> Select:
    stmt = visible_listings()
    if q:
        norm = normalise_code(q)
        like = f"%{q.strip()}%"
        clauses = [SpareListing.description.ilike(like), SpareListing.manufacturer.ilike(like)]
        if norm:
            clauses += [SpareListing.part_number_norm.contains(norm),
                        func.coalesce(SpareListing.manufacturer_part_number, "").ilike(like)]
        stmt = stmt.where(or_(*clauses))
    if category:
        stmt = stmt.where(SpareListing.category == category)
    if condition:
        stmt = stmt.where(SpareListing.condition == condition)
    if manufacturer:
        stmt = stmt.where(SpareListing.manufacturer == manufacturer)
    return stmt.where(SpareListing.shared_quantity > 0)


def get_visible_listing(listing_id, *, action: str | None = "viewed") -> SpareListing:
    """One listing: the company's own, or another's shared with it (the read
    is recorded in the grantor's activity feed). Otherwise 404."""
    me = tenancy.current_tenant_id()
    listing = db.session.scalar(
        select(SpareListing).where(SpareListing.id == listing_id,
                                   or_(SpareListing.tenant_id == me,
                                       sharing.visible_clause(PART_KIND, SpareListing.tenant_id, SpareListing.id)))
        .execution_options(**SKIP))
    if listing is None:
        raise NotFound("No such listing")
    if listing.tenant_id != me and action:
        sharing.record_read(listing.tenant_id, PART_KIND, listing.id, action)
        db.session.commit()
    return listing


def record_listed(listings) -> None:
    """Record that others' listings were shown (in search results)."""
    me = tenancy.current_tenant_id()
    items = [(x.tenant_id, PART_KIND, x.id) for x in listings if x.tenant_id != me]
    if items:
        sharing.record_reads(items, "listed")
        db.session.commit()


def alternates_of(listing_ids) -> dict[uuid.UUID, list[SpareAlternate]]:
    """Alternates of listings the current company may see (RLS admits those
    of shared parts), by part."""
    ids = list(listing_ids)
    if not ids:
        return {}
    found: dict[uuid.UUID, list[SpareAlternate]] = {}
    visible = or_(SpareAlternate.tenant_id == tenancy.current_tenant_id(),
                  sharing.visible_clause(PART_KIND, SpareAlternate.tenant_id, SpareAlternate.part_id))
    for alt in db.session.scalars(select(SpareAlternate).where(SpareAlternate.part_id.in_(ids), visible)
                                  .order_by(SpareAlternate.created_at).execution_options(**SKIP)):
        found.setdefault(alt.part_id, []).append(alt)
    return found


def holder_names(listings) -> dict:
    return sharing.names_of({x.tenant_id for x in listings})

