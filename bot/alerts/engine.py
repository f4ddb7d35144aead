"""Firing alert rules when money or usage moves, in the same transaction as the movement.

``bot.billing.services`` calls these functions itself (not through the hook lists):
:func:`on_charge_posted` from ``post_charge``, :func:`on_payment_recorded` from
``record_payment`` and :func:`on_usage_updated` from ``record_usage``. So an alert fires
whenever a charge is posted anywhere (billing feed, ``python -m bot post-charge``, tests).

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
from bot.billing.models import AlertRule, Charge, DataUsage, Payment, Subscriber
from bot.billing.queries import ALERT_LABELS, NOTIFY_CHANNEL_LABELS, period_spend_fen
from bot.clock import local_period
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import SmsGateway, gateway_from_settings
from bot.texts import alerts as texts

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


def _deliver(
    session: Session, subscriber: Subscriber, rule: AlertRule, body: str, at: datetime, gateway: _LazyGateway
) -> None:
    if rule.channel == "wechat":
        session.add(
            Notification(
                subscriber_id=subscriber.id,
                phone=subscriber.phone,
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
            session, phone=subscriber.phone, body=body, kind=ALERT_KIND, subscriber_id=subscriber.id, at=at
        )
    except SmsGatewayError as exc:
        raise AlertDeliveryFailed(rule.alert_type, str(exc)) from exc


def _fire(
    session: Session,
    subscriber: Subscriber,
    rule: AlertRule,
    body: str,
    *,
    at: datetime,
    gateway: _LazyGateway,
    details: dict[str, Any],
) -> FiredAlert:
    _deliver(session, subscriber, rule, body, at, gateway)
    rule.last_fired_at = at
    if rule.alert_type != "deduction":
        rule.armed = False
    audit.record(
        session,
        at=at,
        actor=ENGINE_ACTOR,
        action="alert.fired",
        subscriber_id=subscriber.id,
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
    session: Session, subscriber: Subscriber, rule: AlertRule, at: datetime, details: dict[str, Any]
) -> None:
    rule.armed = True
    rule.updated_at = at
    audit.record(
        session,
        at=at,
        actor=ENGINE_ACTOR,
        action="alert.rearmed",
        subscriber_id=subscriber.id,
        entity="alert_rule",
        entity_id=rule.id,
        details={"alert_type": rule.alert_type, "threshold": rule.threshold, **details},
    )


def on_charge_posted(
    session: Session,
    subscriber: Subscriber,
    charge: Charge,
    at: datetime,
    *,
    sms: Optional[SmsGateway] = None,
) -> tuple[FiredAlert, ...]:
    """Evaluates the subscriber's deduction, balance and spend alerts after a charge.

    Called by ``post_charge`` after the charge, the new balance and the bill are flushed, in
    the same transaction and under the subscriber's row lock.

    Args:
        session: the charge's unit of work.
        subscriber: whose account (``balance_fen`` already lowered by the charge).
        charge: the charge just posted (flushed, so it counts in the period's spend).
        at: when (aware).
        sms: the SMS gateway; the settings' gateway when ``None`` (made only if an SMS is due).

    Returns:
        The alerts that fired, in firing order.

    Raises:
        AlertDeliveryFailed: the SMS gateway refused a message; the caller must roll back.
    """
    gateway = _LazyGateway(sms)
    balance = int(subscriber.balance_fen)
    period = charge.bill_period
    fired: list[FiredAlert] = []
    rules = sorted(
        _active_rules(session, subscriber.id, tuple(_CHARGE_ORDER)),
        key=lambda r: (_CHARGE_ORDER[r.alert_type], r.id),
    )
    spend: Optional[int] = None
    for rule in rules:
        trigger = {"trigger": "charge", "charge_id": charge.id}
        if rule.alert_type == "deduction":
            fired.append(
                _fire(
                    session,
                    subscriber,
                    rule,
                    texts.deduction_body(charge.charged_at, charge.amount_fen, charge.description, balance),
                    at=at,
                    gateway=gateway,
                    details={**trigger, "amount_fen": charge.amount_fen, "balance_fen": balance},
                )
            )
        elif rule.alert_type == "balance" and rule.threshold is not None:
            if balance < rule.threshold:
                if rule.armed:
                    fired.append(
                        _fire(
                            session,
                            subscriber,
                            rule,
                            texts.balance_body(balance, rule.threshold),
                            at=at,
                            gateway=gateway,
                            details={**trigger, "balance_fen": balance},
                        )
                    )
            elif not rule.armed:
                _rearm(session, subscriber, rule, at, {**trigger, "balance_fen": balance})
        elif rule.alert_type == "spend" and rule.threshold is not None:
            if spend is None:
                spend = period_spend_fen(session, subscriber.id, period)
            if spend > rule.threshold and armed_for_period(rule, period):
                fired.append(
                    _fire(
                        session,
                        subscriber,
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
    session: Session,
    subscriber: Subscriber,
    payment: Payment,
    at: datetime,
    *,
    sms: Optional[SmsGateway] = None,
) -> tuple[int, ...]:
    """Re-arms the subscriber's balance alerts whose condition cleared with a payment.

    A disarmed balance rule is armed again when the balance is at or above its threshold.
    Nothing is sent.

    Args:
        session: the payment's unit of work.
        subscriber: whose account (``balance_fen`` already raised by the payment).
        payment: the payment just recorded.
        at: when (aware).
        sms: accepted for symmetry with :func:`on_charge_posted`; a payment sends nothing.

    Returns:
        The ids of the rules re-armed.
    """
    del sms  # a payment never sends anything
    balance = int(subscriber.balance_fen)
    rearmed: list[int] = []
    for rule in _active_rules(session, subscriber.id, ("balance",)):
        if not rule.armed and rule.threshold is not None and balance >= rule.threshold:
            _rearm(
                session,
                subscriber,
                rule,
                at,
                {"trigger": "payment", "payment_id": payment.id, "balance_fen": balance},
            )
            rearmed.append(rule.id)
    session.flush()
    return tuple(rearmed)


def on_usage_updated(
    session: Session,
    subscriber: Subscriber,
    period: str,
    at: datetime,
    *,
    sms: Optional[SmsGateway] = None,
) -> tuple[FiredAlert, ...]:
    """Evaluates the subscriber's data alerts after the usage counters of ``period`` changed.

    A rule fires when data used × 100 ≥ threshold × the plan's allowance, once per period.
    Only the current period (that of ``at``) is evaluated: a late correction of a past period
    does not tell the subscriber about "this month". A plan without data allowance never fires.

    Args:
        session: the update's unit of work.
        subscriber: whose usage.
        period: ``YYYY-MM`` of the counters that changed.
        at: when (aware).
        sms: the SMS gateway; the settings' gateway when ``None`` (made only if an SMS is due).

    Returns:
        The alerts that fired.

    Raises:
        AlertDeliveryFailed: the SMS gateway refused a message; the caller must roll back.
    """
    if period != local_period(at):
        return ()
    rules = _active_rules(session, subscriber.id, ("data",))
    if not rules:
        return ()
    usage = session.scalars(
        select(DataUsage).where(DataUsage.subscriber_id == subscriber.id, DataUsage.period == period)
    ).one_or_none()
    allowance = int(subscriber.plan.data_mb)
    if usage is None or allowance <= 0:
        return ()
    used = int(usage.data_used_mb)
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
                subscriber,
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
