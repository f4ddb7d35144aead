"""Read side of the billing store, for the assistant's actions and the operator CLI.

Everything an action shows comes back as a plain frozen dataclass, never an ORM row, so it
can be formatted after the transaction ended. Money is integer fen; times are aware UTC
(format them with ``bot.clock.to_local``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.billing.errors import UnknownSubscriber
from bot.billing.models import AlertRule, Bill, Charge, DataUsage, Service, Subscriber, Subscription
from bot.clock import local_period
from bot.notifications.models import Notification
from bot.phone import normalise_phone
from bot.texts.formats import mask_phone
from bot.texts.labels import CHANNEL_LABELS, STATUS_LABELS


@dataclass(frozen=True)
class BalanceView:
    """A subscriber's balance and arrears at a moment.

    Attributes:
        balance_fen: account balance in fen (negative when in debt).
        arrears_fen: total of the bills whose status is ``unpaid``.
        as_of: the moment this was read (aware UTC).
    """

    balance_fen: int
    arrears_fen: int
    as_of: datetime


@dataclass(frozen=True)
class SubscriptionView:
    """A value-added service a subscriber has.

    Attributes:
        id: the subscription's id.
        service_code: catalogue code, e.g. ``video_ringtone``.
        service_name: e.g. ``视频彩铃``.
        fee_fen: monthly fee (or price per use for ``per_use``), fen.
        billing: ``monthly`` or ``per_use``.
        channel: how it was opened (``app``, ``sms_marketing``, ...).
        started_at: when it was opened (aware UTC).
        ended_at: when it ended, if it did.
        last_used_at: when it was last used; ``None`` if never.
    """

    id: int
    service_code: str
    service_name: str
    fee_fen: int
    billing: str
    channel: str
    started_at: datetime
    ended_at: Optional[datetime]
    last_used_at: Optional[datetime]

    @property
    def channel_label(self) -> str:
        """The channel in Chinese."""
        return CHANNEL_LABELS.get(self.channel, self.channel)


@dataclass(frozen=True)
class AlertRuleView:
    """An alert rule of a subscriber.

    Attributes:
        id: the rule's id.
        alert_type: ``balance``, ``spend``, ``deduction`` or ``data``.
        threshold: fen for balance/spend, percent for data, ``None`` for deduction.
        channel: ``sms`` or ``wechat``.
        active: whether the rule is on.
        armed: whether it will fire at the next crossing.
    """

    id: int
    alert_type: str
    threshold: Optional[int]
    channel: str
    active: bool
    armed: bool


@dataclass(frozen=True)
class DataUsageView:
    """Usage of one bill period against the plan's allowances.

    Attributes:
        period: ``YYYY-MM``.
        data_used_mb: data used, MB.
        data_allowance_mb: the plan's data allowance, MB.
        voice_used_minutes: minutes used.
        voice_allowance_minutes: the plan's minutes.
        sms_used: SMS sent.
        sms_allowance: the plan's SMS.
        updated_at: when the counters were last updated (aware UTC).
    """

    period: str
    data_used_mb: int
    data_allowance_mb: int
    voice_used_minutes: int
    voice_allowance_minutes: int
    sms_used: int
    sms_allowance: int
    updated_at: datetime

    @property
    def data_percent(self) -> int:
        """Data used as a whole percentage of the allowance (rounded down; 0 without allowance)."""
        if self.data_allowance_mb <= 0:
            return 0
        return self.data_used_mb * 100 // self.data_allowance_mb


@dataclass(frozen=True)
class ChargeView:
    """One deduction.

    Attributes:
        id: the charge's id.
        charged_at: when (aware UTC).
        item_kind: one of ``CHARGE_KINDS``.
        service_code: catalogue code of the service, if any.
        service_name: its name, if any.
        subscription_id: the subscription it was charged for, if any.
        amount_fen: amount, fen (positive).
        bill_period: ``YYYY-MM``.
        description: what the bill line says.
    """

    id: int
    charged_at: datetime
    item_kind: str
    service_code: Optional[str]
    service_name: Optional[str]
    subscription_id: Optional[int]
    amount_fen: int
    bill_period: str
    description: str


@dataclass(frozen=True)
class BillView:
    """A monthly bill.

    Attributes:
        id: the bill's id.
        period: ``YYYY-MM``.
        total_fen: the sum of the period's charges.
        status: ``open`` (current period), ``paid`` or ``unpaid``.
        issued_at: when it was issued, if it was.
        due_date: when it is due, if set.
    """

    id: int
    period: str
    total_fen: int
    status: str
    issued_at: Optional[datetime]
    due_date: Optional[date]


@dataclass(frozen=True)
class OutboxMessage:
    """A message the SMS gateway sent (or tried to).

    Attributes:
        id: the notification's id.
        phone: the number it went to.
        channel: ``sms`` or ``wechat``.
        kind: what it is about, e.g. ``otp`` or ``alert``.
        body: the text.
        status: ``queued``, ``sent`` or ``failed``.
        created_at: when (aware UTC).
    """

    id: int
    phone: str
    channel: str
    kind: str
    body: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class AccountSummary:
    """Everything about an account an agent would look at first.

    Attributes:
        subscriber_id: the subscriber's id.
        name: the subscriber's name.
        phone: the full number (show ``masked_phone`` unless the caller is verified).
        masked_phone: e.g. ``138****8000``.
        status: ``active``, ``suspended``, ``closing`` or ``closed``.
        plan_code: catalogue code of the plan.
        plan_name: e.g. ``畅享59元套餐``.
        plan_fee_fen: the plan's monthly fee, fen.
        is_contract: whether the plan is a contract plan.
        balance_fen: balance, fen (negative when in debt).
        arrears_fen: total of unpaid bills, fen.
        period: the current bill period ``YYYY-MM`` (Asia/Shanghai).
        month_spend_fen: sum of this period's charges, fen.
        contract_end: last day of the contract, if any.
        early_termination_fee_fen: fee for ending the contract early, fen.
        subscriptions: active value-added services, oldest first.
        alerts: active alert rules.
        data_usage: this period's usage, if counters exist.
        as_of: the moment this was read (aware UTC).
    """

    subscriber_id: int
    name: str
    phone: str
    masked_phone: str
    status: str
    plan_code: str
    plan_name: str
    plan_fee_fen: int
    is_contract: bool
    balance_fen: int
    arrears_fen: int
    period: str
    month_spend_fen: int
    contract_end: Optional[date]
    early_termination_fee_fen: int
    subscriptions: tuple[SubscriptionView, ...]
    alerts: tuple[AlertRuleView, ...]
    data_usage: Optional[DataUsageView]
    as_of: datetime

    @property
    def status_label(self) -> str:
        """The status in Chinese."""
        return STATUS_LABELS.get(self.status, self.status)


def find_subscriber_by_phone(session: Session, phone: str) -> Optional[Subscriber]:
    """The subscriber with this number, or ``None`` (also for something that is not a number).

    Args:
        session: the caller's unit of work.
        phone: the mobile number; spaces, dashes and ``+86`` are ignored.
    """
    number = normalise_phone(phone)
    if number is None:
        return None
    return session.scalars(select(Subscriber).where(Subscriber.phone == number)).one_or_none()


def _subscriber(session: Session, phone_or_id: str | int) -> Subscriber:
    if isinstance(phone_or_id, int) and not isinstance(phone_or_id, bool):
        found = session.get(Subscriber, phone_or_id)
    else:
        found = find_subscriber_by_phone(session, str(phone_or_id))
    if found is None:
        raise UnknownSubscriber(phone_or_id)
    return found


def _arrears_fen(session: Session, subscriber_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Bill.total_fen), 0)).where(
            Bill.subscriber_id == subscriber_id, Bill.status == "unpaid"
        )
    )
    return int(total or 0)


def get_balance(session: Session, subscriber_id: int, now: datetime) -> BalanceView:
    """The subscriber's balance and arrears.

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        now: the moment of reading (aware), recorded as ``as_of``.

    Raises:
        UnknownSubscriber: no subscriber has this id.
    """
    balance = session.scalar(select(Subscriber.balance_fen).where(Subscriber.id == subscriber_id))
    if balance is None:
        raise UnknownSubscriber(subscriber_id)
    return BalanceView(balance_fen=int(balance), arrears_fen=_arrears_fen(session, subscriber_id), as_of=now)


def _charge_view(charge: Charge) -> ChargeView:
    return ChargeView(
        id=charge.id,
        charged_at=charge.charged_at,
        item_kind=charge.item_kind,
        service_code=charge.service.code if charge.service is not None else None,
        service_name=charge.service.name if charge.service is not None else None,
        subscription_id=charge.subscription_id,
        amount_fen=charge.amount_fen,
        bill_period=charge.bill_period,
        description=charge.description,
    )


def charges_in_period(session: Session, subscriber_id: int, period: str) -> tuple[ChargeView, ...]:
    """The charges of one bill period, oldest first.

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        period: ``YYYY-MM``.
    """
    rows = session.scalars(
        select(Charge)
        .where(Charge.subscriber_id == subscriber_id, Charge.bill_period == period)
        .order_by(Charge.charged_at, Charge.id)
    )
    return tuple(_charge_view(c) for c in rows)


def period_spend_fen(session: Session, subscriber_id: int, period: str) -> int:
    """The sum of one period's charges, fen."""
    total = session.scalar(
        select(func.coalesce(func.sum(Charge.amount_fen), 0)).where(
            Charge.subscriber_id == subscriber_id, Charge.bill_period == period
        )
    )
    return int(total or 0)


