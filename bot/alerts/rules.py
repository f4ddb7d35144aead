"""A subscriber's alert rules (余额/消费/扣费/流量提醒), managed from the chat.

Every function works in the caller's unit of work (``with store.transaction() as session``)
and never commits. Every change is written to the audit log with the actor
``subscriber:<id>`` and the conversation it came from.

Rules of the game:

* one **active** rule per alert type per subscriber: creating a type the subscriber already
  has updates that rule (``AlertResult.created`` is ``False``);
* ``threshold`` is fen for ``balance``/``spend`` (100..1_000_000, i.e. 1.00..10000.00 元),
  a whole percent for ``data`` (1..100) and must be ``None`` for ``deduction``;
* changing a threshold re-arms the rule (it may fire again at the next evaluation);
* cancelling deactivates the rule; it stays in the table as history, and creating the type
  again later makes a new rule;
* creating or changing a rule never sends anything by itself: the rule is evaluated at the
  next charge (balance, spend, deduction) or usage update (data) — see :mod:`bot.alerts.engine`.
  So a data rule at 90% created while the subscriber is already at 95% fires at the next usage
  update of the period, not at once (the chat already tells the usage; an SMS repeating it
  during the conversation would be noise).

Validation happens before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing.errors import BillingError, UnknownSubscriber
from bot.billing.models import ALERT_TYPES, AlertRule, Subscriber
from bot.billing.queries import AlertRuleView
from bot.clock import local_period
from bot.notifications.models import NOTIFY_CHANNELS
from bot.texts import alerts as texts
from bot.texts.labels import ALERT_LABELS, describe_alert

#: Smallest and largest threshold of a balance or spend alert, fen (1.00 元 .. 10000.00 元).
MONEY_THRESHOLD_MIN_FEN = 100
MONEY_THRESHOLD_MAX_FEN = 1_000_000
#: Smallest and largest threshold of a data alert, percent of the plan's allowance.
DATA_THRESHOLD_MIN_PERCENT = 1
DATA_THRESHOLD_MAX_PERCENT = 100

#: Alert types whose threshold is an amount of money (fen).
MONEY_ALERT_TYPES = ("balance", "spend")
#: Alert types that fire at most once per bill period (re-armed when a new period starts).
PERIODIC_ALERT_TYPES = ("spend", "data")


class AlertError(BillingError):
    """Base class of every expected problem with an alert rule."""


class InvalidAlert(AlertError):
    """The requested alert is not valid; nothing was changed.

    Attributes:
        reason: why, in Chinese, fit to show the subscriber.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NoSuchAlert(AlertError):
    """The subscriber has no active alert of this type.

    Attributes:
        alert_type: the type that was asked for.
    """

    def __init__(self, alert_type: str) -> None:
        self.alert_type = alert_type
        label = ALERT_LABELS.get(alert_type, alert_type)
        super().__init__(texts.no_such_alert(label))


@dataclass(frozen=True)
class AlertResult:
    """What :func:`create_alert` did.

    Attributes:
        rule: the rule as it is now.
        created: ``True`` if a new rule was made, ``False`` if an existing active rule of the
            same type was updated (or already said the same).
    """

    rule: AlertRuleView
    created: bool

    @property
    def description(self) -> str:
        """The rule in one Chinese phrase, e.g. ``余额低于30.00元时短信提醒``."""
        return describe_alert(self.rule)


def _check_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError("'at' must be a timezone-aware datetime")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_type(alert_type: object) -> str:
    if not isinstance(alert_type, str) or alert_type not in ALERT_TYPES:
        raise InvalidAlert(texts.unknown_alert_type(alert_type))
    return alert_type


def _check_channel(channel: object) -> str:
    if not isinstance(channel, str) or channel not in NOTIFY_CHANNELS:
        raise InvalidAlert(texts.unknown_channel(channel))
    return channel


def _check_threshold(alert_type: str, threshold: object) -> Optional[int]:
    """The valid threshold of ``alert_type`` (``None`` for deduction), or :class:`InvalidAlert`."""
    label = ALERT_LABELS[alert_type]
    if alert_type == "deduction":
        if threshold is not None:
            raise InvalidAlert(texts.deduction_takes_no_threshold())
        return None
    if alert_type in MONEY_ALERT_TYPES:
        money = (label, MONEY_THRESHOLD_MIN_FEN, MONEY_THRESHOLD_MAX_FEN)
        if threshold is None:
            raise InvalidAlert(texts.money_threshold_missing(*money))
        if not _is_int(threshold) or not (
            MONEY_THRESHOLD_MIN_FEN <= threshold <= MONEY_THRESHOLD_MAX_FEN  # type: ignore[operator]
        ):
            raise InvalidAlert(texts.money_threshold_out_of_range(*money))
        return int(threshold)  # type: ignore[call-overload]
    percent = (label, DATA_THRESHOLD_MIN_PERCENT, DATA_THRESHOLD_MAX_PERCENT)
    if threshold is None:
        raise InvalidAlert(texts.percent_threshold_missing(*percent))
    if not _is_int(threshold) or not (
        DATA_THRESHOLD_MIN_PERCENT <= threshold <= DATA_THRESHOLD_MAX_PERCENT  # type: ignore[operator]
    ):
        raise InvalidAlert(texts.percent_threshold_out_of_range(*percent))
    return int(threshold)  # type: ignore[call-overload]


