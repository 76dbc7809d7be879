"""The search contract, one suite for every backend: PostgreSQL (always) and
Elasticsearch (when ELASTICSEARCH_URL names a server; skipped otherwise).
Relevance of exact part numbers, normalisation, typo tolerance, facets,
distance, no leaking of parts not shared; then the outbox-driven indexing
surviving a backend outage, and `alloyhub search reindex`.

Other tests share the database (and share parts with every subscriber), so
each test names its parts with a word of its own and looks only at hits of
its own companies."""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import select, text

from alloyhub.platform import outbox, search, tenancy
from alloyhub.platform.db import db
from alloyhub.spares.index import INDEX


@pytest.fixture(params=["postgres", "elasticsearch"])
def backend(request, app):
    if request.param == "postgres":
        yield search.PostgresBackend()
        return
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        pytest.skip("ELASTICSEARCH_URL is not set: no Elasticsearch server to test against")
    engine = search.ElasticsearchBackend(url, prefix=f"test-{uuid.uuid4().hex[:8]}-")
    yield engine
    with app.app_context():
        engine.client.indices.delete(index=engine._name(search.get_index(INDEX)), ignore_unavailable=True)


def index_now(app, backend, *part_ids):
    with app.app_context(), tenancy.system_context(db.session):
        search.apply(search.get_index(INDEX), list(part_ids), target=backend)
        db.session.commit()


def find(company, backend, q="", *, of=None, **kw):
    """Ids of hits (of the given owners only) for `q`, as `company`."""
    with company.act():
        results = search.search(INDEX, search.Query(text=q, **kw), target=backend)
    owners = {o.id for o in (of or [])}
    return [h.id for h in results.hits if not owners or h.owner_tenant_id in owners], results


def test_part_numbers_match_however_written(company, app, backend, tag):
    a, b = company(), company()
    bearing = a.part("6205-2RS", share="subscribers", manufacturer=f"SKF {tag}")
    other = a.part("6206-2RS", share="subscribers", manufacturer=f"SKF {tag}")
    index_now(app, backend, bearing, other)
    for q in ("6205-2RS", "6205 2RS", "62052RS", "6205-2rs", "６２０５－２ＲＳ", f"{tag} 6205-2RS"):
        ids, _ = find(b, backend, q, of=[a])
        assert ids and ids[0] == bearing, q


def test_the_exact_part_number_ranks_first(company, app, backend, tag):
    a, b = company(), company()
    longer = a.part(f"6205-2RSH-{tag}", share="subscribers", description="bearing 6205-2RS with heavy seal")
    mention = a.part(f"X{tag}", share="subscribers", description=f"Spacer for 6205-2RS {tag}")
    exact = a.part(f"6205-2RS{tag}", share="subscribers", description="bearing")
    index_now(app, backend, longer, mention, exact)
    ids, results = find(b, backend, f"6205-2RS{tag}", of=[a])
    assert ids[0] == exact
    assert results.hits[0].score >= max(h.score for h in results.hits)


def test_typos_are_forgiven(company, app, backend, tag):
    a, b = company(), company()
    roller = a.part(f"22220-EK-{tag}", share="subscribers", manufacturer="FAG",
                    description=f"Spherical roller bearing {tag}")
    index_now(app, backend, roller)
    for q in (f"sphericl rollr {tag}", f"bearnig {tag}", f"22220-FK-{tag}"):
        ids, _ = find(b, backend, q, of=[a])
        assert ids == [roller], q


