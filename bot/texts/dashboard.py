"""Words of the supervisors' dashboard in the agent console: labels of its figures, its refusals."""

from __future__ import annotations

from typing import Optional

from bot.texts.handoff import INTENT_LABELS, REASON_LABELS

NOT_SUPERVISOR = "只有主管账号可以查看运营看板。"
BAD_PERIOD = "统计周期无效，请选择今天、近7天或近30天。"

PERIOD_LABELS = {"today": "今天", "7d": "近7天", "30d": "近30天"}
MISREAD_LABELS = {"fallback": "未能理解", "clarification": "澄清追问"}
TASK_LABELS = {
    "disputes_opened": "发起退费申诉",
    "alerts_set": "设置提醒",
    "closures_requested": "申请销户",
    "closures_cancelled": "撤销销户",
}
#: The intent before a misunderstanding when there was none: the session's first message.
SESSION_START = "会话开头"
#: More intents than the handoff summary names (FAQ answers, small talk).
EXTRA_INTENT_LABELS = {
    "greet": "问候",
    "goodbye": "告别",
    "affirm": "肯定",
    "deny": "否定",
    "thank": "致谢",
    "stop": "停止当前操作",
    "inform": "补充信息",
    "unbind_wechat": "解绑微信",
    "rate_service": "满意度评价",
    "resend_code": "重发验证码",
    "chitchat": "闲聊",
    "provide_secret": "提供密码或验证码",
    "rephrase": "换个说法",
    "noise": "无内容的消息",
}


def intent_label(intent: Optional[str]) -> str:
    """An intent as a supervisor reads it (its name when it has no label)."""
    if intent is None:
        return SESSION_START
    return INTENT_LABELS.get(intent) or EXTRA_INTENT_LABELS.get(intent) or intent


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)
