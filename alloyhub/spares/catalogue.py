"""The industry catalogue ("cloud inventory"): search over the parts other
companies share with this one, through the platform's search contract, with
each hit read live through the ledger (availability, terms, alternates, the
holder's standing). Own stock can be searched the same way (scope "own")."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from alloyhub.platform import search
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site

from . import listings
from .index import FACETS, INDEX
from .models import SpareAlternate, SpareHolderStats, SpareListing, SparePart

PER_PAGE = 20


@dataclass
class Entry:
    listing: SpareListing
    available: int
    holder: str
    distance_km: float | None
    score: float
    offers: list[str]
    alternates: list[SpareAlternate] = field(default_factory=list)
    stats: SpareHolderStats | None = None


def origin_of(site_id=None) -> tuple[tuple[float, float] | None, Site | None]:
    """Where "near" is: the chosen own site, or the first with a position."""
    stmt = select(Site).where(Site.latitude.is_not(None), Site.longitude.is_not(None))
    if site_id:
        stmt = stmt.where(Site.id == site_id)
    site = db.session.scalar(stmt.order_by(Site.code).limit(1))
    return ((site.latitude, site.longitude), site) if site else (None, None)


def holder_stats(tenant_ids) -> dict[uuid.UUID, SpareHolderStats]:
    ids = {t for t in tenant_ids if t}
    if not ids:
        return {}
    return {s.tenant_id: s for s in db.session.scalars(select(SpareHolderStats)
                                                        .where(SpareHolderStats.tenant_id.in_(ids)))}


def search_catalogue(q: str = "", filters: dict | None = None, sort: str = "relevance", site_id=None,
                     page: int = 1, per_page: int = PER_PAGE, record: bool = True) -> dict:
    """Others' shared parts matching `q` and the facet filters."""
    origin, site = origin_of(site_id)
    if sort == "distance" and origin is None:
        sort = "relevance"
    query = search.Query(text=q or "", filters={k: v for k, v in (filters or {}).items() if k in FACETS},
                         scope="shared", sort=sort, origin=origin, limit=per_page,
                         offset=(max(1, page) - 1) * per_page, facets=FACETS)
    results = search.search(INDEX, query)
    ids = [h.id for h in results.hits]
    found = {x.id: x for x in db.session.scalars(listings.visible_listings().where(SpareListing.id.in_(ids)))} \
        if ids else {}
    available = listings.available_of(found)
    names = listings.holder_names(found.values())
    alternates = listings.alternates_of(found)
    stats = holder_stats(x.tenant_id for x in found.values())
    entries = []
    for hit in results.hits:
        listing = found.get(hit.id)
        if listing is None:  # not listed (a part shared without a listing) or gone since indexing
            continue
        entries.append(Entry(listing, available.get(listing.id, 0), names.get(listing.tenant_id, "?"),
                             hit.distance_km, hit.score, listings.offers(listing),
                             alternates.get(listing.id, []), stats.get(listing.tenant_id)))
    if record:
        listings.record_listed([e.listing for e in entries])
    return {"entries": entries, "total": results.total, "facets": results.facets, "origin": site,
            "page": max(1, page), "per_page": per_page, "sort": sort}


def search_own(q: str = "", filters: dict | None = None, limit: int = 50) -> list[SparePart]:
    """The company's own parts matching `q` (typo-tolerant, part numbers
    normalised), best first."""
    query = search.Query(text=q or "", filters={k: v for k, v in (filters or {}).items() if k in FACETS},
                         scope="own", limit=limit, facets=())
    results = search.search(INDEX, query)
    ids = [h.id for h in results.hits]
    parts = {p.id: p for p in db.session.scalars(select(SparePart).where(SparePart.id.in_(ids)))} if ids else {}
    return [parts[i] for i in ids if i in parts]


def matches_for(part: SparePart, limit: int = 5, record: bool = True) -> list[Entry]:
    """Shared parts that could stand in for one of the company's own parts
    (same normalised part number or one of its alternates), nearest first."""
    from .models import SpareAlternate as Alt

    numbers = [part.part_number]
    numbers += list(db.session.scalars(select(Alt.part_number).where(Alt.part_id == part.id)))
    entries: dict[uuid.UUID, Entry] = {}
    for number in numbers:
        result = search_catalogue(number, sort="distance", site_id=part.site_id, per_page=limit, record=record)
        for entry in result["entries"]:
            if entry.listing.part_number_norm == search.normalise_code(number) and entry.available > 0:
                entries.setdefault(entry.listing.id, entry)
    return sorted(entries.values(), key=lambda e: (e.distance_km is None, e.distance_km or 0))[:limit]


def entry_of(listing: SpareListing) -> Entry:
    """One listing with its live availability, terms, alternates and holder."""
    origin, _ = origin_of()
    distance = None
    if origin is not None and listing.latitude is not None:
        from math import asin, cos, radians, sin, sqrt

        lat1, lon1, lat2, lon2 = map(radians, (origin[0], origin[1], listing.latitude, listing.longitude))
        km = 12742 * asin(sqrt(sin((lat2 - lat1) / 2) ** 2 + cos(lat1) * cos(lat2) * sin((lon2 - lon1) / 2) ** 2))
        distance = search.round_km(km)
    return Entry(listing, listings.available_of([listing.id]).get(listing.id, 0),
                 listings.holder_names([listing]).get(listing.tenant_id, "?"), distance, 0.0,
                 listings.offers(listing), listings.alternates_of([listing.id]).get(listing.id, []),
                 holder_stats([listing.tenant_id]).get(listing.tenant_id))


def compatible(model: str, limit: int = 50) -> dict:
    """Spares that fit an equipment model: in the company's own stock, and
    shared by others (for the equipment and alarm pages to link to)."""
    model = (model or "").strip()[:120]
    if not model:
        return {"model": model, "own": [], "shared": []}
    own = list(db.session.scalars(select(SparePart).where(SparePart.equipment_models.any(model))
                                  .order_by(SparePart.part_number).limit(limit)))
    found = search_catalogue("", {"model": [model]}, sort="distance", per_page=min(limit, 100))
    return {"model": model, "own": own, "shared": found["entries"]}
