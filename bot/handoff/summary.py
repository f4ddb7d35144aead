"""The summary an agent reads first: what the subscriber wanted, who they are, what the bot tried.

Built from what the conversation already holds (intents, and the bot's messages by the action and
response that said them) and the server-side verification; never from message text, so no secret
can reach it. What the bot tried is what it said it did: an action that ran but only asked for
verification tried nothing. Everything is in
plain Chinese, short enough to read in ten seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.billing.charges import ExplainedCharge
from bot.clock import to_local
from bot.identity.rules import Verified
from bot.texts.formats import yuan

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

#: What the bot did, as an agent would say it, by the response that shows it was done: charges
#: were listed only when the list was said, verification tried only when a code was sent. An
#: action that ran but only asked for verification (or was interrupted) did nothing an agent needs
#: to know, so actions are not labelled by their names.
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
}
#: Answers from the FAQ response selector are named ``utter_faq/<question>``.
FAQ_PREFIX = "utter_faq/"
FAQ_LABEL = "解答常见问题"
#: Actions whose messages without a response name (plain text) are still a done thing.
TEXT_LABELS = {"action_answer_faq": FAQ_LABEL}
#: Responses that show suspicious charges were put to the subscriber (listed, or refunded).
FLAGGED_SHOWN = frozenset({"utter_charges_flagged", "utter_refund_opened", "utter_refund_exists"})

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


def flagged_charges_of(
    session: Session, subscriber_id: int, period: Optional[str], now: datetime
) -> list[str]:
    """:func:`flagged_lines` for the period the conversation was about (this month by default).

    Args:
        session: a unit of work on the billing store.
        subscriber_id: the verified subscriber.
        period: the conversation's ``period`` slot, if any (``bot.billing.periods``).
        now: the moment of the handoff (aware).
    """
    from bot.billing.charges import explain_charges
    from bot.billing.periods import InvalidPeriod, resolve_periods

    try:
        periods = resolve_periods(period, now)
    except InvalidPeriod:
        periods = resolve_periods(None, now)
    return flagged_lines(explain_charges(session, subscriber_id, periods, now).flagged_charges)


def done_label(action: str, response: str) -> Optional[str]:
    """What a bot message shows the bot did, or None when it shows nothing done.

    Args:
        action: the action that said it.
        response: its response name; empty for plain text.
    """
    if response.startswith(FAQ_PREFIX):
        return FAQ_LABEL
    if response:
        return DONE_LABELS.get(response)
    return TEXT_LABELS.get(action)


def build_summary(
    *,
    reason: str,
    intents: Sequence[str],
    said: Sequence[tuple[str, str]],
    verified: Optional[Verified],
    flagged: Sequence[str] = (),
    pending_request: Optional[str] = None,
) -> dict[str, Any]:
    """The handoff summary, as stored in ``handoffs.summary``.

    Args:
        reason: why the conversation is handed off (``bot.handoff.models.REASONS``).
        intents: the subscriber's intents in this conversation, oldest first.
        said: each bot message, oldest first, as (the action that said it, its response name or
            "" for plain text); what the bot tried and what went wrong are read from these.
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
    tried = _unique(done_label(action, response) for action, response in said)
    problems = _unique(FAILURE_LABELS.get(response) for _, response in said)
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
