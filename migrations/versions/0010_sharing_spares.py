"""sharing and spares: the consent ledger, search documents, the spare-parts room

Revision ID: 0010_sharing_spares
Revises: 0009_billing_usage

The consent ledger (`sharing_*`) and how shared tables consult it
-----------------------------------------------------------------
A share is a row of `sharing_shares`: grantor (`tenant_id`), grantee key (a
company, an alliance, or SUBSCRIBERS = 00000000-0000-0000-0000-000000000001
for every subscriber), object kind and id (NULL: every object of the kind),
window and state. Two SQL functions read it:

* `ah_audiences()`: who the session's company is as a grantee: itself, the
  alliances it is an active member of, and SUBSCRIBERS (empty without a
  company, so nothing is shared with a session that has none);
* `ah_may_see(owner, kind, id)`: a share in force (state active, now inside
  the window) covers this object for one of those audiences.

Both are plain SQL functions (SECURITY INVOKER): they read the ledger under
its own row-level security, whose policies admit the grantor's rows and, for
reading, the shares in force addressed to the session's audiences. So the
functions see exactly what a grantee is entitled to know, whoever owns them.

A shared table's policy is then "own rows, or rows the ledger shares":
  SELECT: tenant_id = app_tenant_id() OR ah_may_see(tenant_id, '<kind>', <id>)
  INSERT/UPDATE/DELETE: tenant_id = app_tenant_id()
Revocation and expiry take effect at the next statement; no copy to refresh.

Search documents: a view in front of a table without FORCE
----------------------------------------------------------
Row-level security keeps a non-leakproof condition (full-text `@@`, trigram
`%`, LIKE) from being used as an index condition below the policy, so a
catalogue search under RLS scans every row. The search index therefore sits
in `search_documents` (column `owner_tenant_id`, RLS enabled for the app
role, not forced) and is read through the view `search_visible_documents`,
owned by the migration's role: the view's condition (own documents, or a
share in force in the ledger) is an ordinary qualifier the planner combines
with the search's indexes. The app role has no SELECT on the table beyond
its own documents (its policy) and reads others' only through the view.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alloyhub.platform import rls

revision = "0010_sharing_spares"
down_revision = "0009_billing_usage"
branch_labels = None
depends_on = None

SUBSCRIBERS = "00000000-0000-0000-0000-000000000001"
APP = rls.APP_DB_ROLE


def _id():
    return sa.Column("id", sa.UUID(), nullable=False)


def _tenant():
    return sa.Column("tenant_id", sa.UUID(), nullable=False)


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _fk(col, table, name_table, ondelete="CASCADE", ref="id"):
    return sa.ForeignKeyConstraint([col], [f"{table}.{ref}"], name=f"fk_{name_table}_{col}_{table}", ondelete=ondelete)


def _policies(table: str, select_using: str, write: str = "tenant_id = app_tenant_id() OR app_is_system()") -> str:
    """Separate policies for reading and for writing a shared table."""
    return f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY read_own_or_shared ON {table} FOR SELECT USING ({select_using});
CREATE POLICY insert_own ON {table} FOR INSERT WITH CHECK ({write});
CREATE POLICY update_own ON {table} FOR UPDATE USING ({write}) WITH CHECK ({write});
CREATE POLICY delete_own ON {table} FOR DELETE USING ({write});
"""


# ------------------------------------------------------------------ the ledger

