"""The telecom lexicon: catalogue names for jieba and spaCy, plus words subscribers use.

Service and plan names come from the published catalogue (``bot.billing.catalogue``), so a new
service is understood once it is in the catalogue and the model is retrained.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bot.billing.catalogue import catalogue_terms

# Colloquial names and common misspellings that are not in the published catalogue.
EXTRA_SERVICE_ALIASES: tuple[tuple[str, str], ...] = (
    ("彩玲", "video_ringtone"),
    ("菜铃", "video_ringtone"),
    ("视频铃声", "video_ringtone"),
    ("来电铃声", "video_ringtone"),
    ("腾讯视屏", "tencent_video"),
    ("腾讯vip", "tencent_video"),
    ("企鹅会员", "tencent_video"),
    ("游戏加速器", "game_boost"),
    ("加速服务", "game_boost"),
    ("手机报纸", "mobile_news"),
    ("爱奇异", "iqiyi_vip"),
    ("奇艺vip", "iqiyi_vip"),
    ("网易云", "music_vip"),
    ("天气短信预报", "weather_sms"),
)

# Words jieba should keep whole (besides the catalogue).
TELECOM_WORDS: tuple[str, ...] = tuple(
    (
        "话费 化费 余额 扣费 扣钱 乱扣费 多扣 不明扣费 销户 销号 消户 注销 退订 退掉 流量 套餐 月租 "
        "增值业务 携号转网 验证码 人工客服 转人工 工信部 账单 欠费 停机 复机 充值 缴费 合约期 违约金 "
        "余额提醒 扣费提醒 流量提醒 消费提醒 短信提醒 微信提醒 营业厅 服务密码 身份证 后六位 退费 退款 申诉"
    ).split()
)


@dataclass(frozen=True)
class Term:
    """A name that means a catalogue item: ``彩铃`` → service ``video_ringtone``."""

    text: str
    label: str
    code: str


@lru_cache(maxsize=1)
def catalogue_lexicon() -> tuple[Term, ...]:
    """Every service and plan name and alias, with the extra colloquial aliases."""
    terms = [Term(t.term, t.kind, t.code) for t in catalogue_terms()]
    terms += [Term(text, "service", code) for text, code in EXTRA_SERVICE_ALIASES]
    return tuple(terms)


def jieba_dictionary() -> str:
    """A jieba user dictionary (``word frequency`` per line) for the catalogue and telecom words."""
    words = {t.text for t in catalogue_lexicon()} | set(TELECOM_WORDS)
    # a high frequency makes jieba keep the whole name as one token
    return "\n".join(f"{w.replace(' ', '')} 200000" for w in sorted(words)) + "\n"


@lru_cache(maxsize=1)
def load_into_jieba() -> int:
    """Adds the lexicon to jieba's (process-wide) dictionary once; returns how many words."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its start-up chatter goes to stdout otherwise
    lines = jieba_dictionary().splitlines()
    for line in lines:
        word, freq = line.rsplit(" ", 1)
        jieba.add_word(word, int(freq))
    return len(lines)
