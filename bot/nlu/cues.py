"""Cues in a subscriber's words that change how the assistant answers, not what it does.

- :func:`sounds_upset`: anger, swearing or exasperation. A task asked for in anger is answered
  with one line that acknowledges it first (``utter_sorry_upset``), then the task itself.
- :func:`telecom_topic`: a problem of the network, broadband, handset, SIM card or shop. The
  assistant cannot solve it, but a person can: out of scope, a human is offered.
- :func:`asks_where_the_code_is`: "验证码怎么还没收到" asks about the code sent, where "重发" (or
  the button) asks for another one; the first is answered with a 重发 button, no code is sent.
- :func:`is_escalating`: a complaint that names an escalation (投诉, 工信部, 12300, 曝光, 消协 …);
  unlike the others it changes what the assistant does: a person takes the conversation.

All are word lists on purpose: they decide one line of wording (or the handoff), must be
predictable, and are checked by tests with sentences of their own.
"""

from __future__ import annotations

import re

UPSET_WORDS = (
    "他妈",
    "他媽",
    "tmd",
    "尼玛",
    "你妈",
    "妈的",
    "妈蛋",
    "卧槽",
    "我靠",
    "我操",
    "操蛋",
    "艹",
    "日了狗",
    "坑爹",
    "坑人",
    "坑钱",
    "无耻",
    "不要脸",
    "强盗",
    "流氓",
    "骗子",
    "骗钱",
    "黑心",
    "吸血",
    "抢钱",
    "垃圾",
    "恶心",
    "忽悠",
    "太过分",
    "过分了",
    "欺人太甚",
    "气死",
    "受不了",
    "忍无可忍",
    "凭什么",
    "什么玩意",
    "搞什么",
    "搞啥",
    "脑残",
    "傻逼",
    "岂有此理",
    "霸王",
    "乱扣",
    "偷偷扣",
    "偷钱",
    "明抢",
    "讲不讲理",
    "还有没有王法",
    "给个说法",
    "给我个说法",
    "偷我",
)
_UPSET_PUNCTUATION = re.compile(r"[!！]{2,}|[?？]{3,}|[?？][!！]|[!！][?？]")

TELECOM_WORDS = (
    "信号",
    "网速",
    "网络",
    "断网",
    "掉线",
    "上不了网",
    "上不去网",
    "连不上",
    "宽带",
    "光纤",
    "光猫",
    "路由",
    "机顶盒",
    "iptv",
    "基站",
    "4g",
    "3g",
    "2g",
    "wifi",
    "打不出",
    "打不通",
    "接不通",
    "听不清",
    "串线",
    "短信发不出",
    "收不到短信",
    "手机坏",
    "死机",
    "维修",
    "售后",
    "换卡",
    "补卡",
    "剪卡",
    "sim",
    "实名",
    "营业厅",
    "诈骗",
    "骚扰",
    "垃圾短信",
    "伪基站",
    "携号转网",
    "邮箱",
    "固话",
    "座机",
)


def _lower(text: str) -> str:
    return (text or "").lower()


def sounds_upset(text: str) -> bool:
    """Whether a message carries anger: swearing, accusations, or runs of ！！/？？？."""
    lowered = _lower(text)
    return any(word in lowered for word in UPSET_WORDS) or bool(_UPSET_PUNCTUATION.search(lowered))


def telecom_topic(text: str) -> bool:
    """Whether a message is about the network, broadband, a handset, a SIM card or a shop."""
    lowered = _lower(text)
    return any(word in lowered for word in TELECOM_WORDS)


_NOT_ARRIVED = re.compile(r"没(有)?(收到|到|来|看到)|收不到|怎么还|还没|没短信|没有短信")
_RESEND = re.compile(r"重发|再发|重新发|再来一个|resend_code")


def asks_where_the_code_is(text: str) -> bool:
    """A question about a code that has not arrived, without asking for a new one."""
    return bool(_NOT_ARRIVED.search(text)) and not _RESEND.search(text)


#: Words that turn a complaint into one a person must handle.
ESCALATION_WORDS = ("投诉", "工信部", "12300", "曝光", "消协", "消费者协会", "媒体", "起诉", "律师")


def is_escalating(text: str) -> bool:
    """Whether a complaint names an escalation (投诉, 工信部, 12300, 曝光, 消协 …)."""
    return any(word in (text or "") for word in ESCALATION_WORDS)