def test_facets_count_and_filter(company, app, backend, tag):
    a, b = company(), company()
    a.site(region=f"Jiangsu-{tag}", lat=31.49, lon=120.31)
    ids = [
        a.part(f"A1-{tag}", share="subscribers", manufacturer=f"SKF-{tag}", category="Bearings", condition="new",
               equipment_models=[f"CM-{tag}"]),
        a.part(f"A2-{tag}", share="subscribers", manufacturer=f"SKF-{tag}", category="Bearings", condition="used"),
        a.part(f"A3-{tag}", share="subscribers", manufacturer=f"FAG-{tag}", category="Seals", condition="new",
               equipment_models=[f"CM-{tag}", f"S2-{tag}"]),
        a.part(f"A4-{tag}", manufacturer=f"SKF-{tag}", category="Bearings"),  # not shared
    ]
    index_now(app, backend, *ids)
    facets = ("manufacturer", "category", "condition", "region", "model")
    found, results = find(b, backend, tag, facets=facets)
    assert sorted(found) == sorted(ids[:3]) and results.total == 3
    got = {k: dict(v) for k, v in results.facets.items()}
    assert got["manufacturer"] == {f"SKF-{tag}": 2, f"FAG-{tag}": 1}
    assert got["category"] == {"Bearings": 2, "Seals": 1}
    assert got["condition"] == {"new": 2, "used": 1}
    assert got["region"] == {f"Jiangsu-{tag}": 3}
    assert got["model"] == {f"CM-{tag}": 2, f"S2-{tag}": 1}
    found, results = find(b, backend, tag, filters={"manufacturer": [f"SKF-{tag}"], "condition": ["new"]},
                          facets=facets)
    assert found == [ids[0]] and results.total == 1
    found, _ = find(b, backend, "", filters={"model": [f"CM-{tag}"]})
    assert sorted(found) == sorted([ids[0], ids[2]])


def test_no_leaking_of_parts_not_shared(company, app, backend, tag):
    a, b = company(), company()
    hidden = a.part(f"H-{tag}", description=f"secret {tag}")
    shared = a.part(f"S-{tag}", share="subscribers", description=f"open {tag}")
    index_now(app, backend, hidden, shared)
    assert find(b, backend, tag)[0] == [shared]
    assert hidden not in find(b, backend, f"H-{tag}")[0]
    assert find(b, backend, tag, scope="own")[0] == []
    assert sorted(find(a, backend, tag, scope="own")[0]) == sorted([hidden, shared])
    assert find(a, backend, tag, scope="shared")[0] == []  # one's own are not "shared with me"
    # Revoked: gone from hits at once, whatever the index still holds.
    from alloyhub.platform.sharing import services as sharing
    from alloyhub.spares.models import PART_KIND

    with a.act():
        sharing.revoke_object(PART_KIND, shared)
    assert find(b, backend, tag)[0] == []


def test_distance_sort_and_rough_distances(company, app, backend, tag):
    near, far, viewer = company(), company(), company()
    near.site(region="Jiangsu", lat=31.49, lon=120.31)      # Wuxi
    far.site(region="Heilongjiang", lat=45.80, lon=126.53)  # Harbin
    viewer.site(region="Jiangsu", lat=31.30, lon=120.58)    # Suzhou
    a = far.part(f"D-{tag}", share="subscribers")
    b = near.part(f"D-{tag}", share="subscribers")
    index_now(app, backend, a, b)
    with viewer.act():
        from alloyhub.spares.catalogue import origin_of

        origin, _ = origin_of()
    ids, results = find(viewer, backend, f"D-{tag}", sort="distance", origin=origin, of=[near, far])
    assert ids == [b, a]
    distances = [h.distance_km for h in results.hits if h.id in (a, b)]
    assert distances[0] == 35 and 1600 <= distances[1] <= 1800 and all(d % 5 == 0 for d in distances)


# ---------------------------------------------------------------- the outbox and rebuilds

def _index_events(app, part_id):
    with app.app_context(), tenancy.system_context(db.session):
        events = db.session.scalars(select(outbox.OutboxEvent).where(
            outbox.OutboxEvent.topic == search.TOPIC,
            outbox.OutboxEvent.payload["ids"].astext.contains(str(part_id)))).all()
        db.session.commit()
        return events


