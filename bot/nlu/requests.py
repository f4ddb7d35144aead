"""Two requests in one message: "帮我把彩铃退订了，钱要退给我", "查一下余额和流量".

The intent classifier names one task per message. Subscribers often ask for two at once, and the
second must not be lost: :func:`further_requests` finds, by plain cue words, the other tasks the
message asks for beside the one the model chose. Only tasks that are short answers or one-step
changes combine (never a form such as an alert or a closure), and only in pairs that make sense
together; the caller runs them in :data:`ORDER`, so the charges are explained before a refund and
an unsubscription comes before the refund that follows it, and answers each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.nlu.normalise import normalise_text

# A cue preceded by (or holding) one of these is not a request: "不用退订", "钱就不用退了".
_NEGATION = re.compile(r"不用|不要|别|无需|不需要|不必")

CUES: dict[str, re.Pattern[str]] = {
    "query_unknown_charge": re.compile(r"多扣|乱扣|扣了|扣费|扣钱|怎么扣|扣我"),
    "unsubscribe_service": re.compile(r"退订|退掉|取消掉?|关掉|关闭|停掉|给我关了|关了"),
    "request_refund": re.compile(
        r"退(钱|费|款|回|还|给我|我)|(钱|费用?|款)[^，,。；;!?？！]{0,6}(退|返还|还给我|还我)|返还|赔偿|还我钱"
    ),
    "query_balance": re.compile(r"余额|(还剩|剩下?|还有)(多少)?(钱|话费)|话费(还剩|还有|剩)"),
    "query_usage": re.compile(
        r"流量|通话(时长|分钟)|语音(分钟|时长)|(还剩|剩下?|还有)(多少)?分钟|短信(条数|还剩)"
    ),
    "query_bill": re.compile(r"账单"),
}

# For each task the model may choose, the tasks that may come with it in one message.
COMBINES: dict[str, frozenset[str]] = {
    "query_unknown_charge": frozenset({"request_refund"}),
    "unsubscribe_service": frozenset({"request_refund"}),
    "request_refund": frozenset({"unsubscribe_service", "query_unknown_charge"}),
    "query_balance": frozenset({"query_usage", "query_bill"}),
    "query_usage": frozenset({"query_balance", "query_bill"}),
    "query_bill": frozenset({"query_balance", "query_usage"}),
}

# The order in which a message's requests are carried out.
ORDER = (
    "query_unknown_charge",
    "unsubscribe_service",
    "request_refund",
    "query_balance",
    "query_usage",
    "query_bill",
)


def _asks(text: str, task: str) -> bool:
    for match in CUES[task].finditer(text):
        if not _NEGATION.search(text[max(0, match.start() - 3) : match.end()]):
            return True
    return False


def further_requests(text: str, primary: str, entities: Iterable[str] = ()) -> list[str]:
    """The tasks ``text`` asks for besides ``primary``, in :data:`ORDER`.

    Args:
        text: the subscriber's message as typed.
        primary: the task the model chose for it (an intent name).
        entities: the names of the entities found in it (an unsubscription needs a ``service``).

    Returns:
        Intent names, possibly empty; never ``primary`` itself.
    """
    allowed = COMBINES.get(primary)
    if not allowed or not text:
        return []
    normal = normalise_text(text)
    found = []
    for task in ORDER:
        if task not in allowed or not _asks(normal, task):
            continue
        if task == "unsubscribe_service" and "service" not in set(entities):
            continue
        found.append(task)
    return found


def in_order(requests: Iterable[str]) -> list[str]:
    """``requests`` without repeats, in :data:`ORDER` (unknown ones last, as given)."""
    unique = list(dict.fromkeys(requests))
    rank = {task: i for i, task in enumerate(ORDER)}
    return sorted(unique, key=lambda task: rank.get(task, len(ORDER)))