def list_bills(session: Session, subscriber_id: int, limit: Optional[int] = None) -> tuple[BillView, ...]:
    """The subscriber's bills, newest period first.

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        limit: at most this many, if given.
    """
    query = select(Bill).where(Bill.subscriber_id == subscriber_id).order_by(Bill.period.desc())
    if limit is not None:
        query = query.limit(limit)
    return tuple(
        BillView(
            id=b.id,
            period=b.period,
            total_fen=b.total_fen,
            status=b.status,
            issued_at=b.issued_at,
            due_date=b.due_date,
        )
        for b in session.scalars(query)
    )


def active_subscriptions(session: Session, subscriber_id: int, now: datetime) -> tuple[SubscriptionView, ...]:
    """The value-added services the subscriber has at ``now``, oldest first."""
    rows = session.scalars(
        select(Subscription)
        .join(Service, Subscription.service_id == Service.id)
        .where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.started_at <= now,
            or_(Subscription.ended_at.is_(None), Subscription.ended_at > now),
        )
        .order_by(Subscription.started_at, Subscription.id)
    )
    return tuple(
        SubscriptionView(
            id=s.id,
            service_code=s.service.code,
            service_name=s.service.name,
            fee_fen=s.service.monthly_fee_fen,
            billing=s.service.billing,
            channel=s.channel,
            started_at=s.started_at,
            ended_at=s.ended_at,
            last_used_at=s.last_used_at,
        )
        for s in rows
    )


