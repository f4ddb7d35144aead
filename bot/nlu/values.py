"""Values in normalised text: numbers, money, periods, codes, alert types and channels.

Every finder works on text that went through :func:`bot.nlu.normalise.normalise` (digits, not
Chinese numerals) and returns :class:`Found` values with canonical forms, the contract of
``docs/nlu.md``: amounts in integer fen, periods as ``relative:-1`` / ``month:10`` /
``month:2026-10`` / ``recent:3``, phone numbers as 11 digits, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

from bot.phone import MASKED_PHONE_IN_TEXT, PHONE_IN_TEXT


@dataclass(frozen=True)
class Found:
    """An entity found in the text: label, canonical value and character span."""

    entity: str
    value: str
    start: int
    end: int

    def overlaps(self, other: Found) -> bool:
        return self.start < other.end and other.start < self.end


def yuan_to_fen(whole: str, decimals: str = "") -> int:
    """Exact conversion of a yuan amount written as digits: ``('20', '5')`` → 2050."""
    decimals = (decimals or "")[:2].ljust(2, "0")
    return int(whole) * 100 + int(decimals)


# --- money --------------------------------------------------------------------------------------

_NUMBER = r"(\d{1,6})(?:\.(\d{1,2}))?"
_CURRENCY_SIGN = re.compile(rf"[¥￥]\s*{_NUMBER}")
_WITH_UNIT = re.compile(
    rf"(?<![\d.]){_NUMBER}\s*(?:块钱|块|元钱|元|rmb|RMB|人民币)(?:\s*(\d)\s*(?:毛钱|毛|角)?(?![\d%.]))?"
)
_JIAO = re.compile(r"(?<![\d.块元])(\d{1,3})\s*(?:毛钱|毛|角)")
_MONEY_TRIGGERS = (
    "低于 高于 超过 少于 小于 大于 多于 不足 不到 改成 改为 调到 调成 设为 设成 设置为 变成 "
    "扣了 多扣了 多扣 扣我 花了 收了 收我 充了 交了 到 少了 多了 多收了 扣掉 换成 换到 改到 设的 设了 花超 超了 超 "  # noqa: E501
    "剩 跌破 掉到 跌到 扣了我 退我 退 多收我 < >"
).split()
_BARE_AFTER_TRIGGER = re.compile(
    "(?:" + "|".join(sorted(_MONEY_TRIGGERS, key=len, reverse=True)) + r")\s*"
    r"(?<![\d.])(\d{1,5})(?:\.(\d{1,2}))?"
    r"(?![\d.%]|\s*(?:G|g|M|m|兆|个|月|号|日|天|年|分钟|小时|条|次|块|元|毛|角|分|星|岁|点|笔|截|张|些|下|遍|项|倍|位|大|半))"
)


# a bare number before 以下/以上 in a message about money alerts: 三十以下 → 30元
_BEFORE_BOUND = re.compile(r"(?<![\d.])(\d{1,5})(?:\.(\d{1,2}))?\s*(?:元|块)?\s*(?=以下|以上|之下|之上)")


def find_amounts(text: str) -> list[Found]:
    """Money amounts, in fen: ``10块`` → 1000, ``20块5`` → 2050, ``5毛`` → 50, ``低于20`` → 2000."""
    found: list[Found] = []
    for m in _CURRENCY_SIGN.finditer(text):
        found.append(Found("amount", str(yuan_to_fen(m.group(1), m.group(2) or "")), m.start(), m.end()))
    for m in _WITH_UNIT.finditer(text):
        fen = yuan_to_fen(m.group(1), m.group(2) or "")
        if m.group(3) and not m.group(2):
            fen += int(m.group(3)) * 10
        found.append(Found("amount", str(fen), m.start(), m.end()))
    for m in _JIAO.finditer(text):
        found.append(Found("amount", str(int(m.group(1)) * 10), m.start(), m.end()))
    for m in _BARE_AFTER_TRIGGER.finditer(text):
        found.append(Found("amount", str(yuan_to_fen(m.group(1), m.group(2) or "")), m.start(1), m.end()))
    if "流量" not in text:
        for m in _BEFORE_BOUND.finditer(text):
            found.append(Found("amount", str(yuan_to_fen(m.group(1), m.group(2) or "")), m.start(1), m.end()))
    return _without_overlaps(found)


_PERCENT = re.compile(r"(?<![\d.])(\d{1,3})(?:\.\d+)?\s*%")


def find_percents(text: str) -> list[Found]:
    """Percentages: ``80%`` → ``80`` (the normaliser turned 百分之八十 into 80%)."""
    return [
        Found("percent", m.group(1), m.start(), m.end())
        for m in _PERCENT.finditer(text)
        if 0 <= int(m.group(1)) <= 100
    ]


# --- numbers that identify -----------------------------------------------------------------------

#: A mobile number in text (group 1: the number), and one with digits 4-7 hidden: bot.phone's.
PHONE = PHONE_IN_TEXT
MASKED_PHONE = MASKED_PHONE_IN_TEXT
_SIX = re.compile(r"(?<![\dA-Za-z])(\d{5}[\dXx])(?![\dA-Za-z%.])")
_ID_CONTEXT = re.compile(r"身份证|证件|后六位|后6位|末六位|末6位|尾号")
_CODE_CONTEXT = re.compile(r"验证码|校验码|动态码|短信码")


def find_identifiers(text: str) -> list[Found]:
    """Phone numbers, one-time codes and the ID number's last six characters."""
    found: list[Found] = []
    for m in PHONE.finditer(text):
        found.append(Found("phone_number", re.sub(r"\D", "", m.group(1)), m.start(), m.end()))
    for m in _SIX.finditer(text):
        if any(f.start <= m.start() < f.end for f in found):
            continue
        value = m.group(1).upper()
        # the nearest cue before the digits decides: 验证码… or 身份证后六位…
        before = text[: m.start()]
        id_cue = max((c.end() for c in _ID_CONTEXT.finditer(before)), default=-1)
        code_cue = max((c.end() for c in _CODE_CONTEXT.finditer(before)), default=-1)
        if (
            value.endswith("X")
            or id_cue > code_cue
            or (id_cue < 0 and code_cue < 0 and _ID_CONTEXT.search(text))
        ):
            found.append(Found("id_last6", value, m.start(), m.end()))
        else:
            found.append(Found("otp_code", value, m.start(), m.end()))
    return found


