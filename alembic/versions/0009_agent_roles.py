"""agent roles

Agents get a role (``agent`` or ``supervisor``: only a supervisor reads the dashboard), and the
metrics consumer keeps per-turn facts for the dashboard: every subscriber message's intent
(``metrics_turns``) and every message answered by a clarification or a fallback, with the intent
understood before it (``metrics_misunderstandings``). ``conversation_metrics`` keeps the latest
understood intent and the one before the message waiting for an answer.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=12), server_default='agent', nullable=False))
        batch_op.create_check_constraint(op.f('ck_agents_role'), "role IN ('agent', 'supervisor')")

    with op.batch_alter_table('conversation_metrics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_intent', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('pending_intent_before', sa.String(length=100), nullable=True))

    op.create_table('metrics_turns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('user_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('intent', sa.String(length=100), nullable=True),
    sa.Column('opens_session', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation_metrics.conversation_id'], name=op.f('fk_metrics_turns_conversation_id_conversation_metrics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metrics_turns'))
    )
    with op.batch_alter_table('metrics_turns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_turns_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_metrics_turns_user_at'), ['user_at'], unique=False)

    op.create_table('metrics_misunderstandings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('user_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('intent_before', sa.String(length=100), nullable=True),
    sa.CheckConstraint("kind IN ('fallback', 'clarification')", name=op.f('ck_metrics_misunderstandings_kind')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation_metrics.conversation_id'], name=op.f('fk_metrics_misunderstandings_conversation_id_conversation_metrics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metrics_misunderstandings'))
    )
    with op.batch_alter_table('metrics_misunderstandings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metrics_misunderstandings_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_metrics_misunderstandings_user_at'), ['user_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('metrics_misunderstandings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_misunderstandings_user_at'))
        batch_op.drop_index(batch_op.f('ix_metrics_misunderstandings_conversation_id'))

    op.drop_table('metrics_misunderstandings')
    with op.batch_alter_table('metrics_turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metrics_turns_user_at'))
        batch_op.drop_index(batch_op.f('ix_metrics_turns_conversation_id'))

    op.drop_table('metrics_turns')
    with op.batch_alter_table('conversation_metrics', schema=None) as batch_op:
        batch_op.drop_column('pending_intent_before')
        batch_op.drop_column('last_intent')

    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_agents_role'), type_='check')
        batch_op.drop_column('role')
