"""inventory: warehouses and locations, heats, lots and coils, the move
ledger, reservations, shipments, production steps, scrap and genealogy

Ids of objects in other rooms (product_id, order_line_id, unit_id of an
equipment unit, work_order_id, order_id) are plain nullable UUID columns:
the tables of products, orders, equipment and work orders come from other
migrations, and the integration adds the foreign keys to them.

inv_moves, inv_genealogy_links, inv_production_events and inv_scrap are
append-only for the application role (SELECT and INSERT only), like the
audit log. Every table is tenant-owned with row-level security.

Revision ID: 0008_inventory
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alloyhub.platform import rls

revision = "0008_inventory"
down_revision = "0007_mes_core"
branch_labels = None
depends_on = None

MUTABLE_TABLES = ["inv_warehouses", "inv_locations", "inv_heats", "inv_lots", "inv_shipments", "inv_coils",
                  "inv_shipment_items", "inv_reservations"]
APPEND_ONLY_TABLES = ["inv_moves", "inv_genealogy_links", "inv_production_events", "inv_scrap"]


def upgrade() -> None:
    op.create_table('inv_heats',
    sa.Column('heat_no', sa.String(length=60), nullable=False),
    sa.Column('alloy', sa.String(length=20), nullable=False),
    sa.Column('chemistry', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('cast_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=True),
    sa.Column('site_id', sa.UUID(), nullable=True),
    sa.Column('unit_id', sa.UUID(), nullable=True),
    sa.Column('supplier', sa.String(length=200), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint('weight_kg IS NULL OR weight_kg >= 0', name=op.f('ck_inv_heats_weight')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_inv_heats_site_id_sites'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_heats')),
    sa.UniqueConstraint('tenant_id', 'heat_no', name='uq_inv_heats_heat_no')
    )
    op.create_index(op.f('ix_inv_heats_tenant_id'), 'inv_heats', ['tenant_id'], unique=False)
    op.create_table('inv_production_events',
    sa.Column('operation', sa.String(length=60), nullable=False),
    sa.Column('unit_id', sa.UUID(), nullable=True),
    sa.Column('work_order_id', sa.UUID(), nullable=True),
    sa.Column('order_line_id', sa.UUID(), nullable=True),
    sa.Column('product_id', sa.UUID(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('input_weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('output_weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('scrap_weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('outputs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inv_production_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_production_events'))
    )
    op.create_index(op.f('ix_inv_production_events_at'), 'inv_production_events', ['at'], unique=False)
    op.create_index(op.f('ix_inv_production_events_operation'), 'inv_production_events', ['operation'], unique=False)
    op.create_index(op.f('ix_inv_production_events_order_line_id'), 'inv_production_events', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_inv_production_events_product_id'), 'inv_production_events', ['product_id'], unique=False)
    op.create_index(op.f('ix_inv_production_events_tenant_id'), 'inv_production_events', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_inv_production_events_unit_id'), 'inv_production_events', ['unit_id'], unique=False)
    op.create_index(op.f('ix_inv_production_events_work_order_id'), 'inv_production_events', ['work_order_id'], unique=False)
    op.create_table('inv_warehouses',
    sa.Column('site_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_inv_warehouses_site_id_sites'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_warehouses')),
    sa.UniqueConstraint('tenant_id', 'code', name='uq_inv_warehouses_code')
    )
    op.create_index(op.f('ix_inv_warehouses_site_id'), 'inv_warehouses', ['site_id'], unique=False)
    op.create_index(op.f('ix_inv_warehouses_tenant_id'), 'inv_warehouses', ['tenant_id'], unique=False)
    op.create_table('inv_genealogy_links',
    sa.Column('parent_kind', sa.String(length=10), nullable=False),
    sa.Column('parent_id', sa.UUID(), nullable=False),
    sa.Column('child_kind', sa.String(length=10), nullable=False),
    sa.Column('child_id', sa.UUID(), nullable=False),
    sa.Column('operation', sa.String(length=60), nullable=False),
    sa.Column('unit_id', sa.UUID(), nullable=True),
    sa.Column('work_order_id', sa.UUID(), nullable=True),
    sa.Column('event_id', sa.UUID(), nullable=True),
    sa.Column('weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint("parent_kind IN ('heat', 'lot', 'coil') AND child_kind IN ('heat', 'lot', 'coil')", name=op.f('ck_inv_genealogy_links_kinds')),
    sa.CheckConstraint('parent_id <> child_id', name=op.f('ck_inv_genealogy_links_not_self')),
    sa.ForeignKeyConstraint(['event_id'], ['inv_production_events.id'], name=op.f('fk_inv_genealogy_links_event_id_inv_production_events'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inv_genealogy_links_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_genealogy_links')),
    sa.UniqueConstraint('tenant_id', 'parent_kind', 'parent_id', 'child_kind', 'child_id', name='uq_inv_genealogy_links_edge')
    )
    op.create_index('ix_inv_genealogy_links_child', 'inv_genealogy_links', ['tenant_id', 'child_kind', 'child_id'], unique=False)
    op.create_index(op.f('ix_inv_genealogy_links_event_id'), 'inv_genealogy_links', ['event_id'], unique=False)
    op.create_index('ix_inv_genealogy_links_parent', 'inv_genealogy_links', ['tenant_id', 'parent_kind', 'parent_id'], unique=False)
    op.create_index(op.f('ix_inv_genealogy_links_tenant_id'), 'inv_genealogy_links', ['tenant_id'], unique=False)
    op.create_table('inv_locations',
    sa.Column('warehouse_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=160), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('capacity_coils', sa.Integer(), nullable=True),
    sa.Column('capacity_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint('capacity_coils IS NULL OR capacity_coils >= 0', name=op.f('ck_inv_locations_capacity_coils')),
    sa.CheckConstraint('capacity_kg IS NULL OR capacity_kg >= 0', name=op.f('ck_inv_locations_capacity_kg')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['inv_warehouses.id'], name=op.f('fk_inv_locations_warehouse_id_inv_warehouses'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_locations')),
    sa.UniqueConstraint('warehouse_id', 'code', name='uq_inv_locations_code')
    )
    op.create_index(op.f('ix_inv_locations_tenant_id'), 'inv_locations', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_inv_locations_warehouse_id'), 'inv_locations', ['warehouse_id'], unique=False)
    op.create_table('inv_lots',
    sa.Column('lot_no', sa.String(length=60), nullable=False),
    sa.Column('heat_id', sa.UUID(), nullable=True),
    sa.Column('alloy', sa.String(length=20), nullable=True),
    sa.Column('temper', sa.String(length=20), nullable=True),
    sa.Column('gauge_mm', sa.Numeric(precision=10, scale=4, asdecimal=False), nullable=True),
    sa.Column('width_mm', sa.Numeric(precision=10, scale=2, asdecimal=False), nullable=True),
    sa.Column('product_id', sa.UUID(), nullable=True),
    sa.Column('order_line_id', sa.UUID(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['heat_id'], ['inv_heats.id'], name=op.f('fk_inv_lots_heat_id_inv_heats'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_lots')),
    sa.UniqueConstraint('tenant_id', 'lot_no', name='uq_inv_lots_lot_no')
    )
    op.create_index(op.f('ix_inv_lots_heat_id'), 'inv_lots', ['heat_id'], unique=False)
    op.create_index(op.f('ix_inv_lots_order_line_id'), 'inv_lots', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_inv_lots_product_id'), 'inv_lots', ['product_id'], unique=False)
    op.create_index(op.f('ix_inv_lots_tenant_id'), 'inv_lots', ['tenant_id'], unique=False)
    op.create_table('inv_scrap',
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint('weight_kg > 0', name=op.f('ck_inv_scrap_weight_positive')),
    sa.ForeignKeyConstraint(['event_id'], ['inv_production_events.id'], name=op.f('fk_inv_scrap_event_id_inv_production_events'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_scrap'))
    )
    op.create_index(op.f('ix_inv_scrap_event_id'), 'inv_scrap', ['event_id'], unique=False)
    op.create_index(op.f('ix_inv_scrap_tenant_id'), 'inv_scrap', ['tenant_id'], unique=False)
    op.create_table('inv_shipments',
    sa.Column('shipment_no', sa.String(length=40), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=False),
    sa.Column('customer_ref', sa.String(length=120), nullable=True),
    sa.Column('order_id', sa.UUID(), nullable=True),
    sa.Column('warehouse_id', sa.UUID(), nullable=True),
    sa.Column('ship_to', sa.Text(), nullable=True),
    sa.Column('carrier', sa.String(length=120), nullable=True),
    sa.Column('vehicle_no', sa.String(length=40), nullable=True),
    sa.Column('planned_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shipped_by', sa.UUID(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_by', sa.UUID(), nullable=True),
    sa.Column('received_by', sa.String(length=200), nullable=True),
    sa.Column('delivery_note', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_inv_shipments_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['delivered_by'], ['users.id'], name=op.f('fk_inv_shipments_delivered_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shipped_by'], ['users.id'], name=op.f('fk_inv_shipments_shipped_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['inv_warehouses.id'], name=op.f('fk_inv_shipments_warehouse_id_inv_warehouses'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_shipments')),
    sa.UniqueConstraint('tenant_id', 'shipment_no', name='uq_inv_shipments_shipment_no')
    )
    op.create_index(op.f('ix_inv_shipments_order_id'), 'inv_shipments', ['order_id'], unique=False)
    op.create_index(op.f('ix_inv_shipments_status'), 'inv_shipments', ['status'], unique=False)
    op.create_index(op.f('ix_inv_shipments_tenant_id'), 'inv_shipments', ['tenant_id'], unique=False)
    op.create_table('inv_coils',
    sa.Column('coil_no', sa.String(length=60), nullable=False),
    sa.Column('lot_id', sa.UUID(), nullable=True),
    sa.Column('heat_id', sa.UUID(), nullable=True),
    sa.Column('alloy', sa.String(length=20), nullable=False),
    sa.Column('temper', sa.String(length=20), nullable=True),
    sa.Column('gauge_mm', sa.Numeric(precision=10, scale=4, asdecimal=False), nullable=False),
    sa.Column('width_mm', sa.Numeric(precision=10, scale=2, asdecimal=False), nullable=False),
    sa.Column('weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('initial_weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('length_m', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('location_id', sa.UUID(), nullable=True),
    sa.Column('shipment_id', sa.UUID(), nullable=True),
    sa.Column('product_id', sa.UUID(), nullable=True),
    sa.Column('order_line_id', sa.UUID(), nullable=True),
    sa.Column('work_order_id', sa.UUID(), nullable=True),
    sa.Column('unit_id', sa.UUID(), nullable=True),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('fifo_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('quarantine_reason', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint("status IN ('available', 'reserved', 'quarantined', 'issued', 'consumed', 'shipped')", name=op.f('ck_inv_coils_status')),
    sa.CheckConstraint("status NOT IN ('available', 'reserved', 'quarantined') OR location_id IS NOT NULL", name=op.f('ck_inv_coils_stock_has_location')),
    sa.CheckConstraint('gauge_mm > 0', name=op.f('ck_inv_coils_gauge_positive')),
    sa.CheckConstraint('weight_kg >= 0', name=op.f('ck_inv_coils_weight_not_negative')),
    sa.CheckConstraint('width_mm > 0', name=op.f('ck_inv_coils_width_positive')),
    sa.ForeignKeyConstraint(['heat_id'], ['inv_heats.id'], name=op.f('fk_inv_coils_heat_id_inv_heats'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['location_id'], ['inv_locations.id'], name=op.f('fk_inv_coils_location_id_inv_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['lot_id'], ['inv_lots.id'], name=op.f('fk_inv_coils_lot_id_inv_lots'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shipment_id'], ['inv_shipments.id'], name=op.f('fk_inv_coils_shipment_id_inv_shipments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_coils')),
    sa.UniqueConstraint('tenant_id', 'coil_no', name='uq_inv_coils_coil_no')
    )
    op.create_index('ix_inv_coils_fifo', 'inv_coils', ['tenant_id', 'status', 'alloy', 'fifo_at'], unique=False)
    op.create_index(op.f('ix_inv_coils_heat_id'), 'inv_coils', ['heat_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_location_id'), 'inv_coils', ['location_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_lot_id'), 'inv_coils', ['lot_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_order_line_id'), 'inv_coils', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_product_id'), 'inv_coils', ['product_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_shipment_id'), 'inv_coils', ['shipment_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_status'), 'inv_coils', ['status'], unique=False)
    op.create_index(op.f('ix_inv_coils_tenant_id'), 'inv_coils', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_inv_coils_work_order_id'), 'inv_coils', ['work_order_id'], unique=False)
    op.create_table('inv_moves',
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('coil_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('from_location_id', sa.UUID(), nullable=True),
    sa.Column('to_location_id', sa.UUID(), nullable=True),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('weight_before_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('weight_after_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('shipment_id', sa.UUID(), nullable=True),
    sa.Column('event_id', sa.UUID(), nullable=True),
    sa.Column('order_line_id', sa.UUID(), nullable=True),
    sa.Column('work_order_id', sa.UUID(), nullable=True),
    sa.Column('unit_id', sa.UUID(), nullable=True),
    sa.Column('user_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint('weight_after_kg >= 0', name=op.f('ck_inv_moves_weight_not_negative')),
    sa.ForeignKeyConstraint(['coil_id'], ['inv_coils.id'], name=op.f('fk_inv_moves_coil_id_inv_coils'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['event_id'], ['inv_production_events.id'], name=op.f('fk_inv_moves_event_id_inv_production_events'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['from_location_id'], ['inv_locations.id'], name=op.f('fk_inv_moves_from_location_id_inv_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shipment_id'], ['inv_shipments.id'], name=op.f('fk_inv_moves_shipment_id_inv_shipments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['to_location_id'], ['inv_locations.id'], name=op.f('fk_inv_moves_to_location_id_inv_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inv_moves_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_moves')),
    sa.UniqueConstraint('seq', name=op.f('uq_inv_moves_seq'))
    )
    op.create_index(op.f('ix_inv_moves_at'), 'inv_moves', ['at'], unique=False)
    op.create_index('ix_inv_moves_coil_at', 'inv_moves', ['coil_id', 'at'], unique=False)
    op.create_index(op.f('ix_inv_moves_kind'), 'inv_moves', ['kind'], unique=False)
    op.create_index(op.f('ix_inv_moves_tenant_id'), 'inv_moves', ['tenant_id'], unique=False)
    op.create_table('inv_reservations',
    sa.Column('coil_id', sa.UUID(), nullable=False),
    sa.Column('order_line_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reserved_by', sa.UUID(), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.UUID(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'released', 'fulfilled')", name=op.f('ck_inv_reservations_status')),
    sa.ForeignKeyConstraint(['coil_id'], ['inv_coils.id'], name=op.f('fk_inv_reservations_coil_id_inv_coils'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['ended_by'], ['users.id'], name=op.f('fk_inv_reservations_ended_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reserved_by'], ['users.id'], name=op.f('fk_inv_reservations_reserved_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_reservations'))
    )
    op.create_index(op.f('ix_inv_reservations_coil_id'), 'inv_reservations', ['coil_id'], unique=False)
    op.create_index(op.f('ix_inv_reservations_order_line_id'), 'inv_reservations', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_inv_reservations_tenant_id'), 'inv_reservations', ['tenant_id'], unique=False)
    op.create_index('uq_inv_reservations_active_coil', 'inv_reservations', ['coil_id'], unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table('inv_shipment_items',
    sa.Column('shipment_id', sa.UUID(), nullable=False),
    sa.Column('coil_id', sa.UUID(), nullable=False),
    sa.Column('order_line_id', sa.UUID(), nullable=True),
    sa.Column('weight_kg', sa.Numeric(precision=14, scale=3, asdecimal=False), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('added_by', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], name=op.f('fk_inv_shipment_items_added_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['coil_id'], ['inv_coils.id'], name=op.f('fk_inv_shipment_items_coil_id_inv_coils'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shipment_id'], ['inv_shipments.id'], name=op.f('fk_inv_shipment_items_shipment_id_inv_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inv_shipment_items')),
    sa.UniqueConstraint('coil_id', name=op.f('uq_inv_shipment_items_coil_id'))
    )
    op.create_index(op.f('ix_inv_shipment_items_order_line_id'), 'inv_shipment_items', ['order_line_id'], unique=False)
    op.create_index(op.f('ix_inv_shipment_items_shipment_id'), 'inv_shipment_items', ['shipment_id'], unique=False)
    op.create_index(op.f('ix_inv_shipment_items_tenant_id'), 'inv_shipment_items', ['tenant_id'], unique=False)

    op.execute(rls.grant_tables(MUTABLE_TABLES))
    # The ledger and the genealogy are append-only for the application (the
    # default privileges would also give it UPDATE and DELETE).
    op.execute(f"REVOKE ALL ON {', '.join(APPEND_ONLY_TABLES)} FROM {rls.APP_DB_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY_TABLES)} TO {rls.APP_DB_ROLE}")
    for table in MUTABLE_TABLES + APPEND_ONLY_TABLES:
        op.execute(rls.enable(table))


def downgrade() -> None:
    for table in ["inv_shipment_items", "inv_reservations", "inv_moves", "inv_genealogy_links", "inv_scrap",
                  "inv_coils", "inv_shipments", "inv_lots", "inv_locations", "inv_warehouses",
                  "inv_production_events", "inv_heats"]:
        op.drop_table(table)
