"""handoff waiting notice

When a queued subscriber was last told their place in the queue (the queue announcement or a
waiting notice): the channel guard tells them again at most once a minute, across Rasa processes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 14:45:00.000000
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_notice_at', bot.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('waiting_notice_at')