def alert_rules(
    session: Session, subscriber_id: int, *, include_inactive: bool = False
) -> tuple[AlertRuleView, ...]:
    """The subscriber's alert rules (active ones unless ``include_inactive``), oldest first."""
    query = select(AlertRule).where(AlertRule.subscriber_id == subscriber_id)
    if not include_inactive:
        query = query.where(AlertRule.active.is_(True))
    return tuple(
        AlertRuleView(
            id=r.id,
            alert_type=r.alert_type,
            threshold=r.threshold,
            channel=r.channel,
            active=bool(r.active),
            armed=bool(r.armed),
        )
        for r in session.scalars(query.order_by(AlertRule.id))
    )


def data_usage(session: Session, subscriber: Subscriber, period: str) -> Optional[DataUsageView]:
    """The subscriber's usage counters of ``period`` against the plan, or ``None`` if none exist."""
    row = session.scalars(
        select(DataUsage).where(DataUsage.subscriber_id == subscriber.id, DataUsage.period == period)
    ).one_or_none()
    if row is None:
        return None
    plan = subscriber.plan
    return DataUsageView(
        period=period,
        data_used_mb=row.data_used_mb,
        data_allowance_mb=plan.data_mb,
        voice_used_minutes=row.voice_used_minutes,
        voice_allowance_minutes=plan.voice_minutes,
        sms_used=row.sms_used,
        sms_allowance=plan.sms_count,
        updated_at=row.updated_at,
    )


