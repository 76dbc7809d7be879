"""billing: subscriptions, daily usage, Stripe event ids

Every existing company gets the plan a new one would get (Trial for plants,
Partner for the others), so nothing is left without a subscription.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:20:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alloyhub.platform import rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("plan_key", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscriptions")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_subscriptions_tenant_id")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_billing_subscriptions_stripe_customer_id")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_billing_subscriptions_stripe_subscription_id")),
    )
    op.create_index(op.f("ix_billing_subscriptions_tenant_id"), "billing_subscriptions", ["tenant_id"])
    op.create_table(
        "billing_usage_days",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_usage_days")),
        sa.UniqueConstraint("tenant_id", "day", "metric", name=op.f("uq_billing_usage_days_tenant_id")),
    )
    op.create_index(op.f("ix_billing_usage_days_tenant_id"), "billing_usage_days", ["tenant_id"])
    op.create_table(
        "billing_stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=120), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_stripe_events")),
    )
    op.execute(rls.grant_tables(["billing_subscriptions", "billing_usage_days", "billing_stripe_events"]))
    # Webhooks find the company by its Stripe ids, the operator pages and the
    # usage jobs work across companies: both in the system scope.
    op.execute(rls.enable("billing_subscriptions", extra_using="app_is_system()"))
    op.execute(rls.enable("billing_usage_days", extra_using="app_is_system()"))
    op.execute("""
INSERT INTO billing_subscriptions (id, tenant_id, plan_key, status, trial_ends_at, source)
SELECT gen_random_uuid(), t.id,
       CASE WHEN t.kind = 'plant' THEN 'trial' ELSE 'partner' END,
       CASE WHEN t.kind = 'plant' THEN 'trialing' ELSE 'active' END,
       CASE WHEN t.kind = 'plant' THEN now() + interval '30 days' END,
       'signup'
FROM tenants t
WHERE NOT EXISTS (SELECT 1 FROM billing_subscriptions s WHERE s.tenant_id = t.id);
""")


def downgrade() -> None:
    op.drop_table("billing_stripe_events")
    op.drop_index(op.f("ix_billing_usage_days_tenant_id"), table_name="billing_usage_days")
    op.drop_table("billing_usage_days")
    op.drop_index(op.f("ix_billing_subscriptions_tenant_id"), table_name="billing_subscriptions")
    op.drop_table("billing_subscriptions")
