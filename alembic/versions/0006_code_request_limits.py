"""code request limits: the client that asked for each verification code

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 14:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=160), nullable=True))
        batch_op.create_index('ix_verification_challenges_client_created', ['client', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('verification_challenges', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_challenges_client_created')
        batch_op.drop_column('client')
