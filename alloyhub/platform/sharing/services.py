"""The ledger's rules. Modules call these; the API and the Sharing page too.

Grantor side: `grant`, `revoke`, `shares_query`, `activity_query`.
Grantee side: `audiences_of`, `shares_for`, `may_see`, `visible_clause`,
`record_read` / `record_reads`.
Alliances: `invite_member`, `respond`, `end_membership`, `memberships_query`.

Time: a share is in force while `state = 'active'` and now lies inside its
window; the window is checked at every read (here and in `ah_may_see`), so
an expired share hides its objects at once. The periodic job `sweep` only
records the state (`expired`) and tells modules that a window opened or
closed (for search indexes).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

from sqlalchemy import and_, exists, func, or_, select

from .. import audit, outbox, tenancy
from ..db import db, get_or_404, utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity.models import Tenant, User
from .models import GRANTEE_KINDS, SUBSCRIBERS, AllianceMember, Share, ShareRead

CHANGED = "sharing.share.changed"
ALLIANCE_CHANGED = "sharing.alliance.changed"
SKIP = {"skip_tenant_filter": True}


# ---------------------------------------------------------------- kinds of objects

@dataclass(frozen=True)
class ObjectKind:
    """A kind of object modules share. `owned(object_id)` says whether the
    current tenant has such an object (checked before it may be shared);
    `describe(object_id)` names it for the grantor's list."""

    kind: str
    module: str
    owned: Callable[[uuid.UUID], bool]
    describe: Callable[[uuid.UUID | None], str]
    title: object = None  # a (lazy) display name, e.g. "Spare part"
    link: Callable[[uuid.UUID], str | None] | None = None  # the grantor's page of the object


KINDS: dict[str, ObjectKind] = {}


def register_kind(kind: str, module: str, *, owned, describe, title=None, link=None) -> None:
    KINDS[kind] = ObjectKind(kind, module, owned, describe, title or kind, link)


# ---------------------------------------------------------------- in force

def _in_force(now=None):
    """The shares in force now (state and window)."""
    now = func.now() if now is None else now
    return and_(Share.state == "active", Share.valid_from <= now,
                or_(Share.valid_until.is_(None), Share.valid_until > now))


def _covers(kind: str, object_id):
    return and_(Share.object_kind == kind, or_(Share.object_id == object_id, Share.object_id.is_(None)))


def audiences_of(tenant_id=None) -> list[uuid.UUID]:
    """Who a company is, as a grantee: itself, the alliances it is an active
    member of, and every subscriber. The same list as SQL's ah_audiences()."""
    tenant_id = tenancy._as_uuid(tenant_id) if tenant_id is not None else tenancy.current_tenant_id()
    if tenant_id is None:
        return []
    alliances = db.session.scalars(
        select(AllianceMember.tenant_id).where(AllianceMember.member_tenant_id == tenant_id,
                                               AllianceMember.state == "active").execution_options(**SKIP))
    return [tenant_id, *alliances, SUBSCRIBERS]


def visible_clause(kind: str, owner_col, id_col, tenant_id=None):
    """An SQL condition: the row (owner, id) of `kind` is shared with the
    current tenant (or `tenant_id`) by a share in force. For module queries
    that read other companies' rows (with `skip_tenant_filter`)."""
    audiences = audiences_of(tenant_id)
    if not audiences:
        return and_(False)
    return exists().where(Share.tenant_id == owner_col, Share.object_kind == kind,
                          or_(Share.object_id == id_col, Share.object_id.is_(None)),
                          Share.grantee_key.in_(audiences), _in_force())


def may_see(grantee_tenant_id, grantor_tenant_id, kind: str, object_id) -> Share | None:
    """The share under which `grantee` may see this object of `grantor`, or
    None. A company always sees its own objects (returns None: no share is
    needed; check `grantee == grantor` first when that matters)."""
    audiences = audiences_of(grantee_tenant_id)
    if not audiences or grantor_tenant_id is None:
        return None
    return db.session.scalar(
        select(Share).where(Share.tenant_id == grantor_tenant_id, _covers(kind, object_id),
                            Share.grantee_key.in_(audiences), _in_force())
        .order_by(Share.object_id.is_(None), Share.created_at).limit(1).execution_options(**SKIP))


