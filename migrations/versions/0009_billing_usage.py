"""billing usage and plan pins: expert-time records, per-tenant telemetry counters, pinned overrides

- billing_subscriptions: `stripe_plan_key` (the plan Stripe's subscription is
  for) and the operator's pin (`plan_pinned_at/_by`, `plan_pin_reason`). A
  plan the operator set before pins existed is pinned now: that is what the
  operator meant, and the next Stripe event would otherwise replace it.
- billing_usage_events: metered uses recorded by other rooms (expert time),
  once per (tenant, metric, ref).
- telemetry_usage_stored: per tenant and day *of the points' timestamps*, the
  points, minute-rollup rows and hour-rollup rows stored; kept by the ingest
  in the transaction that stores the points and by the retention that
  deletes them. It is how the storage meter counts a tenant's telemetry
  without counting the big tables, and how retention finds the days it has
  to clean for a tenant.
- telemetry_usage_received: per tenant and day *the ingest stored them*, the
  points stored: the metered "telemetry points stored per day", final once
  the day is over even when a backlog of older points arrives later.

Both counters are filled from the data already stored.

Revision ID: 0009_billing_usage
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

from alloyhub.platform import rls

revision = "0009_billing_usage"
down_revision = "0008_inventory"
branch_labels = None
depends_on = None

TELEMETRY_COUNTERS = ["telemetry_usage_stored", "telemetry_usage_received"]


def upgrade() -> None:
    op.add_column("billing_subscriptions", sa.Column("stripe_plan_key", sa.String(length=40), nullable=True))
    op.add_column("billing_subscriptions", sa.Column("plan_pinned_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("billing_subscriptions", sa.Column("plan_pinned_by", sa.UUID(), nullable=True))
    op.add_column("billing_subscriptions", sa.Column("plan_pin_reason", sa.String(length=500), nullable=True))
    op.create_table(
        "billing_usage_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_events")),
        sa.UniqueConstraint("tenant_id", "metric", "ref", name=op.f("uq_billing_usage_events_tenant_id")),
    )
    op.create_index(op.f("ix_billing_usage_events_tenant_id"), "billing_usage_events", ["tenant_id"])
    op.execute("""
CREATE TABLE telemetry_usage_stored (
    tenant_id uuid NOT NULL,
    day date NOT NULL,
    points bigint NOT NULL DEFAULT 0,
    minute_rows bigint NOT NULL DEFAULT 0,
    hour_rows bigint NOT NULL DEFAULT 0,
    CONSTRAINT pk_telemetry_usage_stored PRIMARY KEY (tenant_id, day)
);
CREATE TABLE telemetry_usage_received (
    tenant_id uuid NOT NULL,
    day date NOT NULL,
    points bigint NOT NULL DEFAULT 0,
    CONSTRAINT pk_telemetry_usage_received PRIMARY KEY (tenant_id, day)
);
""")
    op.execute(rls.grant_tables(["billing_usage_events", *TELEMETRY_COUNTERS]))
    # Recorded by other rooms on a company's behalf and read by the usage
    # jobs across companies: the system scope too, like billing_usage_days.
    op.execute(rls.enable("billing_usage_events", extra_using="app_is_system()"))
    for table in TELEMETRY_COUNTERS:  # the ingest and the maintenance write across tenants
        op.execute(rls.enable(table, extra_using="app_is_system()"))
    op.execute("SELECT set_config('app.system', 'on', true)")  # FORCEd RLS applies to the owner too
    op.execute("""
UPDATE billing_subscriptions
SET plan_pinned_at = updated_at, plan_pin_reason = 'Set by the operator before plans could be pinned'
WHERE source = 'operator';

INSERT INTO telemetry_usage_stored (tenant_id, day, points)
SELECT tenant_id, (ts AT TIME ZONE 'UTC')::date, count(*) FROM telemetry_points GROUP BY 1, 2;

INSERT INTO telemetry_usage_stored (tenant_id, day, minute_rows)
SELECT tenant_id, (bucket AT TIME ZONE 'UTC')::date, count(*) FROM telemetry_rollup_minute GROUP BY 1, 2
ON CONFLICT (tenant_id, day) DO UPDATE SET minute_rows = excluded.minute_rows;

INSERT INTO telemetry_usage_stored (tenant_id, day, hour_rows)
SELECT tenant_id, (bucket AT TIME ZONE 'UTC')::date, count(*) FROM telemetry_rollup_hour GROUP BY 1, 2
ON CONFLICT (tenant_id, day) DO UPDATE SET hour_rows = excluded.hour_rows;

-- The day points were received is not recorded for the past: the hour
-- rollups' day (the points' own day) is the nearest there is.
INSERT INTO telemetry_usage_received (tenant_id, day, points)
SELECT tenant_id, (bucket AT TIME ZONE 'UTC')::date, sum(n) FROM telemetry_rollup_hour GROUP BY 1, 2;
""")


def downgrade() -> None:
    for table in reversed(TELEMETRY_COUNTERS):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.drop_index(op.f("ix_billing_usage_events_tenant_id"), table_name="billing_usage_events")
    op.drop_table("billing_usage_events")
    for column in ("plan_pin_reason", "plan_pinned_by", "plan_pinned_at", "stripe_plan_key"):
        op.drop_column("billing_subscriptions", column)
