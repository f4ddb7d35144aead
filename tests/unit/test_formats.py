"""The one set of formatters (bot.texts.formats): money, masked numbers, local dates."""

from __future__ import annotations

from datetime import date, datetime, timezone

from bot.texts import formats


def test_money_and_masks() -> None:
    assert formats.yuan(3650) == "36.50"
    assert formats.yuan(-5800) == "-58.00"
    assert formats.yuan(5) == "0.05"
    assert formats.mask_phone("13800138000") == "138****8000"
    assert formats.mask_phone("12345") == "*****"


def test_dates_are_local_time() -> None:
    late = datetime(2026, 12, 4, 17, 5, tzinfo=timezone.utc)  # 01:05 on the 5th in Shanghai
    assert formats.cn_date(late) == "2026年12月5日"
    assert formats.cn_date(date(2027, 1, 9)) == "2027年1月9日"
    assert formats.cn_date_padded(late) == "2026年12月05日"
    assert formats.cn_month_day(late) == "12月5日"
    assert formats.cn_month_day(late, reference=datetime(2027, 1, 2, tzinfo=timezone.utc)) == "2026年12月5日"
    assert formats.cn_month_day_time(late) == "12月5日01:05"
    assert formats.cn_minute(late) == "2026年12月05日 01:05"
    assert formats.cn_short_minute(late) == "12月05日 01:05"
    assert formats.iso_minute(late) == "2026-12-05 01:05"
    assert formats.iso_second(late) == "2026-12-05 01:05:00"
    assert formats.clock_time(late) == "01:05"
    assert formats.cn_month("2026-03") == "2026年3月"


def test_numeric_dates_are_local_time() -> None:
    late = datetime(2026, 12, 4, 17, 5, tzinfo=timezone.utc)  # 01:05 on the 5th in Shanghai
    assert formats.iso_date(late) == "2026-12-05"
    assert formats.iso_month_day(late) == "12-05"
    assert formats.iso_month_day_minute(late) == "12-05 01:05"
