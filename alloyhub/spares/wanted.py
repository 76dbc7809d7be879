"""Below-minimum alerts and "wanted" posts.

When a part falls below its minimum stock, the company gets a notice naming
the matching parts others share with it. When nothing matches, it can post
the part as wanted: the post is shared through the ledger with its
alliances (or every subscriber), who see it on their Wanted board.
"""
from __future__ import annotations

import uuid
from datetime import date

from flask import has_request_context, url_for
from sqlalchemy import or_, select

from alloyhub.platform import audit, outbox, tenancy
from alloyhub.platform.db import db, get_or_404
from alloyhub.platform.errors import Conflict, NotFound, ValidationFailed
from alloyhub.platform.identity.models import Site
from alloyhub.platform.search import normalise_code
from alloyhub.platform.sharing import services as sharing
from alloyhub.platform.sharing.models import SUBSCRIBERS

from .models import WANTED_KIND, SparePart, SpareNotification, SpareWanted

BELOW_MINIMUM = "spares.below_minimum"
AUDIENCES = ("alliances", "subscribers")


# ---------------------------------------------------------------- the ledger's kind

def _owned(object_id) -> bool:
    return db.session.scalar(select(SpareWanted.id).where(SpareWanted.id == object_id)) is not None


def _describe(object_id) -> str:
    post = db.session.scalar(select(SpareWanted).where(SpareWanted.id == object_id)) if object_id else None
    return f"Wanted: {post.manufacturer or ''} {post.part_number} ×{post.quantity}".replace("  ", " ") if post \
        else "Every wanted post"


def _link(object_id) -> str | None:
    return url_for("spares.wanted_page") if has_request_context() else None


def register_kind(title) -> None:
    sharing.register_kind(WANTED_KIND, "spares", owned=_owned, describe=_describe, title=title, link=_link)


# ---------------------------------------------------------------- below minimum

def check_minimum(part: SparePart, before: int) -> None:
    """Called on every stock move: crossing below the minimum raises an alert."""
    if part.min_stock and part.quantity < part.min_stock <= before:
        outbox.publish(BELOW_MINIMUM, {"part_id": str(part.id), "tenant": str(part.tenant_id)})


@outbox.subscribe(BELOW_MINIMUM)
def _alert(event) -> None:
    """The relay, as the company: name the matching shared parts."""
    from . import catalogue

    tenant_id = uuid.UUID(event.payload["tenant"])
    # Write what the relay has pending while still in its own (system) scope.
    db.session.flush()
    with tenancy.scoped(tenant_id, session=db.session):
        part = db.session.scalar(select(SparePart).where(SparePart.id == uuid.UUID(event.payload["part_id"])))
        if part is None or part.quantity >= part.min_stock:
            return
        matches = catalogue.matches_for(part, limit=3, record=False)
        if matches:
            names = ", ".join(f"{m.holder} ({m.available}, {m.listing.region or '?'})" for m in matches)
            body = (f"{part.manufacturer or ''} {part.part_number} is below its minimum "
                    f"({part.quantity} of {part.min_stock}). Shared by: {names}").strip()
        else:
            body = (f"{part.manufacturer or ''} {part.part_number} is below its minimum "
                    f"({part.quantity} of {part.min_stock}); nobody shares it: post it as wanted.").strip()
        db.session.add(SpareNotification(tenant_id=tenant_id, request_id=None, event="below_minimum", body=body))


# ---------------------------------------------------------------- wanted posts

def board_query(status: str | None = "open"):
    """The company's own posts and those shared with it."""
    me = tenancy.current_tenant_id()
    stmt = select(SpareWanted).where(or_(SpareWanted.tenant_id == me,
                                         sharing.visible_clause(WANTED_KIND, SpareWanted.tenant_id, SpareWanted.id)))
    if status:
        stmt = stmt.where(SpareWanted.status == status)
    return stmt.execution_options(skip_tenant_filter=True)


def get_post(wanted_id) -> SpareWanted:
    found = db.session.scalar(board_query(None).where(SpareWanted.id == wanted_id))
    if found is None:
        raise NotFound("No such wanted post")
    if found.tenant_id != tenancy.current_tenant_id():
        sharing.record_read(found.tenant_id, WANTED_KIND, found.id, "viewed")
        db.session.commit()
    return found


def get_own_post(wanted_id) -> SpareWanted:
    return get_or_404(SpareWanted, wanted_id, "No such wanted post")


def post(*, part_number: str, manufacturer: str | None = None, description: str = "", quantity: int = 1,
         needed_by: date | None = None, part_id=None, audience: str = "alliances") -> SpareWanted:
    errors: dict[str, list[str]] = {}
    norm = normalise_code(part_number)
    if not norm:
        errors["part_number"] = ["Enter the part number."]
    if not isinstance(quantity, int) or quantity < 1:
        errors["quantity"] = ["Ask for at least one."]
    if needed_by is not None and needed_by < date.today():
        errors["needed_by"] = ["The date has passed."]
    if part_id is not None and db.session.scalar(select(SparePart.id).where(SparePart.id == part_id)) is None:
        errors["part_id"] = ["No such spare part"]
    alliances = sharing.audiences_of()[1:-1]
    if audience not in AUDIENCES:
        errors["audience"] = ["Choose the company's alliances or every subscriber."]
    elif audience == "alliances" and not alliances:
        errors["audience"] = ["The company belongs to no alliance; post it to every subscriber instead."]
    if errors:
        raise ValidationFailed(errors=errors)
    region = db.session.scalar(select(Site.region).where(Site.region.is_not(None)).order_by(Site.code).limit(1))
    wanted = SpareWanted(part_id=part_id, part_number=part_number.strip()[:80], part_number_norm=norm,
                         manufacturer=(manufacturer or "").strip()[:120] or None,
                         description=(description or "").strip()[:4000], quantity=quantity, needed_by=needed_by,
                         status="open", region=region)
    db.session.add(wanted)
    db.session.flush()
    keys = [(a, "alliance") for a in alliances] if audience == "alliances" else [(None, "subscribers")]
    for grantee_id, kind in keys:
        sharing.grant(grantee_kind=kind, grantee_id=grantee_id, object_kind=WANTED_KIND, object_id=wanted.id,
                      commit=False)
    audit.record("spares.wanted_posted", target=wanted, target_type="spare_wanted", part_number=wanted.part_number)
    db.session.commit()
    return wanted


def close(wanted: SpareWanted) -> SpareWanted:
    if wanted.status != "open":
        raise Conflict("This post is closed already")
    wanted.status = "closed"
    sharing.revoke_object(WANTED_KIND, wanted.id, "wanted post closed")
    db.session.commit()
    return wanted


def audience_of(wanted: SpareWanted) -> str:
    keys = {s.grantee_key for s in sharing.active_shares_of(WANTED_KIND, wanted.id)}
    return "subscribers" if SUBSCRIBERS in keys else ("alliances" if keys else "none")
