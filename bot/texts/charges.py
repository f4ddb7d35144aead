"""What the unknown-charges flow says (不明扣费): why a charge looks wrong, the lines listing charges,
the SMS confirmations of unsubscribing and of a refund dispute, and the reason stored with one.

``bot.billing.charges`` returns reason codes with the facts behind them (dates, amounts, the
channel); the sentences are made here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Optional

from bot.texts.formats import (
    clock_time,
    cn_date,
    cn_month_day_time,
    iso_date,
    iso_month_day,
    iso_month_day_minute,
    yuan,
)

#: The short label of each reason code of a suspicious charge.
FLAG_LABELS = {
    "marketing_channel": "经短信营销链接开通",
    "third_party": "经第三方渠道开通",
    "unused": "未使用",
    "duplicate": "疑似重复扣费",
    "price_mismatch": "金额与资费标准不符",
}
#: How a service's billing kind reads.
BILLING_LABELS = {"monthly": "包月", "per_use": "按次"}
#: A service the subscriber named that is not in the catalogue.
UNNAMED_SERVICE = "这项业务"
#: Between the reasons of one charge, and between the items of a dispute's reason.
REASON_SEPARATOR = "；"


def flag_label(code: str) -> str:
    """The short label of a reason code (the code itself when unknown)."""
    return FLAG_LABELS.get(code, code)


def billing_label(billing: str) -> str:
    """``包月`` or ``按次``."""
    return BILLING_LABELS.get(billing, billing)


def fee_unit(billing: Optional[str]) -> str:
    """What a published fee is per: ``次`` for ``per_use``, else ``月``."""
    return "次" if billing == "per_use" else "月"


def published_fee(fee_fen: int, billing: Optional[str]) -> str:
    """``10.00元/月``, ``6.00元/次``."""
    return f"{yuan(fee_fen)}元/{fee_unit(billing)}"


# ---------------------------------------------------------------------------------------------
# why a charge looks wrong


def opened_through(opened_at: datetime, channel_label: str) -> str:
    """``marketing_channel`` / ``third_party``: opened through a marketing link or a third party."""
    return f"该业务于{cn_date(opened_at)}经{channel_label}开通，可能并非您本人主动订购"


def never_used(opened_at: datetime) -> str:
    """``unused``: never used since it was opened."""
    return f"该业务自{cn_date(opened_at)}开通以来从未使用过"


def unused_since(last_used_at: datetime, period_name: str) -> str:
    """``unused``: last used before the charge's period (``period_name``, e.g. ``本月``) began."""
    return f"该业务最后一次使用是在{cn_date(last_used_at)}，{period_name}没有使用记录"


def duplicate(first_charged_at: datetime, amount_fen: int, service_name: str) -> str:
    """``duplicate``: the same amount was charged for the service earlier the same day."""
    return (
        f"同一天{cn_month_day_time(first_charged_at)}已扣过一笔相同金额"
        f"（{yuan(amount_fen)}元）的{service_name}费用，这笔疑似重复扣费"
    )


def price_mismatch(amount_fen: int, fee_fen: int, billing: str) -> str:
    """``price_mismatch``: the amount differs from the published fee."""
    return f"扣费{yuan(amount_fen)}元，与公布资费{published_fee(fee_fen, billing)}不符"


def flag_explanation(
    code: str,
    *,
    service_name: str,
    amount_fen: int,
    fee_fen: int,
    billing: str,
    channel_label: Optional[str] = None,
    opened_at: Optional[datetime] = None,
    last_used_at: Optional[datetime] = None,
    period_name: Optional[str] = None,
    first_charged_at: Optional[datetime] = None,
) -> str:
    """One sentence for the subscriber on why a charge looks wrong (``bot.billing.charges.ChargeFlag``).

    Args:
        code: the reason code.
        service_name: the service charged for.
        amount_fen: the charge's amount.
        fee_fen: the service's published fee (monthly, or per use).
        billing: ``monthly`` or ``per_use``.
        channel_label: how the subscription was opened, e.g. ``短信营销链接``.
        opened_at: when it was opened.
        last_used_at: when the service was last used; ``None`` if never.
        period_name: the charge's bill period as said to the subscriber (``本月``, ``2026年9月``).
        first_charged_at: the first charge of the same day, for a ``duplicate``.

    Returns:
        The sentence; the code's label when the facts for one are missing.
    """
    if code in ("marketing_channel", "third_party") and opened_at is not None and channel_label:
        return opened_through(opened_at, channel_label)
    if code == "unused" and last_used_at is None and opened_at is not None:
        return never_used(opened_at)
    if code == "unused" and last_used_at is not None and period_name:
        return unused_since(last_used_at, period_name)
    if code == "duplicate" and first_charged_at is not None:
        return duplicate(first_charged_at, amount_fen, service_name)
    if code == "price_mismatch":
        return price_mismatch(amount_fen, fee_fen, billing)
    return flag_label(code)


