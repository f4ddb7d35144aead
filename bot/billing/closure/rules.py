"""The closure rules that need no store: the cooling-off, the quarantine, the refund channels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.clock import SHANGHAI, to_local

#: Calendar days between the day of the request and the 00:00 (Asia/Shanghai) it takes effect.
COOLING_OFF_DAYS = 3
#: Days a closed number is held before it may be given to someone else (told in the SMS).
NUMBER_QUARANTINE_DAYS = 90

#: Refund channels (``ClosureCheck.refund_channel``): the method of the most recent top-up when the
#: refund can go back the same way (原路退回), else :data:`HALL_REFUND`.
REFUND_CHANNELS = ("alipay", "wechat_pay", "bank_card", "hall")
#: The refund channel when the last top-up was cash at a hall or there was none (collected at a
#: hall with an identity document).
HALL_REFUND = "hall"

#: Statuses a cancelled request may restore; anything else restores ``active``.
RESTORABLE_STATUSES = ("active", "suspended")


def check_aware(moment: datetime, name: str) -> None:
    """Refuses a naive ``moment`` (``ValueError`` naming the argument)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name!r} must be a timezone-aware datetime")


def closure_effective_at(requested_at: datetime) -> datetime:
    """When a request made at ``requested_at`` takes effect: 00:00 Asia/Shanghai, three days on.

    Args:
        requested_at: the moment of the request (aware).

    Returns:
        The moment (aware UTC), e.g. 2026-11-22 10:00 local → 2026-11-25 00:00 local.
    """
    check_aware(requested_at, "requested_at")
    day = to_local(requested_at).date() + timedelta(days=COOLING_OFF_DAYS)
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(timezone.utc)


def subscriber_actor(subscriber_id: int) -> str:
    """The audit actor of what the subscriber asks for."""
    return f"subscriber:{subscriber_id}"