def visible_ids(items: Iterable[tuple]) -> set[uuid.UUID]:
    """Of (grantor, kind, object_id) triples, the object ids the current
    company may see now under some share (its own objects are not checked)."""
    items = [(tenancy._as_uuid(g), k, tenancy._as_uuid(o)) for g, k, o in items]
    audiences = audiences_of()
    if not items or not audiences:
        return set()
    rows = db.session.execute(
        select(Share.tenant_id, Share.object_kind, Share.object_id).where(
            Share.tenant_id.in_({g for g, _, _ in items}), Share.object_kind.in_({k for _, k, _ in items}),
            or_(Share.object_id.in_({o for _, _, o in items}), Share.object_id.is_(None)),
            Share.grantee_key.in_(audiences), _in_force()).execution_options(**SKIP)).all()
    allowed = {tuple(r) for r in rows}
    return {o for g, k, o in items if (g, k, o) in allowed or (g, k, None) in allowed}


def shares_for(grantee_tenant_id=None, *, grantor_tenant_id=None, object_kind: str | None = None) -> list[Share]:
    """Shares in force addressed to a company (directly, through an alliance,
    or to every subscriber), newest first."""
    audiences = audiences_of(grantee_tenant_id)
    if not audiences:
        return []
    stmt = select(Share).where(Share.grantee_key.in_(audiences), _in_force())
    grantee = audiences[0]
    stmt = stmt.where(Share.tenant_id != grantee)
    if grantor_tenant_id is not None:
        stmt = stmt.where(Share.tenant_id == grantor_tenant_id)
    if object_kind:
        stmt = stmt.where(Share.object_kind == object_kind)
    return list(db.session.scalars(stmt.order_by(Share.created_at.desc(), Share.id).limit(1000)
                                   .execution_options(**SKIP)))


def received_query(object_kind: str | None = None):
    """The API's list of shares addressed to the current company."""
    audiences = audiences_of()
    stmt = select(Share).where(Share.grantee_key.in_(audiences or [uuid.UUID(int=0)]), _in_force(),
                               Share.tenant_id != tenancy.current_tenant_id())
    if object_kind:
        stmt = stmt.where(Share.object_kind == object_kind)
    return stmt.execution_options(**SKIP)


# ---------------------------------------------------------------- reads (the activity feed)

def record_read(grantor_tenant_id, kind: str, object_id, action: str = "viewed", *,
                share: Share | None = None) -> ShareRead | None:
    """Record a read of another company's object under the share that allows
    it; raise NotFound when no share does (so callers can use it as the gate).
    A company reading its own object records nothing."""
    reader = tenancy.current()
    if reader.tenant_id is None:
        raise NotFound()
    if tenancy._as_uuid(grantor_tenant_id) == reader.tenant_id:
        return None
    share = share or may_see(reader.tenant_id, grantor_tenant_id, kind, object_id)
    if share is None:
        raise NotFound()
    row = ShareRead(tenant_id=share.tenant_id, share_id=share.id, reader_tenant_id=reader.tenant_id,
                    reader_user_id=reader.user_id, object_kind=kind, object_id=object_id, action=action[:40])
    db.session.add(row)
    return row


def record_reads(items: Iterable[tuple], action: str = "listed") -> int:
    """Record several reads at once: (grantor_tenant_id, kind, object_id)
    each; objects no share covers (or one's own) are skipped."""
    reader = tenancy.current()
    audiences = audiences_of()
    items = [(tenancy._as_uuid(g), k, tenancy._as_uuid(o)) for g, k, o in items
             if reader.tenant_id is not None and tenancy._as_uuid(g) != reader.tenant_id]
    if not items or not audiences:
        return 0
    ids = {o for _, _, o in items}
    grantors = {g for g, _, _ in items}
    shares = db.session.scalars(
        select(Share).where(Share.tenant_id.in_(grantors), or_(Share.object_id.in_(ids), Share.object_id.is_(None)),
                            Share.grantee_key.in_(audiences), _in_force())
        .order_by(Share.object_id.is_(None), Share.created_at).execution_options(**SKIP)).all()
    made = 0
    for grantor, kind, object_id in items:
        share = next((s for s in shares if s.tenant_id == grantor and s.object_kind == kind
                      and s.object_id in (object_id, None)), None)
        if share is None:
            continue
        db.session.add(ShareRead(tenant_id=grantor, share_id=share.id, reader_tenant_id=reader.tenant_id,
                                 reader_user_id=reader.user_id, object_kind=kind, object_id=object_id,
                                 action=action[:40]))
        made += 1
    return made


