"""The summary an agent reads first: what the subscriber wanted, who they are, what the bot tried.

Built from what the conversation already holds (intents, actions and responses by name) and the
server-side verification; never from message text, so no secret can reach it. Everything is in
plain Chinese, short enough to read in ten seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Optional

from bot.billing.charges import ExplainedCharge
from bot.clock import to_local
from bot.identity.service import Verified
from bot.money import yuan

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

#: What the bot did, as an agent would say it.
ACTION_LABELS = {
    "verification_form": "短信验证码身份验证",
    "action_explain_charges": "列出并解释扣费",
    "action_request_refund": "退订并申请退费",
    "action_unsubscribe": "退订业务",
    "action_query_balance": "查询余额",
    "action_query_bill": "查询账单",
    "action_query_usage": "查询用量",
    "action_query_plan": "查询套餐",
    "action_query_subscriptions": "查询已订业务",
    "action_set_alert": "设置提醒",
    "action_list_alerts": "查询提醒",
    "action_change_alert": "修改提醒",
    "action_cancel_alert": "取消提醒",
    "action_close_account": "销户检查",
    "action_submit_closure": "提交销户申请",
    "action_cancel_closure": "撤销销户",
    "action_answer_faq": "解答常见问题",
    "action_fallback": "请用户换个说法",
}

#: Responses that mean something went wrong, as an agent would say it.
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

#: Responses that mean a dependency (store, SMS gateway) failed.
DEPENDENCY_FAILURES = frozenset({"utter_service_unavailable", "utter_sms_unavailable"})

REASON_LABELS = {
    "requested": "用户要求转人工",
    "fallback": "机器人连续两次未能理解",
    "locked": "身份验证被锁定",
    "complaint": "用户升级投诉",
    "dependency": "系统连续故障",
}

#: Words that turn a complaint into one a person must handle.
ESCALATION_WORDS = ("投诉", "工信部", "12300", "曝光", "消协", "消费者协会", "媒体", "起诉", "律师")


def is_escalating(text: str) -> bool:
    """Whether a complaint names an escalation (投诉, 工信部, 12300, 曝光, 消协 …)."""
    return any(word in (text or "") for word in ESCALATION_WORDS)


def _unique(values: Iterable[Optional[str]]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def flagged_lines(charges: Sequence[ExplainedCharge]) -> list[str]:
    """One line per flagged charge: date, service, amount and why it looks wrong."""
    lines = []
    for charge in charges:
        if not charge.flags:
            continue
        name = charge.service_name or charge.description
        why = "；".join(flag.explanation for flag in charge.flags)
        lines.append(f"{to_local(charge.charged_at):%m-%d} {name} {yuan(charge.amount_fen)}元（{why}）")
    return lines


def build_summary(
    *,
    reason: str,
    intents: Sequence[str],
    actions: Sequence[str],
    responses: Sequence[str],
    verified: Optional[Verified],
    flagged: Sequence[str] = (),
    pending_request: Optional[str] = None,
) -> dict[str, Any]:
    """The handoff summary, as stored in ``handoffs.summary``.

    Args:
        reason: why the conversation is handed off (``bot.handoff.models.REASONS``).
        intents: the subscriber's intents in this conversation, oldest first.
        actions: the actions the bot ran, oldest first.
        responses: the response names the bot said, oldest first.
        verified: the conversation's server-side verification, if any.
        flagged: lines from :func:`flagged_lines` when the charges flow found suspicious charges.
        pending_request: a request waiting for verification (an intent name), if any.

    Returns:
        ``headline`` (one line), ``reason``, ``wanted``, ``verified``, ``level``, ``masked_phone``,
        ``tried``, ``problems`` and ``flagged_charges``.
    """
    wanted = _unique(INTENT_LABELS.get(i) for i in [*intents, pending_request or ""])
    wanted = [w for w in wanted if w != "要求人工服务"] or (
        ["要求人工服务"] if "request_human" in intents else []
    )
    tried = _unique(ACTION_LABELS.get(a) for a in actions)
    problems = _unique(FAILURE_LABELS.get(r) for r in responses)
    who = f"已验证 {verified.masked_phone}" if verified else "未验证身份"
    headline = f"{REASON_LABELS.get(reason, reason)}；{who}；诉求：{'、'.join(wanted) or '未说明'}"
    if flagged:
        headline += f"；可疑扣费 {len(flagged)} 笔"
    return {
        "headline": headline,
        "reason": reason,
        "wanted": wanted,
        "verified": verified is not None,
        "level": verified.level if verified else None,
        "masked_phone": verified.masked_phone if verified else "",
        "tried": tried,
        "problems": problems,
        "flagged_charges": list(flagged),
    }
