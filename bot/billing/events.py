"""What billing tells the rest of the assistant: a charge was posted, a payment or usage recorded.

The ledger (:mod:`bot.billing.ledger`) publishes one event for every row it writes, in the
writer's transaction and under the subscriber's row lock, after the balance, the bills and the
audit entry are flushed. Billing does not know who listens: subscribers are registered at wiring
time (``bot.app.wire_events``; the alert engine is one), never by billing itself.

A subscriber is called as ``handler(session, event, sms)``:

* ``session`` is the writer's unit of work; whatever the handler writes commits or rolls back
  with the charge, and a handler that raises rolls the whole write back (so handlers raise only
  for real faults, e.g. an alert SMS the gateway refused);
* ``sms`` is the gateway the caller chose for messages this write causes (``None``: the
  handler's own default);
* it returns what it told the subscriber because of the event (:class:`Notice`, e.g. the
  alerts that fired), possibly nothing; the publisher collects them, in subscription order,
  and the writer's result carries them (``ChargeResult.alerts_fired``).

Events are plain frozen values (ids, amounts, times), never ORM rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional, Protocol, TypeVar, Union

from sqlalchemy.orm import Session

from bot.notifications.sms import SmsGateway

#: The ``purpose`` of the charges that settle a closure (销户): the early-termination fee and the
#: refund of what is left of the balance.
SETTLEMENT_PURPOSES = ("termination_fee", "refund")


class Notice(Protocol):
    """What a subscriber told the account holder because of an event (e.g. an alert that fired)."""

    @property
    def label(self) -> str: ...

    @property
    def body(self) -> str: ...


@dataclass(frozen=True)
class ChargePosted:
    """A charge (扣费) was written.

    Attributes:
        charge_id: the charge.
        subscriber_id: whose account.
        phone: the account's number.
        amount_fen: the amount deducted, fen (positive).
        item_kind: one of ``bot.billing.models.CHARGE_KINDS``.
        description: the bill line.
        service_code: the catalogue code of the service charged for, if any.
        charged_at: when (aware).
        bill_period: ``YYYY-MM`` (Asia/Shanghai) the charge belongs to.
        balance_fen: the balance after the charge.
        purpose: ``None`` for an ordinary charge (billing feed, CLI); one of
            :data:`SETTLEMENT_PURPOSES` for a charge that settles a closure.
    """

    charge_id: int
    subscriber_id: int
    phone: str
    amount_fen: int
    item_kind: str
    description: str
    service_code: Optional[str]
    charged_at: datetime
    bill_period: str
    balance_fen: int
    purpose: Optional[str] = None

    @property
    def settles_closure(self) -> bool:
        """Whether the charge is part of closing the account (the fee or the refund)."""
        return self.purpose in SETTLEMENT_PURPOSES


@dataclass(frozen=True)
class PaymentRecorded:
    """Money was paid into an account (充值/缴费, or a refund).

    Attributes:
        payment_id: the payment.
        subscriber_id: whose account.
        phone: the account's number.
        amount_fen: the amount paid in, fen.
        method: how (``alipay``, ``wechat_pay``, ``hall``, ``bank_card``, ``refund``).
        paid_at: when (aware).
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


@dataclass(frozen=True)
class UsageRecorded:
    """The usage feed set a period's data counter.

    Attributes:
        subscriber_id: whose account.
        phone: the account's number.
        period: ``YYYY-MM`` (Asia/Shanghai) of the counters.
        data_used_mb: data used in the period, MB, as now stored.
        data_before_mb: the stored value before (``None`` if the period had no counters).
        data_allowance_mb: the plan's data allowance, MB.
        recorded_at: when the counter was read (aware).
    """

    subscriber_id: int
    phone: str
    period: str
    data_used_mb: int
    data_before_mb: Optional[int]
    data_allowance_mb: int
    recorded_at: datetime


Event = Union[ChargePosted, PaymentRecorded, UsageRecorded]
E = TypeVar("E", ChargePosted, PaymentRecorded, UsageRecorded)
#: ``handler(session, event, sms)``; returns what it told the account holder (maybe nothing).
Handler = Callable[[Session, E, Optional[SmsGateway]], Iterable[Notice]]


class Subscribers:
    """Who listens to which event, in subscription order (a tiny registry)."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[..., Iterable[Notice]]]] = {}

    def subscribe(self, event_type: type[E], handler: Handler[E]) -> None:
        """Adds ``handler`` for ``event_type``; subscribing the same handler again changes nothing."""
        handlers = self._handlers.setdefault(event_type, [])
        if handler not in handlers:
            handlers.append(handler)

    def unsubscribe(self, event_type: type[E], handler: Handler[E]) -> None:
        """Removes ``handler`` for ``event_type``, if it was subscribed."""
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def handlers(self, event_type: type[Any]) -> tuple[Callable[..., Iterable[Notice]], ...]:
        """The handlers of ``event_type``, in subscription order."""
        return tuple(self._handlers.get(event_type, ()))

    def publish(self, session: Session, event: Event, sms: Optional[SmsGateway] = None) -> tuple[Notice, ...]:
        """Calls every handler of the event's type in order; returns their notices, in order.

        A handler that raises stops the publication and the exception reaches the writer's
        caller (whose transaction then rolls back).
        """
        notices: list[Notice] = []
        for handler in self.handlers(type(event)):
            notices.extend(handler(session, event, sms))
        return tuple(notices)


#: The process's subscribers (filled by ``bot.app.wire_events``).
SUBSCRIBERS = Subscribers()


def subscribe(event_type: type[E], handler: Handler[E]) -> None:
    """Subscribes ``handler`` to ``event_type`` in the process's registry (idempotent)."""
    SUBSCRIBERS.subscribe(event_type, handler)


def publish(session: Session, event: Event, sms: Optional[SmsGateway] = None) -> tuple[Notice, ...]:
    """Publishes ``event`` to the process's subscribers; returns their notices."""
    return SUBSCRIBERS.publish(session, event, sms)
