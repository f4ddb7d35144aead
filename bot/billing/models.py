"""Tables of the billing store. Money is integer fen; times are UTC (``UTCDateTime``).

Identity tables (challenges, attempts, verified conversations) live in
``bot.identity.models``; every table shares ``bot.models.Base``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from bot.db import UTCDateTime
from bot.models import Base
from bot.notifications.models import NOTIFY_CHANNELS

SUBSCRIBER_STATUSES = ("active", "suspended", "closing", "closed")
SUBSCRIPTION_CHANNELS = ("app", "sms_marketing", "hall", "third_party", "web")
CHARGE_KINDS = ("plan_fee", "vas", "data", "voice", "sms", "other")
ALERT_TYPES = ("balance", "spend", "deduction", "data")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Plan(Base):
    """A tariff plan (套餐) with its monthly fee and allowances."""

    __tablename__ = "plans"
    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)
    name = Column(String(60), nullable=False, unique=True)
    monthly_fee_fen = Column(Integer, nullable=False)
    data_mb = Column(Integer, nullable=False)
    voice_minutes = Column(Integer, nullable=False)
    sms_count = Column(Integer, nullable=False, default=0)
    is_contract = Column(Boolean, nullable=False, default=False)
    description = Column(Text, nullable=False, default="")
    __table_args__ = (CheckConstraint("monthly_fee_fen >= 0", name="fee_not_negative"),)


class Service(Base):
    """A value-added service in the published fee standard (增值业务资费标准)."""

    __tablename__ = "services"
    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)
    name = Column(String(60), nullable=False, unique=True)
    aliases = Column(JSON, nullable=False, default=list)
    monthly_fee_fen = Column(Integer, nullable=False)
    description = Column(Text, nullable=False)
    provider = Column(String(80), nullable=False)
    billing = Column(String(10), nullable=False, default="monthly")
    __table_args__ = (
        CheckConstraint("monthly_fee_fen >= 0", name="fee_not_negative"),
        CheckConstraint(_in("billing", ("monthly", "per_use")), name="billing_kind"),
    )


class Subscriber(Base):
    """A mobile number and its account. Secrets are stored only as hashes."""

    __tablename__ = "subscribers"
    id = Column(Integer, primary_key=True)
    phone = Column(String(11), nullable=False, unique=True)
    name = Column(String(40), nullable=False)
    status = Column(String(10), nullable=False, default="active")
    plan_id = Column(Integer, ForeignKey("plans.id"), nullable=False)
    opened_at = Column(UTCDateTime, nullable=False)
    contract_end = Column(Date, nullable=True)
    early_termination_fee_fen = Column(Integer, nullable=False, default=0)
    balance_fen = Column(Integer, nullable=False, default=0)
    password_hash = Column(String(200), nullable=False)
    id_number_hash = Column(String(200), nullable=True)
    id_last6_hash = Column(String(200), nullable=False)
    plan = relationship(Plan)
    __table_args__ = (
        CheckConstraint(_in("status", SUBSCRIBER_STATUSES), name="status"),
        CheckConstraint("early_termination_fee_fen >= 0", name="etf_not_negative"),
    )


class Subscription(Base):
    """A value-added service a subscriber has (or had), and how it was opened."""

    __tablename__ = "subscriptions"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False, index=True)
    service_id = Column(Integer, ForeignKey("services.id"), nullable=False)
    channel = Column(String(20), nullable=False)
    started_at = Column(UTCDateTime, nullable=False)
    ended_at = Column(UTCDateTime, nullable=True)
    last_used_at = Column(UTCDateTime, nullable=True)
    service = relationship(Service)
    __table_args__ = (CheckConstraint(_in("channel", SUBSCRIPTION_CHANNELS), name="channel"),)


class Charge(Base):
    """One deduction from the account (扣费)."""

    __tablename__ = "charges"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False)
    charged_at = Column(UTCDateTime, nullable=False)
    item_kind = Column(String(20), nullable=False)
    service_id = Column(Integer, ForeignKey("services.id"), nullable=True)
    subscription_id = Column(Integer, ForeignKey("subscriptions.id"), nullable=True)
    amount_fen = Column(Integer, nullable=False)
    bill_period = Column(String(7), nullable=False)
    description = Column(Text, nullable=False)
    service = relationship(Service)
    __table_args__ = (
        CheckConstraint(_in("item_kind", CHARGE_KINDS), name="item_kind"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_charges_subscriber_period", "subscriber_id", "bill_period"),
    )


class Payment(Base):
    """Money paid into the account (充值/缴费) or refunded to it."""

    __tablename__ = "payments"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False, index=True)
    paid_at = Column(UTCDateTime, nullable=False)
    amount_fen = Column(Integer, nullable=False)
    method = Column(String(20), nullable=False)
    reference = Column(String(60), nullable=False, default="")
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            _in("method", ("alipay", "wechat_pay", "hall", "bank_card", "refund")), name="method"
        ),
    )


class Bill(Base):
    """A monthly bill: the sum of the period's charges, and whether it was paid."""

    __tablename__ = "bills"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False)
    period = Column(String(7), nullable=False)
    total_fen = Column(Integer, nullable=False)
    status = Column(String(10), nullable=False)
    issued_at = Column(UTCDateTime, nullable=True)
    due_date = Column(Date, nullable=True)
    __table_args__ = (
        UniqueConstraint("subscriber_id", "period", name="uq_bills_subscriber_period"),
        CheckConstraint(_in("status", ("open", "paid", "unpaid")), name="status"),
    )


