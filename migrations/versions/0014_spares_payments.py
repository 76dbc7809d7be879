"""spares: search speed (term dictionary, indexes, statistics) and Stripe Connect payments

Revision ID: 0014_spares_payments
Revises: 0013_remote_service

Search: typing mistakes through a term dictionary
-------------------------------------------------
A catalogue search that finds nothing as typed falls back to trigram
similarity. Run against `search_documents` itself, `codes %> '62052RS'` or
`search_text %> 'bearnig'` make the trigram index return tens of thousands of
candidate rows (every document sharing a few trigrams), each rechecked: the
slowest searches of the benchmark (~100 ms at a million parts). The pg_trgm
documentation's remedy is a table of the distinct words: `search_terms` holds
each distinct normalised part number ('c') and full-text lexeme ('w') of an
index, a few thousand rows where the documents are a million. The fuzzy
search looks the query's words up there (the nearest terms by word
similarity through a GiST trigram index, a millisecond) and
then finds documents by the exact terms it got back, through the full-text
index (`tsv`) and a GIN index on the array of part numbers.

Statement-level triggers (transition tables) keep the dictionary: every
INSERT or UPDATE of documents, row by row from the relay or a million at
once, adds the terms it brings. Terms are not removed with their documents:
a stale term only leads to an exact lookup that finds nothing visible, and a
rebuild (`alloyhub search reindex`, which clears the index) starts afresh.

The dictionary has no owners and holds words of documents that are not
shared, so the application role cannot read it: it asks
`ah_similar_terms()` (SECURITY DEFINER) for the terms similar to what was
typed, and every document is still read through `search_visible_documents`.

Statistics: a larger sample for `codes`, `search_text` and `facets` gives the
planner real selectivities for `LIKE '%6205%'` and for facet values.

Facet filters and the visibility check
--------------------------------------
A filtered search (`6205` with condition=new) ANDed the narrow text match
with the facet index's bitmap of half the table (~45 ms to build); the text
indexes now carry the facets as a second GIN column, so the text match drives
one index scan and the facet is probed only at its documents. The view
`search_visible_documents` admits the same rows as before, but reads the
whole-kind shares in force once per query into a hash and looks up
per-object shares only for documents of owners without one (see the SQL).

Payments (Stripe Connect)
-------------------------
* `spares_payment_accounts`: a selling company's connected (Express) account
  and what Stripe last said of it. The company's own row; the webhook relay
  (system scope) updates it from `account.updated`.
* `spares_payments`: the payment of one request line (same id as the
  request): amount, the platform's fee, the destination account, the
  Checkout Session and its payment, refunds. Both parties read it (as the
  request itself); either party's step changes it.
"""
from alembic import op
import sqlalchemy as sa

from alloyhub.platform import rls

revision = "0014_spares_payments"
down_revision = "0013_remote_service"
branch_labels = None
depends_on = None

APP = rls.APP_DB_ROLE
PARTY = "tenant_id = app_tenant_id() OR requester_tenant_id = app_tenant_id() OR app_is_system()"

