"""satisfaction ratings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:22:39.381621
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('satisfaction_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=40), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_satisfaction_ratings_score_range')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_satisfaction_ratings_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_satisfaction_ratings'))
    )
    with op.batch_alter_table('satisfaction_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_satisfaction_ratings_conversation_id'), ['conversation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('satisfaction_ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_satisfaction_ratings_conversation_id'))

    op.drop_table('satisfaction_ratings')
