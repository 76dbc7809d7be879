"""remote_service: expert profiles, service requests and everything both parties share

Revision ID: 0013_remote_service
Revises: 0012_scheduling

Access grants are shares of the consent ledger (kind `remote_service.grant`,
migration 0010), so there is no grant table here.

A request and its child rows (messages, files, annotations, commands,
ratings) carry the plant (`tenant_id`) and the expert firm
(`expert_tenant_id`); both parties read and write them ("PARTY"). A request
posted to the directory is readable by any signed-in company while it is
open, and one of them may take it (the update's WITH CHECK then demands the
taker write itself in as the expert). Published expert profiles are the
directory: readable by any signed-in company; ratings of a profile are its
public reviews.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alloyhub.platform import rls

revision = "0013_remote_service"
down_revision = "0012_scheduling"
branch_labels = None
depends_on = None

APP = rls.APP_DB_ROLE
PARTY = "tenant_id = app_tenant_id() OR expert_tenant_id = app_tenant_id() OR app_is_system()"
SIGNED_IN = "app_tenant_id() IS NOT NULL"
CHILD_TABLES = ["remote_messages", "remote_files", "remote_annotations", "remote_commands", "remote_ratings"]


def _id():
    return sa.Column("id", sa.UUID(), nullable=False)


def _party():
    return [sa.Column("tenant_id", sa.UUID(), nullable=False), sa.Column("expert_tenant_id", sa.UUID(), nullable=True)]


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _at():
    return sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def _request_fk(table):
    return sa.ForeignKeyConstraint(["request_id"], ["remote_requests.id"], name=f"fk_{table}_request_id",
                                   ondelete="CASCADE")


def _indexes(table):
    op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    op.create_index(f"ix_{table}_expert_tenant_id", table, ["expert_tenant_id"])
    op.create_index(f"ix_{table}_request_id", table, ["request_id"])


def upgrade() -> None:
    op.create_table(
        "remote_expert_profiles",
        _id(), sa.Column("tenant_id", sa.UUID(), nullable=False), *_timestamps(),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(160), nullable=False),
        sa.Column("headline", sa.String(300), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("equipment_types", postgresql.ARRAY(sa.String(40)), nullable=False),
        sa.Column("processes", postgresql.ARRAY(sa.String(40)), nullable=False),
        sa.Column("brands", postgresql.ARRAY(sa.String(80)), nullable=False),
        sa.Column("languages", postgresql.ARRAY(sa.String(10)), nullable=False),
        sa.Column("hourly_rate", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("availability", sa.String(20), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_remote_expert_profiles_user_id_users",
                                ondelete="SET NULL"),
        sa.CheckConstraint("availability IN ('available', 'busy', 'away')", name="availability"),
        sa.CheckConstraint("hourly_rate IS NULL OR hourly_rate >= 0", name="hourly_rate"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_expert_profiles"),
    )
    op.create_index("ix_remote_expert_profiles_tenant_id", "remote_expert_profiles", ["tenant_id"])

    op.create_table(
        "remote_requests",
        _id(), *_party(), *_timestamps(),
        sa.Column("profile_id", sa.UUID(), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("symptoms", sa.Text(), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("unit_code", sa.String(40), nullable=False),
        sa.Column("unit_name", sa.String(160), nullable=False),
        sa.Column("unit_kind", sa.String(30), nullable=False),
        sa.Column("alarm_id", sa.UUID(), nullable=True),
        sa.Column("alarm_label", sa.String(300), nullable=True),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("time_ranges", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("audience", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("actions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("hours", sa.Numeric(8, 2), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report_attachment_id", sa.UUID(), nullable=True),
        sa.Column("billing", sa.String(20), nullable=True),
        sa.Column("billed_minutes", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["profile_id"], ["remote_expert_profiles.id"],
                                name="fk_remote_requests_profile_id", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name="fk_remote_requests_created_by_users",
                                ondelete="SET NULL"),
        sa.CheckConstraint("state IN ('open', 'invited', 'accepted', 'resolved', 'closed', 'declined', "
                           "'cancelled')", name="state"),
        sa.CheckConstraint("urgency IN ('low', 'normal', 'high', 'critical')", name="urgency"),
        sa.CheckConstraint("audience IN ('invite', 'directory')", name="audience"),
        sa.CheckConstraint("hours IS NULL OR hours >= 0", name="hours"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_requests"),
    )
    op.create_index("ix_remote_requests_tenant_id", "remote_requests", ["tenant_id"])
    op.create_index("ix_remote_requests_expert_tenant_id", "remote_requests", ["expert_tenant_id"])
    op.create_index("ix_remote_requests_profile_id", "remote_requests", ["profile_id"])
    op.create_index("ix_remote_requests_directory", "remote_requests", ["created_at"],
                    postgresql_where=sa.text("state = 'open' AND audience = 'directory'"))

    op.create_table(
        "remote_messages",
        _id(), *_party(), _at(),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("author_tenant_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        _request_fk("remote_messages"),
        sa.ForeignKeyConstraint(["parent_id"], ["remote_messages.id"], name="fk_remote_messages_parent_id",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_messages"),
    )
    op.create_table(
        "remote_files",
        _id(), *_party(), _at(),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(400), nullable=False),
        sa.Column("uploaded_by_tenant_id", sa.UUID(), nullable=False),
        sa.Column("uploaded_by", sa.UUID(), nullable=True),
        _request_fk("remote_files"),
        sa.CheckConstraint("kind IN ('file', 'report')", name="kind"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_files"),
    )
    op.create_table(
        "remote_annotations",
        _id(), *_party(), _at(),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("ts_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ts_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_tenant_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        _request_fk("remote_annotations"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_annotations"),
    )
    op.create_table(
        "remote_commands",
        _id(), *_party(), *_timestamps(),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("share_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("agent_command_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("proposed_by", sa.UUID(), nullable=True),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        _request_fk("remote_commands"),
        sa.UniqueConstraint("agent_command_id", name="uq_remote_commands_agent_command_id"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_commands"),
    )
    op.create_table(
        "remote_ratings",
        _id(), *_party(), _at(),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("rater_tenant_id", sa.UUID(), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        _request_fk("remote_ratings"),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="score"),
        sa.UniqueConstraint("request_id", "rater_tenant_id", name="uq_remote_ratings_request_id"),
        sa.PrimaryKeyConstraint("id", name="pk_remote_ratings"),
    )
    op.create_index("ix_remote_ratings_profile_id", "remote_ratings", ["profile_id"])
    for table in CHILD_TABLES:
        _indexes(table)

    op.execute(rls.grant_tables(["remote_expert_profiles", "remote_requests", "remote_commands"]))
    # The conversation, files, annotations and ratings are append-only for the application.
    others = ", ".join(t for t in CHILD_TABLES if t != "remote_commands")
    op.execute(f"REVOKE ALL ON {others} FROM {APP}; GRANT SELECT, INSERT ON {others} TO {APP};")
    op.execute(f"GRANT DELETE ON remote_files TO {APP};")
    # A request's rows follow it to the firm engaged (invitation, directory): only that column changes.
    op.execute(f"GRANT UPDATE (expert_tenant_id) ON remote_messages, remote_files, remote_annotations TO {APP};")

    op.execute(f"""
