"""scheduling: schedule versions, their scheduled operations and unit disruptions

A version is one solver run over the committed order lines (objective,
time limit, locks and down windows asked for, progress, KPIs, explanation);
its operations are the placements (order line, routing step, unit, start,
end, set-up before, furnace load, locked). A partial unique index keeps one
published version per company. Disruptions are units down for a window (an
alarm or the planner). All three tables are tenant-owned with row-level
security.

Revision ID: 0012_scheduling
Revises: 0011_production
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alloyhub.platform import rls

revision = "0012_scheduling"
down_revision = "0011_production"
branch_labels = None
depends_on = None

TABLES = ["sched_versions", "sched_operations", "sched_disruptions"]


def _base():
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
    ]


def _stamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sched_versions",
        *_base(), *_stamps(),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("objective", sa.String(length=30), nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("time_limit_s", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("plan_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("kpis", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("explanation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.UUID(), nullable=True),
        sa.CheckConstraint("time_limit_s >= 1 AND time_limit_s <= 600", name=op.f("ck_sched_versions_time_limit")),
        sa.CheckConstraint("status IN ('draft', 'solving', 'solved', 'failed', 'published', 'superseded')",
                           name=op.f("ck_sched_versions_status")),
        sa.ForeignKeyConstraint(["parent_id"], ["sched_versions.id"], name=op.f("fk_sched_versions_parent_id_sched_versions"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_sched_versions_created_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["published_by"], ["users.id"], name=op.f("fk_sched_versions_published_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sched_versions")),
    )
    op.create_index(op.f("ix_sched_versions_tenant_id"), "sched_versions", ["tenant_id"])
    op.create_index(op.f("ix_sched_versions_status"), "sched_versions", ["status"])
    op.create_index("uq_sched_versions_number", "sched_versions", ["tenant_id", "number"], unique=True)
    op.create_index("uq_sched_versions_published", "sched_versions", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("status = 'published'"))

    op.create_table(
        "sched_operations",
        *_base(),
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("order_line_id", sa.UUID(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=60), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("setup_minutes", sa.Integer(), nullable=False),
        sa.Column("batch_key", sa.String(length=80), nullable=True),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("input_kg", sa.Float(), nullable=False),
        sa.Column("output_kg", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("alloy_family", sa.String(length=10), nullable=True),
        sa.Column("eligible", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint('"end" >= start', name=op.f("ck_sched_operations_order")),
        sa.ForeignKeyConstraint(["version_id"], ["sched_versions.id"],
                                name=op.f("fk_sched_operations_version_id_sched_versions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["order_line_id"], ["order_lines.id"],
                                name=op.f("fk_sched_operations_order_line_id_order_lines"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["equipment_units.id"],
                                name=op.f("fk_sched_operations_unit_id_equipment_units"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sched_operations")),
    )
    op.create_index(op.f("ix_sched_operations_tenant_id"), "sched_operations", ["tenant_id"])
    op.create_index(op.f("ix_sched_operations_version_id"), "sched_operations", ["version_id"])
    op.create_index(op.f("ix_sched_operations_order_line_id"), "sched_operations", ["order_line_id"])
    op.create_index(op.f("ix_sched_operations_unit_id"), "sched_operations", ["unit_id"])
    op.create_index("uq_sched_operations_line_step", "sched_operations", ["version_id", "order_line_id", "step"],
                    unique=True)

    op.create_table(
        "sched_disruptions",
        *_base(), *_stamps(),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("alarm_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version_id", sa.UUID(), nullable=True),
        sa.Column("resolved_by_version_id", sa.UUID(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_sched_disruptions_window")),
        sa.CheckConstraint("status IN ('open', 'rescheduled', 'dismissed')", name=op.f("ck_sched_disruptions_status")),
        sa.ForeignKeyConstraint(["unit_id"], ["equipment_units.id"],
                                name=op.f("fk_sched_disruptions_unit_id_equipment_units"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_sched_disruptions_alarm_id_alarms"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["version_id"], ["sched_versions.id"],
                                name=op.f("fk_sched_disruptions_version_id_sched_versions"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["resolved_by_version_id"], ["sched_versions.id"],
                                name=op.f("fk_sched_disruptions_resolved_by_version_id_sched_versions"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_sched_disruptions_created_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sched_disruptions")),
    )
    op.create_index(op.f("ix_sched_disruptions_tenant_id"), "sched_disruptions", ["tenant_id"])
    op.create_index(op.f("ix_sched_disruptions_unit_id"), "sched_disruptions", ["unit_id"])
    op.create_index(op.f("ix_sched_disruptions_alarm_id"), "sched_disruptions", ["alarm_id"])
    op.create_index(op.f("ix_sched_disruptions_status"), "sched_disruptions", ["status"])

    op.execute(rls.grant_tables(TABLES))
    for table in TABLES:
        op.execute(rls.enable(table))


def downgrade() -> None:
    for table in ("sched_disruptions", "sched_operations", "sched_versions"):
        op.drop_table(table)