def test_indexing_survives_a_backend_outage(company, app, relay, owner_engine, tag):
    """The PostgreSQL backend made unavailable to the application (its table's
    privileges taken away): the event stays, retried, and lands when it is back."""
    a, b = company(), company()
    with owner_engine.begin() as conn:
        conn.execute(text("REVOKE INSERT, UPDATE, DELETE ON search_documents FROM alloyhub_app"))
    try:
        part = a.part(f"O-{tag}", share="subscribers")
        relay()
        pending = [e for e in _index_events(app, part) if e.sent_at is None]
        assert pending and all(e.attempts >= 1 and "InsufficientPrivilege" in e.last_error for e in pending)
        assert find(b, search.PostgresBackend(), f"O-{tag}")[0] == []
    finally:
        with owner_engine.begin() as conn:
            conn.execute(text("GRANT INSERT, UPDATE, DELETE ON search_documents TO alloyhub_app"))
            conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE sent_at IS NULL"))
    relay()
    assert all(e.sent_at is not None for e in _index_events(app, part))
    assert find(b, search.PostgresBackend(), f"O-{tag}")[0] == [part]


def test_an_unreachable_elasticsearch_keeps_the_event(company, app, tag):
    """Elasticsearch down (nothing listens at the address): the handler fails,
    the event stays with its error and a later attempt, nothing is lost."""
    from alloyhub import create_app

    a = company()
    part = a.part(f"E-{tag}", share="subscribers")
    config = {k: app.config[k] for k in ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "SECRET_KEY", "BASE_URL",
                                         "MQTT_URL")}
    down = create_app({**config, "TESTING": True, "ELASTICSEARCH_URL": "http://127.0.0.1:9",
                       "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}"})
    with down.app_context():
        assert isinstance(search.backend(), search.ElasticsearchBackend)
        with tenancy.system_context(db.session):
            event = [e for e in _index_events(down, part) if e.sent_at is None][0]
            with pytest.raises(search.SearchUnavailable):
                outbox._handlers[search.TOPIC][0](event)
        db.session.rollback()
        while outbox.relay_once():
            pass
    pending = _index_events(app, part)
    assert pending and all(e.sent_at is None and e.attempts >= 1 and "Elasticsearch" in e.last_error
                           for e in pending)


