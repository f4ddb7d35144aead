"""Bill periods from the canonical period values of the NLU (see ``docs/nlu.md``).

A bill period is ``YYYY-MM`` in Asia/Shanghai (as ``bot.clock.local_period``). The canonical
values the extractors produce are ``relative:0`` (本月), ``relative:-1`` (上个月),
``relative:-2`` (上上个月), ``month:10`` (十月份), ``month:2026-10`` (2026年10月) and
``recent:3`` (最近三个月); :func:`resolve_periods` turns one into the periods it means and
:func:`describe_period` says a period back in Chinese.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Optional

from bot.billing.errors import BillingError
from bot.clock import SHANGHAI, to_local
from bot.texts import billing as copy

#: How far back a period may lie, in months before the current one (10 years). Older values
#: are treated as garbage: there is no billing history that old, and ``recent:N`` stays small.
MAX_MONTHS_BACK = 120

_PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")
_RELATIVE_RE = re.compile(r"^relative:([+-]?\d{1,4})$")
_MONTH_RE = re.compile(r"^month:(\d{1,2})$")
_YEAR_MONTH_RE = re.compile(r"^month:(\d{4})-(\d{1,2})$")
_RECENT_RE = re.compile(r"^recent:(\d{1,4})$")


class InvalidPeriod(BillingError):
    """A period value that names no bill period, or one in the future (or too long ago).

    Attributes:
        value: what was given.
        code: why it was refused: ``unreadable``, ``future``, ``too_old``, ``bad_month``,
            ``no_months`` or ``none_given`` (``bot.texts.billing.PERIOD_REFUSALS`` words them).
    """

    def __init__(self, value: object, code: str = "unreadable") -> None:
        self.value = value
        self.code = code
        super().__init__(copy.period_refused(code, value))


def _check_aware(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("'now' must be a timezone-aware datetime")
    return now


def _index(year: int, month: int) -> int:
    """Months since year 0, so that consecutive months differ by one."""
    return year * 12 + (month - 1)


def _period_of(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _current_index(now: datetime) -> int:
    local = to_local(_check_aware(now))
    return _index(local.year, local.month)


def _checked(value: object, index: int, current: int) -> int:
    if index > current:
        raise InvalidPeriod(value, "future")
    if current - index > MAX_MONTHS_BACK:
        raise InvalidPeriod(value, "too_old")
    return index


def resolve_periods(value: Optional[str], now: datetime) -> tuple[str, ...]:
    """The bill periods a canonical period value means at ``now``.

    * ``None`` or ``relative:0``: this month; ``relative:-N``: N months ago.
    * ``month:M`` (1-12): the most recent month M that is not in the future — this year's if
      M is not after the current month, else last year's.
    * ``month:YYYY-MM``: that month.
    * ``recent:N`` (N >= 1): the last N months including this one, newest first.

    Args:
        value: the canonical value (surrounding spaces are ignored), or ``None``.
        now: the current moment (aware); months are counted in Asia/Shanghai.

    Returns:
        ``YYYY-MM`` periods, newest first (one, except for ``recent:N``).

    Raises:
        InvalidPeriod: the value is not a canonical period value, names a month that does not
            exist, lies in the future, or more than :data:`MAX_MONTHS_BACK` months ago.
        ValueError: ``now`` is naive.
    """
    current = _current_index(now)
    if value is None:
        return (_period_of(current),)
    if not isinstance(value, str):
        raise InvalidPeriod(value)
    text = value.strip()

    match = _RELATIVE_RE.match(text)
    if match:
        return (_period_of(_checked(value, current + int(match.group(1)), current)),)

    match = _MONTH_RE.match(text)
    if match:
        month = int(match.group(1))
        if not 1 <= month <= 12:
            raise InvalidPeriod(value, "bad_month")
        year = current // 12
        index = _index(year, month)
        if index > current:
            index = _index(year - 1, month)
        return (_period_of(_checked(value, index, current)),)

    match = _YEAR_MONTH_RE.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidPeriod(value, "bad_month")
        return (_period_of(_checked(value, _index(year, month), current)),)

    match = _RECENT_RE.match(text)
    if match:
        count = int(match.group(1))
        if count < 1:
            raise InvalidPeriod(value, "no_months")
        if count > MAX_MONTHS_BACK + 1:
            raise InvalidPeriod(value, "too_old")
        return tuple(_period_of(current - k) for k in range(count))

    raise InvalidPeriod(value)


def parse_period(period: str) -> tuple[int, int]:
    """``(year, month)`` of a ``YYYY-MM`` period.

    Raises:
        InvalidPeriod: ``period`` is not ``YYYY-MM`` with a month 01-12.
    """
    match = _PERIOD_RE.match(period) if isinstance(period, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidPeriod(period)
    return int(match.group(1)), int(match.group(2))


def period_start(period: str) -> datetime:
    """The first moment of a ``YYYY-MM`` period (midnight Asia/Shanghai), as aware UTC.

    Raises:
        InvalidPeriod: ``period`` is not ``YYYY-MM``.
    """
    year, month = parse_period(period)
    return datetime(year, month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)


def describe_period(period: str, now: datetime) -> str:
    """A bill period in Chinese, relative to ``now`` where that reads naturally.

    ``本月`` for the current period, ``上个月`` for the one before, otherwise ``2026年9月``.

    Args:
        period: ``YYYY-MM``.
        now: the current moment (aware).

    Raises:
        InvalidPeriod: ``period`` is not ``YYYY-MM``.
        ValueError: ``now`` is naive.
    """
    year, month = parse_period(period)
    offset = _index(year, month) - _current_index(now)
    return copy.period_name(year, month, offset)
