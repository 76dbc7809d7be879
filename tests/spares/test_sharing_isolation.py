"""Isolation through the ledger: B sees exactly what A shared with it (every
subscriber, or an alliance B belongs to), never A's other parts nor the
private fields of a shared one; revocation hides at once; every read lands
in A's activity feed. Proved at each layer alone: the services/API, and raw
SQL as the application role (row-level security)."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from alloyhub.platform.db import db
from alloyhub.platform.sharing import services as sharing
from alloyhub.platform.sharing.models import ShareRead
from tests.spares.conftest import put

PRIVATE = {"quantity", "location", "min_stock", "unit_price", "notes", "site_id"}


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:800]
    return response.get_json()


def test_shared_with_subscribers_is_seen_by_others_with_public_fields_only(company, relay):
    a, b = company(), company()
    a.site(region="Jiangsu", lat=31.49, lon=120.31)
    shared = a.part("6205-2RS", share="subscribers", quantity=6, shared_quantity=4, location="Store A",
                    min_stock=2, unit_price=Decimal("85.50"), notes="ordered from Wuxi agent")
    hidden = a.part("6206-2RS", quantity=3)
    relay()
    found = b.api.get("/api/v1/spares-catalogue?q=6205-2RS").get_json()["items"]
    mine = [x for x in found if x["holder_id"] == str(a.id)]
    assert [x["id"] for x in mine] == [str(shared)]
    entry = mine[0]
    assert (entry["available"], entry["region"], entry["sale_price"], entry["holder"]) == \
        (4, "Jiangsu", "120.00", a.made.name)
    assert not PRIVATE & set(entry)
    detail = b.api.get(f"/api/v1/spares-catalogue/{shared}").get_json()
    assert detail["available"] == 4 and not PRIVATE & set(detail)
    # The part itself, and the part not shared, stay A's alone.
    _problem(b.api.get(f"/api/v1/spares-catalogue/{hidden}"), 404)
    _problem(b.api.get(f"/api/v1/spare-parts/{shared}"), 404)
    assert all(x["id"] != str(hidden) for x in b.api.get("/api/v1/spares-catalogue?q=6206").get_json()["items"])


def test_revocation_hides_at_once_and_reads_are_in_the_feed(company, relay):
    a, b = company(), company()
    part = a.part("22220-EK", share="subscribers", manufacturer="FAG")
    relay()
    assert b.api.get(f"/api/v1/spares-catalogue/{part}").status_code == 200
    assert any(x["id"] == str(part) for x in b.api.get("/api/v1/spares-catalogue?q=22220EK").get_json()["items"])
    feed = a.api.get("/api/v1/share-activity?object_kind=spares.part").get_json()["items"]
    assert sorted(r["action"] for r in feed) == ["listed", "viewed"]
    assert {r["reader_tenant_id"] for r in feed} == {str(b.id)}
    # A revokes on the Sharing page's API: hidden at once (before the index is told).
    (share,) = a.api.get("/api/v1/shares?object_kind=spares.part").get_json()["items"]
    assert a.api.post(f"/api/v1/shares/{share['id']}/revoke", json={}).status_code == 200
    _problem(b.api.get(f"/api/v1/spares-catalogue/{part}"), 404)
    assert all(x["id"] != str(part) for x in b.api.get("/api/v1/spares-catalogue?q=22220EK").get_json()["items"])
    # The part's own page shows it unshared, from the same ledger.
    assert a.api.get(f"/api/v1/spare-parts/{part}/listing").get_json()["visibility"] == "none"


def test_alliance_sharing_reaches_members_only(company, relay, tag):
    alliance, a, b, outsider = company("alliance"), company(), company(), company()
    a.join(alliance)
    b.join(alliance)
    part = a.part(f"NU-{tag}", share="alliances")
    relay()

    def sees(viewer):
        return any(x["id"] == str(part) for x in viewer.api.get(f"/api/v1/spares-catalogue?q={tag}").get_json()["items"])

    assert sees(b) and not sees(outsider)
    _problem(outsider.api.get(f"/api/v1/spares-catalogue/{part}"), 404)
    listing = a.api.get(f"/api/v1/spare-parts/{part}/listing").get_json()
    assert listing["visibility"] == "alliances" and listing["alliance_ids"] == [str(alliance.id)]
    # B leaves the alliance: at once it sees nothing.
    with b.act():
        (row,) = db.session.scalars(sharing.memberships_query("active")).all()
        sharing.end_membership(row)
    assert not sees(b)
    _problem(b.api.get(f"/api/v1/spares-catalogue/{part}"), 404)


def test_sharing_decision_rules(company, tag):
    a, alliance = company(), company("alliance")
    part = a.part(f"R-{tag}", quantity=3)
    url = f"/api/v1/spare-parts/{part}/listing"
    errors = _problem(put(a.api, url, {"visibility": "subscribers", "shared_quantity": 5}), 422)["errors"]
    assert set(errors) == {"shared_quantity", "terms"}
    errors = _problem(put(a.api, url, {"visibility": "alliances", "sale_price": "10"}), 422)["errors"]
    assert "visibility" in errors  # the company belongs to no alliance
    a.join(alliance)
    errors = _problem(put(a.api, url, {"visibility": "alliances", "sale_price": "10",
                                       "alliance_ids": [str(a.id)]}), 422)["errors"]
    assert "alliance_ids" in errors
    errors = _problem(put(a.api, url, {"visibility": "subscribers", "exchange_fee": "50",
                                       "loan_daily_fee": "3"}), 422)["errors"]
    assert set(errors) == {"core_return_days", "loan_max_days"}
    assert "loan_daily_fee" in _problem(put(a.api, url, {"visibility": "subscribers", "loan_daily_fee": "-1"}),
                                        422)["errors"]
    assert a.api.get(url).get_json()["visibility"] == "none"  # nothing changed
    ok = put(a.api, url, {"visibility": "subscribers", "shared_quantity": 2, "exchange_fee": "50",
                          "core_return_days": 14, "price_on_request": True})
    assert ok.status_code == 200 and ok.get_json()["visibility"] == "subscribers"
    # From every subscriber to the alliance: the ledger revokes one share and grants the other.
    # (PUT replaces the decision and terms: a PUT without terms offers nothing.)
    assert "terms" in _problem(put(a.api, url, {"visibility": "alliances", "shared_quantity": 2}), 422)["errors"]
    moved = put(a.api, url, {"visibility": "alliances", "shared_quantity": 2, "price_on_request": True})
    assert moved.get_json()["visibility"] == "alliances"
    states = sorted(s["state"] for s in a.api.get("/api/v1/shares?object_kind=spares.part")
                    .get_json()["items"])
    assert states == ["active", "revoked"]
    # Held quantity falls below what is shared: the shared quantity follows.
    assert a.api.post(f"/api/v1/spare-parts/{part}/moves", json={"delta": -2}).status_code == 201
    assert a.api.get(url).get_json()["shared_quantity"] == 1


def test_row_level_security_alone(company, app_sql, tag):
    """Raw SQL as the application role, with no WHERE on companies: B reads
    A's shared listing row and nothing else of A's."""
    a, b, c = company(), company(), company()
    shared = a.part(f"S-{tag}", share="subscribers")
    private = a.part(f"P-{tag}")
    with a.act():
        from alloyhub.spares import listings, stock

        listings.set_listing(stock.get_part(private), visibility="none", shared_quantity=1,
                             sale_price=Decimal("1"))  # a listing row that is not shared
    rows = app_sql(b.id, "select id from spares_listings where tenant_id = %s", (a.id,)).fetchall()
    assert [r[0] for r in rows] == [shared]
    assert app_sql(b.id, "select count(*) from spares_parts where tenant_id = %s", (a.id,)).fetchone()[0] == 0
    assert app_sql(b.id, "select count(*) from spares_stock_moves where tenant_id = %s", (a.id,)).fetchone()[0] == 0
    assert app_sql(None, "select count(*) from spares_listings").fetchone()[0] == 0
    # B cannot change A's listing, nor forge a read in A's feed for the private one.
    assert app_sql(b.id, "update spares_listings set shared_quantity = 99 where id = %s", (shared,)).rowcount == 0
    import psycopg
    import pytest

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_sql(b.id, "insert into sharing_reads (id, tenant_id, share_id, reader_tenant_id, object_kind, object_id,"
                      " action) select gen_random_uuid(), %s, id, %s, 'spares.part', %s, 'viewed' from sharing_shares"
                      " limit 1", (a.id, b.id, private))
    # The search view: B finds the shared document only (once indexed), C the same.
    from alloyhub.platform import search
    from alloyhub.spares.index import INDEX

    with a.app.app_context():
        from alloyhub.platform import tenancy

        with tenancy.system_context(db.session):
            search.apply(search.get_index(INDEX), [shared, private])
            db.session.commit()
    seen = app_sql(b.id, "select id from search_visible_documents where owner_tenant_id = %s", (a.id,)).fetchall()
    assert [r[0] for r in seen] == [shared]
    assert app_sql(b.id, "select count(*) from search_documents where owner_tenant_id = %s",
                   (a.id,)).fetchone()[0] == 0
    assert app_sql(a.id, "select count(*) from search_visible_documents where owner_tenant_id = %s",
                   (a.id,)).fetchone()[0] == 2
    assert app_sql(None, "select count(*) from search_visible_documents").fetchone()[0] == 0


def test_orm_layer_alone_filters_through_the_ledger(company, app, tag):
    """The services' own clause, with row-level security out of the way
    (system scope lets every row through RLS): still only what is shared."""
    from alloyhub.platform import tenancy
    from alloyhub.spares import listings

    a, b = company(), company()
    shared = a.part(f"S-{tag}", share="subscribers")
    private = a.part(f"P-{tag}")
    with app.app_context():
        # Build the ORM clause as B, run it where RLS admits everything.
        with tenancy.scoped(b.id, b.made.owner_id, session=db.session):
            stmt = listings.visible_listings()
        with tenancy.system_context(db.session):
            ids = set(db.session.scalars(stmt))
        assert shared in {x.id for x in ids} and private not in {x.id for x in ids}
        with tenancy.system_context(db.session):
            reads = db.session.scalars(select(ShareRead).where(ShareRead.tenant_id == a.id)).all()
        assert reads == []
