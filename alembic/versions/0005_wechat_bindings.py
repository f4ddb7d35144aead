"""wechat bindings and the WeChat delivery's retry columns

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 14:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wechat_bindings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('bound_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_wechat_bindings_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_bindings')),
    sa.UniqueConstraint('openid', name=op.f('uq_wechat_bindings_openid')),
    sa.UniqueConstraint('subscriber_id', name=op.f('uq_wechat_bindings_subscriber_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_attempt_at', bot.db.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_notifications_channel_status', ['channel', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_channel_status')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')

    op.drop_table('wechat_bindings')
