"""The spare-parts search index ("spares.parts"): one document per part,
visible to its owner and, through the ledger, to those the part is shared
with. Built from the source tables by the outbox relay (system scope)."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from alloyhub.platform import outbox, search
from alloyhub.platform.db import db
from alloyhub.platform.identity.models import Site
from alloyhub.platform.sharing import services as sharing

from .models import PART_KIND, SpareAlternate, SpareListing, SparePart

INDEX = "spares.parts"
FACETS = ("category", "manufacturer", "condition", "region", "model")


def build(ids: list[uuid.UUID]) -> dict[uuid.UUID, search.Document | None]:
    parts = {p.id: p for p in db.session.scalars(select(SparePart).where(SparePart.id.in_(ids)))}
    listings = {x.id: x for x in db.session.scalars(select(SpareListing).where(SpareListing.id.in_(ids)))}
    alternates: dict[uuid.UUID, list[SpareAlternate]] = {}
    for alt in db.session.scalars(select(SpareAlternate).where(SpareAlternate.part_id.in_(ids))):
        alternates.setdefault(alt.part_id, []).append(alt)
    site_ids = {p.site_id for p in parts.values() if p.site_id}
    sites = {s.id: s for s in db.session.scalars(select(Site).where(Site.id.in_(site_ids)))} if site_ids else {}
    docs: dict[uuid.UUID, search.Document | None] = {}
    for object_id in ids:
        part = parts.get(object_id)
        if part is None:
            docs[object_id] = None
            continue
        listing = listings.get(part.id)
        site = sites.get(part.site_id)
        if listing is not None:
            region, lat, lon = listing.region, listing.latitude, listing.longitude
        else:
            region = site.region if site else None
            lat = round(site.latitude, 2) if site and site.latitude is not None else None
            lon = round(site.longitude, 2) if site and site.longitude is not None else None
        alts = alternates.get(part.id, [])
        title = " ".join(x for x in (part.manufacturer, part.part_number) if x)
        text = " ".join(x for x in (part.description, part.category, part.dimensions,
                                    part.manufacturer_part_number, *part.equipment_models,
                                    *[" ".join(y for y in (a.manufacturer, a.part_number) if y) for a in alts]) if x)
        docs[object_id] = search.Document(
            id=part.id, owner_tenant_id=part.tenant_id, object_kind=PART_KIND, title=title, text=text,
            # Alternates are in the text, not the codes: found, but below the part asked for by number.
            codes=[c for c in (part.part_number, part.manufacturer_part_number) if c],
            facets={"category": [part.category] if part.category else [],
                    "manufacturer": [part.manufacturer] if part.manufacturer else [],
                    "condition": [part.condition], "region": [region] if region else [],
                    "model": list(part.equipment_models)},
            latitude=lat, longitude=lon,
            payload={"part_number": part.part_number, "manufacturer": part.manufacturer,
                     "description": part.description[:300], "condition": part.condition,
                     "category": part.category, "region": region},
            audience=sharing.audience_keys(part.tenant_id, PART_KIND, part.id),
        )
    return docs


def all_ids():
    return db.session.scalars(select(SparePart.id).order_by(SparePart.id).execution_options(yield_per=2000))


def register() -> None:
    search.register_index(search.Index(INDEX, PART_KIND, FACETS, build, all_ids))


@outbox.subscribe(sharing.CHANGED)
def _share_changed(event) -> None:
    """A share of parts changed: documents carry their audience (for backends
    that filter on it), so rebuild them."""
    payload = event.payload
    if payload.get("object_kind") != PART_KIND or INDEX not in search.INDEXES:
        return
    if payload.get("object_id"):
        ids = [uuid.UUID(payload["object_id"])]
    else:
        ids = list(db.session.scalars(select(SparePart.id).where(SparePart.tenant_id == uuid.UUID(payload["grantor"]))))
    with db.session.begin_nested():  # a failing backend must not abort the relay's transaction
        for start in range(0, len(ids), 1000):
            search.apply(search.get_index(INDEX), ids[start:start + 1000])
