"""production: work orders per published operation and their pauses

A work order belongs to an order line (one operation of its product's
routing, `step`) and runs on an equipment unit; `schedule_id` names the
schedule version that published it, a plain UUID because the schedule
versions' table comes with the scheduling migration (0012). Partial unique
indexes back up two rules of the service: one live work order per line
and step, and one started work order per unit. Both tables are
tenant-owned with row-level security.

Revision ID: 0011_production
Revises: 0010_sharing_spares
"""
from alembic import op
import sqlalchemy as sa

from alloyhub.platform import rls

revision = "0011_production"
down_revision = "0010_sharing_spares"
branch_labels = None
depends_on = None

TABLES = ["production_work_orders", "production_pauses"]


def upgrade() -> None:
    op.create_table(
        "production_work_orders",
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("schedule_id", sa.UUID(), nullable=False),
        sa.Column("order_line_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=60), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_input_kg", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
        sa.Column("planned_output_kg", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
        sa.Column("batch_key", sa.String(length=80), nullable=True),
        sa.Column("actual_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actual_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("input_kg", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
        sa.Column("output_kg", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
        sa.Column("scrap_kg", sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
        sa.Column("started_by", sa.UUID(), nullable=True),
        sa.Column("finished_by", sa.UUID(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("status IN ('released', 'started', 'paused', 'finished', 'cancelled')",
                           name=op.f("ck_production_work_orders_status")),
        sa.CheckConstraint("step >= 0", name=op.f("ck_production_work_orders_step")),
        sa.CheckConstraint("planned_end >= planned_start", name=op.f("ck_production_work_orders_planned_order")),
        sa.CheckConstraint("planned_input_kg >= 0 AND planned_output_kg >= 0",
                           name=op.f("ck_production_work_orders_planned_kg")),
        sa.CheckConstraint("input_kg >= 0 AND output_kg >= 0 AND scrap_kg >= 0",
                           name=op.f("ck_production_work_orders_actual_kg")),
        sa.ForeignKeyConstraint(["order_line_id"], ["order_lines.id"],
                                name=op.f("fk_production_work_orders_order_line_id_order_lines"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_production_work_orders_product_id_products"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["unit_id"], ["equipment_units.id"],
                                name=op.f("fk_production_work_orders_unit_id_equipment_units"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["started_by"], ["users.id"],
                                name=op.f("fk_production_work_orders_started_by_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["finished_by"], ["users.id"],
                                name=op.f("fk_production_work_orders_finished_by_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_work_orders")),
    )
    op.create_index(op.f("ix_production_work_orders_tenant_id"), "production_work_orders", ["tenant_id"])
    op.create_index(op.f("ix_production_work_orders_schedule_id"), "production_work_orders", ["schedule_id"])
    op.create_index(op.f("ix_production_work_orders_order_line_id"), "production_work_orders", ["order_line_id"])
    op.create_index(op.f("ix_production_work_orders_product_id"), "production_work_orders", ["product_id"])
    op.create_index(op.f("ix_production_work_orders_unit_id"), "production_work_orders", ["unit_id"])
    op.create_index(op.f("ix_production_work_orders_status"), "production_work_orders", ["status"])
    op.create_index("ix_production_work_orders_unit_planned", "production_work_orders", ["unit_id", "planned_start"])
    op.create_index("uq_production_work_orders_number", "production_work_orders", ["tenant_id", "number"],
                    unique=True)
    op.create_index("uq_production_work_orders_line_step", "production_work_orders", ["order_line_id", "step"],
                    unique=True, postgresql_where=sa.text("status <> 'cancelled'"))
    op.create_index("uq_production_work_orders_unit_started", "production_work_orders", ["unit_id"],
                    unique=True, postgresql_where=sa.text("status = 'started'"))

    op.create_table(
        "production_pauses",
        sa.Column("work_order_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.UUID(), nullable=True),
        sa.Column("resumed_by", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("resumed_at IS NULL OR resumed_at >= paused_at", name=op.f("ck_production_pauses_order")),
        sa.ForeignKeyConstraint(["work_order_id"], ["production_work_orders.id"],
                                name=op.f("fk_production_pauses_work_order_id_production_work_orders"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paused_by"], ["users.id"], name=op.f("fk_production_pauses_paused_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["resumed_by"], ["users.id"], name=op.f("fk_production_pauses_resumed_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_pauses")),
    )
    op.create_index(op.f("ix_production_pauses_tenant_id"), "production_pauses", ["tenant_id"])
    op.create_index(op.f("ix_production_pauses_work_order_id"), "production_pauses", ["work_order_id"])
    op.create_index("uq_production_pauses_open", "production_pauses", ["work_order_id"], unique=True,
                    postgresql_where=sa.text("resumed_at IS NULL"))

    op.execute(rls.grant_tables(TABLES))
    for table in TABLES:
        op.execute(rls.enable(table))


def downgrade() -> None:
    op.drop_table("production_pauses")
    op.drop_table("production_work_orders")
