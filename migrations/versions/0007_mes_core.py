"""mes core: equipment hierarchy and calendars, products with routings and
set-up rules, customers, customer orders with lines and history

Revision ID: 0007_mes_core
Revises: 0006
Create Date: 2026-11-23 11:29:34

Every table is tenant-owned and gets row-level security. The customer's
tracking link carries its company signed inside it, so even that public
page reads in the company's own scope: no table needs a system-context
exception.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from alloyhub.platform import rls

revision = "0007_mes_core"
# The lead relinks the chain when merging; the billing migration's id is "0006".
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = [
    "equipment_calendars", "equipment_shifts", "equipment_areas", "equipment_lines", "equipment_units",
    "equipment_downtimes", "equipment_unit_tags", "products", "routing_operations", "routing_operation_units",
    "setup_rules", "customers", "customer_orders", "order_lines", "order_history",
]


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('contact_name', sa.String(length=120), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('transit_days', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_customers_tenant_id'))
    )
    op.create_index(op.f('ix_customers_tenant_id'), 'customers', ['tenant_id'], unique=False)
    op.create_table('equipment_calendars',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('timezone', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_calendars')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_equipment_calendars_tenant_id'))
    )
    op.create_index(op.f('ix_equipment_calendars_tenant_id'), 'equipment_calendars', ['tenant_id'], unique=False)
    op.create_table('products',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('alloy', sa.String(length=20), nullable=False),
    sa.Column('alloy_family', sa.String(length=10), nullable=False),
    sa.Column('temper', sa.String(length=10), nullable=False),
    sa.Column('gauge_mm', sa.Float(), nullable=False),
    sa.Column('width_mm', sa.Float(), nullable=False),
    sa.Column('coil_weight_t', sa.Float(), nullable=False),
    sa.Column('gauge_tol_mm', sa.Float(), nullable=True),
    sa.Column('width_tol_mm', sa.Float(), nullable=True),
    sa.Column('weight_tol_pct', sa.Float(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_products_tenant_id'))
    )
    op.create_index(op.f('ix_products_tenant_id'), 'products', ['tenant_id'], unique=False)
    op.create_table('customer_orders',
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.UUID(), nullable=False),
    sa.Column('customer_po', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('tracking_nonce', sa.String(length=40), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_customer_orders_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_orders_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_orders')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_customer_orders_tenant_id'))
    )
    op.create_index(op.f('ix_customer_orders_customer_id'), 'customer_orders', ['customer_id'], unique=False)
    op.create_index(op.f('ix_customer_orders_status'), 'customer_orders', ['status'], unique=False)
    op.create_index(op.f('ix_customer_orders_tenant_id'), 'customer_orders', ['tenant_id'], unique=False)
    op.create_table('equipment_areas',
    sa.Column('site_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_equipment_areas_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_areas')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_equipment_areas_tenant_id'))
    )
    op.create_index(op.f('ix_equipment_areas_site_id'), 'equipment_areas', ['site_id'], unique=False)
    op.create_index(op.f('ix_equipment_areas_tenant_id'), 'equipment_areas', ['tenant_id'], unique=False)
    op.create_table('equipment_shifts',
    sa.Column('calendar_id', sa.UUID(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['equipment_calendars.id'], name=op.f('fk_equipment_shifts_calendar_id_equipment_calendars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_shifts'))
    )
    op.create_index(op.f('ix_equipment_shifts_calendar_id'), 'equipment_shifts', ['calendar_id'], unique=False)
    op.create_index(op.f('ix_equipment_shifts_tenant_id'), 'equipment_shifts', ['tenant_id'], unique=False)
    op.create_table('routing_operations',
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=True),
    sa.Column('rate', sa.Float(), nullable=True),
    sa.Column('rate_unit', sa.String(length=10), nullable=False),
    sa.Column('yield_pct', sa.Float(), nullable=False),
    sa.Column('out_gauge_mm', sa.Float(), nullable=True),
    sa.Column('out_width_mm', sa.Float(), nullable=True),
    sa.Column('anneal_recipe', sa.String(length=40), nullable=True),
    sa.Column('anneal_temp_c', sa.Float(), nullable=True),
    sa.Column('anneal_soak_h', sa.Float(), nullable=True),
    sa.Column('anneal_cycle_h', sa.Float(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_routing_operations_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_operations')),
    sa.UniqueConstraint('product_id', 'seq', name=op.f('uq_routing_operations_product_id'))
    )
    op.create_index(op.f('ix_routing_operations_product_id'), 'routing_operations', ['product_id'], unique=False)
    op.create_index(op.f('ix_routing_operations_tenant_id'), 'routing_operations', ['tenant_id'], unique=False)
    op.create_table('equipment_lines',
    sa.Column('area_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('calendar_id', sa.UUID(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['equipment_areas.id'], name=op.f('fk_equipment_lines_area_id_equipment_areas')),
    sa.ForeignKeyConstraint(['calendar_id'], ['equipment_calendars.id'], name=op.f('fk_equipment_lines_calendar_id_equipment_calendars'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_lines')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_equipment_lines_tenant_id'))
    )
    op.create_index(op.f('ix_equipment_lines_area_id'), 'equipment_lines', ['area_id'], unique=False)
    op.create_index(op.f('ix_equipment_lines_calendar_id'), 'equipment_lines', ['calendar_id'], unique=False)
    op.create_index(op.f('ix_equipment_lines_tenant_id'), 'equipment_lines', ['tenant_id'], unique=False)
    op.create_table('order_lines',
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('quantity_unit', sa.String(length=10), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['customer_orders.id'], name=op.f('fk_order_lines_order_id_customer_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('order_id', 'line_no', name=op.f('uq_order_lines_order_id'))
    )
    op.create_index(op.f('ix_order_lines_due_date'), 'order_lines', ['due_date'], unique=False)
    op.create_index(op.f('ix_order_lines_order_id'), 'order_lines', ['order_id'], unique=False)
    op.create_index(op.f('ix_order_lines_product_id'), 'order_lines', ['product_id'], unique=False)
    op.create_index(op.f('ix_order_lines_status'), 'order_lines', ['status'], unique=False)
    op.create_index(op.f('ix_order_lines_tenant_id'), 'order_lines', ['tenant_id'], unique=False)
    op.create_table('equipment_units',
    sa.Column('line_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('processes', postgresql.ARRAY(sa.String(length=20)), nullable=False),
    sa.Column('alloy_families', postgresql.ARRAY(sa.String(length=10)), nullable=False),
    sa.Column('min_width_mm', sa.Float(), nullable=True),
    sa.Column('max_width_mm', sa.Float(), nullable=True),
    sa.Column('min_gauge_mm', sa.Float(), nullable=True),
    sa.Column('max_gauge_mm', sa.Float(), nullable=True),
    sa.Column('batch_capacity_t', sa.Float(), nullable=True),
    sa.Column('batch_capacity_coils', sa.Integer(), nullable=True),
    sa.Column('calendar_id', sa.UUID(), nullable=True),
    sa.Column('setup_combine', sa.String(length=10), nullable=False),
    sa.Column('down_when_agent_offline', sa.Boolean(), nullable=False),
    sa.Column('down_on_alarm_priority', sa.String(length=20), nullable=True),
    sa.Column('stale_after_s', sa.Integer(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['equipment_calendars.id'], name=op.f('fk_equipment_units_calendar_id_equipment_calendars'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['line_id'], ['equipment_lines.id'], name=op.f('fk_equipment_units_line_id_equipment_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_units')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_equipment_units_tenant_id'))
    )
    op.create_index(op.f('ix_equipment_units_calendar_id'), 'equipment_units', ['calendar_id'], unique=False)
    op.create_index(op.f('ix_equipment_units_line_id'), 'equipment_units', ['line_id'], unique=False)
    op.create_index(op.f('ix_equipment_units_tenant_id'), 'equipment_units', ['tenant_id'], unique=False)
    op.create_table('order_history',
    sa.Column('order_id', sa.UUID(), nullable=False),
    sa.Column('line_id', sa.UUID(), nullable=True),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('changes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['order_lines.id'], name=op.f('fk_order_history_line_id_order_lines'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['customer_orders.id'], name=op.f('fk_order_history_order_id_customer_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_order_history_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_history'))
    )
    op.create_index(op.f('ix_order_history_at'), 'order_history', ['at'], unique=False)
    op.create_index(op.f('ix_order_history_order_id'), 'order_history', ['order_id'], unique=False)
    op.create_index(op.f('ix_order_history_tenant_id'), 'order_history', ['tenant_id'], unique=False)
    op.create_table('equipment_downtimes',
    sa.Column('unit_id', sa.UUID(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_equipment_downtimes_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['equipment_units.id'], name=op.f('fk_equipment_downtimes_unit_id_equipment_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_downtimes'))
    )
    op.create_index(op.f('ix_equipment_downtimes_tenant_id'), 'equipment_downtimes', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_equipment_downtimes_unit_id'), 'equipment_downtimes', ['unit_id'], unique=False)
    op.create_table('equipment_unit_tags',
    sa.Column('unit_id', sa.UUID(), nullable=False),
    sa.Column('agent_id', sa.UUID(), nullable=False),
    sa.Column('tag', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('running_above', sa.Float(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_equipment_unit_tags_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['equipment_units.id'], name=op.f('fk_equipment_unit_tags_unit_id_equipment_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_unit_tags')),
    sa.UniqueConstraint('unit_id', 'agent_id', 'tag', name=op.f('uq_equipment_unit_tags_unit_id'))
    )
    op.create_index(op.f('ix_equipment_unit_tags_agent_id'), 'equipment_unit_tags', ['agent_id'], unique=False)
    op.create_index(op.f('ix_equipment_unit_tags_tenant_id'), 'equipment_unit_tags', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_equipment_unit_tags_unit_id'), 'equipment_unit_tags', ['unit_id'], unique=False)
    op.create_table('routing_operation_units',
    sa.Column('operation_id', sa.UUID(), nullable=False),
    sa.Column('unit_id', sa.UUID(), nullable=False),
    sa.Column('rate', sa.Float(), nullable=True),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['operation_id'], ['routing_operations.id'], name=op.f('fk_routing_operation_units_operation_id_routing_operations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['equipment_units.id'], name=op.f('fk_routing_operation_units_unit_id_equipment_units')),
    sa.PrimaryKeyConstraint('operation_id', 'unit_id', name=op.f('pk_routing_operation_units'))
    )
    op.create_index(op.f('ix_routing_operation_units_tenant_id'), 'routing_operation_units', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_routing_operation_units_unit_id'), 'routing_operation_units', ['unit_id'], unique=False)
    op.create_table('setup_rules',
    sa.Column('unit_id', sa.UUID(), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('minutes', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('threshold_unit', sa.String(length=5), nullable=True),
    sa.Column('from_value', sa.String(length=20), nullable=True),
    sa.Column('to_value', sa.String(length=20), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['equipment_units.id'], name=op.f('fk_setup_rules_unit_id_equipment_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_setup_rules'))
    )
    op.create_index(op.f('ix_setup_rules_tenant_id'), 'setup_rules', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_setup_rules_unit_id'), 'setup_rules', ['unit_id'], unique=False)

    op.execute(rls.grant_tables(TABLES))
    for table in TABLES:
        op.execute(rls.enable(table))


def downgrade() -> None:
    op.drop_index(op.f('ix_setup_rules_unit_id'), table_name='setup_rules')
    op.drop_index(op.f('ix_setup_rules_tenant_id'), table_name='setup_rules')
    op.drop_table('setup_rules')
    op.drop_index(op.f('ix_routing_operation_units_unit_id'), table_name='routing_operation_units')
    op.drop_index(op.f('ix_routing_operation_units_tenant_id'), table_name='routing_operation_units')
    op.drop_table('routing_operation_units')
    op.drop_index(op.f('ix_equipment_unit_tags_unit_id'), table_name='equipment_unit_tags')
    op.drop_index(op.f('ix_equipment_unit_tags_tenant_id'), table_name='equipment_unit_tags')
    op.drop_index(op.f('ix_equipment_unit_tags_agent_id'), table_name='equipment_unit_tags')
    op.drop_table('equipment_unit_tags')
    op.drop_index(op.f('ix_equipment_downtimes_unit_id'), table_name='equipment_downtimes')
    op.drop_index(op.f('ix_equipment_downtimes_tenant_id'), table_name='equipment_downtimes')
    op.drop_table('equipment_downtimes')
    op.drop_index(op.f('ix_order_history_tenant_id'), table_name='order_history')
    op.drop_index(op.f('ix_order_history_order_id'), table_name='order_history')
    op.drop_index(op.f('ix_order_history_at'), table_name='order_history')
    op.drop_table('order_history')
    op.drop_index(op.f('ix_equipment_units_tenant_id'), table_name='equipment_units')
    op.drop_index(op.f('ix_equipment_units_line_id'), table_name='equipment_units')
    op.drop_index(op.f('ix_equipment_units_calendar_id'), table_name='equipment_units')
    op.drop_table('equipment_units')
    op.drop_index(op.f('ix_order_lines_tenant_id'), table_name='order_lines')
    op.drop_index(op.f('ix_order_lines_status'), table_name='order_lines')
    op.drop_index(op.f('ix_order_lines_product_id'), table_name='order_lines')
    op.drop_index(op.f('ix_order_lines_order_id'), table_name='order_lines')
    op.drop_index(op.f('ix_order_lines_due_date'), table_name='order_lines')
    op.drop_table('order_lines')
    op.drop_index(op.f('ix_equipment_lines_tenant_id'), table_name='equipment_lines')
    op.drop_index(op.f('ix_equipment_lines_calendar_id'), table_name='equipment_lines')
    op.drop_index(op.f('ix_equipment_lines_area_id'), table_name='equipment_lines')
    op.drop_table('equipment_lines')
    op.drop_index(op.f('ix_routing_operations_tenant_id'), table_name='routing_operations')
    op.drop_index(op.f('ix_routing_operations_product_id'), table_name='routing_operations')
    op.drop_table('routing_operations')
    op.drop_index(op.f('ix_equipment_shifts_tenant_id'), table_name='equipment_shifts')
    op.drop_index(op.f('ix_equipment_shifts_calendar_id'), table_name='equipment_shifts')
    op.drop_table('equipment_shifts')
    op.drop_index(op.f('ix_equipment_areas_tenant_id'), table_name='equipment_areas')
    op.drop_index(op.f('ix_equipment_areas_site_id'), table_name='equipment_areas')
    op.drop_table('equipment_areas')
    op.drop_index(op.f('ix_customer_orders_tenant_id'), table_name='customer_orders')
    op.drop_index(op.f('ix_customer_orders_status'), table_name='customer_orders')
    op.drop_index(op.f('ix_customer_orders_customer_id'), table_name='customer_orders')
    op.drop_table('customer_orders')
    op.drop_index(op.f('ix_products_tenant_id'), table_name='products')
    op.drop_table('products')
    op.drop_index(op.f('ix_equipment_calendars_tenant_id'), table_name='equipment_calendars')
    op.drop_table('equipment_calendars')
    op.drop_index(op.f('ix_customers_tenant_id'), table_name='customers')
    op.drop_table('customers')