def _locked_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber, row-locked until the transaction ends, so that rule changes and alert
    evaluation (which runs under the same lock in ``post_charge``) never interleave."""
    found = None
    if _is_int(subscriber_id):
        found = session.scalars(
            select(Subscriber).where(Subscriber.id == subscriber_id).with_for_update()
        ).one_or_none()
    if found is None:
        raise UnknownSubscriber(subscriber_id)
    return found


def _open_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = _locked_subscriber(session, subscriber_id)
    if subscriber.status == "closed":
        raise InvalidAlert(texts.account_closed())
    return subscriber


def _active_rule(session: Session, subscriber_id: int, alert_type: str) -> Optional[AlertRule]:
    """The active rule of the type (the newest, should there ever be more than one)."""
    return session.scalars(
        select(AlertRule)
        .where(
            AlertRule.subscriber_id == subscriber_id,
            AlertRule.alert_type == alert_type,
            AlertRule.active.is_(True),
        )
        .order_by(AlertRule.id.desc())
        .limit(1)
    ).first()


def armed_for_period(rule: AlertRule, period: str) -> bool:
    """Whether the rule may fire in bill period ``period`` (``YYYY-MM``).

    For ``spend`` and ``data`` (once per period) a rule that fired in an earlier period is
    armed again in a new one, whatever its stored ``armed`` says; for ``balance`` the stored
    flag decides (it is re-armed when the balance recovers); ``deduction`` is always armed.

    Args:
        rule: the rule.
        period: the bill period being evaluated.
    """
    if rule.alert_type == "deduction":
        return True
    if rule.armed:
        return True
    if rule.alert_type in PERIODIC_ALERT_TYPES:
        return rule.last_fired_at is None or local_period(rule.last_fired_at) != period
    return False


def rule_view(rule: AlertRule, at: Optional[datetime] = None) -> AlertRuleView:
    """The rule as a plain view.

    Args:
        rule: the row.
        at: when it is looked at; with it, ``armed`` of a spend or data rule says whether it can
            fire in the period of ``at`` (see :func:`armed_for_period`); without it, the stored flag.
    """
    armed = bool(rule.armed)
    if at is not None and rule.active:
        armed = armed_for_period(rule, local_period(at))
    return AlertRuleView(
        id=rule.id,
        alert_type=rule.alert_type,
        threshold=rule.threshold,
        channel=rule.channel,
        active=bool(rule.active),
        armed=armed,
    )


def _state(rule: AlertRule) -> dict[str, Any]:
    return {"threshold": rule.threshold, "channel": rule.channel, "armed": bool(rule.armed)}


def _audit(
    session: Session,
    rule: AlertRule,
    *,
    action: str,
    at: datetime,
    conversation_id: Optional[str],
    before: Optional[dict[str, Any]] = None,
) -> None:
    details: dict[str, Any] = {"alert_type": rule.alert_type, **_state(rule)}
    if before is not None:
        details["before"] = before
    audit.record(
        session,
        at=at,
        actor=f"subscriber:{rule.subscriber_id}",
        action=action,
        subscriber_id=rule.subscriber_id,
        entity="alert_rule",
        entity_id=rule.id,
        conversation_id=conversation_id,
        details=details,
    )


def _apply(rule: AlertRule, *, threshold: Optional[int], channel: Optional[str], at: datetime) -> bool:
    """Writes the changes into ``rule``; returns whether anything changed."""
    changed = False
    if threshold is not None and threshold != rule.threshold:
        rule.threshold = threshold
        rule.armed = True  # a new threshold is a new condition: it may fire again
        changed = True
    if channel is not None and channel != rule.channel:
        rule.channel = channel
        changed = True
    if changed:
        rule.updated_at = at
    return changed


def create_alert(
    session: Session,
    *,
    subscriber_id: int,
    alert_type: str,
    threshold: Optional[int],
    channel: str,
    at: datetime,
    conversation_id: Optional[str],
) -> AlertResult:
    """Sets an alert for the subscriber; if one of the type is active, updates it instead.

    The new (or updated) rule is armed; nothing is sent now (see the module docstring).

    Args:
        session: the caller's unit of work.
        subscriber_id: whose alert.
        alert_type: ``balance``, ``spend``, ``deduction`` or ``data``.
        threshold: fen for balance/spend (100..1_000_000), percent for data (1..100),
            ``None`` for deduction.
        channel: ``sms`` or ``wechat``.
        at: when (aware).
        conversation_id: the conversation that asked, for the audit log.

    Returns:
        The rule, and whether it was created (``False``: an existing rule was updated).

    Raises:
        InvalidAlert: bad type, threshold or channel, or a closed account; nothing changed.
        UnknownSubscriber: no subscriber has this id.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    kind = _check_type(alert_type)
    value = _check_threshold(kind, threshold)
    via = _check_channel(channel)
    subscriber = _open_subscriber(session, subscriber_id)

    existing = _active_rule(session, subscriber.id, kind)
    if existing is not None:
        before = _state(existing)
        if _apply(existing, threshold=value, channel=via, at=at):
            session.flush()
            _audit(
                session,
                existing,
                action="alert.updated",
                at=at,
                conversation_id=conversation_id,
                before=before,
            )
        return AlertResult(rule=rule_view(existing, at), created=False)

    rule = AlertRule(
        subscriber_id=subscriber.id,
        alert_type=kind,
        threshold=value,
        channel=via,
        active=True,
        armed=True,
        created_at=at,
        updated_at=at,
        last_fired_at=None,
    )
    session.add(rule)
    session.flush()
    _audit(session, rule, action="alert.created", at=at, conversation_id=conversation_id)
    return AlertResult(rule=rule_view(rule, at), created=True)


