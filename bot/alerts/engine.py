"""Firing alert rules when money or usage moves, in the same transaction as the movement.

Billing does not call these functions: it publishes what its ledger writes
(``bot.billing.events``) and the composition root (``bot.app.wire_events``) subscribes
:func:`on_charge_posted` to ``ChargePosted``, :func:`on_payment_recorded` to ``PaymentRecorded``
and :func:`on_usage_updated` to ``UsageRecorded``. So, once wired, an alert fires whenever a
charge is posted anywhere (billing feed, ``python -m bot post-charge``, tests) — except the
charges that settle a closure (see :func:`on_charge_posted`).

What fires when:

* ``deduction`` — every charge, with its amount, bill line and time;
* ``balance`` — a charge leaves the balance **below** the threshold and the rule is armed;
  the rule is then disarmed, so it fires once per crossing, not on every charge after it. A
  payment that lifts the balance back to the threshold or above re-arms it
  (:func:`on_payment_recorded`), and the next crossing fires again;
* ``spend`` — a charge leaves this period's spend **above** the threshold; once per bill
  period: after firing the rule is disarmed for the period of its ``last_fired_at`` and is armed
  again in any later period (:func:`bot.alerts.rules.armed_for_period`);
* ``data`` — a usage update leaves the period's data use at or above the threshold percent of
  the plan's allowance; once per period, like spend.

A rule is evaluated at events only: a rule whose condition already holds when it is created
(or re-armed by a new threshold) fires at the next event, not at once.

Delivery: channel ``sms`` goes through the SMS gateway (which writes the ``notifications``
row); channel ``wechat`` writes a ``notifications`` row with channel ``wechat`` and status
``queued``, which the WeChat sender (``bot.notifications.wechat_delivery``, ``python -m bot deliver-wechat``)
delivers later as a template message, or by SMS when the number is not bound to WeChat. Each
firing writes an ``alert.fired`` audit entry (actor ``billing_feed``) and updates
``last_fired_at`` / ``armed``.

**A gateway failure rolls back the caller's whole transaction.** The gateway is called inside
the unit of work of the charge; when it cannot take the message, :class:`AlertDeliveryFailed`
(a ``BillingError``) is raised, and the caller's ``store.transaction()`` rolls back the charge,
its bill, its audit entry and every other alert of it. The billing feed must retry the charge
later; nothing is half-posted, and a subscriber is never charged without the alert he asked
for. The price: with the HTTP gateway, the subscriber's row stays locked while the gateway is
called (at most ``BOT_SMS_GATEWAY_TIMEOUT`` seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.alerts.rules import AlertError, armed_for_period
from bot.billing.events import ChargePosted, PaymentRecorded, UsageRecorded
from bot.billing.models import AlertRule
from bot.billing.queries import period_spend_fen
from bot.clock import local_period
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import SmsGateway, gateway_from_settings
from bot.texts import alerts as texts
from bot.texts.labels import ALERT_LABELS, NOTIFY_CHANNEL_LABELS

#: The ``notifications.kind`` of every alert message (the same as the demo history's alerts).
ALERT_KIND = "alert"
#: The audit actor of firing and re-arming.
ENGINE_ACTOR = "billing_feed"
#: Order in which a charge's rules fire (so messages read naturally: the deduction first).
_CHARGE_ORDER = {"deduction": 0, "balance": 1, "spend": 2}


class AlertDeliveryFailed(AlertError):
    """An alert could not be handed to the SMS gateway; the caller's transaction must roll back.

    Attributes:
        alert_type: the type of the alert that could not be sent.
        detail: what the gateway said (no phone number, no body).
    """

    def __init__(self, alert_type: str, detail: str) -> None:
        self.alert_type = alert_type
        self.detail = detail
        label = ALERT_LABELS.get(alert_type, alert_type)
        super().__init__(texts.delivery_failed(label, detail))


@dataclass(frozen=True)
class FiredAlert:
    """One alert that fired.

    Attributes:
        rule_id: the rule.
        alert_type: ``balance``, ``spend``, ``deduction`` or ``data``.
        channel: ``sms`` (sent through the gateway) or ``wechat`` (queued).
        body: the message text.
    """

    rule_id: int
    alert_type: str
    channel: str
    body: str

    @property
    def label(self) -> str:
        """E.g. ``余额提醒（短信）``."""
        return texts.fired_label(
            ALERT_LABELS.get(self.alert_type, self.alert_type),
            NOTIFY_CHANNEL_LABELS.get(self.channel, self.channel),
        )


class _LazyGateway:
    """The gateway given, or the one of the settings, made only when an SMS must go out."""

    def __init__(self, sms: Optional[SmsGateway]) -> None:
        self._sms = sms

    def get(self) -> SmsGateway:
        if self._sms is None:
            from bot.settings import get_settings

            self._sms = gateway_from_settings(get_settings())
        return self._sms


def _active_rules(session: Session, subscriber_id: int, types: tuple[str, ...]) -> list[AlertRule]:
    return list(
        session.scalars(
            select(AlertRule)
            .where(
                AlertRule.subscriber_id == subscriber_id,
                AlertRule.active.is_(True),
                AlertRule.alert_type.in_(types),
            )
            .order_by(AlertRule.id)
        )
    )


@dataclass(frozen=True)
class _Account:
    """Whose alerts: the subscriber's id and number, as the event tells them."""

    id: int
    phone: str


