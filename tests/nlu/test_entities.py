"""Entities with canonical values: the spaCy catalogue ruler and the value finders."""

from __future__ import annotations

import pytest

from bot.billing.catalogue import catalogue_terms
from bot.nlu.normalise import normalise_text
from bot.nlu.spacy_entities import find_entities, telecom_nlp


def entities(text: str) -> list[tuple[str, str]]:
    return [(f.entity, f.value) for f in find_entities(normalise_text(text))]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("这个月怎么多扣了10块", [("period", "relative:0"), ("amount", "1000")]),
        ("这个月怎么多扣了十块钱", [("period", "relative:0"), ("amount", "1000")]),
        ("帮我把那个彩铃退了", [("service", "video_ringtone")]),
        ("余额低于20提醒我", [("alert_type", "balance"), ("amount", "2000")]),
        ("余额低于二十提醒我一下", [("alert_type", "balance"), ("amount", "2000")]),
        ("我要销户", []),
        ("扣了我二十块五", [("amount", "2050")]),
        ("１０.５元", [("amount", "1050")]),
        ("多收了我5毛钱", [("amount", "50")]),
        ("号码 138-0013-8000", [("phone_number", "13800138000")]),
        ("验证码是６５４３２１", [("otp_code", "654321")]),
        ("身份证后六位10001x", [("id_last6", "10001X")]),
        ("上上个月和上个月的账单", [("period", "relative:-2"), ("period", "relative:-1")]),
        ("十月份的话费", [("period", "month:10")]),
        ("2026年10月的账单", [("period", "month:2026-10")]),
        ("最近三个月扣了啥", [("period", "recent:3")]),
        (
            "流量用到百分之八十发微信告诉我",
            [("alert_type", "data"), ("percent", "80"), ("channel", "wechat")],
        ),
        ("每笔扣费都短信通知我", [("alert_type", "deduction"), ("channel", "sms")]),
        ("我是畅享19元套餐，19元套餐多少流量", []),
        ("取消腾讯视频会员和爱奇艺", [("service", "tencent_video"), ("service", "iqiyi_vip")]),
        ("彩玲给我退了", [("service", "video_ringtone")]),
        ("短信验证码没收到", []),
        ("这周话费少了十五，怎么回事", [("amount", "1500")]),
        ("余额五十以下就提醒我", [("alert_type", "balance"), ("amount", "5000")]),
        ("提醒的金额换成三十", [("amount", "3000")]),
        ("账单里多了一笔扣费", []),
        ("身份证后六位10001X，验证码是654321", [("id_last6", "10001X"), ("otp_code", "654321")]),
        ("验证码123456，身份证尾号30003X", [("otp_code", "123456"), ("id_last6", "30003X")]),
        ("月消费花超200就提醒我", [("alert_type", "spend"), ("amount", "20000")]),
        ("话费剩三十的时候提醒我", [("alert_type", "balance"), ("amount", "3000")]),
        ("余额跌破一百发个通知", [("alert_type", "balance"), ("amount", "10000")]),
        ("余额<15就提醒", [("alert_type", "balance"), ("amount", "1500")]),
        ("莫名其妙扣了我三十", [("amount", "3000")]),
        ("给我退五十", [("amount", "5000")]),
        ("帮我退一下那个业务", []),
        ("话费少了一大截", []),
        ("过去半年都扣了些啥", [("period", "recent:6")]),
        ("近一年的账单", [("period", "recent:12")]),
        ("流浪超了提醒我", [("alert_type", "data")]),
        ("在微信上提醒我就行", [("channel", "wechat")]),
        ("微信上充的话费没到账", []),
    ],
)
def test_entities(text: str, expected: list[tuple[str, str]]) -> None:
    assert entities(text) == expected


@pytest.mark.parametrize("term", [t for t in catalogue_terms() if t.kind == "service"], ids=lambda t: t.term)
def test_every_catalogue_alias_is_found_by_the_spacy_ruler_in_context(term) -> None:  # type: ignore[no-untyped-def]
    doc = telecom_nlp()(f"帮我把那个{term.term}退了")
    assert [(e.label_, e.ent_id_) for e in doc.ents] == [("service", term.code)]


def test_noise_and_emoji_are_harmless() -> None:
    assert entities("😀" * 500) == []
    assert isinstance(entities("啊" * 5000), list)
