"""Write side of the billing store: charges (扣费), payments (缴费) and usage, in the caller's transaction.

Nothing here commits: every function works inside the caller's unit of work
(``with store.transaction() as session: ...``), so a charge, its bill, its audit entry, the
alerts it fires (``bot.alerts.engine``) and whatever the hooks write commit together or not at
all. A charge whose alert SMS cannot be sent is rolled back with it
(``bot.alerts.engine.AlertDeliveryFailed``).

Bills follow two rules:

* the bill of a period always has ``total_fen`` = the sum of that period's charges;
* closed bills (status ``paid``/``unpaid``) are settled first-in, first-out: taken in period
  order, a bill is ``paid`` when the subscriber's payments to date cover it and every older
  bill, otherwise ``unpaid``. The current period's bill stays ``open`` until it is closed
  (:func:`close_bills_before`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot import audit
from bot.alerts import engine as alert_engine
from bot.alerts.engine import FiredAlert
from bot.billing.errors import (
    AccountClosed,
    InvalidAmount,
    InvalidChargeKind,
    InvalidPaymentMethod,
    UnknownService,
    UnknownSubscriber,
)
from bot.billing.models import (
    CHARGE_KINDS,
    Bill,
    Charge,
    DataUsage,
    Payment,
    Service,
    Subscriber,
    Subscription,
)
from bot.billing.queries import period_spend_fen
from bot.clock import local_period
from bot.notifications.sms import SmsGateway
from bot.phone import normalise_phone
from bot.texts.labels import CHARGE_KIND_LABELS

#: Payment methods the store accepts (the ``payments.method`` check constraint).
PAYMENT_METHODS = ("alipay", "wechat_pay", "hall", "bank_card", "refund")

ChargeHook = Callable[[Session, Subscriber, Charge, datetime], None]
PaymentHook = Callable[[Session, Subscriber, Payment, datetime], None]

#: Called as ``hook(session, subscriber, charge, at)`` after :func:`post_charge` wrote the charge,
#: the new balance and the bill (all flushed, same transaction) and evaluated the alert rules
#: (余额/消费/扣费提醒, ``bot.alerts.engine.on_charge_posted``, called directly, not through this
#: list). A hook that raises rolls the whole charge back, so hooks must only raise for real
#: faults. Register with ``CHARGE_POSTED_HOOKS.append(fn)``; hooks run in registration order.
CHARGE_POSTED_HOOKS: list[ChargeHook] = []

#: Called as ``hook(session, subscriber, payment, at)`` after :func:`record_payment` wrote the
#: payment, the new balance and the settled bills (same transaction) and re-armed the balance
#: alerts whose condition cleared (``bot.alerts.engine.on_payment_recorded``, called directly).
#: Same rules as :data:`CHARGE_POSTED_HOOKS`.
PAYMENT_RECORDED_HOOKS: list[PaymentHook] = []


@dataclass(frozen=True)
class ChargeResult:
    """A charge that was posted.

    Attributes:
        charge_id: the new charge's id.
        subscriber_id: whose account.
        phone: the account's number.
        amount_fen: the amount deducted, fen.
        item_kind: one of ``CHARGE_KINDS``.
        service_code: the service charged for, if any.
        subscription_id: the subscription charged for, if the subscriber has one for the service.
        description: the bill line.
        charged_at: when (aware UTC).
        bill_period: ``YYYY-MM`` (Asia/Shanghai) the charge belongs to.
        bill_id: that period's bill.
        bill_total_fen: the bill's total after the charge.
        balance_fen: the balance after the charge.
        alerts_fired: the subscriber's alerts this charge fired, in firing order.
    """

    charge_id: int
    subscriber_id: int
    phone: str
    amount_fen: int
    item_kind: str
    service_code: Optional[str]
    subscription_id: Optional[int]
    description: str
    charged_at: datetime
    bill_period: str
    bill_id: int
    bill_total_fen: int
    balance_fen: int
    alerts_fired: tuple[FiredAlert, ...] = ()


@dataclass(frozen=True)
class PaymentResult:
    """A payment that was recorded.

    Attributes:
        payment_id: the new payment's id.
        subscriber_id: whose account.
        phone: the account's number.
        amount_fen: the amount paid in, fen.
        method: one of :data:`PAYMENT_METHODS`.
        paid_at: when (aware UTC).
        balance_fen: the balance after the payment.
        arrears_fen: the total of still unpaid bills after the payment.
        bills_paid: periods whose bill became ``paid`` through this payment, oldest first.
    """

    payment_id: int
    subscriber_id: int
    phone: str
    amount_fen: int
    method: str
    paid_at: datetime
    balance_fen: int
    arrears_fen: int
    bills_paid: tuple[str, ...]


def _check_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError("'at' must be a timezone-aware datetime")


def _check_amount(amount_fen: object) -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise InvalidAmount(amount_fen)
    return amount_fen


def _locked_subscriber(session: Session, phone: str) -> Subscriber:
    """The subscriber, row-locked until the transaction ends (PostgreSQL; SQLite locks the file)."""
    number = normalise_phone(phone)
    found = None
    if number is not None:
        found = session.scalars(
            select(Subscriber).where(Subscriber.phone == number).with_for_update()
        ).one_or_none()
    if found is None:
        raise UnknownSubscriber(phone)
    if found.status == "closed":
        raise AccountClosed(found.phone)
    return found


def _payments_total(session: Session, subscriber_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(Payment.subscriber_id == subscriber_id)
    )
    return int(total or 0)


def _arrears(session: Session, subscriber_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Bill.total_fen), 0)).where(
            Bill.subscriber_id == subscriber_id, Bill.status == "unpaid"
        )
    )
    return int(total or 0)


def settle_bills(session: Session, subscriber_id: int) -> dict[str, str]:
    """Re-derives the status of the subscriber's closed bills, first-in, first-out.

    Closed bills (``paid``/``unpaid``) are taken in period order; a bill is ``paid`` when the
    subscriber's total payments cover it and every older closed bill, otherwise ``unpaid``.
    ``open`` bills are not touched.

    Args:
        session: the caller's unit of work.
        subscriber_id: whose bills.

    Returns:
        ``{period: new_status}`` for each bill whose status changed.
    """
    session.flush()
    available = _payments_total(session, subscriber_id)
    bills = session.scalars(
        select(Bill)
        .where(Bill.subscriber_id == subscriber_id, Bill.status.in_(("paid", "unpaid")))
        .order_by(Bill.period)
    )
    changed: dict[str, str] = {}
    cumulative = 0
    for bill in bills:
        cumulative += bill.total_fen
        status = "paid" if available >= cumulative else "unpaid"
        if bill.status != status:
            bill.status = status
            changed[bill.period] = status
    session.flush()
    return changed


def close_bills_before(
    session: Session, subscriber_id: int, current_period: str, *, at: datetime
) -> dict[str, str]:
    """Closes the subscriber's ``open`` bills of periods before ``current_period`` (month end).

    Each such bill is issued (``issued_at`` = ``at`` unless already set) and then settled with
    every other closed bill by :func:`settle_bills`.

    Args:
        session: the caller's unit of work.
        subscriber_id: whose bills.
        current_period: ``YYYY-MM``; bills of this period and later stay open.
        at: when the bills are issued (aware).

    Returns:
        ``{period: status}`` for each bill closed now or whose status changed.
    """
    _check_aware(at)
    closed: dict[str, str] = {}
    for bill in session.scalars(
        select(Bill).where(
            Bill.subscriber_id == subscriber_id, Bill.status == "open", Bill.period < current_period
        )
    ):
        bill.status = "unpaid"
        if bill.issued_at is None:
            bill.issued_at = at
        closed[bill.period] = "unpaid"
    changed = settle_bills(session, subscriber_id)
    closed.update(changed)
    return dict(sorted(closed.items()))


def _update_bill(session: Session, subscriber_id: int, period: str) -> Bill:
    """Creates or updates the period's bill so its total is the sum of the period's charges."""
    session.flush()
    total = period_spend_fen(session, subscriber_id, period)
    bill = session.scalars(
        select(Bill).where(Bill.subscriber_id == subscriber_id, Bill.period == period)
    ).one_or_none()
    if bill is None:
        bill = Bill(subscriber_id=subscriber_id, period=period, total_fen=total, status="open")
        session.add(bill)
        session.flush()
    elif bill.total_fen != total:
        bill.total_fen = total
        if bill.status != "open":
            settle_bills(session, subscriber_id)
    return bill


def _default_description(item_kind: str, service: Optional[Service]) -> str:
    if service is not None:
        suffix = "按次订购" if service.billing == "per_use" else "月功能费"
        return f"{service.name}{suffix}"
    return CHARGE_KIND_LABELS.get(item_kind, item_kind)


def post_charge(
    session: Session,
    *,
    phone: str,
    amount_fen: int,
    item_kind: str,
    description: str,
    service_code: Optional[str] = None,
    at: datetime,
    actor: str = "billing_feed",
    conversation_id: Optional[str] = None,
    sms: Optional[SmsGateway] = None,
) -> ChargeResult:
    """Posts a deduction as the billing system does, in the caller's transaction.

    Validates everything before writing anything; then inserts the charge (bill period =
    ``local_period(at)``), lowers the balance, creates or updates the period's bill (a new
    bill is ``open``; its total is the sum of the period's charges), writes an audit entry,
    fires the subscriber's alerts (``bot.alerts.engine.on_charge_posted``) and finally calls
    every :data:`CHARGE_POSTED_HOOKS` hook.

    If the subscriber has a subscription to ``service_code`` running at ``at``, the charge is
    linked to it (the most recently started one).

    Args:
        session: the caller's unit of work.
        phone: the account's number.
        amount_fen: amount in fen, a positive ``int``.
        item_kind: one of ``bot.billing.models.CHARGE_KINDS``.
        description: the bill line; when empty, one is made from the service or kind.
        service_code: the catalogue code of the service charged for, if any.
        at: when the charge happens (aware).
        actor: who posts it, for the audit log.
        conversation_id: the conversation that caused it, if any.
        sms: the gateway for alert SMS; ``gateway_from_settings(get_settings())`` when ``None``.

    Returns:
        The charge, the new balance, the bill and the alerts fired.

    Raises:
        InvalidAmount: ``amount_fen`` is not a positive int.
        InvalidChargeKind: unknown ``item_kind``.
        UnknownService: unknown ``service_code``.
        UnknownSubscriber: no subscriber has this number.
        AccountClosed: the account is closed.
        AlertDeliveryFailed: an alert SMS could not be sent; the caller must roll back (the
            ``store.transaction()`` block does), so the charge is not posted.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    amount = _check_amount(amount_fen)
    if item_kind not in CHARGE_KINDS:
        raise InvalidChargeKind(item_kind)
    service: Optional[Service] = None
    if service_code is not None:
        service = session.scalars(select(Service).where(Service.code == service_code)).one_or_none()
        if service is None:
            raise UnknownService(service_code)
    subscriber = _locked_subscriber(session, phone)

    subscription_id: Optional[int] = None
    if service is not None:
        subscription_id = session.scalar(
            select(Subscription.id)
            .where(
                Subscription.subscriber_id == subscriber.id,
                Subscription.service_id == service.id,
                Subscription.started_at <= at,
                or_(Subscription.ended_at.is_(None), Subscription.ended_at > at),
            )
            .order_by(Subscription.started_at.desc(), Subscription.id.desc())
            .limit(1)
        )

    period = local_period(at)
    text = description.strip() if description else ""
    charge = Charge(
        subscriber_id=subscriber.id,
        charged_at=at,
        item_kind=item_kind,
        service_id=service.id if service is not None else None,
        subscription_id=subscription_id,
        amount_fen=amount,
        bill_period=period,
        description=text or _default_description(item_kind, service),
    )
    session.add(charge)
    # An SQL expression, so concurrent writers never lose an update.
    subscriber.balance_fen = Subscriber.balance_fen - amount
    session.flush()
    session.refresh(subscriber, ["balance_fen"])
    bill = _update_bill(session, subscriber.id, period)

    audit.record(
        session,
        at=at,
        actor=actor,
        action="charge.posted",
        subscriber_id=subscriber.id,
        entity="charge",
        entity_id=charge.id,
        conversation_id=conversation_id,
        details={
            "amount_fen": amount,
            "item_kind": item_kind,
            "service": service_code,
            "bill_period": period,
            "balance_fen": subscriber.balance_fen,
        },
    )
    session.flush()
    fired = alert_engine.on_charge_posted(session, subscriber, charge, at, sms=sms)
    for hook in list(CHARGE_POSTED_HOOKS):
        hook(session, subscriber, charge, at)

    return ChargeResult(
        charge_id=charge.id,
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        amount_fen=amount,
        item_kind=item_kind,
        service_code=service_code,
        subscription_id=subscription_id,
        description=charge.description,
        charged_at=at,
        bill_period=period,
        bill_id=bill.id,
        bill_total_fen=bill.total_fen,
        balance_fen=subscriber.balance_fen,
        alerts_fired=fired,
    )


