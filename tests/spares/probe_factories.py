"""Cross-tenant probe factories for the spare-parts room's routes. Each makes
an object of tenant `made` that another tenant must not reach: parts and
listings that are not shared, a request `made` opened with a third company,
a wanted post shown to an alliance of `made`'s own."""
from __future__ import annotations

import tempfile
from decimal import Decimal

from alloyhub.platform.db import db
from tests.factories import TenantFactory
from tests.probe import BODIES, NOT_OBJECT_IDS, as_owner, factory, pop


def _part(number="PROBE-1", **kw):
    from alloyhub.spares import stock

    return stock.create_part(part_number=number, quantity=3, **kw)


@factory("part_id")
def make_part(app, made):
    ctx = as_owner(app, made)
    try:
        return _part().id
    finally:
        pop(ctx)


@factory("listing_id")
def make_unshared_listing(app, made):
    """A listing row that is shared with nobody."""
    from alloyhub.spares import listings

    ctx = as_owner(app, made)
    try:
        part = _part()
        listings.set_listing(part, visibility="none", shared_quantity=1, sale_price=Decimal("1"))
        return part.id
    finally:
        pop(ctx)


@factory("alternate_id")
def make_alternate(app, made):
    from alloyhub.spares import stock

    ctx = as_owner(app, made)
    try:
        return stock.add_alternate(_part(), part_number="PROBE-ALT").id
    finally:
        pop(ctx)


@factory("attachment_id")
def make_attachment(app, made):
    from alloyhub.spares import attachments

    app.config["STORAGE_DIR"] = app.config.get("PROBE_STORAGE_DIR") or tempfile.mkdtemp(prefix="alloyhub-probe-")
    app.config["PROBE_STORAGE_DIR"] = app.config["STORAGE_DIR"]
    ctx = as_owner(app, made)
    try:
        return attachments.upload(_part(), kind="drawing", filename="probe.pdf", data=b"%PDF-1.4 probe",
                                  content_type="application/pdf").id
    finally:
        pop(ctx)


@factory("request_id")
def make_request(app, made):
    """A request `made` opened for a part a third company shares with every subscriber."""
    from alloyhub.spares import listings, requests

    holder = TenantFactory(app)()
    ctx = as_owner(app, holder)
    try:
        part = _part("PROBE-HELD")
        listings.set_listing(part, visibility="subscribers", shared_quantity=3, sale_price=Decimal("5"))
        listing_id = part.id
    finally:
        pop(ctx)
    ctx = as_owner(app, made)
    try:
        return requests.create_request(listing_id=listing_id, kind="buy", quantity=1).id
    finally:
        pop(ctx)


@factory("wanted_id")
def make_wanted(app, made):
    """A wanted post shown to an alliance `made` belongs to (not the prober's)."""
    from sqlalchemy import select

    from alloyhub.platform.identity.models import Tenant
    from alloyhub.platform.sharing import services as sharing
    from alloyhub.spares import wanted

    alliance = TenantFactory(app)("alliance")
    with app.app_context():
        slug = db.session.scalar(select(Tenant.slug).where(Tenant.id == made.tenant_id))
    ctx = as_owner(app, alliance)
    try:
        row_id = sharing.invite_member(slug).id
    finally:
        pop(ctx)
    ctx = as_owner(app, made)
    try:
        sharing.respond(sharing.get_membership(row_id), True)
        return wanted.post(part_number="PROBE-WANTED", audience="alliances").id
    finally:
        pop(ctx)


NOT_OBJECT_IDS.update({"action": "the name of a request's next step (accept, ship, receive...)"})

BODIES.update({
    ("spares_api.PartMoves", "POST"): {"delta": 1},
    ("spares_api.PartListing", "PUT"): {"visibility": "none"},
    ("spares_api.PartAlternates", "POST"): {"part_number": "X1"},
    ("spares_api.PartAttachmentUploads", "POST"): {"kind": "photo", "filename": "x.png", "content_type": "image/png"},
    ("spares_api.AttachmentItem", "PATCH"): {"shared": True},
    ("spares_api.RequestMessages", "POST"): {"body": "probe"},
    ("spares_api.RequestRatings", "POST"): {"score": 5},
})
