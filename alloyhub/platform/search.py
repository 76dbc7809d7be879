"""Search behind one contract, with two backends.

Modules register an `Index` (its name, the ledger kind that decides who else
sees a document, its facets, and how to build documents from their own
tables). They never write to a backend: they call `request_index(name, ids)`
inside their transaction, which puts an event in the outbox; the relay
rebuilds those documents from the source and sends them to the backend. A
backend that is down makes the handler fail; the event stays and is retried,
so nothing is lost. `reindex(name)` (`alloyhub search reindex`) rebuilds an
index from scratch.

Backends:
* `PostgresBackend` (the default): `search_documents` with full text
  (`tsvector`, 'simple' configuration) and trigram indexes (pg_trgm: typo
  tolerance, part numbers inside longer codes, Chinese substrings). Reads go
  through the view `search_visible_documents`, which admits a company's own
  documents and those the consent ledger shares with it *now* (see the
  migration 0010_sharing_spares for why a view rather than RLS).
* `ElasticsearchBackend` (when ELASTICSEARCH_URL is set), through the official
  client. Documents carry the grantee keys in force when indexed; the query
  filters on the viewer's audiences.

Whatever the backend, `search()` checks every hit against the ledger before
returning it, so a revoked share hides its objects from results at once.

Part numbers are compared normalised (`normalise_code`): `6205-2RS`,
`6205 2RS` and `62052RS` are the same number.
"""
from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from flask import current_app
from sqlalchemy import text

from . import outbox, tenancy
from .db import db

log = logging.getLogger(__name__)

TOPIC = "search.index"
_NOT_CODE = re.compile(r"[^0-9A-Z\u4e00-\u9fff]+")
_CODE_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-/. ]*[0-9A-Za-z]|[0-9A-Za-z]")


def normalise_code(value) -> str:
    """A part number as compared: upper case, letters and digits only, so
    `6205-2RS`, `6205 2RS` and `62052RS` are one number (full-width forms
    folded first: `６２０５－２ＲＳ` too)."""
    if value is None:
        return ""
    return _NOT_CODE.sub("", unicodedata.normalize("NFKC", str(value)).upper())


# ---------------------------------------------------------------- the contract

@dataclass
class Document:
    id: uuid.UUID
    owner_tenant_id: uuid.UUID
    object_kind: str
    title: str
    text: str = ""
    codes: list[str] = field(default_factory=list)
    facets: dict[str, list[str]] = field(default_factory=dict)
    latitude: float | None = None
    longitude: float | None = None
    payload: dict = field(default_factory=dict)
    # Grantee keys of the shares in force when indexed (for backends that
    # cannot ask the ledger at query time).
    audience: list[uuid.UUID] = field(default_factory=list)


SCOPES = ("shared", "own", "all")
SORTS = ("relevance", "distance")


@dataclass
class Query:
    text: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    scope: str = "shared"          # others' documents shared with me | my own | both
    sort: str = "relevance"
    origin: tuple[float, float] | None = None  # (lat, lon) for distance
    limit: int = 20
    offset: int = 0
    facets: tuple[str, ...] = ()


@dataclass
class Hit:
    id: uuid.UUID
    owner_tenant_id: uuid.UUID
    score: float
    distance_km: float | None
    payload: dict


@dataclass
class Results:
    hits: list[Hit]
    total: int
    facets: dict[str, list[tuple[str, int]]]


@dataclass(frozen=True)
class Viewer:
    tenant_id: uuid.UUID
    audiences: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class Index:
    name: str
    object_kind: str
    facets: tuple[str, ...]
    # Documents for these ids (None for an id that no longer exists), read in
    # the system scope.
    build: Callable[[list[uuid.UUID]], dict[uuid.UUID, Document | None]]
    # Every id, for a rebuild (system scope).
    all_ids: Callable[[], Iterable[uuid.UUID]]


INDEXES: dict[str, Index] = {}


def register_index(index: Index) -> None:
    INDEXES[index.name] = index


