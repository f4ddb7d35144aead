"""The ledger: the one writer of charges, payments, bills and usage counters.

Whatever moves money or usage goes through here — ``bot.billing.posting`` (the billing feed,
``python -m bot post-charge``) and the settlement of a closure (``bot.billing.closure``) alike —
so the balance, the bill totals and the audit entries follow one set of rules:

* a charge lowers the balance and a payment raises it, each by an SQL expression under the
  subscriber's row lock, so ``balance == payments - charges`` always holds and concurrent
  writers never lose an update;
* the bill of a period always has ``total_fen`` = the sum of that period's charges;
* closed bills (status ``paid``/``unpaid``) are settled first-in, first-out: taken in period
  order, a bill is ``paid`` when the subscriber's payments to date cover it and every older
  bill, otherwise ``unpaid``. The current period's bill stays ``open`` until it is closed
  (:func:`close_bills_before` at month end, :func:`close_open_bills` when the account closes);
* every write has one audit entry (``charge.posted``, ``payment.recorded``, ``usage.recorded``);
* every write is published (:mod:`bot.billing.events`) once the rows and the audit entry are
  flushed; the subscribers' notices come back in the result.

Nothing here validates the caller's input (the callers do, before writing anything) and nothing
commits: everything happens in the caller's unit of work, with the subscriber row already locked
by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing import events
from bot.billing.models import Bill, Charge, DataUsage, Payment, Service, Subscriber
from bot.billing.queries import period_spend_fen
from bot.clock import local_period
from bot.notifications.sms import SmsGateway


def _check_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError("'at' must be a timezone-aware datetime")


# --------------------------------------------------------------------------- bills


def payments_total_fen(session: Session, subscriber_id: int) -> int:
    """Everything the subscriber has paid in, fen."""
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(Payment.subscriber_id == subscriber_id)
    )
    return int(total or 0)


def unpaid_bills_fen(session: Session, subscriber_id: int) -> int:
    """The total of the subscriber's ``unpaid`` bills, fen."""
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
    available = payments_total_fen(session, subscriber_id)
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


def _close_open(
    session: Session, subscriber_id: int, at: datetime, before_period: Optional[str]
) -> list[str]:
    """Issues the ``open`` bills (of periods before ``before_period``, or all) as ``unpaid``."""
    query = select(Bill).where(Bill.subscriber_id == subscriber_id, Bill.status == "open")
    if before_period is not None:
        query = query.where(Bill.period < before_period)
    closed: list[str] = []
    for bill in session.scalars(query.order_by(Bill.period)):
        bill.status = "unpaid"
        if bill.issued_at is None:
            bill.issued_at = at
        closed.append(bill.period)
    return closed


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
    closed = {period: "unpaid" for period in _close_open(session, subscriber_id, at, current_period)}
    closed.update(settle_bills(session, subscriber_id))
    return dict(sorted(closed.items()))


def close_open_bills(session: Session, subscriber_id: int, *, at: datetime) -> list[str]:
    """Closes every ``open`` bill of the subscriber, the current period's too (the account closes).

    The bill of ``at``'s period is brought up to date first (made if the period has charges and
    no bill yet); then every open bill is issued and all closed bills are settled
    (:func:`settle_bills`).

    Args:
        session: the caller's unit of work.
        subscriber_id: whose bills.
        at: when the bills are issued (aware).

    Returns:
        The periods of the bills closed now, oldest first.
    """
    _check_aware(at)
    session.flush()
    period = local_period(at)
    has_bill = _period_bill(session, subscriber_id, period) is not None
    if has_bill or period_spend_fen(session, subscriber_id, period) > 0:
        _update_bill(session, subscriber_id, period)
    closed = _close_open(session, subscriber_id, at, None)
    settle_bills(session, subscriber_id)
    return closed


def _period_bill(session: Session, subscriber_id: int, period: str) -> Optional[Bill]:
    return session.scalars(
        select(Bill).where(Bill.subscriber_id == subscriber_id, Bill.period == period)
    ).one_or_none()


