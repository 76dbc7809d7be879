"""alarms: rules per tag, ISA-18.2 alarm state, alarm history, maintenance windows

Revision ID: 0005
Revises: 0004

The periodic check lists the tenants that have alarm rules in system
context (then works inside each tenant's scope), so `alarm_rules` admits
`app_is_system()` beside the tenant; the other tables are the tenant's alone.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alloyhub.platform import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ["alarm_rules", "alarms", "alarm_events", "alarm_maintenance_windows"]


def _common():
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
    ]


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "alarm_rules",
        *_common(), *_timestamps(),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("limit", sa.Float(), nullable=True),
        sa.Column("deadband", sa.Float(), nullable=False),
        sa.Column("on_delay_s", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_alarm_rules_agent_id_agents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_rules")),
    )
    op.create_index(op.f("ix_alarm_rules_tenant_id"), "alarm_rules", ["tenant_id"])
    op.create_index(op.f("ix_alarm_rules_agent_id"), "alarm_rules", ["agent_id"])

    op.create_table(
        "alarms",
        *_common(), *_timestamps(),
        sa.Column("rule_id", sa.UUID(), nullable=False),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("condition", sa.Boolean(), nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.UUID(), nullable=True),
        sa.Column("shelved_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shelved_reason", sa.Text(), nullable=True),
        sa.Column("shelved_by", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(["rule_id"], ["alarm_rules.id"], name=op.f("fk_alarms_rule_id_alarm_rules"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_alarms_agent_id_agents"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["acked_by"], ["users.id"], name=op.f("fk_alarms_acked_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["shelved_by"], ["users.id"], name=op.f("fk_alarms_shelved_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
        sa.UniqueConstraint("rule_id", name=op.f("uq_alarms_rule_id")),
    )
    op.create_index(op.f("ix_alarms_tenant_id"), "alarms", ["tenant_id"])
    op.create_index(op.f("ix_alarms_agent_id"), "alarms", ["agent_id"])
    op.create_index(op.f("ix_alarms_state"), "alarms", ["state"])

    op.create_table(
        "alarm_events",
        *_common(),
        sa.Column("alarm_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_events_alarm_id_alarms"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_alarm_events_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
    )
    op.create_index(op.f("ix_alarm_events_tenant_id"), "alarm_events", ["tenant_id"])
    op.create_index(op.f("ix_alarm_events_alarm_id"), "alarm_events", ["alarm_id"])
    op.create_index(op.f("ix_alarm_events_at"), "alarm_events", ["at"])

    op.create_table(
        "alarm_maintenance_windows",
        *_common(), *_timestamps(),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"],
                                name=op.f("fk_alarm_maintenance_windows_agent_id_agents"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_alarm_maintenance_windows_created_by_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_maintenance_windows")),
    )
    op.create_index(op.f("ix_alarm_maintenance_windows_tenant_id"), "alarm_maintenance_windows", ["tenant_id"])
    op.create_index(op.f("ix_alarm_maintenance_windows_agent_id"), "alarm_maintenance_windows", ["agent_id"])

    op.execute(rls.grant_tables(TABLES))
    op.execute(rls.enable("alarm_rules", extra_using="app_is_system()"))
    for table in ["alarms", "alarm_events", "alarm_maintenance_windows"]:
        op.execute(rls.enable(table))


def downgrade() -> None:
    for table in ["alarm_events", "alarm_maintenance_windows", "alarms", "alarm_rules"]:
        op.drop_table(table)