ALTER TABLE remote_expert_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE remote_expert_profiles FORCE ROW LEVEL SECURITY;
CREATE POLICY own_or_directory ON remote_expert_profiles FOR SELECT
  USING (tenant_id = app_tenant_id() OR app_is_system() OR (published AND {SIGNED_IN}));
CREATE POLICY write_own ON remote_expert_profiles
  USING (tenant_id = app_tenant_id() OR app_is_system())
  WITH CHECK (tenant_id = app_tenant_id() OR app_is_system());

ALTER TABLE remote_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE remote_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY parties_or_directory ON remote_requests FOR SELECT
  USING ({PARTY} OR (state = 'open' AND audience = 'directory' AND {SIGNED_IN}));
CREATE POLICY open_by_plant ON remote_requests FOR INSERT WITH CHECK (tenant_id = app_tenant_id() OR app_is_system());
CREATE POLICY act_by_parties ON remote_requests FOR UPDATE
  USING ({PARTY} OR (state = 'open' AND audience = 'directory' AND {SIGNED_IN}))
  WITH CHECK ({PARTY});
CREATE POLICY delete_by_plant ON remote_requests FOR DELETE USING (tenant_id = app_tenant_id() OR app_is_system());
""")
    for table in CHILD_TABLES:
        read = PARTY + (f" OR (profile_id IS NOT NULL AND {SIGNED_IN})" if table == "remote_ratings" else "")
        op.execute(f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
CREATE POLICY read_parties ON {table} FOR SELECT USING ({read});
CREATE POLICY write_parties ON {table} FOR INSERT WITH CHECK ({PARTY});
CREATE POLICY update_parties ON {table} FOR UPDATE USING ({PARTY}) WITH CHECK ({PARTY});
CREATE POLICY delete_parties ON {table} FOR DELETE USING ({PARTY});
""")


def downgrade() -> None:
    for table in ["remote_ratings", "remote_commands", "remote_annotations", "remote_files", "remote_messages",
                  "remote_requests", "remote_expert_profiles"]:
        op.drop_table(table)
