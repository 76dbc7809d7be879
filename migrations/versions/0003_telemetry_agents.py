"""telemetry: agents, enrolment tokens, tag catalogue, commands

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:42:18.404848
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from alloyhub.platform import rls

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


TABLES = ["agents", "agent_enrollment_tokens", "agent_tags", "agent_commands"]


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('site_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('mqtt_password_hash', sa.String(length=64), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hostname', sa.String(length=253), nullable=True),
    sa.Column('agent_version', sa.String(length=40), nullable=True),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('config_version', sa.Integer(), nullable=False),
    sa.Column('allow_write', postgresql.ARRAY(sa.String(length=200)), nullable=False),
    sa.Column('health', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_agents_site_id_sites'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents'))
    )
    op.create_index(op.f('ix_agents_tenant_id'), 'agents', ['tenant_id'], unique=False)
    op.create_table('agent_commands',
    sa.Column('agent_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('requested_by', sa.UUID(), nullable=True),
    sa.Column('approved_by', sa.UUID(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_commands_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['approved_by'], ['users.id'], name=op.f('fk_agent_commands_approved_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_agent_commands_requested_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_commands'))
    )
    op.create_index(op.f('ix_agent_commands_tenant_id'), 'agent_commands', ['tenant_id'], unique=False)
    op.create_table('agent_enrollment_tokens',
    sa.Column('agent_id', sa.UUID(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_enrollment_tokens_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_enrollment_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_agent_enrollment_tokens_token_hash'))
    )
    op.create_index(op.f('ix_agent_enrollment_tokens_tenant_id'), 'agent_enrollment_tokens', ['tenant_id'], unique=False)
    op.create_table('agent_tags',
    sa.Column('agent_id', sa.UUID(), nullable=False),
    sa.Column('tag', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('unit', sa.String(length=30), nullable=True),
    sa.Column('data_type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('unknown_points', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_tags_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_tags')),
    sa.UniqueConstraint('agent_id', 'tag', name=op.f('uq_agent_tags_agent_id'))
    )
    op.create_index(op.f('ix_agent_tags_tenant_id'), 'agent_tags', ['tenant_id'], unique=False)

    op.execute(rls.grant_tables(TABLES))
    for table in ["agent_tags", "agent_commands"]:
        op.execute(rls.enable(table))
    # The ingest process learns an agent's tenant from its id (the MQTT topic)
    # before it can scope anything: agents are readable in system context.
    op.execute(rls.enable("agents", extra_using="app_is_system()"))
    # Enrolment tokens are looked up by their secret before the tenant is known.
    op.execute(rls.enable("agent_enrollment_tokens", extra_using="app_is_system()"))


def downgrade() -> None:
    op.drop_index(op.f('ix_agent_tags_tenant_id'), table_name='agent_tags')
    op.drop_table('agent_tags')
    op.drop_index(op.f('ix_agent_enrollment_tokens_tenant_id'), table_name='agent_enrollment_tokens')
    op.drop_table('agent_enrollment_tokens')
    op.drop_index(op.f('ix_agent_commands_tenant_id'), table_name='agent_commands')
    op.drop_table('agent_commands')
    op.drop_index(op.f('ix_agents_tenant_id'), table_name='agents')
    op.drop_table('agents')
