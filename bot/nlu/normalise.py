"""Text normalisation for colloquial Chinese, keeping track of where every character came from.

``normalise("話費餘額低於二十塊！！！😡")`` gives ``"话费余额低于20块!"``. Steps, in order:

1. full-width to half-width (NFKC, character by character: ``１０`` → ``10``, ``！`` → ``!``);
2. traditional to simplified characters (OpenCC ``t2s``, character by character);
3. a run of one to five stars becomes a rating (``⭐⭐⭐⭐⭐`` → ``5星``); other emoji and pictographs
   removed, repeated punctuation collapsed (``！！！`` → ``!``), runs of
   spaces collapsed; a whole message in number slang spelled out (``886`` → ``拜拜了``, ``3Q`` → ``谢谢``);
4. Chinese numerals to digits where they are amounts, percentages, dates, durations or scores
   (``二十块五`` → ``20块5``, ``百分之九十`` → ``90%``, ``十月份`` → ``10月份``, ``打五分`` → ``打5分``),
   never inside ordinary words (``查一下``, ``一直``, ``十分生气``).

Each step keeps, for every output character, the index of the input character it came from, so
entity annotations of training examples can be moved onto the normalised text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional


@dataclass(frozen=True)
class Normalised:
    """Normalised text and, for each of its characters, the index in the original text."""

    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> Optional[tuple[int, int]]:
        """Maps an original span ``[start, end)`` onto the normalised text (None if it vanished)."""
        inside = [i for i, o in enumerate(self.origin) if start <= o < end]
        if not inside:
            return None
        return inside[0], inside[-1] + 1


class _Text:
    """Text plus per-character origins, rewritten by regex substitutions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.origin: list[int] = list(range(len(text)))

    def per_char(self, convert: Callable[[str], str]) -> None:
        chars: list[str] = []
        origin: list[int] = []
        for ch, o in zip(self.text, self.origin, strict=False):
            out = convert(ch)
            chars.append(out)
            origin.extend([o] * len(out))
        self.text = "".join(chars)
        self.origin = origin

    def sub(self, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str]) -> None:
        pieces: list[str] = []
        origin: list[int] = []
        last = 0
        for match in pattern.finditer(self.text):
            a, b = match.span()
            pieces.append(self.text[last:a])
            origin.extend(self.origin[last:a])
            new = repl(match)
            pieces.append(new)
            if new == match.group(0):
                origin.extend(self.origin[a:b])
            elif new:
                # a rewritten run points at the first character it replaced (the last for the tail)
                anchor = self.origin[a] if a < len(self.origin) else (self.origin[-1] if self.origin else 0)
                tail = self.origin[b - 1] if b > a else anchor
                origin.extend([anchor] * (len(new) - 1) + [tail])
            last = b
        pieces.append(self.text[last:])
        origin.extend(self.origin[last:])
        self.text = "".join(pieces)
        self.origin = origin


# --- 1. width ---------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _half_width(ch: str) -> str:
    if ch.isascii():
        return ch
    if ch in "。、【】「」『』《》":  # keep Chinese punctuation that NFKC leaves alone anyway
        return ch
    out = unicodedata.normalize("NFKC", ch)
    return out if out.strip() or ch.isspace() else ch


# --- 2. traditional to simplified -------------------------------------------------------------

_converter = None


@lru_cache(maxsize=8192)
def _simplified(ch: str) -> str:
    global _converter
    if ch.isascii():
        return ch
    if _converter is None:
        from opencc import OpenCC

        _converter = OpenCC("t2s")
    out = _converter.convert(ch)
    return out if len(out) == 1 else ch


# --- 3. emoji and punctuation -----------------------------------------------------------------

_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # emoji, pictographs, symbols and extended pictographs
    "\u2600-\u27bf"  # miscellaneous symbols, dingbats
    "\u2b00-\u2bff"  # arrows and stars
    "\ufe0f\u200d\u20e3"  # variation selector, zero-width joiner, keycap
    "\U000e0000-\U000e007f"  # tags
    "]+"
)
# a run of one to five stars is how people rate ("⭐⭐⭐⭐⭐" = five stars), so it becomes "5星"
_STARS = re.compile("(?<![\u2b50\u2605\U0001f31f])[\u2b50\u2605\U0001f31f]{1,5}(?![\u2b50\u2605\U0001f31f])")
_REPEATED_PUNCT = re.compile(r"([!?,.~。，、…])\1+|([!?]){2,}")
_SPACES = re.compile(r"\s{2,}")
# a whole message in number slang: 886 (拜拜了), 3Q (谢谢); not 88, which can answer "多少元提醒您"
_SLANG = re.compile(r"^\s*(886|3[qQ])\s*(?=[!.~。！]*\s*$)")
_SLANG_WORDS = {"886": "拜拜了", "3q": "谢谢"}