def _deliver(
    session: Session, account: _Account, rule: AlertRule, body: str, at: datetime, gateway: _LazyGateway
) -> None:
    if rule.channel == "wechat":
        session.add(
            Notification(
                subscriber_id=account.id,
                phone=account.phone,
                channel="wechat",
                kind=ALERT_KIND,
                body=body,
                status="queued",
                created_at=at,
            )
        )
        return
    try:
        gateway.get().send(
            session, phone=account.phone, body=body, kind=ALERT_KIND, subscriber_id=account.id, at=at
        )
    except SmsGatewayError as exc:
        raise AlertDeliveryFailed(rule.alert_type, str(exc)) from exc


def _fire(
    session: Session,
    account: _Account,
    rule: AlertRule,
    body: str,
    *,
    at: datetime,
    gateway: _LazyGateway,
    details: dict[str, Any],
) -> FiredAlert:
    _deliver(session, account, rule, body, at, gateway)
    rule.last_fired_at = at
    if rule.alert_type != "deduction":
        rule.armed = False
    audit.record(
        session,
        at=at,
        actor=ENGINE_ACTOR,
        action="alert.fired",
        subscriber_id=account.id,
        entity="alert_rule",
        entity_id=rule.id,
        details={
            "alert_type": rule.alert_type,
            "channel": rule.channel,
            "threshold": rule.threshold,
            **details,
        },
    )
    return FiredAlert(rule_id=rule.id, alert_type=rule.alert_type, channel=rule.channel, body=body)


def _rearm(
    session: Session, subscriber_id: int, rule: AlertRule, at: datetime, details: dict[str, Any]
) -> None:
    rule.armed = True
    rule.updated_at = at
    audit.record(
        session,
        at=at,
        actor=ENGINE_ACTOR,
        action="alert.rearmed",
        subscriber_id=subscriber_id,
        entity="alert_rule",
        entity_id=rule.id,
        details={"alert_type": rule.alert_type, "threshold": rule.threshold, **details},
    )


