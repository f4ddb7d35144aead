"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:29:54.414037
"""
from alembic import op
import sqlalchemy as sa
import bot.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('number_locks',
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('locked_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('locked_until', bot.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_number_locks'))
    )
    op.create_table('plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('monthly_fee_fen', sa.Integer(), nullable=False),
    sa.Column('data_mb', sa.Integer(), nullable=False),
    sa.Column('voice_minutes', sa.Integer(), nullable=False),
    sa.Column('sms_count', sa.Integer(), nullable=False),
    sa.Column('is_contract', sa.Boolean(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.CheckConstraint('monthly_fee_fen >= 0', name=op.f('ck_plans_fee_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans')),
    sa.UniqueConstraint('code', name=op.f('uq_plans_code')),
    sa.UniqueConstraint('name', name=op.f('uq_plans_name'))
    )
    op.create_table('services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('monthly_fee_fen', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('provider', sa.String(length=80), nullable=False),
    sa.Column('billing', sa.String(length=10), nullable=False),
    sa.CheckConstraint("billing IN ('monthly', 'per_use')", name=op.f('ck_services_billing_kind')),
    sa.CheckConstraint('monthly_fee_fen >= 0', name=op.f('ck_services_fee_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('code', name=op.f('uq_services_code')),
    sa.UniqueConstraint('name', name=op.f('uq_services_name'))
    )
    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('contract_end', sa.Date(), nullable=True),
    sa.Column('early_termination_fee_fen', sa.Integer(), nullable=False),
    sa.Column('balance_fen', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('id_number_hash', sa.String(length=200), nullable=True),
    sa.Column('id_last6_hash', sa.String(length=200), nullable=False),
    sa.CheckConstraint("status IN ('active', 'suspended', 'closing', 'closed')", name=op.f('ck_subscribers_status')),
    sa.CheckConstraint('early_termination_fee_fen >= 0', name=op.f('ck_subscribers_etf_not_negative')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_subscribers_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribers')),
    sa.UniqueConstraint('phone', name=op.f('uq_subscribers_phone'))
    )
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('alert_type', sa.String(length=10), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('armed', sa.Boolean(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('last_fired_at', bot.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("alert_type IN ('balance', 'spend', 'deduction', 'data')", name=op.f('ck_alert_rules_alert_type')),
    sa.CheckConstraint("channel IN ('sms', 'wechat')", name=op.f('ck_alert_rules_channel')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_alert_rules_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules'))
    )
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_rules_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.String(length=40), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_audit_log_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('bills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('total_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('issued_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'paid', 'unpaid')", name=op.f('ck_bills_status')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_bills_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bills')),
    sa.UniqueConstraint('subscriber_id', 'period', name='uq_bills_subscriber_period')
    )
    op.create_table('closure_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('effective_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('refund_fen', sa.Integer(), nullable=False),
    sa.Column('termination_fee_fen', sa.Integer(), nullable=False),
    sa.Column('cancelled_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('conversation_id', sa.String(length=100), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'cancelled', 'completed')", name=op.f('ck_closure_requests_status')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_closure_requests_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closure_requests'))
    )
    with op.batch_alter_table('closure_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closure_requests_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('data_usage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('data_used_mb', sa.Integer(), nullable=False),
    sa.Column('voice_used_minutes', sa.Integer(), nullable=False),
    sa.Column('sms_used', sa.Integer(), nullable=False),
    sa.Column('updated_at', bot.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_data_usage_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_usage')),
    sa.UniqueConstraint('subscriber_id', 'period', name='uq_data_usage_subscriber_period')
    )
    op.create_table('disputes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_no', sa.String(length=20), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('conversation_id', sa.String(length=100), nullable=True),
    sa.CheckConstraint("status IN ('open', 'refunded', 'rejected')", name=op.f('ck_disputes_status')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_disputes_amount_positive')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_disputes_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes')),
    sa.UniqueConstraint('ticket_no', name=op.f('uq_disputes_ticket_no'))
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputes_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("channel IN ('sms', 'wechat')", name=op.f('ck_notifications_channel')),
    sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name=op.f('ck_notifications_status')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_notifications_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_phone'), ['phone'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('paid_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=False),
    sa.CheckConstraint("method IN ('alipay', 'wechat_pay', 'hall', 'bank_card', 'refund')", name=op.f('ck_payments_method')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_payments_amount_positive')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_payments_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('started_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', bot.db.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', bot.db.UTCDateTime(), nullable=True),
    sa.CheckConstraint("channel IN ('app', 'sms_marketing', 'hall', 'third_party', 'web')", name=op.f('ck_subscriptions_channel')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_subscriptions_service_id_services')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_subscriptions_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('verification_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('factor', sa.String(length=20), nullable=False),
    sa.Column('result', sa.String(length=12), nullable=False),
    sa.Column('at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('attempts_left', sa.Integer(), nullable=True),
    sa.Column('acknowledged', sa.Boolean(), nullable=False),
    sa.CheckConstraint("result IN ('ok', 'wrong', 'expired', 'locked', 'no_challenge')", name=op.f('ck_verification_attempts_result')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_verification_attempts_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_attempts'))
    )
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_verification_attempts_conversation', ['conversation_id', 'acknowledged'], unique=False)
        batch_op.create_index('ix_verification_attempts_phone_at', ['phone', 'at'], unique=False)

    op.create_table('verification_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('factor', sa.String(length=20), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=True),
    sa.Column('created_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.CheckConstraint("factor IN ('sms_otp', 'second_factor')", name=op.f('ck_verification_challenges_factor')),
    sa.CheckConstraint("status IN ('open', 'verified', 'failed', 'expired', 'superseded')", name=op.f('ck_verification_challenges_status')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_verification_challenges_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_challenges'))
    )
    with op.batch_alter_table('verification_challenges', schema=None) as batch_op:
        batch_op.create_index('ix_verification_challenges_conversation', ['conversation_id', 'status'], unique=False)
        batch_op.create_index('ix_verification_challenges_phone_created', ['phone', 'created_at'], unique=False)

    op.create_table('verified_conversations',
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('verified_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', bot.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("level IN ('basic', 'strong')", name=op.f('ck_verified_conversations_level')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_verified_conversations_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_verified_conversations'))
    )
    op.create_table('charges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('charged_at', bot.db.UTCDateTime(), nullable=False),
    sa.Column('item_kind', sa.String(length=20), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('bill_period', sa.String(length=7), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.CheckConstraint("item_kind IN ('plan_fee', 'vas', 'data', 'voice', 'sms', 'other')", name=op.f('ck_charges_item_kind')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_charges_amount_positive')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_charges_service_id_services')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_charges_subscriber_id_subscribers')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_charges_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charges'))
    )
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.create_index('ix_charges_subscriber_period', ['subscriber_id', 'bill_period'], unique=False)

    op.create_table('dispute_charges',
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('charge_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['charge_id'], ['charges.id'], name=op.f('fk_dispute_charges_charge_id_charges')),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], name=op.f('fk_dispute_charges_dispute_id_disputes')),
    sa.PrimaryKeyConstraint('dispute_id', 'charge_id', name=op.f('pk_dispute_charges')),
    sa.UniqueConstraint('charge_id', name='uq_dispute_charges_charge_id')
    )


def downgrade() -> None:
    op.drop_table('dispute_charges')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index('ix_charges_subscriber_period')

    op.drop_table('charges')
    op.drop_table('verified_conversations')
    with op.batch_alter_table('verification_challenges', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_challenges_phone_created')
        batch_op.drop_index('ix_verification_challenges_conversation')

    op.drop_table('verification_challenges')
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_attempts_phone_at')
        batch_op.drop_index('ix_verification_attempts_conversation')

    op.drop_table('verification_attempts')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_subscriber_id'))

    op.drop_table('subscriptions')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_subscriber_id'))

    op.drop_table('payments')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_phone'))

    op.drop_table('notifications')
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disputes_subscriber_id'))

    op.drop_table('disputes')
    op.drop_table('data_usage')
    with op.batch_alter_table('closure_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closure_requests_subscriber_id'))

    op.drop_table('closure_requests')
    op.drop_table('bills')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_subscriber_id'))

    op.drop_table('audit_log')
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rules_subscriber_id'))

    op.drop_table('alert_rules')
    op.drop_table('subscribers')
    op.drop_table('services')
    op.drop_table('plans')
    op.drop_table('number_locks')