def activity_query(share_id=None, object_kind: str | None = None, reader_tenant_id=None):
    """Reads made by others under the current company's shares, newest first."""
    stmt = select(ShareRead).where(ShareRead.tenant_id == tenancy.current_tenant_id())
    if share_id:
        stmt = stmt.where(ShareRead.share_id == share_id)
    if object_kind:
        stmt = stmt.where(ShareRead.object_kind == object_kind)
    if reader_tenant_id:
        stmt = stmt.where(ShareRead.reader_tenant_id == reader_tenant_id)
    return stmt


# ---------------------------------------------------------------- grantor side

def shares_query(state: str | None = None, object_kind: str | None = None, object_id=None, module: str | None = None,
                 grantee_key=None):
    """The current company's shares (as grantor). `state` may also be
    "in_force" (active and inside its window) or "scheduled"."""
    stmt = select(Share)
    if state == "in_force":
        stmt = stmt.where(_in_force())
    elif state == "scheduled":
        stmt = stmt.where(Share.state == "active", Share.valid_from > func.now())
    elif state == "active":
        stmt = stmt.where(_in_force())
    elif state == "expired":
        stmt = stmt.where(or_(Share.state == "expired",
                              and_(Share.state == "active", Share.valid_until <= func.now())))
    elif state:
        stmt = stmt.where(Share.state == state)
    if object_kind:
        stmt = stmt.where(Share.object_kind == object_kind)
    if object_id:
        stmt = stmt.where(Share.object_id == object_id)
    if module:
        stmt = stmt.where(Share.module == module)
    if grantee_key:
        stmt = stmt.where(Share.grantee_key == grantee_key)
    return stmt


def get_share(share_id) -> Share:
    return get_or_404(Share, share_id, "No such share")


def effective_state(share: Share, now: datetime | None = None) -> str:
    """active, scheduled, expired or revoked, as of now."""
    now = now or utcnow()
    if share.state != "active":
        return share.state
    if share.valid_until is not None and share.valid_until <= now:
        return "expired"
    if share.valid_from > now:
        return "scheduled"
    return "active"


def _tenant(tenant_id) -> Tenant | None:
    return db.session.get(Tenant, tenant_id) if tenant_id else None


def grantee_key_for(grantee_kind: str, grantee_id=None) -> uuid.UUID:
    """Validate a grantee for the current company and return its key."""
    me = tenancy.current_tenant_id()
    if grantee_kind not in GRANTEE_KINDS:
        raise ValidationFailed(errors={"grantee_kind": [f"Choose one of: {', '.join(GRANTEE_KINDS)}."]})
    if grantee_kind == "subscribers":
        if grantee_id is not None:
            raise ValidationFailed(errors={"grantee_id": ["A share with every subscriber names no company."]})
        return SUBSCRIBERS
    grantee_id = tenancy._as_uuid(grantee_id) if grantee_id else None
    tenant = _tenant(grantee_id)
    if tenant is None or tenant.status == "deleted":
        raise ValidationFailed(errors={"grantee_id": ["No such company."]})
    if tenant.id == me:
        raise ValidationFailed(errors={"grantee_id": ["A company does not share with itself."]})
    if grantee_kind == "alliance":
        if tenant.kind != "alliance":
            raise ValidationFailed(errors={"grantee_id": ["That company is not an alliance."]})
        if tenant.id not in audiences_of(me):
            raise ValidationFailed(errors={"grantee_id": ["Share with an alliance only while a member of it."]})
    return tenant.id


