"""Time in one place, so rules about expiry can be tested with a controllable clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Anything that tells the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime:
        """Returns the current time, timezone-aware, in UTC."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that moves only when told to (for tests and deterministic demos)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> datetime:
        """Moves the clock forward, e.g. ``advance(minutes=5)``; returns the new time."""
        self._now = self._now + timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        """Sets the clock to ``when`` (timezone-aware)."""
        self._now = when.astimezone(timezone.utc)


def to_local(when: datetime) -> datetime:
    """Converts an aware datetime to Asia/Shanghai for display."""
    return when.astimezone(SHANGHAI)


def local_period(when: datetime) -> str:
    """The bill period ``YYYY-MM`` that ``when`` falls in, in Asia/Shanghai."""
    return to_local(when).strftime("%Y-%m")
