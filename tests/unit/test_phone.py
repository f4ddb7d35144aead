"""One parser for mobile numbers (bot.phone), used by the store, verification, the CLI and the NLU."""

from __future__ import annotations

import pytest

from bot.phone import find_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        (" 138-0013-8000 ", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("(138)00138000", "13800138000"),
        ("1380013800", None),
        ("23800138000", None),
        ("abc", None),
        ("", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的号码是13800138000", "13800138000"),
        ("号码 138 0013 8000 谢谢", "13800138000"),
        ("+8613800138000", "13800138000"),  # the prefix before the number
        ("１３８００１３８０００", "13800138000"),  # full-width digits
        ("手机138-0013-8000，查下余额", "13800138000"),
        ("订单号 213800138000", None),  # eleven digits inside a longer number are not a phone
        ("1380013800", None),
        ("138****8000", None),  # a masked number identifies nobody
        ("", None),
    ],
)
def test_find_phone(text: str, expected: str | None) -> None:
    assert find_phone(text) == expected
