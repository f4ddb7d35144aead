"""The closure rules that need no store: the cooling-off, the quarantine, the refund channels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.clock import SHANGHAI, to_local

#: Calendar days between the day of the request and the 00:00 (Asia/Shanghai) it takes effect.
COOLING_OFF_DAYS = 3
#: Days a closed number is held before it may be given to someone else (told in the SMS).
NUMBER_QUARANTINE_DAYS = 90

#: How the refund reaches the subscriber, by the method of the most recent top-up.
REFUND_METHOD_LABELS = {
    "alipay": "原路退回至支付宝",
    "wechat_pay": "原路退回至微信支付",
    "bank_card": "原路退回至银行卡",
    "hall": "凭本人有效身份证件到营业厅领取",
}
#: The refund channel when the last top-up was cash at a hall or there was none.
HALL_REFUND = "hall"

#: Statuses a cancelled request may restore; anything else restores ``active``.
RESTORABLE_STATUSES = ("active", "suspended")


def check_aware(moment: datetime, name: str) -> None:
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


def date_zh(moment: datetime, reference: datetime) -> str:
    """``11月25日`` (with the year when it differs from ``reference``'s local year)."""
    local = to_local(moment)
    text = f"{local.month}月{local.day}日"
    if local.year != to_local(reference).year:
        text = f"{local.year}年{text}"
    return text


def subscriber_actor(subscriber_id: int) -> str:
    return f"subscriber:{subscriber_id}"