# Also run by benchmarks/search.py's checks; keep it plain SQL.
SEARCH_TERMS_SQL = f"""
CREATE TABLE search_terms (
    index_name varchar(60) NOT NULL,
    kind "char" NOT NULL,
    term text NOT NULL,
    CONSTRAINT pk_search_terms PRIMARY KEY (index_name, kind, term)
);
CREATE INDEX ix_search_terms_trgm ON search_terms USING gist (term gist_trgm_ops);
REVOKE ALL ON search_terms FROM {APP};

CREATE FUNCTION ah_search_terms_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO search_terms (index_name, kind, term)
  SELECT DISTINCT n.index_name, 'w'::"char", l.lexeme
  FROM new_docs n, unnest(n.tsv) l
  WHERE length(l.lexeme) BETWEEN 2 AND 80
  ON CONFLICT DO NOTHING;
  INSERT INTO search_terms (index_name, kind, term)
  SELECT DISTINCT n.index_name, 'c'::"char", c.code
  FROM new_docs n, unnest(string_to_array(n.codes, ' ')) c(code)
  WHERE length(c.code) BETWEEN 2 AND 80
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER search_terms_on_insert AFTER INSERT ON search_documents
  REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION ah_search_terms_add();
CREATE TRIGGER search_terms_on_update AFTER UPDATE ON search_documents
  REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION ah_search_terms_add();

-- The terms of an index similar to each of the words typed (word similarity
-- over pg_trgm.word_similarity_threshold), the closest first, at most
-- p_limit per word.
-- The closest first through the GiST index (k-nearest-neighbour on the
-- word-similarity distance `<->>`): a few index pages per word, where the
-- `%>` filter rechecks every term sharing a trigram (most of them, for short
-- words: ~10 ms at a few thousand terms).
CREATE FUNCTION ah_similar_terms(p_index text, p_kind "char", p_words text[], p_limit int)
RETURNS TABLE (word text, term text, similarity real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT w.word, t.term, t.similarity
  FROM unnest(p_words) AS w(word)
  CROSS JOIN LATERAL (
    SELECT s.term, word_similarity(w.word, s.term) AS similarity
    FROM search_terms s
    WHERE s.index_name = p_index AND s.kind = p_kind
    ORDER BY s.term <->> w.word
    LIMIT p_limit) t
  WHERE t.similarity >= coalesce(nullif(current_setting('pg_trgm.word_similarity_threshold', true), ''), '0.6')::real
$$;
REVOKE ALL ON FUNCTION ah_similar_terms(text, "char", text[], int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ah_similar_terms(text, "char", text[], int) TO {APP};
REVOKE ALL ON FUNCTION ah_search_terms_add() FROM PUBLIC;

-- Documents by exact part number (the dictionary's answer).
CREATE INDEX ix_search_documents_code_list ON search_documents USING gin (string_to_array(codes, ' '), facets);

-- Facet filters inside the text indexes (multicolumn GIN): a search with a
-- filter is one index scan in which the narrow text match drives and the
-- facet's posting tree is only probed at its documents, instead of a
-- BitmapAnd of the text match with a half-the-table facet bitmap
-- (condition=new: 500,000 entries, ~45 ms to build at a million parts).
-- Without the single-column facet index the planner cannot choose that
-- BitmapAnd; a filter alone (no text) reads the facets column of these.
CREATE INDEX ix_search_documents_tsv_facets ON search_documents USING gin (tsv, facets);
CREATE INDEX ix_search_documents_codes_facets ON search_documents USING gin (codes gin_trgm_ops, facets);
CREATE INDEX ix_search_documents_text_facets ON search_documents USING gin (search_text gin_trgm_ops, facets);
DROP INDEX ix_search_documents_tsv;
DROP INDEX ix_search_documents_codes;
DROP INDEX ix_search_documents_text;
DROP INDEX ix_search_documents_facets;

-- The visibility check of the view, per candidate document: whole-kind
-- shares in force for the session's audiences are a few hundred rows, read
-- once per query into a hash (this index) and probed per document; only a
-- document of an owner without one is looked up among the per-object
-- shares (ix_sharing_shares_in_force). OFFSET 0 keeps that lookup
-- correlated: the planner would otherwise hash every per-object share in
-- force (tens of thousands) for each query.
CREATE INDEX ix_sharing_shares_whole_kind ON sharing_shares (grantee_key, object_kind, tenant_id)
  WHERE object_id IS NULL AND state = 'active';
CREATE OR REPLACE VIEW search_visible_documents AS
SELECT d.* FROM search_documents d
WHERE d.owner_tenant_id = app_tenant_id()
   OR (app_tenant_id() IS NOT NULL AND (
        (d.owner_tenant_id, d.object_kind) IN (
          SELECT s.tenant_id, s.object_kind FROM sharing_shares s
          WHERE s.object_id IS NULL AND s.state = 'active' AND s.valid_from <= now()
            AND (s.valid_until IS NULL OR s.valid_until > now())
            AND s.grantee_key = ANY ((SELECT ah_audiences())::uuid[]))
     OR EXISTS (
          SELECT 1 FROM sharing_shares s
          WHERE s.object_id = d.id AND s.object_kind = d.object_kind AND s.tenant_id = d.owner_tenant_id
            AND s.state = 'active' AND s.valid_from <= now()
            AND (s.valid_until IS NULL OR s.valid_until > now())
            AND s.grantee_key = ANY ((SELECT ah_audiences())::uuid[])
          OFFSET 0)));

ALTER TABLE search_documents ALTER COLUMN codes SET STATISTICS 1000;
ALTER TABLE search_documents ALTER COLUMN search_text SET STATISTICS 1000;
ALTER TABLE search_documents ALTER COLUMN facets SET STATISTICS 1000;
ALTER TABLE search_documents ALTER COLUMN tsv SET STATISTICS 1000;

-- The documents indexed so far.
INSERT INTO search_terms (index_name, kind, term)
SELECT DISTINCT d.index_name, 'w'::"char", l.lexeme FROM search_documents d, unnest(d.tsv) l
WHERE length(l.lexeme) BETWEEN 2 AND 80 ON CONFLICT DO NOTHING;
INSERT INTO search_terms (index_name, kind, term)
SELECT DISTINCT d.index_name, 'c'::"char", c.code FROM search_documents d, unnest(string_to_array(d.codes, ' ')) c(code)
WHERE length(c.code) BETWEEN 2 AND 80 ON CONFLICT DO NOTHING;
ANALYZE search_documents;
ANALYZE search_terms;
"""


