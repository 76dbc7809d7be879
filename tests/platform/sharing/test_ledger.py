"""The consent ledger: who may see what, through the services (ORM layer) and
through the SQL functions the row-level security policies call (database
layer), each on its own; revocation and expiry at once; alliances; the
activity feed."""
from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import select, text

from alloyhub.platform.db import db, utcnow
from alloyhub.platform.errors import Conflict, NotFound, ValidationFailed
from alloyhub.platform.sharing import services as sharing
from alloyhub.platform.sharing.models import SUBSCRIBERS, Share, ShareRead

from .conftest import KIND


def _grant(owner, object_id, **kw):
    with owner.act():
        kw.setdefault("grantee_kind", "tenant")
        share = sharing.grant(object_kind=KIND, object_id=object_id, **kw)
        return share.id


def _sees_orm(viewer, owner, object_id) -> bool:
    with viewer.act():
        return sharing.may_see(viewer.id, owner.id, KIND, object_id) is not None


def _sees_sql(app_sql, viewer, owner, object_id) -> bool:
    return app_sql(viewer.id, "select ah_may_see(%s, %s, %s)", (owner.id, KIND, object_id)).fetchone()[0]


def _sees(app_sql, viewer, owner, object_id) -> bool:
    orm, sql = _sees_orm(viewer, owner, object_id), _sees_sql(app_sql, viewer, owner, object_id)
    assert orm == sql, "the services and the SQL function disagree"
    return orm


def test_a_share_with_one_company_covers_that_company_only(company, app_sql):
    a, b, c = company(), company(), company()
    site = a.site_id()
    assert not _sees(app_sql, b, a, site)
    _grant(a, site, grantee_id=b.id)
    assert _sees(app_sql, b, a, site)
    assert not _sees(app_sql, c, a, site)
    # Only that object: another site of A stays hidden.
    with a.act():
        from alloyhub.platform.identity import services as identity
        other = identity.create_site(name="Other", code="OTH").id
    assert not _sees(app_sql, b, a, other)
    # No company in the session: nothing, whatever is shared.
    assert app_sql(None, "select ah_may_see(%s, %s, %s)", (a.id, KIND, site)).fetchone()[0] is False


def test_revocation_hides_at_once(company, app_sql):
    a, b = company(), company()
    site = a.site_id()
    share_id = _grant(a, site, grantee_id=b.id)
    assert _sees(app_sql, b, a, site)
    with a.act():
        sharing.revoke(sharing.get_share(share_id), "contract ended")
    assert not _sees(app_sql, b, a, site)
    with a.act(), pytest.raises(Conflict):
        sharing.revoke(sharing.get_share(share_id))
    with a.act():
        share = sharing.get_share(share_id)
        assert (share.state, share.revoke_reason) == ("revoked", "contract ended")
        assert sharing.effective_state(share) == "revoked"


def test_window_is_checked_at_every_read(company, app_sql, owner_engine):
    a, b = company(), company()
    site = a.site_id()
    later = _grant(a, site, grantee_id=b.id, valid_from=utcnow() + timedelta(days=1))
    assert not _sees(app_sql, b, a, site)  # not yet
    with a.act():
        assert sharing.effective_state(sharing.get_share(later)) == "scheduled"
    now = _grant(a, site, grantee_id=b.id, valid_until=utcnow() + timedelta(days=1))
    assert _sees(app_sql, b, a, site)
    # The window closes (moved into the past by the database owner): hidden at once, before any sweep.
    with owner_engine.begin() as conn:
        conn.execute(text("update sharing_shares set valid_until = now() - interval '1 second' where id = :i"),
                     {"i": now})
    assert not _sees(app_sql, b, a, site)
    with a.act():
        assert sharing.effective_state(sharing.get_share(now)) == "expired"
    with a.app.app_context():
        assert sharing.sweep() >= 1
    with a.act():
        assert sharing.get_share(now).state == "expired"


def test_bad_grants_are_refused_with_every_field_named(company):
    a, b = company(), company()
    site = a.site_id()
    with a.act():
        with pytest.raises(ValidationFailed) as caught:
            sharing.grant(grantee_kind="tenant", grantee_id=a.id, object_kind=KIND, object_id=b.site_id(),
                          valid_until=utcnow() - timedelta(hours=1))
        assert set(caught.value.errors) == {"grantee_id", "object_id", "valid_until"}
        with pytest.raises(ValidationFailed) as caught:
            sharing.grant(grantee_kind="alliance", grantee_id=b.id, object_kind="no.such", object_id=site)
        assert set(caught.value.errors) == {"grantee_id", "object_kind"}
        with pytest.raises(ValidationFailed):
            sharing.grant(grantee_kind="subscribers", grantee_id=b.id, object_kind=KIND, object_id=site)
    with a.act():
        assert db.session.scalars(select(Share)).all() == []


def test_every_subscriber_and_every_object_of_a_kind(company, app_sql):
    a, b, c = company(), company(), company()
    site = a.site_id()
    _grant(a, None, grantee_kind="subscribers")
    assert _sees(app_sql, b, a, site) and _sees(app_sql, c, a, site)
    with c.act():
        received = sharing.shares_for(grantor_tenant_id=a.id)
        assert [(s.tenant_id, s.grantee_key) for s in received] == [(a.id, SUBSCRIBERS)]
    # A sees its own shares as grantor, not as received.
    with a.act():
        assert sharing.shares_for(grantor_tenant_id=a.id) == []