def record_payment(
    session: Session,
    *,
    phone: str,
    amount_fen: int,
    method: str,
    at: datetime,
    reference: str = "",
    actor: str = "billing_feed",
    conversation_id: Optional[str] = None,
    sms: Optional[SmsGateway] = None,
) -> PaymentResult:
    """Records money paid into an account (充值/缴费, or a refund), in the caller's transaction.

    Validates everything before writing anything; then inserts the payment, raises the
    balance, settles the closed bills first-in, first-out (:func:`settle_bills`), writes an
    audit entry, re-arms the balance alerts whose condition cleared
    (``bot.alerts.engine.on_payment_recorded``) and calls every :data:`PAYMENT_RECORDED_HOOKS`
    hook. A suspended account is
    not restored here (that is a business decision for the caller).

    Args:
        session: the caller's unit of work.
        phone: the account's number.
        amount_fen: amount in fen, a positive ``int``.
        method: one of :data:`PAYMENT_METHODS`.
        at: when it was paid (aware).
        reference: the payment provider's reference, if any.
        actor: who records it, for the audit log.
        conversation_id: the conversation that caused it, if any.
        sms: the gateway for alert SMS (a payment sends none today; accepted so callers can
            treat charges and payments alike).

    Returns:
        The payment, the new balance and arrears, and the bills it paid.

    Raises:
        InvalidAmount: ``amount_fen`` is not a positive int.
        InvalidPaymentMethod: unknown ``method``.
        UnknownSubscriber: no subscriber has this number.
        AccountClosed: the account is closed.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    amount = _check_amount(amount_fen)
    if method not in PAYMENT_METHODS:
        raise InvalidPaymentMethod(method)
    subscriber = _locked_subscriber(session, phone)

    payment = Payment(
        subscriber_id=subscriber.id, paid_at=at, amount_fen=amount, method=method, reference=reference or ""
    )
    session.add(payment)
    subscriber.balance_fen = Subscriber.balance_fen + amount
    session.flush()
    session.refresh(subscriber, ["balance_fen"])
    changed = settle_bills(session, subscriber.id)
    bills_paid = tuple(sorted(p for p, status in changed.items() if status == "paid"))
    arrears = _arrears(session, subscriber.id)

    audit.record(
        session,
        at=at,
        actor=actor,
        action="payment.recorded",
        subscriber_id=subscriber.id,
        entity="payment",
        entity_id=payment.id,
        conversation_id=conversation_id,
        details={
            "amount_fen": amount,
            "method": method,
            "balance_fen": subscriber.balance_fen,
            "bills_paid": list(bills_paid),
        },
    )
    session.flush()
    alert_engine.on_payment_recorded(session, subscriber, payment, at, sms=sms)
    for hook in list(PAYMENT_RECORDED_HOOKS):
        hook(session, subscriber, payment, at)

    return PaymentResult(
        payment_id=payment.id,
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        amount_fen=amount,
        method=method,
        paid_at=at,
        balance_fen=subscriber.balance_fen,
        arrears_fen=arrears,
        bills_paid=bills_paid,
    )


@dataclass(frozen=True)
class UsageResult:
    """Usage counters that were updated.

    Attributes:
        subscriber_id: whose account.
        phone: the account's number.
        period: ``YYYY-MM`` (Asia/Shanghai) of the counters.
        data_used_mb: data used in the period, MB, as now stored.
        data_allowance_mb: the plan's data allowance, MB.
        updated_at: when (aware UTC).
        alerts_fired: the data alerts this update fired.
    """

    subscriber_id: int
    phone: str
    period: str
    data_used_mb: int
    data_allowance_mb: int
    updated_at: datetime
    alerts_fired: tuple[FiredAlert, ...] = ()

    @property
    def data_percent(self) -> int:
        """Data used as a whole percentage of the allowance (rounded down; 0 without allowance)."""
        if self.data_allowance_mb <= 0:
            return 0
        return self.data_used_mb * 100 // self.data_allowance_mb


def record_usage(
    session: Session,
    *,
    phone: str,
    data_used_mb: int,
    at: datetime,
    actor: str = "billing_feed",
    sms: Optional[SmsGateway] = None,
) -> UsageResult:
    """Sets the data used in the current period as the usage feed reports it, in the caller's transaction.

    ``data_used_mb`` is the period's running total (a counter, not an increment); a lower value
    than stored is taken as a correction. The counters row of the period (``local_period(at)``)
    is created when missing (voice and SMS at 0). Then an audit entry is written and the
    subscriber's data alerts are evaluated (``bot.alerts.engine.on_usage_updated``).

    Args:
        session: the caller's unit of work.
        phone: the account's number.
        data_used_mb: data used this period, MB, a non-negative ``int``.
        at: when the counter was read (aware).
        actor: who records it, for the audit log.
        sms: the gateway for alert SMS; ``gateway_from_settings(get_settings())`` when ``None``.

    Returns:
        The counters now stored and the alerts fired.

    Raises:
        InvalidAmount: ``data_used_mb`` is not a non-negative int.
        UnknownSubscriber: no subscriber has this number.
        AccountClosed: the account is closed.
        AlertDeliveryFailed: an alert SMS could not be sent; the caller must roll back.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    if isinstance(data_used_mb, bool) or not isinstance(data_used_mb, int) or data_used_mb < 0:
        raise InvalidAmount(
            data_used_mb, reason=f"流量用量无效：{data_used_mb!r}（须为不小于 0 的整数，单位 MB）"
        )
    subscriber = _locked_subscriber(session, phone)
    period = local_period(at)
    usage = session.scalars(
        select(DataUsage).where(DataUsage.subscriber_id == subscriber.id, DataUsage.period == period)
    ).one_or_none()
    before: Optional[int] = None
    if usage is None:
        usage = DataUsage(
            subscriber_id=subscriber.id,
            period=period,
            data_used_mb=data_used_mb,
            voice_used_minutes=0,
            sms_used=0,
            updated_at=at,
        )
        session.add(usage)
    else:
        before = usage.data_used_mb
        usage.data_used_mb = data_used_mb
        usage.updated_at = at
    session.flush()
    audit.record(
        session,
        at=at,
        actor=actor,
        action="usage.recorded",
        subscriber_id=subscriber.id,
        entity="data_usage",
        entity_id=usage.id,
        details={"bill_period": period, "data_used_mb": data_used_mb, "before_mb": before},
    )
    session.flush()
    fired = alert_engine.on_usage_updated(session, subscriber, period, at, sms=sms)
    return UsageResult(
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        period=period,
        data_used_mb=data_used_mb,
        data_allowance_mb=int(subscriber.plan.data_mb),
        updated_at=at,
        alerts_fired=fired,
    )
