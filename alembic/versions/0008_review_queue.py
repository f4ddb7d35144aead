"""review queue

Subscriber messages the assistant misunderstood (fallback, clarification, low confidence, handoff
after a misunderstanding), kept for people to label and export as NLU training data.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('predicted_intent', sa.String(length=100), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('label_intent', sa.String(length=100), nullable=True),
    sa.Column('label_entities', sa.JSON(), nullable=True),
    sa.Column('labelled_by', sa.String(length=100), nullable=True),
    sa.Column('labelled_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('exported_at', bot.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("reason IN ('fallback', 'clarification', 'low_confidence', 'handoff')", name=op.f('ck_review_items_reason')),
    sa.CheckConstraint("status IN ('pending', 'labelled', 'exported')", name=op.f('ck_review_items_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_items')),
    sa.UniqueConstraint('digest', name=op.f('uq_review_items_digest'))
    )
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_items_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_items_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_review_items_status_created_at', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_index('ix_review_items_status_created_at')
        batch_op.drop_index(batch_op.f('ix_review_items_created_at'))
        batch_op.drop_index(batch_op.f('ix_review_items_conversation_id'))

    op.drop_table('review_items')
