"""Canonical period values to bill periods, in Asia/Shanghai, and back to Chinese."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.billing.errors import BillingError
from bot.billing.periods import InvalidPeriod, describe_period, period_start, resolve_periods
from bot.clock import SHANGHAI

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)  # 2026-11-22 10:00 Shanghai
JANUARY = datetime(2026, 1, 15, 12, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("2026-11",)),
        ("relative:0", ("2026-11",)),
        (" relative:0 ", ("2026-11",)),
        ("relative:-1", ("2026-10",)),
        ("relative:-2", ("2026-09",)),
        ("relative:-11", ("2025-12",)),
        ("month:10", ("2026-10",)),
        ("month:11", ("2026-11",)),
        ("month:12", ("2025-12",)),
        ("month:1", ("2026-01",)),
        ("month:01", ("2026-01",)),
        ("month:2026-10", ("2026-10",)),
        ("month:2025-12", ("2025-12",)),
        ("month:2026-11", ("2026-11",)),
        ("recent:1", ("2026-11",)),
        ("recent:3", ("2026-11", "2026-10", "2026-09")),
    ],
)
def test_resolve_periods_in_november(value: str | None, expected: tuple[str, ...]) -> None:
    assert resolve_periods(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("2026-01",)),
        ("relative:-1", ("2025-12",)),
        ("relative:-2", ("2025-11",)),
        ("month:1", ("2026-01",)),
        ("month:2", ("2025-02",)),
        ("month:12", ("2025-12",)),
        ("recent:3", ("2026-01", "2025-12", "2025-11")),
    ],
)
def test_resolve_periods_across_the_year_boundary(value: str | None, expected: tuple[str, ...]) -> None:
    assert resolve_periods(value, JANUARY) == expected


def test_months_are_counted_in_shanghai_not_utc() -> None:
    # 2026-11-30 16:30 UTC is already 1 December 00:30 in Shanghai.
    late = datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc)
    assert resolve_periods("relative:0", late) == ("2026-12",)
    assert resolve_periods("relative:-1", late) == ("2026-11",)
    assert resolve_periods("month:12", late) == ("2026-12",)
    # New Year's Eve 16:30 UTC is already 2027 in Shanghai.
    new_year = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)
    assert resolve_periods(None, new_year) == ("2027-01",)
    assert resolve_periods("recent:2", new_year) == ("2027-01", "2026-12")
    assert resolve_periods("month:12", new_year) == ("2026-12",)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "本月",
        "last month",
        "relative:",
        "relative:abc",
        "relative:-1.5",
        "relative:1",
        "relative:+2",
        "month:0",
        "month:13",
        "month:abc",
        "month:2026-13",
        "month:2026-00",
        "month:2026-12",
        "month:2027-01",
        "month:26-10",
        "recent:0",
        "recent:-3",
        "recent:three",
        "recent:500",
        "relative:-500",
        "month:1990-01",
        "week:1",
    ],
)
def test_garbage_and_future_months_are_refused(value: str) -> None:
    with pytest.raises(InvalidPeriod) as raised:
        resolve_periods(value, NOW)
    assert raised.value.value == value
    assert isinstance(raised.value, BillingError)


def test_future_month_says_so() -> None:
    with pytest.raises(InvalidPeriod, match="未来"):
        resolve_periods("month:2026-12", NOW)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        resolve_periods("relative:0", datetime(2026, 11, 22, 10, 0))


def test_describe_period() -> None:
    assert describe_period("2026-11", NOW) == "本月"
    assert describe_period("2026-10", NOW) == "上个月"
    assert describe_period("2026-09", NOW) == "2026年9月"
    assert describe_period("2025-11", NOW) == "2025年11月"
    assert describe_period("2025-12", JANUARY) == "上个月"
    assert describe_period("2026-01", JANUARY) == "本月"
    assert describe_period("2025-11", JANUARY) == "2025年11月"
    with pytest.raises(InvalidPeriod):
        describe_period("2026-13", NOW)
    with pytest.raises(InvalidPeriod):
        describe_period("上个月", NOW)


def test_period_start_is_midnight_in_shanghai() -> None:
    assert period_start("2026-11") == datetime(2026, 10, 31, 16, 0, tzinfo=timezone.utc)
