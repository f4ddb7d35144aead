"""What an agent reads first when a conversation is handed over: the summary's headline and its
labels (what the subscriber wanted, what the bot did, what went wrong, why it was handed over), and
the line of each suspicious charge.

``bot.handoff.summary`` gathers the facts (intents, the responses the bot said, the verification,
the flagged charges); the words are here. Plain Chinese, short enough to read in ten seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Optional

from bot.texts.charges import charge_head, reasons

#: What a request means to an agent.
INTENT_LABELS = {
    "query_unknown_charge": "查询不明扣费",
    "query_bill": "查询账单",
    "query_balance": "查询余额",
    "query_usage": "查询用量",
    "query_plan": "查询套餐",
    "query_subscriptions": "查询已订业务",
    "unsubscribe_service": "退订业务",
    "request_refund": "申请退费",
    "complain": "投诉",
    "set_alert": "设置提醒",
    "query_alerts": "查询提醒",
    "change_alert": "修改提醒",
    "cancel_alert": "取消提醒",
    "close_account": "销户",
    "cancel_closure": "撤销销户",
    "request_human": "要求人工服务",
    "faq": "咨询常见问题",
    "out_of_scope": "超出机器人范围的问题",
    "nlu_fallback": "机器人未能理解的问题",
}

#: What the bot did, as an agent would say it, by the response that shows it was done (see
#: ``bot.handoff.summary.done_label``).
DONE_LABELS = {
    "utter_code_sent": "短信验证码身份验证",
    "utter_need_strong_verification": "服务密码/身份证后六位核验",
    "utter_charges": "列出并解释扣费",
    "utter_no_charges": "查询扣费（无扣费记录）",
    "utter_refund_opened": "退订并申请退费",
    "utter_refund_exists": "告知已有退费申请",
    "utter_nothing_to_refund": "核查退费（无可退费用）",
    "utter_unsubscribed": "退订业务",
    "utter_balance": "查询余额",
    "utter_balance_arrears": "查询余额",
    "utter_bill": "查询账单",
    "utter_no_bill": "查询账单",
    "utter_usage": "查询用量",
    "utter_plan": "查询套餐",
    "utter_subscriptions": "查询已订业务",
    "utter_no_subscriptions": "查询已订业务",
    "utter_alert_saved": "设置提醒",
    "utter_alerts": "查询提醒",
    "utter_no_alerts": "查询提醒",
    "utter_alert_updated": "修改提醒",
    "utter_alert_cancelled": "取消提醒",
    "utter_closure_summary": "销户检查",
    "utter_closure_blocked": "销户检查",
    "utter_closure_exists": "销户检查",
    "utter_closure_requested": "提交销户申请",
    "utter_closure_cancelled": "撤销销户",
    "utter_default": "请用户换个说法",
    "utter_clarify": "请用户换个说法",
}  #: What an answer from the FAQ response selector (``utter_faq/<question>``) shows was done.
FAQ_LABEL = "解答常见问题"

#: What went wrong, as an agent would say it, by the response that shows it.
FAILURE_LABELS = {
    "utter_service_unavailable": "系统故障（账务库不可用）",
    "utter_sms_unavailable": "短信发送失败",
    "utter_number_locked": "号码因连续验证失败被锁定",
    "utter_too_many_codes": "验证码发送过于频繁",
    "utter_too_many_numbers": "本对话索取验证码的号码过多",
    "utter_code_requests_limited": "同一来源索取验证码过于频繁",
    "utter_code_failed": "验证码错误次数过多",
    "utter_second_factor_failed": "服务密码/身份证核验失败",
    "utter_verification_incomplete": "身份验证未完成",
    "utter_unknown_phone": "用户给出的号码不是在网号码",
    "utter_default": "机器人未能理解",
    "utter_closure_blocked": "销户条件不满足",
}

#: Why the conversation was handed over, by ``bot.handoff.models.REASONS``.
REASON_LABELS = {
    "requested": "用户要求转人工",
    "fallback": "机器人连续两次未能理解",
    "locked": "身份验证被锁定",
    "complaint": "用户升级投诉",
    "dependency": "系统连续故障",
}

#: What the subscriber wanted, when none of their requests has a label.
NOTHING_WANTED = "未说明"


def intent_label(intent: str) -> Optional[str]:
    """What a request means to an agent; ``None`` for an intent an agent need not read."""
    return INTENT_LABELS.get(intent)


def failure_label(response: str) -> Optional[str]:
    """What a response shows went wrong, or ``None``."""
    return FAILURE_LABELS.get(response)


def headline(*, reason: str, masked_phone: Optional[str], wanted: Sequence[str], flagged_count: int) -> str:
    """The summary's one line: why, who, what was wanted, and how many suspicious charges.

    Args:
        reason: why the conversation is handed over (``bot.handoff.models.REASONS``).
        masked_phone: the verified number, masked; ``None`` when the subscriber is not verified.
        wanted: what the subscriber wanted (labels), oldest first.
        flagged_count: how many suspicious charges the summary lists.
    """
    who = f"已验证 {masked_phone}" if masked_phone is not None else "未验证身份"
    text = f"{REASON_LABELS.get(reason, reason)}；{who}；诉求：{'、'.join(wanted) or NOTHING_WANTED}"
    if flagged_count:
        text += f"；可疑扣费 {flagged_count} 笔"
    return text


def flagged_charge_line(charged_at: datetime, name: str, amount_fen: int, explanations: Iterable[str]) -> str:
    """``11-01 视频彩铃 10.00元（<why>；<why>）``: a suspicious charge and why, for the agent."""
    return f"{charge_head(charged_at, name, amount_fen)}（{reasons(explanations)}）"


#: A handoff's status as the agent console shows it.
HANDOFF_STATUS_LABELS = {
    "queued": "排队中",
    "claimed": "已接入",
    "returned": "已转回机器人",
    "closed": "已结束",
    "ticket": "留言待处理",
}

#: The channel a handed-off conversation came from, as the agent console shows it.
HANDOFF_CHANNEL_LABELS = {
    "socketio": "网页",
    "wechat": "微信",
    "rest": "App",
    "cmdline": "命令行",
    "other": "其他",
}