def reasons(explanations: Iterable[str]) -> str:
    """The reasons of one charge, in one line."""
    return REASON_SEPARATOR.join(explanations)


def dispute_reason(items: Iterable[tuple[str, str]]) -> str:
    """The reason stored with a refund dispute: ``视频彩铃 <why>；…`` for each (service, reason)."""
    return REASON_SEPARATOR.join(f"{service_name} {why}" for service_name, why in items)


# ---------------------------------------------------------------------------------------------
# the charges listed


def charge_head(charged_at: datetime, name: str, amount_fen: int) -> str:
    """``11-01 视频彩铃 10.00元``: a charge's local day, what it is for, and its amount."""
    return f"{iso_month_day(charged_at)} {name} {yuan(amount_fen)}元"


def charge_line(
    *,
    charged_at: datetime,
    name: str,
    amount_fen: int,
    service_name: Optional[str],
    service_description: Optional[str],
    fee_fen: Optional[int],
    billing: Optional[str],
    opened_at: Optional[datetime],
    channel_label: Optional[str],
    flagged: bool,
) -> str:
    """One deduction in the list the subscriber reads: when, what, how much, and for a service what it
    is, its published fee and how it was opened; ``⚠`` when something about it looks wrong.

    Args:
        charged_at: when it was charged.
        name: what it is for (the service's name, else the bill line).
        amount_fen: the amount.
        service_name: the service charged for, if any (the rest of the service facts go with it).
        service_description: what the service is (catalogue text).
        fee_fen: its published fee.
        billing: ``monthly`` or ``per_use``.
        opened_at: when the subscription was opened, if known.
        channel_label: how it was opened, if known.
        flagged: whether something about the charge looks wrong.
    """
    text = f"· {iso_month_day_minute(charged_at)} {name} {yuan(amount_fen)}元"
    if service_name:
        description = (service_description or "").removeprefix(f"{service_name}：").rstrip("。")
        text += f"：{description}；公布资费 {published_fee(fee_fen or 0, billing)}"
        if opened_at and channel_label:
            text += f"；{iso_date(opened_at)} 通过{channel_label}开通"
    if flagged:
        text += " ⚠"
    return text


def flagged_line(charged_at: datetime, name: str, amount_fen: int, explanations: Iterable[str]) -> str:
    """``· 11-01 视频彩铃 10.00元：<why>；<why>``: a suspicious charge and why, for the subscriber."""
    return f"· {charge_head(charged_at, name, amount_fen)}：{reasons(explanations)}"


def also_unsubscribed(service_names: Sequence[str]) -> str:
    """The sentence of a refund reply naming the services unsubscribed with it; empty for none."""
    stopped = "、".join(service_names)
    return f"同时已为您退订{stopped}，下个计费周期起不再收费。" if stopped else ""


# ---------------------------------------------------------------------------------------------
# confirmations and refusals


def unsubscribed_sms(service_name: str, fee_fen: int, billing: str, at: datetime) -> str:
    """The SMS confirming an unsubscription (``【退订成功】…``), effective at ``at``."""
    return (
        f"【退订成功】您已退订{service_name}业务（{published_fee(fee_fen, billing)}），"
        f"{cn_date(at)}{clock_time(at)}起生效，此后不再收取该业务费用。"
    )


def dispute_sms(ticket_no: str, amount_fen: int) -> str:
    """The SMS confirming a refund dispute (``【退费申请】工单号…``)."""
    return (
        f"【退费申请】工单号{ticket_no}，涉及金额{yuan(amount_fen)}元，"
        "我们将在3个工作日内处理，处理结果将以短信通知您。"
    )


def not_subscribed(service_name: str) -> str:
    """Why a service cannot be unsubscribed: none is running (``NotSubscribed``)."""
    return f"当前没有开通该业务：{service_name}"


def unknown_charges(charge_ids: Iterable[int]) -> str:
    """Why charges cannot be disputed: none of the subscriber's (``UnknownCharge``)."""
    return f"未找到您名下的扣费记录：{', '.join(str(i) for i in charge_ids)}"
