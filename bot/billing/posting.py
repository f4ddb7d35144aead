"""Write side of the billing store: charges (扣费), payments (缴费) and usage, in the caller's transaction.

These are the entry points of the billing feed and ``python -m bot post-charge``/``post-usage``:
they validate everything before writing anything, lock the subscriber's row, and hand the
writing to the ledger (:mod:`bot.billing.ledger`: the balance, the bills, the audit entry), which
publishes the write (:mod:`bot.billing.events`). The subscribers of the events — the alert engine,
wired by ``bot.app.wire_events`` — run in the same transaction; what they fired comes back in the
result (``alerts_fired``). Billing never imports the alerts.

Nothing here commits: every function works inside the caller's unit of work
(``with store.transaction() as session: ...``), so a charge, its bill, its audit entry, the
alerts it fires and whatever the hooks write commit together or not at all. A charge whose alert
SMS cannot be sent is rolled back with it (the engine raises ``AlertDeliveryFailed``, a
``BillingError``).

Bills follow the ledger's rules (see :mod:`bot.billing.ledger`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.billing import ledger
from bot.billing.errors import (
    AccountClosed,
    InvalidAmount,
    InvalidChargeKind,
    InvalidPaymentMethod,
    UnknownService,
    UnknownSubscriber,
)
from bot.billing.events import Notice, PaymentRecorded
from bot.billing.ledger import settle_bills as settle_bills  # re-exported: bot.seed builds the demo bills
from bot.billing.models import CHARGE_KINDS, Service, Subscriber, Subscription
from bot.notifications.sms import SmsGateway
from bot.phone import normalise_phone
from bot.texts import ledger as texts
from bot.texts.labels import CHARGE_KIND_LABELS

#: Payment methods the store accepts (the ``payments.method`` check constraint).
PAYMENT_METHODS = ("alipay", "wechat_pay", "hall", "bank_card", "refund")


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
        alerts_fired: the subscriber's alerts this charge fired, in firing order (the notices
            of the ``ChargePosted`` subscribers; ``bot.alerts.engine.FiredAlert`` once wired).
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
    alerts_fired: tuple[Notice, ...] = ()


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


def _default_description(item_kind: str, service: Optional[Service]) -> str:
    if service is not None:
        return texts.service_charge_line(service.name, per_use=service.billing == "per_use")
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

    Validates everything before writing anything; then the ledger (:func:`bot.billing.ledger.write_charge`)
    inserts the charge (bill period = ``local_period(at)``), lowers the balance, creates or updates
    the period's bill (a new bill is ``open``; its total is the sum of the period's charges), writes
    an audit entry and publishes ``ChargePosted`` (the subscriber's alerts fire).

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

    text = description.strip() if description else ""
    posted = ledger.write_charge(
        session,
        subscriber,
        amount_fen=amount,
        item_kind=item_kind,
        description=text or _default_description(item_kind, service),
        at=at,
        actor=actor,
        service=service,
        subscription_id=subscription_id,
        conversation_id=conversation_id,
        sms=sms,
    )
    charge, bill = posted.charge, posted.bill

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
        bill_period=charge.bill_period,
        bill_id=bill.id,
        bill_total_fen=bill.total_fen,
        balance_fen=subscriber.balance_fen,
        alerts_fired=posted.notices,
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
) -> PaymentRecorded:
    """Records money paid into an account (充值/缴费, or a refund), in the caller's transaction.

    Validates everything before writing anything; then the ledger
    (:func:`bot.billing.ledger.write_payment`) inserts the payment, raises the balance, settles
    the closed bills first-in, first-out, writes an audit entry and publishes ``PaymentRecorded``
    (the balance alerts whose condition cleared are re-armed). A suspended account is not restored
    here (that is a business decision for the caller).

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
        The payment as billing published it (``PaymentRecorded``): the new balance and arrears, and
        the bills it paid.

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

    recorded = ledger.write_payment(
        session,
        subscriber,
        amount_fen=amount,
        method=method,
        at=at,
        actor=actor,
        reference=reference,
        conversation_id=conversation_id,
        sms=sms,
    )
    return recorded.event


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
    alerts_fired: tuple[Notice, ...] = ()

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
    is created when missing (voice and SMS at 0). Then an audit entry is written and
    ``UsageRecorded`` is published (the subscriber's data alerts are evaluated); all by the
    ledger (:func:`bot.billing.ledger.write_usage`).

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
        raise InvalidAmount(data_used_mb, reason=texts.invalid_data_usage(data_used_mb))
    subscriber = _locked_subscriber(session, phone)
    recorded = ledger.write_usage(session, subscriber, data_used_mb=data_used_mb, at=at, actor=actor, sms=sms)
    return UsageResult(
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        period=recorded.period,
        data_used_mb=data_used_mb,
        data_allowance_mb=int(subscriber.plan.data_mb),
        updated_at=at,
        alerts_fired=recorded.notices,
    )