def _collapse_punct(m: re.Match[str]) -> str:
    return m.group(0)[0]


# --- 4. Chinese numerals ----------------------------------------------------------------------

_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNIT = {"十": 10, "百": 100, "千": 1000}
_NUM_CHARS = "零〇一二两三四五六七八九十百千万"
_NUM = f"[{_NUM_CHARS}]+(?:点[{_NUM_CHARS[:-4]}]+)?"

# units after which a numeral is a quantity: money, percent, dates, durations, scores, data volume
_AFTER = (
    r"(?=块钱|块|元|毛|角|%|个月|月份|月|号|日|天|年|小时|分钟|星|条|次|G|g|M|m|兆|个G"
    r"|以下|以上|之下|之上"
    r"|分(?=$|[\s,.!?，。！？~吧啦了啊呀哈的]))"
)
# words before which a bare numeral is a quantity
_BEFORE_WORDS = (
    "低于 高于 超过 少于 小于 大于 多于 不足 不到 改成 改为 调到 调成 设为 设成 变成 扣了 多扣 花了 打 给 评 到 满 "  # noqa: E501
    "少了 多了 换成 换到 改到 设的 设了 花超 超了 剩 跌破 掉到 跌到 扣我 扣了我 退我 退 多收我"
).split()
_BEFORE = "(?:" + "|".join(f"(?<={w})" for w in _BEFORE_WORDS) + ")"

_NUMERAL_AFTER_UNIT = re.compile(rf"(?<=[块元])[{_NUM_CHARS[:-4]}](?![{_NUM_CHARS}])")
_PERCENT = re.compile(rf"百分之({_NUM}|\d+(?:\.\d+)?)")
# ... unless a word goes on (剩一些, 少了一大截, 到一起 are not amounts)
_NOT_A_QUANTITY = "(?![下些大直共样般起定遍会半])"
_QUANTITY = re.compile(rf"{_NUM}{_AFTER}|{_BEFORE}{_NUM}{_NOT_A_QUANTITY}")


def chinese_number(text: str) -> Optional[str]:
    """Converts a Chinese numeral to its digits: ``二十五`` → ``25``, ``三点五`` → ``3.5``.

    Returns None when ``text`` is not a well-formed numeral.
    """
    whole, _, decimals = text.partition("点")
    if decimals and not all(c in _DIGIT for c in decimals):
        return None
    value = _integer(whole)
    if value is None:
        return None
    if decimals:
        return f"{value}." + "".join(str(_DIGIT[c]) for c in decimals)
    return str(value)


def _integer(text: str) -> Optional[int]:
    if not text:
        return None
    if all(c in _DIGIT for c in text):  # read digit by digit: 二〇二六 → 2026
        return int("".join(str(_DIGIT[c]) for c in text)) if len(text) > 1 else _DIGIT[text]
    if "万" in text:
        high, _, low = text.partition("万")
        high_value = _integer(high) if high else 1
        low_value = _integer(low) if low else 0
        if high_value is None or low_value is None:
            return None
        return high_value * 10000 + low_value
    total, digit = 0, None
    for ch in text:
        if ch in _DIGIT:
            if digit and _DIGIT[ch] != 0:  # two digits in a row (一百二三) is not a numeral
                return None
            digit = _DIGIT[ch]
        elif ch in _UNIT:
            total += (digit if digit is not None else 1) * _UNIT[ch]
            digit = None
        else:
            return None
    return total + (digit or 0)


def _numeral(m: re.Match[str]) -> str:
    converted = chinese_number(m.group(0))
    return converted if converted is not None else m.group(0)


def _percent(m: re.Match[str]) -> str:
    value = m.group(1)
    converted = value if value[0].isdigit() else chinese_number(value)
    return f"{converted}%" if converted is not None else m.group(0)


def normalise(text: str) -> Normalised:
    """Normalises ``text`` (see the module docstring) and keeps the character origins."""
    t = _Text(text or "")
    t.per_char(_half_width)
    t.per_char(_simplified)
    t.sub(_STARS, lambda m: f"{len(m.group(0))}星")
    t.sub(_EMOJI, lambda m: " ")
    t.sub(_REPEATED_PUNCT, _collapse_punct)
    t.sub(_SPACES, lambda m: " ")
    t.sub(_SLANG, lambda m: _SLANG_WORDS[m.group(1).lower()])
    t.sub(_PERCENT, _percent)
    t.sub(_QUANTITY, _numeral)
    t.sub(_NUMERAL_AFTER_UNIT, _numeral)
    # trim the ends
    start = len(t.text) - len(t.text.lstrip())
    end = len(t.text.rstrip())
    return Normalised(text=t.text[start:end], origin=tuple(t.origin[start:end]))


def normalise_text(text: str) -> str:
    """Just the normalised text."""
    return normalise(text).text