def grant(*, grantee_kind: str, grantee_id=None, object_kind: str, object_id=None, label: str | None = None,
          valid_from: datetime | None = None, valid_until: datetime | None = None, filters: dict | None = None,
          module: str | None = None, commit: bool = True) -> Share:
    """Record a new share by the current company."""
    errors: dict[str, list[str]] = {}
    spec = KINDS.get(object_kind)
    if spec is None:
        errors["object_kind"] = ["No such kind of object."]
    elif object_id is not None and not spec.owned(object_id):
        errors["object_id"] = ["No such object."]
    now = utcnow()
    valid_from = valid_from or now
    if valid_until is not None and valid_until <= max(valid_from, now):
        errors["valid_until"] = ["The end of the window must be later than its start and than now."]
    try:
        key = grantee_key_for(grantee_kind, grantee_id)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    share = Share(grantee_kind=grantee_kind, grantee_key=key, object_kind=object_kind, object_id=object_id,
                  module=module or spec.module, label=(label or spec.describe(object_id) or object_kind)[:300],
                  filters=filters or {}, valid_from=valid_from, valid_until=valid_until, state="active",
                  started_at=now if valid_from <= now else None, created_by=tenancy.current().user_id)
    db.session.add(share)
    db.session.flush()
    audit.record("share.granted", target=share, target_type="share", grantee_kind=grantee_kind, grantee=key,
                 object_kind=object_kind, object_id=object_id, valid_until=valid_until)
    _announce(share)
    if commit:
        db.session.commit()
    return share


def revoke(share: Share, reason: str | None = None, *, commit: bool = True) -> Share:
    """Revoke a share: its objects disappear for the grantee at once."""
    if share.state == "revoked":
        raise Conflict("This share is revoked already")
    share.state = "revoked"
    share.revoked_at = utcnow()
    share.revoked_by = tenancy.current().user_id
    share.revoke_reason = (reason or "").strip()[:2000] or None
    audit.record("share.revoked", target=share, target_type="share", object_kind=share.object_kind,
                 object_id=share.object_id, reason=share.revoke_reason)
    _announce(share)
    if commit:
        db.session.commit()
    return share


def revoke_object(object_kind: str, object_id, reason: str | None = None) -> int:
    """Revoke every share of one object (e.g. when a module stops sharing it)."""
    shares = db.session.scalars(shares_query(object_kind=object_kind, object_id=object_id)
                                .where(Share.state == "active")).all()
    for share in shares:
        revoke(share, reason, commit=False)
    return len(shares)


def active_shares_of(object_kind: str, object_id) -> list[Share]:
    """The current company's shares of one object that are active (in force
    or scheduled), oldest first."""
    return list(db.session.scalars(
        select(Share).where(Share.object_kind == object_kind, Share.object_id == object_id, Share.state == "active",
                            or_(Share.valid_until.is_(None), Share.valid_until > func.now()))
        .order_by(Share.created_at)))


def audience_keys(grantor_tenant_id, object_kind: str, object_id) -> list[uuid.UUID]:
    """Grantee keys of the shares in force covering one object (for search
    documents); read in whatever scope the caller has (the relay: system)."""
    return sorted(set(db.session.scalars(
        select(Share.grantee_key).where(Share.tenant_id == grantor_tenant_id, _covers(object_kind, object_id),
                                        _in_force()).execution_options(**SKIP))), key=str)


def _announce(share: Share) -> None:
    outbox.publish(CHANGED, {"share_id": str(share.id), "grantor": str(share.tenant_id),
                             "object_kind": share.object_kind,
                             "object_id": str(share.object_id) if share.object_id else None,
                             "grantee_key": str(share.grantee_key), "state": effective_state(share)},
                   tenant_id=share.tenant_id)


def sweep(now: datetime | None = None) -> int:
    """Record expiry and announce windows that opened (periodic, system)."""
    now = now or utcnow()
    changed = 0
    with tenancy.system_context(db.session):
        ending = db.session.scalars(select(Share).where(Share.state == "active", Share.valid_until <= now)
                                    .with_for_update(skip_locked=True)).all()
        for share in ending:
            share.state = "expired"
            _announce(share)
            changed += 1
        starting = db.session.scalars(select(Share).where(Share.state == "active", Share.started_at.is_(None),
                                                          Share.valid_from <= now)
                                      .with_for_update(skip_locked=True)).all()
        for share in starting:
            share.started_at = now
            _announce(share)
            changed += 1
        db.session.commit()
    return changed


# ---------------------------------------------------------------- alliances