def _search() -> None:
    op.execute(SEARCH_TERMS_SQL)


def _payments() -> None:
    op.create_table(
        "spares_payment_accounts",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("stripe_account_id", sa.String(255), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("details_submitted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_spares_payment_accounts_tenant_id_tenants",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_spares_payment_accounts"),
        sa.UniqueConstraint("stripe_account_id", name="uq_spares_payment_accounts_stripe_account_id"),
    )
    op.create_table(
        "spares_payments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("requester_tenant_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("destination_account", sa.String(255), nullable=False),
        sa.Column("checkout_session_id", sa.String(255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("payment_intent_id", sa.String(255), nullable=True),
        sa.Column("refund_id", sa.String(255), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["id"], ["spares_requests.id"], name="fk_spares_payments_id_spares_requests",
                                ondelete="CASCADE"),
        sa.CheckConstraint("status IN ('due', 'pending', 'paid', 'refunded', 'cancelled')", name="status"),
        sa.CheckConstraint("amount_minor > 0 AND fee_minor >= 0 AND fee_minor < amount_minor", name="amounts"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_payments"),
    )
    op.create_index("ix_spares_payments_tenant_id", "spares_payments", ["tenant_id"])
    op.create_index("ix_spares_payments_requester_tenant_id", "spares_payments", ["requester_tenant_id"])
    op.create_index("ix_spares_payments_checkout_session_id", "spares_payments", ["checkout_session_id"])
    op.create_index("ix_spares_payments_payment_intent_id", "spares_payments", ["payment_intent_id"])
    op.execute(rls.grant_tables(["spares_payment_accounts", "spares_payments"]))
    op.execute(rls.enable("spares_payment_accounts", extra_using="app_is_system()"))
    op.execute(f"""
ALTER TABLE spares_payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE spares_payments FORCE ROW LEVEL SECURITY;
CREATE POLICY parties_read ON spares_payments FOR SELECT USING ({PARTY});
-- Made by the holder's acceptance, or by the requester accepting the holder's offer.
CREATE POLICY parties_insert ON spares_payments FOR INSERT
  WITH CHECK (({PARTY}) AND EXISTS (SELECT 1 FROM spares_requests r WHERE r.id = spares_payments.id
              AND r.tenant_id = spares_payments.tenant_id
              AND r.requester_tenant_id = spares_payments.requester_tenant_id));
CREATE POLICY parties_update ON spares_payments FOR UPDATE USING ({PARTY}) WITH CHECK ({PARTY});
""")


def upgrade() -> None:
    _search()
    _payments()


def downgrade() -> None:
    op.drop_table("spares_payments")
    op.drop_table("spares_payment_accounts")
    op.execute("""
CREATE OR REPLACE VIEW search_visible_documents AS
SELECT d.* FROM search_documents d
WHERE d.owner_tenant_id = app_tenant_id()
   OR (app_tenant_id() IS NOT NULL AND EXISTS (
        SELECT 1 FROM sharing_shares s
        WHERE s.tenant_id = d.owner_tenant_id AND s.object_kind = d.object_kind
          AND (s.object_id = d.id OR s.object_id IS NULL)
          AND s.state = 'active' AND s.valid_from <= now()
          AND (s.valid_until IS NULL OR s.valid_until > now())
          AND s.grantee_key = ANY ((SELECT ah_audiences())::uuid[])));
DROP INDEX IF EXISTS ix_sharing_shares_whole_kind;
CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv);
CREATE INDEX ix_search_documents_codes ON search_documents USING gin (codes gin_trgm_ops);
CREATE INDEX ix_search_documents_text ON search_documents USING gin (search_text gin_trgm_ops);
CREATE INDEX ix_search_documents_facets ON search_documents USING gin (facets);
DROP INDEX IF EXISTS ix_search_documents_tsv_facets;
DROP INDEX IF EXISTS ix_search_documents_codes_facets;
DROP INDEX IF EXISTS ix_search_documents_text_facets;
DROP INDEX IF EXISTS ix_search_documents_code_list;
DROP TRIGGER IF EXISTS search_terms_on_insert ON search_documents;
DROP TRIGGER IF EXISTS search_terms_on_update ON search_documents;
DROP FUNCTION IF EXISTS ah_similar_terms(text, "char", text[], int);
DROP FUNCTION IF EXISTS ah_search_terms_add();
DROP TABLE IF EXISTS search_terms;
ALTER TABLE search_documents ALTER COLUMN codes SET STATISTICS -1;
ALTER TABLE search_documents ALTER COLUMN search_text SET STATISTICS -1;
ALTER TABLE search_documents ALTER COLUMN facets SET STATISTICS -1;
ALTER TABLE search_documents ALTER COLUMN tsv SET STATISTICS -1;
""")