def get_index(name: str) -> Index:
    try:
        return INDEXES[name]
    except KeyError:
        raise KeyError(f"no search index {name!r}; registered: {sorted(INDEXES)}") from None


class SearchUnavailable(RuntimeError):
    """The search backend did not answer."""


# ---------------------------------------------------------------- entry points

def request_index(name: str, ids: Iterable, tenant_id=None) -> None:
    """Ask (in the current transaction) for documents to be rebuilt."""
    ids = sorted({str(i) for i in ids})
    if ids:
        outbox.publish(TOPIC, {"index": name, "ids": ids}, tenant_id=tenant_id)


@outbox.subscribe(TOPIC)
def _on_index(event) -> None:
    """The relay (system scope): rebuild the documents from their source."""
    index = get_index(event.payload["index"])
    ids = [uuid.UUID(i) for i in event.payload["ids"]]
    # A savepoint: a failing backend write must not abort the relay's transaction.
    with db.session.begin_nested():
        apply(index, ids)


def apply(index: Index, ids: list[uuid.UUID], target=None) -> None:
    docs = index.build(ids)
    target = target or backend()
    present = [d for d in docs.values() if d is not None]
    gone = [i for i in ids if docs.get(i) is None]
    if present:
        target.upsert(index, present)
    if gone:
        target.delete(index, gone)


def reindex(name: str, batch: int = 1000, target=None) -> int:
    """Rebuild an index from its source; returns the number of documents."""
    index = get_index(name)
    target = target or backend()
    count = 0
    with tenancy.system_context(db.session):
        target.clear(index)
        ids: list[uuid.UUID] = []
        for object_id in index.all_ids():
            ids.append(object_id)
            if len(ids) >= batch:
                apply(index, ids, target)
                count += len(ids)
                ids = []
        if ids:
            apply(index, ids, target)
            count += len(ids)
        target.finish(index)
        db.session.commit()
    return count


def search(name: str, query: Query, target=None) -> Results:
    """Search one index as the current company. Hits are checked against the
    ledger before they are returned."""
    from .sharing import services as sharing

    index = get_index(name)
    me = tenancy.current_tenant_id()
    if me is None:
        return Results([], 0, {})
    if query.scope not in SCOPES or query.sort not in SORTS:
        raise ValueError("unknown scope or sort")
    viewer = Viewer(me, tuple(sharing.audiences_of(me)))
    results = (target or backend()).search(index, query, viewer)
    others = [(h.owner_tenant_id, index.object_kind, h.id) for h in results.hits if h.owner_tenant_id != me]
    if others:
        visible = sharing.visible_ids(others)
        results.hits = [h for h in results.hits if h.owner_tenant_id == me or h.id in visible]
    return results


def backend():
    """The configured backend: Elasticsearch when ELASTICSEARCH_URL is set."""
    cache = current_app.extensions.setdefault("alloyhub_search", {})
    url = current_app.config.get("ELASTICSEARCH_URL")
    key = url or "postgres"
    if key not in cache:
        cache[key] = ElasticsearchBackend(url, current_app.config.get("ELASTICSEARCH_INDEX_PREFIX") or "alloyhub-") \
            if url else PostgresBackend()
    return cache[key]


# ---------------------------------------------------------------- helpers

def query_words(q: str) -> str:
    return " ".join((q or "").split())[:200]


def code_variants(q: str) -> list[str]:
    """Normalised codes a query may mean: the whole query, and each run of two
    or three of its words joined (so "SKF 6205 2RS" yields "SKF62052RS",
    "SKF6205", "62052RS" ...). Single words are matched as words."""
    found = []
    whole = normalise_code(q)
    if whole:
        found.append(whole)
    tokens = q.split()
    for i in range(len(tokens)):
        for j in range(i + 2, min(len(tokens), i + 3) + 1):
            norm = normalise_code("".join(tokens[i:j]))
            if len(norm) >= 3 and norm not in found and not norm.isalpha():
                found.append(norm)
    return found[:8]