def on_charge_posted(
    session: Session, event: ChargePosted, sms: Optional[SmsGateway] = None
) -> tuple[FiredAlert, ...]:
    """Evaluates the subscriber's deduction, balance and spend alerts after a charge.

    Subscribed to ``ChargePosted`` (``bot.app.wire_events``): the ledger publishes it after the
    charge, the new balance and the bill are flushed, in the same transaction and under the
    subscriber's row lock.

    The charges that settle a closure (``event.settles_closure``: the early-termination fee and
    the refund of the balance) fire nothing and re-arm nothing: the 【销户完成】 SMS already tells
    the subscriber both amounts, and a deduction, balance (余额 0.00 元, "请及时充值") or spend
    alert about a number that is being closed would be noise. Ordinary charges during the
    cooling-off period (the number still works) fire as usual.

    Args:
        session: the charge's unit of work.
        event: the charge (its balance after, its period).
        sms: the SMS gateway; the settings' gateway when ``None`` (made only if an SMS is due).

    Returns:
        The alerts that fired, in firing order.

    Raises:
        AlertDeliveryFailed: the SMS gateway refused a message; the caller must roll back.
    """
    if event.settles_closure:
        return ()
    gateway = _LazyGateway(sms)
    account = _Account(event.subscriber_id, event.phone)
    balance = event.balance_fen
    period = event.bill_period
    at = event.charged_at
    fired: list[FiredAlert] = []
    rules = sorted(
        _active_rules(session, account.id, tuple(_CHARGE_ORDER)),
        key=lambda r: (_CHARGE_ORDER[r.alert_type], r.id),
    )
    spend: Optional[int] = None
    for rule in rules:
        trigger = {"trigger": "charge", "charge_id": event.charge_id}
        if rule.alert_type == "deduction":
            fired.append(
                _fire(
                    session,
                    account,
                    rule,
                    texts.deduction_body(event.charged_at, event.amount_fen, event.description, balance),
                    at=at,
                    gateway=gateway,
                    details={**trigger, "amount_fen": event.amount_fen, "balance_fen": balance},
                )
            )
        elif rule.alert_type == "balance" and rule.threshold is not None:
            if balance < rule.threshold:
                if rule.armed:
                    fired.append(
                        _fire(
                            session,
                            account,
                            rule,
                            texts.balance_body(balance, rule.threshold),
                            at=at,
                            gateway=gateway,
                            details={**trigger, "balance_fen": balance},
                        )
                    )
            elif not rule.armed:
                _rearm(session, account.id, rule, at, {**trigger, "balance_fen": balance})
        elif rule.alert_type == "spend" and rule.threshold is not None:
            if spend is None:
                spend = period_spend_fen(session, account.id, period)
            if spend > rule.threshold and armed_for_period(rule, period):
                fired.append(
                    _fire(
                        session,
                        account,
                        rule,
                        texts.spend_body(spend, rule.threshold),
                        at=at,
                        gateway=gateway,
                        details={**trigger, "spend_fen": spend, "bill_period": period},
                    )
                )
    session.flush()
    return tuple(fired)


def on_payment_recorded(
    session: Session, event: PaymentRecorded, sms: Optional[SmsGateway] = None
) -> tuple[FiredAlert, ...]:
    """Re-arms the subscriber's balance alerts whose condition cleared with a payment.

    Subscribed to ``PaymentRecorded``. A disarmed balance rule is armed again when the balance
    is at or above its threshold (an ``alert.rearmed`` audit entry each). Nothing is sent.

    Args:
        session: the payment's unit of work.
        event: the payment (the balance after it).
        sms: accepted like every subscriber's; a payment never sends anything.

    Returns:
        ``()``: nothing fires on a payment.
    """
    del sms  # a payment never sends anything
    balance = event.balance_fen
    for rule in _active_rules(session, event.subscriber_id, ("balance",)):
        if not rule.armed and rule.threshold is not None and balance >= rule.threshold:
            _rearm(
                session,
                event.subscriber_id,
                rule,
                event.paid_at,
                {"trigger": "payment", "payment_id": event.payment_id, "balance_fen": balance},
            )
    session.flush()
    return ()


def on_usage_updated(
    session: Session, event: UsageRecorded, sms: Optional[SmsGateway] = None
) -> tuple[FiredAlert, ...]:
    """Evaluates the subscriber's data alerts after the usage counters of a period changed.

    Subscribed to ``UsageRecorded``. A rule fires when data used × 100 ≥ threshold × the plan's
    allowance, once per period. Only the current period (that of the reading) is evaluated: a
    late correction of a past period does not tell the subscriber about "this month". A plan
    without data allowance never fires.

    Args:
        session: the update's unit of work.
        event: the counters now stored, the allowance and the moment of the reading.
        sms: the SMS gateway; the settings' gateway when ``None`` (made only if an SMS is due).

    Returns:
        The alerts that fired.

    Raises:
        AlertDeliveryFailed: the SMS gateway refused a message; the caller must roll back.
    """
    period, at = event.period, event.recorded_at
    if period != local_period(at):
        return ()
    rules = _active_rules(session, event.subscriber_id, ("data",))
    allowance = event.data_allowance_mb
    if not rules or allowance <= 0:
        return ()
    used = event.data_used_mb
    account = _Account(event.subscriber_id, event.phone)
    gateway = _LazyGateway(sms)
    fired: list[FiredAlert] = []
    for rule in rules:
        if rule.threshold is None or used * 100 < rule.threshold * allowance:
            continue
        if not armed_for_period(rule, period):
            continue
        fired.append(
            _fire(
                session,
                account,
                rule,
                texts.data_body(used, allowance, rule.threshold),
                at=at,
                gateway=gateway,
                details={
                    "trigger": "usage",
                    "bill_period": period,
                    "data_used_mb": used,
                    "data_allowance_mb": allowance,
                },
            )
        )
    session.flush()
    return tuple(fired)