def _update_bill(session: Session, subscriber_id: int, period: str) -> Bill:
    """Creates or updates the period's bill so its total is the sum of the period's charges."""
    session.flush()
    total = period_spend_fen(session, subscriber_id, period)
    bill = _period_bill(session, subscriber_id, period)
    if bill is None:
        bill = Bill(subscriber_id=subscriber_id, period=period, total_fen=total, status="open")
        session.add(bill)
        session.flush()
    elif bill.total_fen != total:
        bill.total_fen = total
        if bill.status != "open":
            settle_bills(session, subscriber_id)
    return bill


# --------------------------------------------------------------------------- writers


@dataclass(frozen=True)
class PostedCharge:
    """What :func:`write_charge` wrote.

    Attributes:
        charge: the new charge (flushed).
        bill: its period's bill, total up to date.
        notices: what the event's subscribers told the account holder (e.g. alerts fired).
    """

    charge: Charge
    bill: Bill
    notices: tuple[events.Notice, ...]


def write_charge(
    session: Session,
    subscriber: Subscriber,
    *,
    amount_fen: int,
    item_kind: str,
    description: str,
    at: datetime,
    actor: str,
    service: Optional[Service] = None,
    subscription_id: Optional[int] = None,
    purpose: Optional[str] = None,
    conversation_id: Optional[str] = None,
    sms: Optional[SmsGateway] = None,
) -> PostedCharge:
    """Writes a charge: the row, the lower balance, the period's bill, the audit entry, the event.

    The bill period is ``local_period(at)``. Then :class:`~bot.billing.events.ChargePosted` is
    published; a subscriber that raises leaves the caller to roll everything back.

    Args:
        session: the caller's unit of work.
        subscriber: whose account, row-locked by the caller.
        amount_fen: the amount, fen (positive, validated by the caller).
        item_kind: one of ``CHARGE_KINDS`` (validated by the caller).
        description: the bill line (not empty).
        at: when (aware).
        actor: who writes it, for the audit log.
        service: the service charged for, if any.
        subscription_id: the subscription charged for, if any.
        purpose: why, when it is not an ordinary charge (``termination_fee``, ``refund``: the
            settlement of a closure); in the audit entry and the event.
        conversation_id: the conversation that caused it, if any.
        sms: the gateway for messages the event causes (``None``: the subscribers' default).
    """
    period = local_period(at)
    charge = Charge(
        subscriber_id=subscriber.id,
        charged_at=at,
        item_kind=item_kind,
        service_id=service.id if service is not None else None,
        subscription_id=subscription_id,
        amount_fen=amount_fen,
        bill_period=period,
        description=description,
    )
    session.add(charge)
    # An SQL expression, so concurrent writers never lose an update.
    subscriber.balance_fen = Subscriber.balance_fen - amount_fen
    session.flush()
    session.refresh(subscriber, ["balance_fen"])
    bill = _update_bill(session, subscriber.id, period)

    service_code = service.code if service is not None else None
    details: dict[str, Any] = {
        "amount_fen": amount_fen,
        "item_kind": item_kind,
        "service": service_code,
        "bill_period": period,
        "balance_fen": subscriber.balance_fen,
    }
    if purpose is not None:
        details["purpose"] = purpose
    audit.record(
        session,
        at=at,
        actor=actor,
        action="charge.posted",
        subscriber_id=subscriber.id,
        entity="charge",
        entity_id=charge.id,
        conversation_id=conversation_id,
        details=details,
    )
    session.flush()
    event = events.ChargePosted(
        charge_id=charge.id,
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        amount_fen=amount_fen,
        item_kind=item_kind,
        description=charge.description,
        service_code=service_code,
        charged_at=at,
        bill_period=period,
        balance_fen=int(subscriber.balance_fen),
        purpose=purpose,
    )
    return PostedCharge(charge=charge, bill=bill, notices=events.publish(session, event, sms))