def facet_entries(facets: dict[str, list[str]]) -> list[str]:
    return sorted({f"{name}={value}" for name, values in facets.items() for value in values if value})


# ---------------------------------------------------------------- PostgreSQL

class PostgresBackend:
    """Full text + trigram in PostgreSQL (the same database, the same
    transaction as the relay)."""

    name = "postgres"
    TEXT_SIMILARITY = 0.45   # word similarity that still counts as a match when typing mistakes are allowed

    def upsert(self, index: Index, docs: list[Document]) -> None:
        rows = []
        for d in docs:
            norm = [normalise_code(c) for c in d.codes if normalise_code(c)]
            rows.append({
                "index_name": index.name, "id": d.id, "owner": d.owner_tenant_id, "kind": d.object_kind,
                "title": d.title[:500], "body": d.text[:8000], "codes": " ".join(dict.fromkeys(norm)),
                "codes_ts": " ".join([*d.codes, *norm])[:4000],
                "search_text": f"{d.title} {d.text}"[:8000].lower(),
                "facets": facet_entries(d.facets), "lat": d.latitude, "lon": d.longitude,
                "payload": json.dumps(d.payload, default=str), "audience": [str(a) for a in d.audience],
            })
        db.session.execute(text("""
            INSERT INTO search_documents (index_name, id, owner_tenant_id, object_kind, title, body, codes,
                search_text, tsv, facets, latitude, longitude, payload, audience, updated_at)
            VALUES (:index_name, :id, :owner, :kind, :title, :body, :codes, :search_text,
                setweight(to_tsvector('simple', :codes_ts), 'A') || setweight(to_tsvector('simple', :title), 'A')
                || setweight(to_tsvector('simple', :body), 'B'),
                CAST(:facets AS text[]), :lat, :lon, CAST(:payload AS jsonb), CAST(:audience AS uuid[]), now())
            ON CONFLICT (index_name, id) DO UPDATE SET owner_tenant_id = EXCLUDED.owner_tenant_id,
                object_kind = EXCLUDED.object_kind, title = EXCLUDED.title, body = EXCLUDED.body,
                codes = EXCLUDED.codes, search_text = EXCLUDED.search_text, tsv = EXCLUDED.tsv,
                facets = EXCLUDED.facets, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                payload = EXCLUDED.payload, audience = EXCLUDED.audience, updated_at = now()
        """), rows)

    def delete(self, index: Index, ids: list[uuid.UUID]) -> None:
        db.session.execute(text("DELETE FROM search_documents WHERE index_name = :i AND id = ANY(:ids)"),
                           {"i": index.name, "ids": list(ids)})

    def clear(self, index: Index) -> None:
        db.session.execute(text("DELETE FROM search_documents WHERE index_name = :i"), {"i": index.name})

    def finish(self, index: Index) -> None:
        pass

    def count(self, index: Index) -> int:
        with tenancy.system_context(db.session):
            return db.session.execute(text("SELECT count(*) FROM search_documents WHERE index_name = :i"),
                                      {"i": index.name}).scalar()

    # Results, facets and the order are worked out over at most this many
    # matches of each kind (the part number exactly, within a longer number,
    # every word): a broad query ("bearing") shows the first of its many
    # matches with counts of those, and is narrowed with facets, as catalogue
    # users do. Exact part numbers are always among them.
    CAP = 1_000

    def _base(self, index: Index, query: Query, viewer: Viewer, params: dict) -> list[str]:
        params.update(index=index.name, me=viewer.tenant_id)
        where = ["d.index_name = :index"]
        if query.scope == "shared":
            where.append("d.owner_tenant_id <> :me")
        elif query.scope == "own":
            where.append("d.owner_tenant_id = :me")
        for n, (name, values) in enumerate(sorted(query.filters.items())):
            values = [v for v in values if v]
            if values:
                params[f"f{n}"] = [f"{name}={v}" for v in values]
                where.append(f"d.facets && CAST(:f{n} AS text[])")
        return where

    FUZZY_TERMS = 12   # dictionary terms taken per word typed (the closest)

    def _similar(self, index: Index, codes: list[str], words: list[str]) -> tuple[dict, dict]:
        """Dictionary terms (`search_terms`, see migration 0014) similar to
        each part number ('c') and each word ('w'), in one round trip: a few
        thousand distinct terms searched, not every document."""
        found: dict[str, dict[str, list[tuple[str, float]]]] = {"c": {c: [] for c in codes},
                                                                "w": {w: [] for w in words}}
        rows = db.session.execute(text(
            "SELECT 'c' AS kind, word, term, similarity FROM ah_similar_terms(:index, 'c', CAST(:codes AS text[]), :n) "
            "UNION ALL "
            "SELECT 'w', word, term, similarity FROM ah_similar_terms(:index, 'w', CAST(:words AS text[]), :n)"),
            {"index": index.name, "codes": list(codes), "words": list(words), "n": self.FUZZY_TERMS})
        for kind, word, term, similarity in rows:
            found[kind][word].append((term, float(similarity)))
        for terms in (*found["c"].values(), *found["w"].values()):
            terms.sort(key=lambda t: (-t[1], t[0]))
        return found["c"], found["w"]

    def _matches(self, index: Index, words: str, params: dict, *, fuzzy: bool) -> tuple[list[str], str]:
        """The ways a document matches the words (each an indexable condition),
        and its score. Strict: the part number contains the normalised query
        (or a run of its words), or the document has every word. Fuzzy (when
        nothing matches strictly): the terms of the index similar to what was
        typed (trigram word similarity, looked up in the term dictionary),
        then the documents holding them exactly."""
        codes = [c for c in code_variants(words) if len(c) >= 3]
        params.update(q=words, ql=words.lower())
        conditions, score = [], ["ts_rank(d.tsv, websearch_to_tsquery('simple', :q)) * 2"]
        for n, code in enumerate(codes[:4]):
            params[f"c{n}"], params[f"cl{n}"], params[f"cw{n}"] = code, f"%{code}%", f"% {code} %"
            weight = 1.0 if n == 0 else 0.8
            score.append(f"(CASE WHEN ' ' || d.codes || ' ' LIKE :cw{n} THEN {10 * weight} "
                         f"WHEN d.codes LIKE :cl{n} THEN {5 * weight} ELSE 0 END)")
            if fuzzy:
                score.append(f"word_similarity(:c{n}, d.codes) * {2 * weight}")
            else:  # the number exactly first, so the cap never leaves it out
                conditions.append(f"(d.codes LIKE :cl{n} AND ' ' || d.codes || ' ' LIKE :cw{n})")
                conditions.append(f"d.codes LIKE :cl{n}")
        if fuzzy:
            # Every word found, allowing for typing mistakes in each.
            words_ = [w for w in words.lower().split() if len(w) >= 3][:6] or [words.lower()]
            similar_codes, similar_words = self._similar(index, codes[:4], words_)
            found = sorted({t for terms in similar_codes.values() for t, _ in terms})
            if found:
                params["fcodes"] = found
                conditions.append("string_to_array(d.codes, ' ') && CAST(:fcodes AS text[])")
            # Each word scores the similarity of the closest of its terms the
            # document holds (what word_similarity() over the whole text would
            # find, at a lexeme lookup per term instead of ~10 µs a document).
            for n, word in enumerate(words_):
                cases = []
                for k, (term, similarity) in enumerate(similar_words.get(word, [])):
                    params[f"w{n}t{k}"] = _tsquery_literal(term)
                    cases.append(f"WHEN d.tsv @@ CAST(:w{n}t{k} AS tsquery) THEN {similarity:.4f}")
                if cases:
                    score.append(f"(CASE {' '.join(cases)} ELSE 0 END)")
            if all(similar_words.get(w) for w in words_):
                params["fq"] = " & ".join("(" + " | ".join(_tsquery_literal(t) for t, _ in similar_words[w]) + ")"
                                          for w in words_)
                conditions.append("d.tsv @@ CAST(:fq AS tsquery)")
        else:
            conditions.append("d.tsv @@ websearch_to_tsquery('simple', :q)")
            if any(ord(ch) > 0x2E80 for ch in words):  # Chinese: no word boundaries, match the characters
                params["qlike"] = f"%{_escape_like(words.lower())}%"
                conditions.append("d.search_text LIKE :qlike")
        return conditions, " + ".join(score)

    def _run(self, index: Index, query: Query, viewer: Viewer, *, fuzzy: bool) -> Results:
        params: dict = {}
        base = self._base(index, query, viewer, params)
        words = query_words(query.text)
        columns = "d.id, d.owner_tenant_id, d.payload, d.facets, d.latitude, d.longitude, d.tsv, d.codes"
        if words:
            conditions, score = self._matches(index, words, params, fuzzy=fuzzy)
            if not conditions:  # nothing typed resembles a term of the index
                return Results([], 0, {})
            parts = [f"(SELECT {columns} FROM search_visible_documents d WHERE {' AND '.join(base)} AND {c} "
                     f"LIMIT {self.CAP})" for c in conditions]
            candidates = f"SELECT DISTINCT ON (id) * FROM ({' UNION ALL '.join(parts)}) u"
        else:
            score = "0.0"
            candidates = f"SELECT {columns} FROM search_visible_documents d WHERE {' AND '.join(base)} LIMIT {self.CAP}"
        distance = "NULL::float"
        if query.origin is not None:
            params.update(lat=float(query.origin[0]), lon=float(query.origin[1]))
            distance = ("CASE WHEN d.latitude IS NULL THEN NULL ELSE 12742 * asin(sqrt("
                        "power(sin(radians(d.latitude - :lat) / 2), 2) + cos(radians(:lat)) * "
                        "cos(radians(d.latitude)) * power(sin(radians(d.longitude - :lon) / 2), 2))) END")
        order = ("distance ASC NULLS LAST, score DESC, id" if query.sort == "distance" and query.origin is not None
                 else "score DESC, id")
        wanted = [f for f in query.facets if f in index.facets]
        params.update(limit=max(1, min(query.limit, 200)), offset=max(0, query.offset), facet_names=wanted or [""])
        row = db.session.execute(text(f"""
            WITH m AS MATERIALIZED ({candidates}),
            scored AS (SELECT d.id, d.owner_tenant_id, d.payload, ({score}) AS score, ({distance}) AS distance
                       FROM m d),
            page AS (SELECT * FROM scored ORDER BY {order} LIMIT :limit OFFSET :offset)
            SELECT (SELECT count(*) FROM m) AS total,
                   (SELECT coalesce(json_agg(json_build_array(f, n) ORDER BY n DESC, f), '[]')
                    FROM (SELECT f, count(*) AS n FROM m, unnest(m.facets) f
                          WHERE split_part(f, '=', 1) = ANY(:facet_names) GROUP BY f) x) AS facets,
                   (SELECT coalesce(json_agg(json_build_array(id, owner_tenant_id, payload, score, distance)
                                             ORDER BY {order}), '[]') FROM page) AS hits
        """), params).one()
        facets: dict[str, list[tuple[str, int]]] = {}
        for entry, n in row.facets:
            name, _, value = entry.partition("=")
            facets.setdefault(name, []).append((value, n))
        hits = [Hit(uuid.UUID(h[0]), uuid.UUID(h[1]), float(h[3] or 0), round_km(h[4]), h[2] or {})
                for h in row.hits]
        return Results(hits, row.total, facets)

    def search(self, index: Index, query: Query, viewer: Viewer) -> Results:
        # JIT compilation costs more than these index lookups save (its cost
        # threshold is crossed by the estimates of the capped scans, not by work).
        db.session.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true), "
                                "set_config('jit', 'off', true)"), {"t": str(self.TEXT_SIMILARITY)})
        results = self._run(index, query, viewer, fuzzy=False)
        if not results.total and query_words(query.text):
            results = self._run(index, query, viewer, fuzzy=True)  # nothing as typed: allow for typos
        return results