# --- periods ------------------------------------------------------------------------------------

_PERIODS = [
    (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月份?"), lambda m: f"month:{m.group(1)}-{int(m.group(2)):02d}"),
    (re.compile(r"(?:最近|近|前|过去|这)\s*(\d{1,2})\s*个?月"), lambda m: f"recent:{int(m.group(1))}"),
    (re.compile(r"(?:最近|这)几个月"), lambda m: "recent:3"),
    (re.compile(r"(?:最近|近|过去|这)\s*(?:半年|6个月)"), lambda m: "recent:6"),
    (re.compile(r"(?:最近|近|过去|这)\s*1\s*年|(?:最近|过去)一年"), lambda m: "recent:12"),
    (re.compile(r"上上个?月"), lambda m: "relative:-2"),
    (re.compile(r"上一?个?月|前一个月"), lambda m: "relative:-1"),
    (re.compile(r"本月|这个月|这月|当月|本期|这期"), lambda m: "relative:0"),
    (re.compile(r"(?<![\d.年])(\d{1,2})\s*月份?(?!\d)"), lambda m: f"month:{int(m.group(1))}"),
]


def find_periods(text: str) -> list[Found]:
    """Bill periods: 本月 → ``relative:0``, 上个月 → ``relative:-1``, 10月 → ``month:10`` …"""
    found: list[Found] = []
    for pattern, value in _PERIODS:
        for m in pattern.finditer(text):
            candidate = Found("period", value(m), m.start(), m.end())
            if candidate.value.startswith("month:") and "-" not in candidate.value:
                if not 1 <= int(candidate.value[6:]) <= 12:
                    continue
            if not any(candidate.overlaps(f) for f in found):
                found.append(candidate)
    return found


# --- alerts and channels --------------------------------------------------------------------------

_ALERT_CONTEXT = re.compile(r"提醒|通知|告诉我|告知|预警|告警|提示我|叫我|喊我|发短信给我|发我")
_ALERT_TYPES = [
    ("balance", re.compile(r"余额|话费(?=.{0,3}(?:低于|少于|不足|不够|不到|剩))|欠费")),
    ("spend", re.compile(r"消费|花费|花销|账单|话费(?=.{0,6}(?:超过|高于|大于|多于|超出|超))|花了|花超")),
    ("deduction", re.compile(r"扣费|扣钱|扣款|每笔|每一笔|扣了钱|扣掉")),
    ("data", re.compile(r"流量|流浪")),
]
_CHANNELS = [
    ("sms", re.compile(r"短信(?!验证码|里|上|退订|链接|营销)")),
    ("wechat", re.compile(r"微信(?!支付|里|公众号里|上(?:充|交|缴|付|买|绑|开|订))|公众号")),
]


def find_alert_types(text: str) -> list[Found]:
    """Alert types, only in a message about being told something (提醒, 通知, 告诉我 …)."""
    if not _ALERT_CONTEXT.search(text):
        return []
    found: list[Found] = []
    for value, pattern in _ALERT_TYPES:
        m = pattern.search(text)
        if m and not any(Found("alert_type", value, m.start(), m.end()).overlaps(f) for f in found):
            found.append(Found("alert_type", value, m.start(), m.end()))
    return found


def find_channels(text: str) -> list[Found]:
    """Notification channels: 短信 → ``sms``, 微信 → ``wechat``."""
    found: list[Found] = []
    for value, pattern in _CHANNELS:
        m = pattern.search(text)
        if m:
            found.append(Found("channel", value, m.start(), m.end()))
    return found


# --- all of them ----------------------------------------------------------------------------------


def _without_overlaps(found: Iterable[Found]) -> list[Found]:
    """Keeps the longest of overlapping values (earlier on ties)."""
    kept: list[Found] = []
    for f in sorted(found, key=lambda f: (-(f.end - f.start), f.start)):
        if not any(f.overlaps(k) for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def find_values(text: str, taken: Optional[list[Found]] = None) -> list[Found]:
    """Every value in ``text`` except those overlapping ``taken`` (e.g. catalogue names)."""
    taken = list(taken or [])
    result: list[Found] = []
    identifiers = find_identifiers(text)
    percents = find_percents(text)
    blocked = taken + identifiers + percents
    amounts = [a for a in find_amounts(text) if not any(a.overlaps(b) for b in blocked)]
    periods = [p for p in find_periods(text) if not any(p.overlaps(b) for b in blocked + amounts)]
    for group in (identifiers, percents, amounts, periods, find_alert_types(text), find_channels(text)):
        for f in group:
            if not any(f.overlaps(t) for t in taken):
                result.append(f)
    return sorted(result, key=lambda f: f.start)