def _sharing() -> None:
    op.create_table(
        "sharing_shares",
        _id(), _tenant(), *_timestamps(),
        sa.Column("grantee_kind", sa.String(20), nullable=False),
        sa.Column("grantee_key", sa.UUID(), nullable=False),
        sa.Column("object_kind", sa.String(60), nullable=False),
        sa.Column("object_id", sa.UUID(), nullable=True),
        sa.Column("module", sa.String(40), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
        sa.Column("valid_from", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.UUID(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        _fk("created_by", "users", "sharing_shares", "SET NULL"),
        _fk("revoked_by", "users", "sharing_shares", "SET NULL"),
        sa.CheckConstraint("grantee_kind IN ('tenant', 'alliance', 'subscribers')", name="grantee_kind"),
        sa.CheckConstraint("state IN ('active', 'revoked', 'expired')", name="state"),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_shares"),
    )
    op.create_index("ix_sharing_shares_tenant_id", "sharing_shares", ["tenant_id"])
    op.create_index("ix_sharing_shares_object", "sharing_shares", ["object_kind", "object_id"])
    op.create_index("ix_sharing_shares_grantee_key", "sharing_shares", ["grantee_key"])
    # The lookup of ah_may_see: one owner's shares of one object.
    op.create_index("ix_sharing_shares_in_force", "sharing_shares", ["tenant_id", "object_kind", "object_id"],
                    postgresql_where=sa.text("state = 'active'"))

    op.create_table(
        "sharing_reads",
        _id(), _tenant(),
        sa.Column("share_id", sa.UUID(), nullable=False),
        sa.Column("reader_tenant_id", sa.UUID(), nullable=False),
        sa.Column("reader_user_id", sa.UUID(), nullable=True),
        sa.Column("object_kind", sa.String(60), nullable=False),
        sa.Column("object_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _fk("share_id", "sharing_shares", "sharing_reads"),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_reads"),
    )
    op.create_index("ix_sharing_reads_tenant_at", "sharing_reads", ["tenant_id", "at"])
    op.create_index("ix_sharing_reads_share_id", "sharing_reads", ["share_id"])
    op.create_index("ix_sharing_reads_reader_tenant_id", "sharing_reads", ["reader_tenant_id"])

    op.create_table(
        "sharing_alliance_members",
        _id(), _tenant(), *_timestamps(),
        sa.Column("member_tenant_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("invited_by", sa.UUID(), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        _fk("member_tenant_id", "tenants", "sharing_alliance_members"),
        _fk("invited_by", "users", "sharing_alliance_members", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_alliance_members"),
        sa.UniqueConstraint("tenant_id", "member_tenant_id", name="uq_sharing_alliance_members_tenant_id"),
    )
    op.create_index("ix_sharing_alliance_members_tenant_id", "sharing_alliance_members", ["tenant_id"])
    op.create_index("ix_sharing_alliance_members_member_tenant_id", "sharing_alliance_members",
                    ["member_tenant_id"])

    op.execute(rls.grant_tables(["sharing_shares", "sharing_alliance_members"]))
    # The feed is append-only for the application.
    op.execute(f"REVOKE ALL ON sharing_reads FROM {APP}; GRANT SELECT, INSERT ON sharing_reads TO {APP};")

    op.execute(f"""
-- Who the session's company is as a grantee.
CREATE OR REPLACE FUNCTION ah_audiences() RETURNS uuid[] LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN app_tenant_id() IS NULL THEN '{{}}'::uuid[] ELSE
    ARRAY(SELECT m.tenant_id FROM sharing_alliance_members m
          WHERE m.member_tenant_id = app_tenant_id() AND m.state = 'active')
    || app_tenant_id() || '{SUBSCRIBERS}'::uuid END
$$;

-- A share in force lets the session's company see this object of `p_owner`.
CREATE OR REPLACE FUNCTION ah_may_see(p_owner uuid, p_kind text, p_object uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT app_tenant_id() IS NOT NULL AND EXISTS (
    SELECT 1 FROM sharing_shares s
    WHERE s.tenant_id = p_owner AND s.object_kind = p_kind
      AND (s.object_id = p_object OR s.object_id IS NULL)
      AND s.state = 'active' AND s.valid_from <= now()
      AND (s.valid_until IS NULL OR s.valid_until > now())
      AND s.grantee_key = ANY (ah_audiences()))
$$;

ALTER TABLE sharing_alliance_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE sharing_alliance_members FORCE ROW LEVEL SECURITY;
-- The alliance sees its members; a company sees (and answers) its own memberships.
CREATE POLICY read_alliance_or_member ON sharing_alliance_members FOR SELECT
  USING (tenant_id = app_tenant_id() OR member_tenant_id = app_tenant_id() OR app_is_system());
CREATE POLICY invite_by_alliance ON sharing_alliance_members FOR INSERT
  WITH CHECK (tenant_id = app_tenant_id() OR app_is_system());
CREATE POLICY answer_by_either ON sharing_alliance_members FOR UPDATE
  USING (tenant_id = app_tenant_id() OR member_tenant_id = app_tenant_id() OR app_is_system())
  WITH CHECK (tenant_id = app_tenant_id() OR member_tenant_id = app_tenant_id() OR app_is_system());
CREATE POLICY delete_by_alliance ON sharing_alliance_members FOR DELETE
  USING (tenant_id = app_tenant_id() OR app_is_system());

ALTER TABLE sharing_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE sharing_shares FORCE ROW LEVEL SECURITY;
-- The grantor sees and changes its shares; a grantee reads those in force addressed to it.
CREATE POLICY grantor ON sharing_shares USING (tenant_id = app_tenant_id() OR app_is_system())
  WITH CHECK (tenant_id = app_tenant_id() OR app_is_system());
CREATE POLICY grantee_reads ON sharing_shares FOR SELECT
  USING (app_tenant_id() IS NOT NULL AND state = 'active' AND grantee_key = ANY (ah_audiences()));

ALTER TABLE sharing_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE sharing_reads FORCE ROW LEVEL SECURITY;
-- The grantor reads its feed; the reader sees its own reads.
CREATE POLICY feed ON sharing_reads FOR SELECT
  USING (tenant_id = app_tenant_id() OR reader_tenant_id = app_tenant_id() OR app_is_system());
-- A read is recorded only by the reader, and only for an object the ledger lets it see.
CREATE POLICY record ON sharing_reads FOR INSERT
  WITH CHECK (reader_tenant_id = app_tenant_id() AND ah_may_see(tenant_id, object_kind, object_id));
""")


# ------------------------------------------------------------------ search documents

def _search() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "search_documents",
        sa.Column("index_name", sa.String(60), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_tenant_id", sa.UUID(), nullable=False),
        sa.Column("object_kind", sa.String(60), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("codes", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
        sa.Column("facets", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("audience", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("index_name", "id", name="pk_search_documents"),
    )
    op.create_index("ix_search_documents_owner", "search_documents", ["index_name", "owner_tenant_id"])
    op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")
    op.execute("CREATE INDEX ix_search_documents_codes ON search_documents USING gin (codes gin_trgm_ops)")
    op.execute("CREATE INDEX ix_search_documents_text ON search_documents USING gin (search_text gin_trgm_ops)")
    op.execute("CREATE INDEX ix_search_documents_facets ON search_documents USING gin (facets)")
    op.execute(f"""
GRANT SELECT, INSERT, UPDATE, DELETE ON search_documents TO {APP};
-- Enabled, not forced: the view below (owned by this migration's role) reads
-- through; the application role itself sees only its own documents, and the
-- relay (system scope) writes them.
ALTER TABLE search_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_or_relay ON search_documents
  USING (owner_tenant_id = app_tenant_id() OR app_is_system())
  WITH CHECK (owner_tenant_id = app_tenant_id() OR app_is_system());

CREATE VIEW search_visible_documents AS
SELECT d.* FROM search_documents d
WHERE d.owner_tenant_id = app_tenant_id()
   OR (app_tenant_id() IS NOT NULL AND EXISTS (
        SELECT 1 FROM sharing_shares s
        WHERE s.tenant_id = d.owner_tenant_id AND s.object_kind = d.object_kind
          AND (s.object_id = d.id OR s.object_id IS NULL)
          AND s.state = 'active' AND s.valid_from <= now()
          AND (s.valid_until IS NULL OR s.valid_until > now())
          AND s.grantee_key = ANY ((SELECT ah_audiences())::uuid[])));
GRANT SELECT ON search_visible_documents TO {APP};
""")


# ------------------------------------------------------------------ spares

SHARED_PART = "tenant_id = app_tenant_id() OR app_is_system() OR ah_may_see(tenant_id, 'spares.part', {id})"
PARTY = "tenant_id = app_tenant_id() OR requester_tenant_id = app_tenant_id() OR app_is_system()"


def _spares() -> None:
    op.add_column("sites", sa.Column("region", sa.String(80), nullable=True))
    op.add_column("sites", sa.Column("latitude", sa.Float(), nullable=True))
    op.add_column("sites", sa.Column("longitude", sa.Float(), nullable=True))

    money = sa.Numeric(14, 2)
    op.create_table(
        "spares_parts",
        _id(), _tenant(), *_timestamps(),
        sa.Column("site_id", sa.UUID(), nullable=True),
        sa.Column("part_number", sa.String(80), nullable=False),
        sa.Column("part_number_norm", sa.String(80), nullable=False),
        sa.Column("manufacturer", sa.String(120), nullable=True),
        sa.Column("manufacturer_part_number", sa.String(80), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(80), nullable=True),
        sa.Column("equipment_models", postgresql.ARRAY(sa.String(120)), nullable=False),
        sa.Column("dimensions", sa.String(200), nullable=True),
        sa.Column("condition", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(120), nullable=True),
        sa.Column("min_stock", sa.Integer(), nullable=False),
        sa.Column("unit_price", money, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        _fk("site_id", "sites", "spares_parts", "SET NULL"),
        sa.CheckConstraint("quantity >= 0", name="quantity"),
        sa.CheckConstraint("min_stock >= 0", name="min_stock"),
        sa.CheckConstraint("condition IN ('new', 'refurbished', 'used')", name="condition"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_parts"),
    )
    op.create_index("ix_spares_parts_tenant_id", "spares_parts", ["tenant_id"])
    op.create_index("ix_spares_parts_site_id", "spares_parts", ["site_id"])
    op.create_index("ix_spares_parts_tenant_norm", "spares_parts", ["tenant_id", "part_number_norm"])

    op.create_table(
        "spares_listings",
        sa.Column("id", sa.UUID(), nullable=False), _tenant(), *_timestamps(),
        sa.Column("shared_quantity", sa.Integer(), nullable=False),
        sa.Column("sale_price", money, nullable=True),
        sa.Column("exchange_fee", money, nullable=True),
        sa.Column("core_return_days", sa.Integer(), nullable=True),
        sa.Column("loan_daily_fee", money, nullable=True),
        sa.Column("loan_max_days", sa.Integer(), nullable=True),
        sa.Column("price_on_request", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("terms_note", sa.Text(), nullable=True),
        sa.Column("part_number", sa.String(80), nullable=False),
        sa.Column("part_number_norm", sa.String(80), nullable=False),
        sa.Column("manufacturer", sa.String(120), nullable=True),
        sa.Column("manufacturer_part_number", sa.String(80), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(80), nullable=True),
        sa.Column("equipment_models", postgresql.ARRAY(sa.String(120)), nullable=False),
        sa.Column("dimensions", sa.String(200), nullable=True),
        sa.Column("condition", sa.String(20), nullable=False),
        sa.Column("region", sa.String(80), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        _fk("id", "spares_parts", "spares_listings"),
        sa.CheckConstraint("shared_quantity >= 0", name="shared_quantity"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_listings"),
    )
    op.create_index("ix_spares_listings_tenant_id", "spares_listings", ["tenant_id"])
    op.create_index("ix_spares_listings_part_number_norm", "spares_listings", ["part_number_norm"])

    op.create_table(
        "spares_alternates",
        _id(), _tenant(), *_timestamps(),
        sa.Column("part_id", sa.UUID(), nullable=False),
        sa.Column("manufacturer", sa.String(120), nullable=True),
        sa.Column("part_number", sa.String(80), nullable=False),
        sa.Column("part_number_norm", sa.String(80), nullable=False),
        sa.Column("note", sa.String(300), nullable=True),
        _fk("part_id", "spares_parts", "spares_alternates"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_alternates"),
    )
    op.create_index("ix_spares_alternates_tenant_id", "spares_alternates", ["tenant_id"])
    op.create_index("ix_spares_alternates_part_id", "spares_alternates", ["part_id"])

    op.create_table(
        "spares_attachments",
        _id(), _tenant(), *_timestamps(),
        sa.Column("part_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("stored", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.UUID(), nullable=True),
        _fk("part_id", "spares_parts", "spares_attachments"),
        _fk("uploaded_by", "users", "spares_attachments", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_attachments"),
    )
    op.create_index("ix_spares_attachments_tenant_id", "spares_attachments", ["tenant_id"])
    op.create_index("ix_spares_attachments_part_id", "spares_attachments", ["part_id"])

    op.create_table(
        "spares_stock_moves",
        _id(), _tenant(),
        sa.Column("part_id", sa.UUID(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("quantity_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.String(300), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _fk("part_id", "spares_parts", "spares_stock_moves"),
        _fk("user_id", "users", "spares_stock_moves", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_stock_moves"),
    )
    op.create_index("ix_spares_stock_moves_tenant_id", "spares_stock_moves", ["tenant_id"])
    op.create_index("ix_spares_stock_moves_part_id", "spares_stock_moves", ["part_id"])
    op.create_index("ix_spares_stock_moves_request_id", "spares_stock_moves", ["request_id"])

    op.create_table(
        "spares_requests",
        _id(), _tenant(), *_timestamps(),
        sa.Column("requester_tenant_id", sa.UUID(), nullable=False),
        sa.Column("listing_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.String(30), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("part_label", sa.String(300), nullable=False),
        sa.Column("part_number", sa.String(80), nullable=False),
        sa.Column("manufacturer", sa.String(120), nullable=True),
        sa.Column("condition", sa.String(20), nullable=False),
        sa.Column("unit_price", money, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("core_return_days", sa.Integer(), nullable=True),
        sa.Column("loan_days", sa.Integer(), nullable=True),
        sa.Column("needed_by", sa.Date(), nullable=True),
        sa.Column("offer_price", money, nullable=True),
        sa.Column("offer_quantity", sa.Integer(), nullable=True),
        sa.Column("offer_alternate", sa.String(300), nullable=True),
        sa.Column("offer_note", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_due", sa.Date(), nullable=True),
        sa.Column("return_shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tracking", sa.String(120), nullable=True),
        sa.Column("return_tracking", sa.String(120), nullable=True),
        sa.Column("requester_part_id", sa.UUID(), nullable=True),
        sa.Column("settlement", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("requested_by", "users", "spares_requests", "SET NULL"),
        sa.CheckConstraint("quantity > 0", name="quantity"),
        sa.CheckConstraint("tenant_id <> requester_tenant_id", name="two_parties"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_requests"),
    )
    op.create_index("ix_spares_requests_tenant_id", "spares_requests", ["tenant_id"])
    op.create_index("ix_spares_requests_requester_tenant_id", "spares_requests", ["requester_tenant_id"])
    op.create_index("ix_spares_requests_listing_id", "spares_requests", ["listing_id"])
    op.create_index("ix_spares_requests_status", "spares_requests", ["status"])

    op.create_table(
        "spares_reservations",
        sa.Column("id", sa.UUID(), nullable=False), _tenant(),
        sa.Column("listing_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        _fk("id", "spares_requests", "spares_reservations"),
        _fk("listing_id", "spares_listings", "spares_reservations"),
        sa.CheckConstraint("quantity > 0", name="quantity"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_reservations"),
    )
    op.create_index("ix_spares_reservations_tenant_id", "spares_reservations", ["tenant_id"])
    op.create_index("ix_spares_reservations_listing_id", "spares_reservations", ["listing_id"])

    op.create_table(
        "spares_request_messages",
        _id(), _tenant(),
        sa.Column("requester_tenant_id", sa.UUID(), nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("author_tenant_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("event", sa.String(30), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _fk("request_id", "spares_requests", "spares_request_messages"),
        _fk("author_user_id", "users", "spares_request_messages", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_request_messages"),
    )
    op.create_index("ix_spares_request_messages_tenant_id", "spares_request_messages", ["tenant_id"])
    op.create_index("ix_spares_request_messages_requester_tenant_id", "spares_request_messages",
                    ["requester_tenant_id"])
    op.create_index("ix_spares_request_messages_request_id", "spares_request_messages", ["request_id"])

    op.create_table(
        "spares_ratings",
        _id(), _tenant(),
        sa.Column("requester_tenant_id", sa.UUID(), nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("rater_tenant_id", sa.UUID(), nullable=False),
        sa.Column("rated_tenant_id", sa.UUID(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _fk("request_id", "spares_requests", "spares_ratings"),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_ratings"),
        sa.UniqueConstraint("request_id", "rater_tenant_id", name="uq_spares_ratings_request_id"),
    )
    op.create_index("ix_spares_ratings_tenant_id", "spares_ratings", ["tenant_id"])
    op.create_index("ix_spares_ratings_requester_tenant_id", "spares_ratings", ["requester_tenant_id"])
    op.create_index("ix_spares_ratings_rated_tenant_id", "spares_ratings", ["rated_tenant_id"])

    op.create_table(
        "spares_holder_stats",
        _tenant(), *_timestamps(),
        sa.Column("median_first_reply_s", sa.Float(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("rating_avg", sa.Float(), nullable=True),
        sa.Column("ratings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_spares_holder_stats"),
    )

    op.create_table(
        "spares_notifications",
        _id(), _tenant(),
        sa.Column("request_id", sa.UUID(), nullable=True),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_spares_notifications"),
    )
    op.create_index("ix_spares_notifications_tenant_id", "spares_notifications", ["tenant_id"])
    op.create_index("ix_spares_notifications_request_id", "spares_notifications", ["request_id"])

    op.create_table(
        "spares_wanted",
        _id(), _tenant(), *_timestamps(),
        sa.Column("part_id", sa.UUID(), nullable=True),
        sa.Column("part_number", sa.String(80), nullable=False),
        sa.Column("part_number_norm", sa.String(80), nullable=False),
        sa.Column("manufacturer", sa.String(120), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("needed_by", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("region", sa.String(80), nullable=True),
        _fk("part_id", "spares_parts", "spares_wanted", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_spares_wanted"),
    )
    op.create_index("ix_spares_wanted_tenant_id", "spares_wanted", ["tenant_id"])
    op.create_index("ix_spares_wanted_part_number_norm", "spares_wanted", ["part_number_norm"])

    op.execute(rls.grant_tables(["spares_parts", "spares_listings", "spares_alternates", "spares_attachments",
                                 "spares_requests", "spares_reservations", "spares_request_messages",
                                 "spares_holder_stats", "spares_notifications", "spares_wanted"]))
    # Stock moves, messages and ratings are records: appended, never changed.
    for table in ("spares_stock_moves", "spares_request_messages", "spares_ratings"):
        op.execute(f"REVOKE ALL ON {table} FROM {APP}; GRANT SELECT, INSERT ON {table} TO {APP};")

    # The company's own tables.
    # The relay (system scope) reads parts to build their search documents.
    op.execute(rls.enable("spares_parts", extra_using="app_is_system()"))
    op.execute(rls.enable("spares_stock_moves"))
    op.execute(rls.enable("spares_notifications", extra_using="app_is_system()"))
    # Shared through the ledger: readable by those a share in force covers.
    op.execute(_policies("spares_listings", SHARED_PART.format(id="id")))
    op.execute(_policies("spares_alternates", SHARED_PART.format(id="part_id")))
    op.execute(_policies("spares_attachments", f"({SHARED_PART.format(id='part_id')}) AND "
                                               "(shared OR tenant_id = app_tenant_id() OR app_is_system())"))
    op.execute(_policies("spares_wanted", "tenant_id = app_tenant_id() OR app_is_system() "
                                          "OR ah_may_see(tenant_id, 'spares.wanted', id)"))
    # A request is the two parties' shared record. The requester opens it, and
    # only for a listing shared with it; either party changes it.
    op.execute(f"""
ALTER TABLE spares_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE spares_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY parties_read ON spares_requests FOR SELECT USING ({PARTY});
CREATE POLICY requester_opens ON spares_requests FOR INSERT
  WITH CHECK (app_is_system() OR (requester_tenant_id = app_tenant_id()
              AND ah_may_see(tenant_id, 'spares.part', listing_id)));
CREATE POLICY parties_change ON spares_requests FOR UPDATE USING ({PARTY}) WITH CHECK ({PARTY});
""")
    for table in ("spares_request_messages", "spares_ratings"):
        op.execute(f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY parties_read ON {table} FOR SELECT USING ({PARTY});
CREATE POLICY parties_write ON {table} FOR INSERT
  WITH CHECK (({PARTY}) AND EXISTS (SELECT 1 FROM spares_requests r WHERE r.id = request_id
              AND r.tenant_id = {table}.tenant_id AND r.requester_tenant_id = {table}.requester_tenant_id));
""")
    # Reservations: whoever sees the listing sees the sum; either party of the
    # request (found through the request's own policy) writes its row.
    party_of_request = ("EXISTS (SELECT 1 FROM spares_requests r WHERE r.id = spares_reservations.id "
                        "AND r.tenant_id = spares_reservations.tenant_id AND r.listing_id = spares_reservations.listing_id)")
    op.execute(f"""
ALTER TABLE spares_reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE spares_reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY listing_readers ON spares_reservations FOR SELECT
  USING (tenant_id = app_tenant_id() OR app_is_system() OR ah_may_see(tenant_id, 'spares.part', listing_id)
         OR {party_of_request});
CREATE POLICY parties_insert ON spares_reservations FOR INSERT WITH CHECK (app_is_system() OR {party_of_request});
CREATE POLICY parties_update ON spares_reservations FOR UPDATE
  USING (app_is_system() OR {party_of_request}) WITH CHECK (app_is_system() OR {party_of_request});
CREATE POLICY parties_delete ON spares_reservations FOR DELETE USING (app_is_system() OR {party_of_request});

ALTER TABLE spares_holder_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE spares_holder_stats FORCE ROW LEVEL SECURITY;
-- A holder's standing (reply time, rating) is shown on its listings to every company.
CREATE POLICY anyone_reads ON spares_holder_stats FOR SELECT USING (app_tenant_id() IS NOT NULL OR app_is_system());
CREATE POLICY relay_writes ON spares_holder_stats FOR INSERT WITH CHECK (app_is_system());
CREATE POLICY relay_updates ON spares_holder_stats FOR UPDATE USING (app_is_system()) WITH CHECK (app_is_system());
""")


def upgrade() -> None:
    _sharing()
    _search()
    _spares()


def downgrade() -> None:
    for table in ("spares_wanted", "spares_notifications", "spares_holder_stats", "spares_ratings",
                  "spares_request_messages", "spares_reservations", "spares_requests", "spares_stock_moves",
                  "spares_attachments", "spares_alternates", "spares_listings", "spares_parts"):
        op.drop_table(table)
    for column in ("longitude", "latitude", "region"):
        op.drop_column("sites", column)
    op.execute("DROP VIEW IF EXISTS search_visible_documents")
    op.drop_table("search_documents")
    op.execute("DROP FUNCTION IF EXISTS ah_may_see(uuid, text, uuid)")
    op.drop_table("sharing_reads")
    op.drop_table("sharing_shares")
    op.execute("DROP FUNCTION IF EXISTS ah_audiences()")
    op.drop_table("sharing_alliance_members")