def _tsquery_literal(term: str) -> str:
    """A lexeme as a quoted tsquery operand (taken as it is, not parsed again)."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def round_km(value) -> float | None:
    """Distances are shown roughly (to 5 km): enough to choose, not to locate."""
    if value is None or not math.isfinite(value):
        return None
    return float(max(5, 5 * round(value / 5)))


# ---------------------------------------------------------------- Elasticsearch

class ElasticsearchBackend:
    """The same contract on Elasticsearch (official client)."""

    name = "elasticsearch"

    def __init__(self, url: str, prefix: str = "alloyhub-", client=None):
        from elasticsearch import Elasticsearch

        self.url = url
        self.prefix = prefix
        self.client = client or Elasticsearch(url, request_timeout=10, max_retries=0, retry_on_timeout=False)
        self._ready: set[str] = set()

    def _name(self, index: Index) -> str:
        return (self.prefix + index.name).lower()

    MAPPING = {
        "properties": {
            "owner": {"type": "keyword"}, "kind": {"type": "keyword"}, "audience": {"type": "keyword"},
            "title": {"type": "text"}, "body": {"type": "text"},
            "codes": {"type": "keyword"}, "codes_text": {"type": "text", "analyzer": "code_ngram"},
            "facets": {"type": "object", "dynamic": True},
            "location": {"type": "geo_point"}, "payload": {"type": "object", "enabled": False},
        },
        "dynamic_templates": [{"facets": {"path_match": "facets.*", "mapping": {"type": "keyword"}}}],
    }
    SETTINGS = {"analysis": {
        "tokenizer": {"code_ngram": {"type": "ngram", "min_gram": 3, "max_gram": 3}},
        "analyzer": {"code_ngram": {"type": "custom", "tokenizer": "code_ngram", "filter": ["lowercase"]}},
    }}

    def _ensure(self, index: Index) -> str:
        name = self._name(index)
        if name not in self._ready:
            try:
                if not self.client.indices.exists(index=name):
                    self.client.indices.create(index=name, mappings=self.MAPPING,
                                               settings={**self.SETTINGS, "max_ngram_diff": 0})
            except Exception as exc:
                raise SearchUnavailable(f"Elasticsearch: {exc}") from exc
            self._ready.add(name)
        return name

    def _source(self, d: Document) -> dict:
        norm = [normalise_code(c) for c in d.codes if normalise_code(c)]
        source = {"owner": str(d.owner_tenant_id), "kind": d.object_kind, "title": d.title, "body": d.text,
                  "codes": norm, "codes_text": " ".join(norm), "facets": {k: list(v) for k, v in d.facets.items()},
                  "audience": [str(a) for a in d.audience], "payload": d.payload}
        if d.latitude is not None and d.longitude is not None:
            source["location"] = {"lat": d.latitude, "lon": d.longitude}
        return source

    def upsert(self, index: Index, docs: list[Document]) -> None:
        from elasticsearch import helpers

        name = self._ensure(index)
        actions = [{"_op_type": "index", "_index": name, "_id": str(d.id), "_source": self._source(d)} for d in docs]
        try:
            helpers.bulk(self.client, actions, refresh="wait_for")
        except Exception as exc:
            raise SearchUnavailable(f"Elasticsearch: {exc}") from exc

    def delete(self, index: Index, ids: list[uuid.UUID]) -> None:
        from elasticsearch import helpers

        name = self._ensure(index)
        actions = [{"_op_type": "delete", "_index": name, "_id": str(i)} for i in ids]
        try:
            helpers.bulk(self.client, actions, refresh="wait_for", raise_on_error=False)
        except Exception as exc:
            raise SearchUnavailable(f"Elasticsearch: {exc}") from exc

    def clear(self, index: Index) -> None:
        name = self._name(index)
        try:
            self.client.indices.delete(index=name, ignore_unavailable=True)
        except Exception as exc:
            raise SearchUnavailable(f"Elasticsearch: {exc}") from exc
        self._ready.discard(name)
        self._ensure(index)

    def finish(self, index: Index) -> None:
        self.client.indices.refresh(index=self._name(index))

    def count(self, index: Index) -> int:
        return self.client.count(index=self._ensure(index))["count"]

    def _query(self, index: Index, query: Query, viewer: Viewer) -> dict:
        me = str(viewer.tenant_id)
        visible = {"bool": {"should": [{"term": {"owner": me}},
                                       {"terms": {"audience": [str(a) for a in viewer.audiences]}}],
                            "minimum_should_match": 1}}
        filters: list[dict] = [visible]
        must_not: list[dict] = []
        if query.scope == "shared":
            must_not.append({"term": {"owner": me}})
        elif query.scope == "own":
            filters.append({"term": {"owner": me}})
        for name, values in query.filters.items():
            values = [v for v in values if v]
            if values:
                filters.append({"terms": {f"facets.{name}": values}})
        should: list[dict] = []
        words = query_words(query.text)
        if words:
            for n, code in enumerate(code_variants(words)):
                weight = 1.0 if n == 0 else 0.8
                should += [{"term": {"codes": {"value": code, "boost": 10 * weight}}},
                           {"wildcard": {"codes": {"value": f"*{code}*", "boost": 5 * weight}}},
                           # Trigrams in common, for typing mistakes in a part number.
                           {"match": {"codes_text": {"query": code.lower(), "minimum_should_match": "60%",
                                                     "boost": 2 * weight}}}]
            should.append({"multi_match": {"query": words, "fields": ["title^2", "body"], "fuzziness": "AUTO"}})
        body = {"bool": {"filter": filters, "must_not": must_not}}
        if should:
            body["bool"].update(should=should, minimum_should_match=1)
        return body

    def search(self, index: Index, query: Query, viewer: Viewer) -> Results:
        name = self._ensure(index)
        sort: list = ["_score"]
        if query.origin is not None:
            lat, lon = float(query.origin[0]), float(query.origin[1])
            geo = {"_geo_distance": {"location": {"lat": lat, "lon": lon}, "order": "asc", "unit": "km",
                                     "ignore_unmapped": True}}
            sort = [geo, "_score"] if query.sort == "distance" else ["_score", geo]
        aggs = {f: {"terms": {"field": f"facets.{f}", "size": 50}} for f in query.facets if f in index.facets}
        try:
            answer = self.client.search(index=name, query=self._query(index, query, viewer), sort=sort,
                                        from_=max(0, query.offset), size=max(1, min(query.limit, 200)),
                                        aggs=aggs or None, track_total_hits=True, track_scores=True)
        except Exception as exc:
            raise SearchUnavailable(f"Elasticsearch: {exc}") from exc
        hits = []
        for h in answer["hits"]["hits"]:
            distance = None
            if query.origin is not None:
                values = [v for v in h.get("sort", []) if isinstance(v, (int, float))]
                distance = values[0] if query.sort == "distance" and values else (values[-1] if values else None)
                if distance is not None and distance > 1e7:  # no location: sorted last with "infinity"
                    distance = None
            source = h["_source"]
            hits.append(Hit(uuid.UUID(h["_id"]), uuid.UUID(source["owner"]), float(h.get("_score") or 0),
                            round_km(distance), source.get("payload") or {}))
        facets = {name: [(b["key"], b["doc_count"]) for b in agg["buckets"]]
                  for name, agg in (answer.get("aggregations") or {}).items()}
        return Results(hits, answer["hits"]["total"]["value"], facets)
