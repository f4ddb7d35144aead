"""conversation metrics

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:53:32.069765
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conversation_metrics',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('first_event_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('last_event_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('sessions', sa.Integer(), nullable=False),
    sa.Column('user_messages', sa.Integer(), nullable=False),
    sa.Column('bot_messages', sa.Integer(), nullable=False),
    sa.Column('agent_messages', sa.Integer(), nullable=False),
    sa.Column('handoff_requests', sa.Integer(), nullable=False),
    sa.Column('handoffs', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('pending_user_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('session_user_messages', sa.Integer(), nullable=False),
    sa.Column('session_escalated', sa.Boolean(), nullable=False),
    sa.Column('resolution', sa.String(length=12), nullable=True),
    sa.Column('resolved_at', bot.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('rating', 'closed', 'session_end')", name=op.f('ck_conversation_metrics_resolution')),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_conversation_metrics'))
    )
    with op.batch_alter_table('conversation_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_metrics_last_event_at', ['last_event_at'], unique=False)

    op.create_table('metrics_seen_events',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('seen_at', bot.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_metrics_seen_events'))
    )
    with op.batch_alter_table('metrics_seen_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_seen_events_seen_at'), ['seen_at'], unique=False)

    op.create_table('response_latencies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('user_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.CheckConstraint('latency_ms >= 0', name=op.f('ck_response_latencies_latency_not_negative')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation_metrics.conversation_id'], name=op.f('fk_response_latencies_conversation_id_conversation_metrics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_response_latencies'))
    )
    with op.batch_alter_table('response_latencies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_response_latencies_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_response_latencies_user_at'), ['user_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('response_latencies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_response_latencies_user_at'))
        batch_op.drop_index(batch_op.f('ix_response_latencies_conversation_id'))

    op.drop_table('response_latencies')
    with op.batch_alter_table('metrics_seen_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_seen_events_seen_at'))

    op.drop_table('metrics_seen_events')
    with op.batch_alter_table('conversation_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_metrics_last_event_at')

    op.drop_table('conversation_metrics')