@dataclass(frozen=True)
class RecordedPayment:
    """What :func:`write_payment` wrote.

    Attributes:
        payment: the new payment (flushed).
        bills_paid: periods whose bill became ``paid`` through it, oldest first.
        arrears_fen: the total of still unpaid bills after it.
        notices: what the event's subscribers told the account holder.
        event: what was published (``PaymentRecorded``).
    """

    payment: Payment
    bills_paid: tuple[str, ...]
    arrears_fen: int
    notices: tuple[events.Notice, ...]
    event: events.PaymentRecorded


def write_payment(
    session: Session,
    subscriber: Subscriber,
    *,
    amount_fen: int,
    method: str,
    at: datetime,
    actor: str,
    reference: str = "",
    conversation_id: Optional[str] = None,
    sms: Optional[SmsGateway] = None,
) -> RecordedPayment:
    """Writes a payment: the row, the higher balance, the settled bills, the audit entry, the event.

    Args:
        session: the caller's unit of work.
        subscriber: whose account, row-locked by the caller.
        amount_fen: the amount, fen (positive, validated by the caller).
        method: how it was paid (validated by the caller).
        at: when (aware).
        actor: who records it, for the audit log.
        reference: the payment provider's reference, if any.
        conversation_id: the conversation that caused it, if any.
        sms: the gateway for messages the event causes.
    """
    payment = Payment(
        subscriber_id=subscriber.id,
        paid_at=at,
        amount_fen=amount_fen,
        method=method,
        reference=reference or "",
    )
    session.add(payment)
    subscriber.balance_fen = Subscriber.balance_fen + amount_fen
    session.flush()
    session.refresh(subscriber, ["balance_fen"])
    changed = settle_bills(session, subscriber.id)
    bills_paid = tuple(sorted(p for p, status in changed.items() if status == "paid"))
    arrears = unpaid_bills_fen(session, subscriber.id)

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
            "amount_fen": amount_fen,
            "method": method,
            "balance_fen": subscriber.balance_fen,
            "bills_paid": list(bills_paid),
        },
    )
    session.flush()
    event = events.PaymentRecorded(
        payment_id=payment.id,
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        amount_fen=amount_fen,
        method=method,
        paid_at=at,
        balance_fen=int(subscriber.balance_fen),
        arrears_fen=arrears,
        bills_paid=bills_paid,
    )
    notices = events.publish(session, event, sms)
    return RecordedPayment(
        payment=payment, bills_paid=bills_paid, arrears_fen=arrears, notices=notices, event=event
    )


@dataclass(frozen=True)
class RecordedUsage:
    """What :func:`write_usage` wrote.

    Attributes:
        usage: the period's counters row (flushed).
        period: ``YYYY-MM`` of the counters.
        notices: what the event's subscribers told the account holder (e.g. data alerts).
    """

    usage: DataUsage
    period: str
    notices: tuple[events.Notice, ...]


def write_usage(
    session: Session,
    subscriber: Subscriber,
    *,
    data_used_mb: int,
    at: datetime,
    actor: str,
    sms: Optional[SmsGateway] = None,
) -> RecordedUsage:
    """Sets the data used in ``at``'s period (a running total), audits it and publishes it.

    The counters row of the period is created when missing (voice and SMS at 0).

    Args:
        session: the caller's unit of work.
        subscriber: whose account, row-locked by the caller.
        data_used_mb: data used this period, MB (non-negative, validated by the caller).
        at: when the counter was read (aware).
        actor: who records it, for the audit log.
        sms: the gateway for messages the event causes.
    """
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
    event = events.UsageRecorded(
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        period=period,
        data_used_mb=data_used_mb,
        data_before_mb=before,
        data_allowance_mb=int(subscriber.plan.data_mb),
        recorded_at=at,
    )
    return RecordedUsage(usage=usage, period=period, notices=events.publish(session, event, sms))
