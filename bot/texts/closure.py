"""The copy of closing an account (销户): why it is blocked, what it means, its SMS and bill lines.

``bot.billing.closure`` decides (codes, amounts, dates, refund channels); the sentences are made
here from those plain values: the blockers (``Blocker.message_zh``), the facts a conversation
states once each (``ClosureCheck.facts``), the three SMS (【销户申请】, 【销户撤销】, 【销户完成】)
and the bill lines of the settlement charges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Optional

from bot.texts.formats import cn_month_day, iso_minute, yuan

#: How the refund reaches the subscriber, by refund channel (the method of the last top-up).
REFUND_METHOD_LABELS = {
    "alipay": "原路退回至支付宝",
    "wechat_pay": "原路退回至微信支付",
    "bank_card": "原路退回至银行卡",
    "hall": "凭本人有效身份证件到营业厅领取",
}


def refund_method(channel: str) -> str:
    """How the refund is paid, e.g. ``原路退回至支付宝``."""
    return REFUND_METHOD_LABELS[channel]


def _names(service_names: Sequence[str]) -> str:
    return "、".join(service_names)


def _until(contract_end: Optional[date]) -> str:
    return f"（合约期至{contract_end.isoformat()}）" if contract_end is not None else ""


# --------------------------------------------------------------------------- blockers


def arrears_blocker(arrears_fen: int) -> str:
    return f"账户欠费{yuan(arrears_fen)}元，须先结清欠费才能销户"


def open_disputes_blocker(count: int, ticket_nos: Sequence[str]) -> str:
    return f"有{count}笔退费申诉尚未处理完毕（工单号{'、'.join(ticket_nos)}），处理完成后才能销户"


def fee_exceeds_balance_blocker(fee_fen: int, balance_fen: int, due_fen: int) -> str:
    return (
        f"提前解约违约金{yuan(fee_fen)}元超过账户余额{yuan(balance_fen)}元，"
        f"须先充值{yuan(due_fen)}元才能销户"
    )


def consent_required_blocker(fee_fen: int, contract_end: Optional[date]) -> str:
    return f"合约期内销户需支付提前解约违约金{yuan(fee_fen)}元{_until(contract_end)}，须您明确同意"


def already_closed_blocker() -> str:
    return "该号码已销户"


def blocker(
    code: str,
    *,
    amount_fen: Optional[int] = None,
    count: Optional[int] = None,
    ticket_nos: Sequence[str] = (),
    fee_fen: Optional[int] = None,
    balance_fen: Optional[int] = None,
    contract_end: Optional[date] = None,
) -> str:
    """The sentence of a blocker, by its code and values (see ``bot.billing.blockers.Blocker``)."""
    if code == "arrears":
        return arrears_blocker(amount_fen or 0)
    if code == "open_disputes":
        return open_disputes_blocker(count if count is not None else len(ticket_nos), ticket_nos)
    if code == "fee_exceeds_balance":
        return fee_exceeds_balance_blocker(fee_fen or 0, balance_fen or 0, amount_fen or 0)
    if code == "consent_required":
        return consent_required_blocker(fee_fen if fee_fen is not None else amount_fen or 0, contract_end)
    if code == "already_closed":
        return already_closed_blocker()
    return "暂不能销户"


# --------------------------------------------------------------------------- what closing means


def fee_fact(contract_end: date, fee_fen: int) -> str:
    return (
        f"您的合约期至{contract_end.isoformat()}，合约期内销户需支付提前解约违约金"
        f"{yuan(fee_fen)}元，将从余额中扣除。"
    )


def services_fact(service_names: Sequence[str]) -> str:
    return f"已订增值业务（{_names(service_names)}）将一并取消。"


def refund_fact(refund_fen: int, channel: str) -> str:
    return f"账户余额{yuan(refund_fen)}元将在销户后{refund_method(channel)}。"


def no_refund_fact() -> str:
    return "销户后没有需要退还的余额。"


def effective_fact(effective_at: datetime, checked_at: datetime) -> str:
    return f"销户申请于{cn_month_day(effective_at, checked_at)}生效，生效前可随时撤销。"


def quarantine_fact(quarantine_days: int) -> str:
    return f"销户后号码进入{quarantine_days}天冷冻期。"


# --------------------------------------------------------------------------- SMS


def request_sms(
    *,
    effective_at: datetime,
    at: datetime,
    fee_fen: int,
    contract_end: Optional[date],
    service_names: Sequence[str],
    refund_fen: int,
    refund_channel: Optional[str],
    quarantine_days: int,
) -> str:
    """【销户申请】: the request was taken (the fee agreed to, the services, the expected refund)."""
    parts = [f"【销户申请】尊敬的客户，您的销户申请已受理，将于{cn_month_day(effective_at, at)}生效，"]
    parts.append("生效前可随时撤销（联系客服说“撤销销户”即可），生效前号码可正常使用。")
    if fee_fen > 0 and contract_end is not None:
        parts.append(
            f"您的合约期至{contract_end.isoformat()}，按您的同意将收取提前解约违约金{yuan(fee_fen)}元。"
        )
    if service_names:
        parts.append(f"已订增值业务（{_names(service_names)}）将一并取消。")
    if refund_fen > 0 and refund_channel is not None:
        parts.append(
            f"生效后将退还余额{yuan(refund_fen)}元（以生效时余额为准，{refund_method(refund_channel)}）。"
        )
    parts.append(f"销户后号码进入{quarantine_days}天冷冻期。")
    return "".join(parts)


def cancel_sms(effective_at: datetime, at: datetime) -> str:
    """【销户撤销】: the pending request was withdrawn."""
    return (
        f"【销户撤销】尊敬的客户，您原定于{cn_month_day(effective_at, at)}生效的销户申请已撤销，"
        "号码及已订业务保持不变。如需再次销户，请重新申请。"
    )


def completion_sms(
    *,
    effective_at: datetime,
    at: datetime,
    fee_fen: int,
    refund_fen: int,
    refund_channel: Optional[str],
    service_names: Sequence[str],
    quarantine_days: int,
) -> str:
    """【销户完成】: the account is closed (the fee taken, the refund, the services ended)."""
    parts = [f"【销户完成】尊敬的客户，您的号码已于{cn_month_day(effective_at, at)}完成销户。"]
    if fee_fen > 0:
        parts.append(f"已收取提前解约违约金{yuan(fee_fen)}元。")
    if refund_fen > 0 and refund_channel is not None:
        parts.append(f"账户余额{yuan(refund_fen)}元将{refund_method(refund_channel)}。")
    if service_names:
        parts.append(f"已取消增值业务：{_names(service_names)}。")
    parts.append(f"号码将进入{quarantine_days}天冷冻期。感谢您的使用。")
    return "".join(parts)


# --------------------------------------------------------------------------- bill lines


def termination_fee_line(contract_end: Optional[date]) -> str:
    """The bill line of the early-termination fee: ``提前解约违约金（合约期至2027-06-30）``."""
    return f"提前解约违约金{_until(contract_end)}"


def refund_line(channel: str) -> str:
    """The bill line of the refund of the balance: ``销户退还余额（原路退回至支付宝）``."""
    return f"销户退还余额（{refund_method(channel)}）"


def closure_blocked(reasons: list[str]) -> str:
    """Why closing is refused, every reason in one line."""
    return f"暂不能销户：{'；'.join(reasons) or '暂不能销户'}"


NO_PENDING_CLOSURE = "没有可撤销的销户申请"


def closure_already_effective(effective_at: datetime) -> str:
    return f"销户申请已于{iso_minute(effective_at)}生效，不能再撤销"
