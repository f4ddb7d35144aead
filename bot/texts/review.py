"""Words of the review queue (``bot.review``) for operators: reasons, list lines, refusals, summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from bot.texts.formats import cn_short_minute

#: Why a message was kept (``review_items.reason``).
REASON_LABELS = {
    "fallback": "未理解",
    "clarification": "需澄清",
    "low_confidence": "低置信度",
    "handoff": "未理解后转人工",
}
#: Why a label was refused (``bot.review.labels.InvalidLabel.code``).
REFUSALS = {
    "no_items": "没有指定要标注的消息",
    "unknown_intent": "意图不在可选列表中（领域文件里的意图，另加 noise）",
    "unknown_item": "没有这些编号的消息",
    "already_exported": "这些消息已导出，不能再改标注",
    "unknown_entity": "实体名不在领域文件的实体列表中",
    "bad_offsets": "实体位置超出消息范围、重叠或只标了空白",
    "empty_value": "实体值为空",
}


def refusal(code: str, detail: str = "") -> str:
    """A refused label, for the operator."""
    text = REFUSALS.get(code, code)
    return f"{text}：{detail}" if detail else text


def item_line(
    item_id: int,
    at: datetime,
    channel: Optional[str],
    intent: Optional[str],
    confidence: Optional[float],
    reason: str,
    text: str,
) -> str:
    """One pending message: ``#12  12月05日 09:30  socketio  query_usage 0.42  需澄清  卡里还剩多少大洋``."""
    score = f"{confidence:.2f}" if confidence is not None else "-"
    return (
        f"#{item_id}  {cn_short_minute(at)}  {channel or '-'}  {intent or '-'} {score}"
        f"  {REASON_LABELS.get(reason, reason)}  {text}"
    )


def group_head(size: int) -> str:
    """The line above a group of messages that read the same."""
    return f"相似消息 {size} 条："


def pending_summary(messages: int, groups: int) -> str:
    return f"待标注 {messages} 条（{groups} 组）。" if messages else "没有待标注的消息。"


def purged(count: int, days: int) -> str:
    return f"已删除 {days} 天前记录的待审消息 {count} 条。"


def labelled(count: int, intent: str) -> str:
    return f"已标注 {count} 条为 {intent}。"


def exported(written: int, marked: int, path: str) -> str:
    if not marked:
        return "没有待导出的已标注消息。"
    return f"已导出 {marked} 条已标注消息（新写入训练样例 {written} 条）：{path}"


#: The console's review page (``bot.channels.agent_console.review``).
NOT_SUPERVISOR = "只有主管账号可以查看和标注待审消息。"
NO_SUCH_ITEM = "没有这条待审消息（可能已过保留期被清除）。"
BAD_LABEL_REQUEST = (
    "请求格式不正确：ids 须为消息编号列表，intent 须为意图名，entities 须按消息编号给出实体列表。"
)


def console_labelled(count: int, intent: str) -> str:
    return f"已将 {count} 条消息标注为 {intent}。"
