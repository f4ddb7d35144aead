"""Subscribers' alerts (余额/消费/扣费/流量提醒): managing them in chat and firing them.

* :mod:`bot.alerts.rules` — create, list, change and cancel a subscriber's alert rules;
* :mod:`bot.alerts.engine` — fire them when a charge is posted, a payment recorded or usage
  updated (subscribed to billing's events by ``bot.app.wire_events``; they run in the same
  transaction as the write).

Importing this package has no side effect (nothing is subscribed, no gateway is made).
"""

from bot.alerts.engine import (
    AlertDeliveryFailed,
    FiredAlert,
    on_charge_posted,
    on_payment_recorded,
    on_usage_updated,
)
from bot.alerts.rules import (
    AlertError,
    AlertResult,
    InvalidAlert,
    NoSuchAlert,
    cancel_alert,
    change_alert,
    create_alert,
    list_alerts,
)

__all__ = [
    "AlertDeliveryFailed",
    "AlertError",
    "AlertResult",
    "FiredAlert",
    "InvalidAlert",
    "NoSuchAlert",
    "cancel_alert",
    "change_alert",
    "create_alert",
    "list_alerts",
    "on_charge_posted",
    "on_payment_recorded",
    "on_usage_updated",
]
