"""Formatters for people: money in yuan, masked mobile numbers, dates and times in Asia/Shanghai.

Money is integer fen everywhere in the store; times are aware UTC datetimes, shown in local time.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.clock import to_local


def yuan(amount_fen: int) -> str:
    """Formats fen as yuan with two decimals: ``3650 -> '36.50'``, ``-5800 -> '-58.00'``."""
    sign = "-" if amount_fen < 0 else ""
    whole, fen = divmod(abs(int(amount_fen)), 100)
    return f"{sign}{whole}.{fen:02d}"


def mask_phone(phone: str) -> str:
    """Masks a mobile number for display: ``13800138000 -> '138****8000'``."""
    if len(phone) != 11 or not phone.isdigit():
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def cn_date(when: datetime | date) -> str:
    """``2026年12月5日`` (a datetime is shown in local time)."""
    day = to_local(when) if isinstance(when, datetime) else when
    return f"{day.year}年{day.month}月{day.day}日"


def cn_date_padded(when: datetime | date) -> str:
    """``2026年12月05日`` (a datetime is shown in local time)."""
    day = to_local(when) if isinstance(when, datetime) else when
    return f"{day:%Y年%m月%d日}"


def cn_month_day(when: datetime, reference: datetime | None = None) -> str:
    """``12月5日``; with the year when it differs from ``reference``'s local year."""
    local = to_local(when)
    text = f"{local.month}月{local.day}日"
    if reference is not None and local.year != to_local(reference).year:
        text = f"{local.year}年{text}"
    return text


def cn_month_day_time(when: datetime) -> str:
    """``12月5日09:30`` (local time)."""
    local = to_local(when)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def cn_minute(when: datetime) -> str:
    """``2026年12月05日 09:30`` (local time)."""
    return f"{to_local(when):%Y年%m月%d日 %H:%M}"


def cn_short_minute(when: datetime) -> str:
    """``12月05日 09:30`` (local time)."""
    return f"{to_local(when):%m月%d日 %H:%M}"


def cn_month(period: str) -> str:
    """``2026-11 -> 2026年11月``."""
    year, month = period.split("-")
    return f"{int(year)}年{int(month)}月"


def iso_minute(when: datetime) -> str:
    """``2026-12-05 09:30`` (local time)."""
    return f"{to_local(when):%Y-%m-%d %H:%M}"


def iso_second(when: datetime) -> str:
    """``2026-12-05 09:30:00`` (local time)."""
    return f"{to_local(when):%Y-%m-%d %H:%M:%S}"


def clock_time(when: datetime) -> str:
    """``09:30`` (local time)."""
    return f"{to_local(when):%H:%M}"


def iso_date(when: datetime) -> str:
    """``2026-12-05`` (local time)."""
    return f"{to_local(when):%Y-%m-%d}"


def iso_month_day(when: datetime) -> str:
    """``12-05`` (local time)."""
    return f"{to_local(when):%m-%d}"


def iso_month_day_minute(when: datetime) -> str:
    """``12-05 09:30`` (local time)."""
    return f"{to_local(when):%m-%d %H:%M}"
