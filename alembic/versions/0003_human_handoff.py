"""human handoff

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:39:48.631305
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('username', name=op.f('uq_agents_username'))
    )
    op.create_table('agent_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', bot.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_sessions_agent_id_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_agent_sessions_token_hash'))
    )
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_sessions_agent_id'), ['agent_id'], unique=False)

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=12), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('ticket_no', sa.String(length=20), nullable=True),
    sa.Column('queued_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('closed_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.CheckConstraint("reason IN ('requested', 'fallback', 'locked', 'complaint', 'dependency')", name=op.f('ck_handoffs_reason')),
    sa.CheckConstraint("status <> 'claimed' OR claimed_by IS NOT NULL", name=op.f('ck_handoffs_claimed_has_agent')),
    sa.CheckConstraint("status IN ('queued', 'claimed', 'returned', 'closed', 'ticket')", name=op.f('ck_handoffs_status')),
    sa.ForeignKeyConstraint(['claimed_by'], ['agents.id'], name=op.f('fk_handoffs_claimed_by_agents')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_handoffs_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs')),
    sa.UniqueConstraint('ticket_no', name=op.f('uq_handoffs_ticket_no'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_conversation_id', ['conversation_id'], unique=False)
        batch_op.create_index('ix_handoffs_status_queued_at', ['status', 'queued_at'], unique=False)
        batch_op.create_index('uq_handoffs_open_conversation', ['conversation_id'], unique=True, sqlite_where=sa.text("status IN ('queued', 'claimed')"), postgresql_where=sa.text("status IN ('queued', 'claimed')"))

    op.create_table('handoff_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_handoff_notes_agent_id_agents')),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_handoff_notes_handoff_id_handoffs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_notes'))
    )
    with op.batch_alter_table('handoff_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_notes_handoff_id'), ['handoff_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('handoff_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_notes_handoff_id'))

    op.drop_table('handoff_notes')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('uq_handoffs_open_conversation', sqlite_where=sa.text("status IN ('queued', 'claimed')"), postgresql_where=sa.text("status IN ('queued', 'claimed')"))
        batch_op.drop_index('ix_handoffs_status_queued_at')
        batch_op.drop_index('ix_handoffs_conversation_id')

    op.drop_table('handoffs')
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_sessions_agent_id'))

    op.drop_table('agent_sessions')
    op.drop_table('agents')