def test_alliance_members_see_what_is_shared_with_the_alliance(company, app_sql):
    alliance, a, b, outsider = company("alliance"), company(), company(), company()
    with a.app.app_context():
        from alloyhub.platform.identity.models import Tenant
        slugs = {t.id: t.slug for t in db.session.scalars(select(Tenant).where(Tenant.id.in_([a.id, b.id])))}
    with alliance.act():
        inv_a = sharing.invite_member(slugs[a.id]).id
        inv_b = sharing.invite_member(slugs[b.id]).id
        with pytest.raises(Conflict):
            sharing.invite_member(slugs[b.id])
        with pytest.raises(ValidationFailed):
            sharing.invite_member("no-such-company")
    site = a.site_id()
    # A may not share with an alliance it has not joined.
    with a.act(), pytest.raises(ValidationFailed):
        sharing.grant(grantee_kind="alliance", grantee_id=alliance.id, object_kind=KIND, object_id=site)
    with a.act():
        sharing.respond(sharing.get_membership(inv_a), True)
    _grant(a, site, grantee_kind="alliance", grantee_id=alliance.id)
    assert not _sees(app_sql, b, a, site)  # B is invited, not yet a member
    with b.act():
        sharing.respond(sharing.get_membership(inv_b), True)
        assert [t.id for t in sharing.alliances_of()] == [alliance.id]
    assert _sees(app_sql, b, a, site)
    assert not _sees(app_sql, outsider, a, site)
    # The outsider cannot answer or even find B's membership.
    with outsider.act(), pytest.raises(NotFound):
        sharing.get_membership(inv_b)
    with b.act():
        sharing.end_membership(sharing.get_membership(inv_b))
    assert not _sees(app_sql, b, a, site)  # left: at once
    with b.act(), pytest.raises(Conflict):
        sharing.respond(sharing.get_membership(inv_b), True)
    # Only an alliance invites.
    with a.act(), pytest.raises(Conflict):
        sharing.invite_member(slugs[b.id])


def test_membership_rows_cannot_be_forged_in_sql(company, app_sql):
    alliance, a = company("alliance"), company()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_sql(a.id, "insert into sharing_alliance_members (id, tenant_id, member_tenant_id, state) "
                      "values (gen_random_uuid(), %s, %s, 'active')", (alliance.id, a.id))


def test_reads_are_recorded_for_the_grantor_only_under_a_share(company, app_sql):
    a, b, c = company(), company(), company()
    site = a.site_id()
    share_id = _grant(a, site, grantee_id=b.id)
    with b.act():
        read = sharing.record_read(a.id, KIND, site, "viewed")
        assert read.share_id == share_id
        assert sharing.record_reads([(a.id, KIND, site), (c.id, KIND, site)], "listed") == 1
    with c.act(), pytest.raises(NotFound):
        sharing.record_read(a.id, KIND, site)
    with a.act():
        feed = db.session.scalars(sharing.activity_query().order_by(ShareRead.at)).all()
        assert [(r.reader_tenant_id, r.action, r.share_id) for r in feed] == [
            (b.id, "viewed", share_id), (b.id, "listed", share_id)]
        assert sharing.record_read(a.id, KIND, site) is None  # one's own: nothing to record
    # The database refuses a read row for an object not shared with the reader, and the feed is append-only.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_sql(c.id, "insert into sharing_reads (id, tenant_id, share_id, reader_tenant_id, object_kind, object_id, "
                      "action) values (gen_random_uuid(), %s, %s, %s, %s, %s, 'viewed')",
                (a.id, share_id, c.id, KIND, site))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_sql(a.id, "delete from sharing_reads")
    # C sees nothing of the feed, B its own reads, A all of them.
    count = "select count(*) from sharing_reads where tenant_id = %s"
    assert [app_sql(t.id, count, (a.id,)).fetchone()[0] for t in (a, b, c)] == [2, 2, 0]


def test_grantee_sees_only_shares_in_force_addressed_to_it_in_sql(company, app_sql):
    a, b, c = company(), company(), company()
    site = a.site_id()
    kept = _grant(a, site, grantee_id=b.id)
    gone = _grant(a, site, grantee_id=b.id)
    _grant(a, site, grantee_id=c.id)
    with a.act():
        sharing.revoke(sharing.get_share(gone))
    # (Other tests' companies share with every subscriber: count A's shares only.)
    rows = app_sql(b.id, "select id from sharing_shares where tenant_id = %s", (a.id,)).fetchall()
    assert [r[0] for r in rows] == [kept]
    assert app_sql(None, "select count(*) from sharing_shares").fetchone()[0] == 0
    assert app_sql(c.id, "select count(*) from sharing_shares where grantee_key = %s", (b.id,)).fetchone()[0] == 0
    # A grantee cannot revoke (or otherwise change) the grantor's share.
    assert app_sql(b.id, "update sharing_shares set state = 'revoked' where id = %s", (kept,)).rowcount == 0
