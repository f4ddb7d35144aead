"""The normaliser: width, traditional characters, emoji, punctuation, numerals; origins kept."""

from __future__ import annotations

import pytest

from bot.nlu.normalise import chinese_number, normalise, normalise_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("話費餘額低於二十塊！！！😡", "话费余额低于20块!"),
        ("这个月怎么多扣了十块钱", "这个月怎么多扣了10块钱"),
        ("二十块五", "20块5"),
        ("１０.５元", "10.5元"),
        ("百分之九十", "90%"),
        ("十月份的账单", "10月份的账单"),
        ("最近三个月", "最近3个月"),
        ("给你打五分", "给你打5分"),
        ("余额低于二十提醒我一下", "余额低于20提醒我一下"),
        ("二〇二六年十一月", "2026年11月"),
        ("我要銷戶！！", "我要销户!"),
        ("APP上怎么退訂？？？", "APP上怎么退订?"),
        ("😀😀😀", ""),
        ("  hello   world  ", "hello world"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw).text == expected


@pytest.mark.parametrize(
    "text", ["查一下我的余额", "我一直被扣钱", "十分生气", "一点都不清楚", "万一又扣呢", "统一回复"]
)
def test_words_with_numeral_characters_are_left_alone(text: str) -> None:
    assert normalise(text).text == text


@pytest.mark.parametrize(
    "numeral, digits",
    [
        ("十", "10"),
        ("二十五", "25"),
        ("一百", "100"),
        ("一百零五", "105"),
        ("两千", "2000"),
        ("一万二千", "12000"),
        ("三点五", "3.5"),
        ("二〇二六", "2026"),
        ("十二", "12"),
    ],
)
def test_chinese_number(numeral: str, digits: str) -> None:
    assert chinese_number(numeral) == digits


def test_origins_let_annotations_follow_their_characters() -> None:
    raw = "這個月多扣了二十塊五！！"
    result = normalise(raw)
    assert result.text == "这个月多扣了20块5!"
    start, end = result.span(raw.index("二"), raw.index("五") + 1)
    assert result.text[start:end] == "20块5"
    assert result.span(raw.index("這"), raw.index("月") + 1) == (0, 3)


def test_vanished_characters_have_no_span() -> None:
    raw = "😡查余额"
    assert normalise(raw).span(0, 1) is None


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("⭐⭐⭐⭐⭐", "5星"), ("给你★★★吧", "给你3星吧"), ("🌟", "1星"), ("⭐" * 7, ""), ("👍⭐⭐", "2星")],
)
def test_a_run_of_stars_is_a_rating(raw: str, normal: str) -> None:
    assert normalise_text(raw) == normal


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("886", "拜拜了"),
        ("3Q!!", "谢谢!"),
        ("3q", "谢谢"),
        ("88", "88"),
        ("886块", "886块"),
        ("余额886", "余额886"),
    ],
)
def test_a_whole_message_in_number_slang_is_spelled_out(raw: str, normal: str) -> None:
    assert normalise_text(raw) == normal