def list_alerts(
    session: Session, *, subscriber_id: int, at: datetime, include_inactive: bool = False
) -> tuple[AlertRuleView, ...]:
    """The subscriber's alert rules, oldest first (active ones unless ``include_inactive``).

    Args:
        session: the caller's unit of work.
        subscriber_id: whose alerts.
        at: when they are looked at (aware); decides ``armed`` of spend/data rules.
        include_inactive: also the cancelled ones.

    Raises:
        UnknownSubscriber: no subscriber has this id.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    if not _is_int(subscriber_id) or session.get(Subscriber, subscriber_id) is None:
        raise UnknownSubscriber(subscriber_id)
    query = select(AlertRule).where(AlertRule.subscriber_id == subscriber_id)
    if not include_inactive:
        query = query.where(AlertRule.active.is_(True))
    return tuple(rule_view(r, at) for r in session.scalars(query.order_by(AlertRule.id)))


def change_alert(
    session: Session,
    *,
    subscriber_id: int,
    alert_type: str,
    threshold: Optional[int] = None,
    channel: Optional[str] = None,
    at: datetime,
    conversation_id: Optional[str],
) -> AlertRuleView:
    """Changes the threshold and/or channel of the subscriber's active alert of a type.

    A changed threshold re-arms the rule. Giving the values the rule already has changes
    nothing (and writes no audit entry).

    Args:
        session: the caller's unit of work.
        subscriber_id: whose alert.
        alert_type: which alert.
        threshold: the new threshold, or ``None`` to keep it (must stay ``None`` for deduction).
        channel: the new channel, or ``None`` to keep it.
        at: when (aware).
        conversation_id: the conversation that asked, for the audit log.

    Returns:
        The rule as it is now.

    Raises:
        InvalidAlert: bad type, threshold or channel, nothing to change, or a closed account.
        NoSuchAlert: the subscriber has no active alert of this type.
        UnknownSubscriber: no subscriber has this id.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    kind = _check_type(alert_type)
    if threshold is None and channel is None:
        raise InvalidAlert(texts.nothing_to_change())
    value = _check_threshold(kind, threshold) if threshold is not None else None
    via = _check_channel(channel) if channel is not None else None
    subscriber = _open_subscriber(session, subscriber_id)

    rule = _active_rule(session, subscriber.id, kind)
    if rule is None:
        raise NoSuchAlert(kind)
    before = _state(rule)
    if _apply(rule, threshold=value, channel=via, at=at):
        session.flush()
        _audit(session, rule, action="alert.updated", at=at, conversation_id=conversation_id, before=before)
    return rule_view(rule, at)


def cancel_alert(
    session: Session,
    *,
    subscriber_id: int,
    alert_type: str,
    at: datetime,
    conversation_id: Optional[str],
) -> AlertRuleView:
    """Turns off the subscriber's active alert of a type (the row stays, inactive).

    Args:
        session: the caller's unit of work.
        subscriber_id: whose alert.
        alert_type: which alert.
        at: when (aware).
        conversation_id: the conversation that asked, for the audit log.

    Returns:
        The rule, now inactive.

    Raises:
        InvalidAlert: unknown alert type.
        NoSuchAlert: the subscriber has no active alert of this type.
        UnknownSubscriber: no subscriber has this id.
        ValueError: ``at`` is naive.
    """
    _check_aware(at)
    kind = _check_type(alert_type)
    subscriber = _locked_subscriber(session, subscriber_id)
    rule = _active_rule(session, subscriber.id, kind)
    if rule is None:
        raise NoSuchAlert(kind)
    rule.active = False
    rule.updated_at = at
    session.flush()
    _audit(session, rule, action="alert.cancelled", at=at, conversation_id=conversation_id)
    return rule_view(rule, at)