def account_summary(session: Session, phone_or_id: str | int, now: datetime) -> AccountSummary:
    """The account at a glance: plan, money, services, alerts and usage.

    Args:
        session: the caller's unit of work.
        phone_or_id: the mobile number (str) or the subscriber's id (int).
        now: the current moment (aware); it decides the current bill period (Asia/Shanghai).

    Raises:
        UnknownSubscriber: no such subscriber.
    """
    sub = _subscriber(session, phone_or_id)
    period = local_period(now)
    plan = sub.plan
    return AccountSummary(
        subscriber_id=sub.id,
        name=sub.name,
        phone=sub.phone,
        masked_phone=mask_phone(sub.phone),
        status=sub.status,
        plan_code=plan.code,
        plan_name=plan.name,
        plan_fee_fen=plan.monthly_fee_fen,
        is_contract=bool(plan.is_contract),
        balance_fen=sub.balance_fen,
        arrears_fen=_arrears_fen(session, sub.id),
        period=period,
        month_spend_fen=period_spend_fen(session, sub.id, period),
        contract_end=sub.contract_end,
        early_termination_fee_fen=sub.early_termination_fee_fen,
        subscriptions=active_subscriptions(session, sub.id, now),
        alerts=alert_rules(session, sub.id),
        data_usage=data_usage(session, sub, period),
        as_of=now,
    )


def list_outbox(session: Session, phone: str, limit: int = 20) -> tuple[OutboxMessage, ...]:
    """The messages sent to a number, newest first.

    Args:
        session: the caller's unit of work.
        phone: the mobile number; spaces, dashes and ``+86`` are ignored.
        limit: at most this many.
    """
    number = normalise_phone(phone)
    if number is None or limit <= 0:
        return ()
    rows = session.scalars(
        select(Notification)
        .where(Notification.phone == number)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    return tuple(
        OutboxMessage(
            id=n.id,
            phone=n.phone,
            channel=n.channel,
            kind=n.kind,
            body=n.body,
            status=n.status,
            created_at=n.created_at,
        )
        for n in rows
    )


@dataclass(frozen=True)
class PlanView:
    """A subscriber's plan and what it includes."""

    code: str
    name: str
    monthly_fee_fen: int
    data_mb: int
    voice_minutes: int
    sms_count: int
    is_contract: bool
    contract_end: Optional[date]
    early_termination_fee_fen: int


def plan_of(session: Session, subscriber_id: int) -> PlanView:
    """The subscriber's plan with its allowances and contract terms."""
    subscriber = _subscriber(session, subscriber_id)
    plan = subscriber.plan
    return PlanView(
        code=plan.code,
        name=plan.name,
        monthly_fee_fen=plan.monthly_fee_fen,
        data_mb=plan.data_mb,
        voice_minutes=plan.voice_minutes,
        sms_count=plan.sms_count,
        is_contract=plan.is_contract,
        contract_end=subscriber.contract_end,
        early_termination_fee_fen=subscriber.early_termination_fee_fen,
    )