def test_reindex_rebuilds_the_index(company, app, owner_engine, relay, tag, monkeypatch, capsys):
    from alloyhub import cli

    a, b = company(), company()
    part = a.part(f"X-{tag}", share="subscribers")
    relay()
    assert find(b, search.PostgresBackend(), f"X-{tag}")[0] == [part]
    with owner_engine.begin() as conn:
        conn.execute(text("DELETE FROM search_documents WHERE id = :i"), {"i": part})
    assert find(b, search.PostgresBackend(), f"X-{tag}")[0] == []
    for key in ("DATABASE_URL", "DATABASE_APP_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.setenv(key, app.config[key])
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    assert cli.main(["search", "reindex", "--index", INDEX]) == 0
    assert "spares.parts" in capsys.readouterr().out
    assert find(b, search.PostgresBackend(), f"X-{tag}")[0] == [part]


def test_the_visible_documents_are_what_the_ledger_shares(company, app, owner_engine, app_sql, tag):
    """The view behind every PostgreSQL search (whole-kind shares read once
    into a hash, per-object shares looked up per document) admits exactly the
    parts the ledger lets the company see (`ah_may_see`, what row-level
    security of shared tables asks), whatever the kind of share, its grantee,
    its window or its state."""
    from datetime import timedelta

    from alloyhub.platform.sharing import services as sharing
    from alloyhub.platform.db import utcnow
    from alloyhub.spares.models import PART_KIND

    viewer, alliance, other_alliance = company(), company("alliance"), company("alliance")
    viewer.join(alliance)
    everything, allied, foreign, ended, later, revoked, one_by_one = (company() for _ in range(7))
    for grantor in (allied, foreign):
        grantor.join(alliance if grantor is allied else other_alliance)
    parts = {c: [c.part(f"V{n}-{tag}") for n in range(2)] for c in
             (everything, allied, foreign, ended, later, revoked, one_by_one)}
    one_by_one_shared = one_by_one.part(f"V9-{tag}", share="subscribers")
    shares = {}
    for grantor, kw in ((everything, {"grantee_kind": "subscribers"}),
                        (allied, {"grantee_kind": "alliance", "grantee_id": alliance.id}),
                        (foreign, {"grantee_kind": "alliance", "grantee_id": other_alliance.id}),
                        (ended, {"grantee_kind": "subscribers"}), (later, {"grantee_kind": "subscribers"}),
                        (revoked, {"grantee_kind": "subscribers"})):
        with grantor.act():
            shares[grantor] = sharing.grant(object_kind=PART_KIND, **kw).id
    with revoked.act():
        sharing.revoke(sharing.get_share(shares[revoked]))
    with owner_engine.begin() as conn:  # windows the service would not open now: one past, one to come
        conn.execute(text("UPDATE sharing_shares SET valid_from = :f, valid_until = :u WHERE id = :i"),
                     {"f": utcnow() - timedelta(days=2), "u": utcnow() - timedelta(days=1), "i": shares[ended]})
        conn.execute(text("UPDATE sharing_shares SET valid_from = :f WHERE id = :i"),
                     {"f": utcnow() + timedelta(days=1), "i": shares[later]})
    ids = [i for ps in parts.values() for i in ps] + [one_by_one_shared]
    with app.app_context(), tenancy.system_context(db.session):
        search.apply(search.get_index(INDEX), ids)
        db.session.commit()
    owners = tuple(c.id for c in parts)

    def seen(who, of=owners):
        return {r[0] for r in app_sql(who, "select id from search_visible_documents where owner_tenant_id = any(%s)",
                                      (list(of),))}

    pairs = [(c.id, i) for c, ps in parts.items() for i in ps] + [(one_by_one.id, one_by_one_shared)]
    ledger = {r[0] for r in app_sql(viewer.id, "select x.id from unnest(%s::uuid[], %s::uuid[]) x(owner, id) "
                                               "where ah_may_see(x.owner, 'spares.part', x.id)",
                                    ([o for o, _ in pairs], [i for _, i in pairs]))}
    expected = set(parts[everything]) | set(parts[allied]) | {one_by_one_shared}
    assert ledger == expected
    assert seen(viewer.id) == expected
    # An owner sees its own documents, shared or not; a session without a company nothing.
    assert seen(one_by_one.id, [one_by_one.id]) == {*parts[one_by_one], one_by_one_shared}
    assert seen(None) == set()
    # And the search itself: the viewer finds these, counted, and no others.
    _, results = find(viewer, search.PostgresBackend(), tag, facets=("manufacturer",))
    assert {h.id for h in results.hits} == expected and results.total == len(expected)


def test_chinese_descriptions_are_found_by_their_characters_with_facets(company, app, tag):
    """PostgreSQL: Chinese has no word boundaries, so a run of characters is
    matched inside the text (the trigram index that also carries the facets);
    a facet filter narrows it, and a part not shared stays out."""
    backend = search.PostgresBackend()
    a, b = company(), company()
    new = a.part(f"C1-{tag}", share="subscribers", description=f"骨架油封 {tag}", condition="new")
    used = a.part(f"C2-{tag}", share="subscribers", description=f"骨架油封 {tag}", condition="used")
    hidden = a.part(f"C3-{tag}", description=f"骨架油封 {tag}", condition="new")
    index_now(app, backend, new, used, hidden)
    ids, _ = find(b, backend, "骨架油封", of=[a])
    assert sorted(ids) == sorted([new, used])
    ids, results = find(b, backend, "油封", of=[a], filters={"condition": ["new"]}, facets=("condition",))
    assert ids == [new] and hidden not in ids
    assert dict(results.facets["condition"]).get("used") is None