def current_tenant() -> Tenant:
    tenant = _tenant(tenancy.current_tenant_id())
    if tenant is None:
        raise NotFound("Choose a company first")
    return tenant


def memberships_query(state: str | None = None):
    """As an alliance: its members. As any other company: its memberships."""
    me = tenancy.current_tenant_id()
    stmt = select(AllianceMember).where(or_(AllianceMember.tenant_id == me, AllianceMember.member_tenant_id == me))
    if state:
        stmt = stmt.where(AllianceMember.state == state)
    return stmt.execution_options(**SKIP)


def get_membership(membership_id) -> AllianceMember:
    found = db.session.scalar(memberships_query().where(AllianceMember.id == membership_id))
    if found is None:
        raise NotFound("No such alliance membership")
    return found


def invite_member(company: str) -> AllianceMember:
    """The current company (an alliance) invites another, named by its short name."""
    alliance = current_tenant()
    if alliance.kind != "alliance":
        raise Conflict("Only an alliance invites members")
    slug = (company or "").strip().lower()
    member = db.session.scalar(select(Tenant).where(Tenant.slug == slug, Tenant.status != "deleted")) if slug else None
    if member is None:
        raise ValidationFailed(errors={"company": ["No company has this short name."]})
    if member.id == alliance.id or member.kind == "alliance":
        raise ValidationFailed(errors={"company": ["An alliance's members are companies, not alliances."]})
    row = db.session.scalar(select(AllianceMember).where(AllianceMember.member_tenant_id == member.id))
    if row is not None and row.state in ("invited", "active"):
        raise Conflict("This company is invited or a member already")
    if row is None:
        row = AllianceMember(member_tenant_id=member.id)
        db.session.add(row)
    row.state = "invited"
    row.invited_by = tenancy.current().user_id
    row.responded_at = None
    db.session.flush()
    audit.record("alliance.invited", target=row, target_type="alliance_member", member=member.id)
    _alliance_event(row)
    db.session.commit()
    return row


def respond(row: AllianceMember, accept: bool) -> AllianceMember:
    """The invited company accepts or declines."""
    if row.member_tenant_id != tenancy.current_tenant_id():
        raise NotFound("No such alliance membership")
    if row.state != "invited":
        raise Conflict("This invitation has been answered already")
    row.state = "active" if accept else "declined"
    row.responded_at = utcnow()
    audit.record("alliance.accepted" if accept else "alliance.declined", target=row, target_type="alliance_member",
                 alliance=row.tenant_id)
    _alliance_event(row)
    db.session.commit()
    return row


def end_membership(row: AllianceMember) -> AllianceMember:
    """The member leaves, or the alliance removes it (or withdraws an invitation)."""
    me = tenancy.current_tenant_id()
    if row.state not in ("invited", "active"):
        raise Conflict("This membership has ended already")
    row.state = "left" if row.member_tenant_id == me else "removed"
    row.responded_at = utcnow()
    audit.record(f"alliance.{row.state}", target=row, target_type="alliance_member", alliance=row.tenant_id,
                 member=row.member_tenant_id)
    _alliance_event(row)
    db.session.commit()
    return row


def _alliance_event(row: AllianceMember) -> None:
    outbox.publish(ALLIANCE_CHANGED, {"alliance": str(row.tenant_id), "member": str(row.member_tenant_id),
                                      "state": row.state})


def alliances_of(tenant_id=None) -> list[Tenant]:
    """The alliances a company is an active member of, by name."""
    ids = [a for a in audiences_of(tenant_id)[1:-1]]
    if not ids:
        return []
    return list(db.session.scalars(select(Tenant).where(Tenant.id.in_(ids)).order_by(Tenant.name)))


def names_of(tenant_ids: Iterable) -> dict[uuid.UUID, str]:
    ids = {t for t in tenant_ids if t}
    if not ids:
        return {}
    return dict(db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids))).all())


def user_names(user_ids: Iterable) -> dict[uuid.UUID, str]:
    ids = {u for u in user_ids if u}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def grantee_label(share: Share, names: dict | None = None) -> str:
    if share.grantee_kind == "subscribers":
        return "Every subscriber"
    names = names if names is not None else names_of([share.grantee_key])
    return names.get(share.grantee_key, "?")