class DataUsage(Base):
    """Usage counters of one bill period (流量、通话、短信)."""

    __tablename__ = "data_usage"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False)
    period = Column(String(7), nullable=False)
    data_used_mb = Column(Integer, nullable=False, default=0)
    voice_used_minutes = Column(Integer, nullable=False, default=0)
    sms_used = Column(Integer, nullable=False, default=0)
    updated_at = Column(UTCDateTime, nullable=False)
    __table_args__ = (UniqueConstraint("subscriber_id", "period", name="uq_data_usage_subscriber_period"),)


class AlertRule(Base):
    """A subscriber's alert (余额/消费/扣费/流量提醒).

    ``threshold`` is fen for balance and spend, percent for data, unused for deduction.
    ``armed`` is false after the rule fired, until the condition clears (once per crossing).
    """

    __tablename__ = "alert_rules"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False, index=True)
    alert_type = Column(String(10), nullable=False)
    threshold = Column(Integer, nullable=True)
    channel = Column(String(10), nullable=False, default="sms")
    active = Column(Boolean, nullable=False, default=True)
    armed = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False)
    updated_at = Column(UTCDateTime, nullable=False)
    last_fired_at = Column(UTCDateTime, nullable=True)
    __table_args__ = (
        CheckConstraint(_in("alert_type", ALERT_TYPES), name="alert_type"),
        CheckConstraint(_in("channel", NOTIFY_CHANNELS), name="channel"),
    )


class Dispute(Base):
    """A refund dispute (退费申诉) with its ticket number."""

    __tablename__ = "disputes"
    id = Column(Integer, primary_key=True)
    ticket_no = Column(String(20), nullable=False, unique=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False, index=True)
    status = Column(String(10), nullable=False, default="open")
    reason = Column(Text, nullable=False)
    amount_fen = Column(Integer, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    resolved_at = Column(UTCDateTime, nullable=True)
    conversation_id = Column(String(100), nullable=True)
    __table_args__ = (
        CheckConstraint(_in("status", ("open", "refunded", "rejected")), name="status"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )


class DisputeCharge(Base):
    """A charge disputed in a dispute; a charge is disputed at most once."""

    __tablename__ = "dispute_charges"
    dispute_id = Column(Integer, ForeignKey("disputes.id"), primary_key=True)
    charge_id = Column(Integer, ForeignKey("charges.id"), primary_key=True)
    __table_args__ = (UniqueConstraint("charge_id", name="uq_dispute_charges_charge_id"),)


class ClosureRequest(Base):
    """A request to close the account (销户), pending until its effective date."""

    __tablename__ = "closure_requests"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False, index=True)
    status = Column(String(10), nullable=False, default="pending")
    requested_at = Column(UTCDateTime, nullable=False)
    effective_at = Column(UTCDateTime, nullable=False)
    refund_fen = Column(Integer, nullable=False, default=0)
    termination_fee_fen = Column(Integer, nullable=False, default=0)
    cancelled_at = Column(UTCDateTime, nullable=True)
    conversation_id = Column(String(100), nullable=True)
    __table_args__ = (CheckConstraint(_in("status", ("pending", "cancelled", "completed")), name="status"),)


class SatisfactionRating(Base):
    """A subscriber's 1–5 rating of a conversation (满意度评价)."""

    __tablename__ = "satisfaction_ratings"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=True)
    score = Column(Integer, nullable=False)
    task = Column(String(40), nullable=False, default="")
    created_at = Column(UTCDateTime, nullable=False)
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)
