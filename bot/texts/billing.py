"""Billing's sentences: why a request to the store was refused, periods, published fees."""

from __future__ import annotations

from typing import Any

from bot.texts.charges import fee_unit
from bot.texts.formats import mask_phone, yuan


def who(phone: str | int) -> str:
    """``号码 138****8000 ``, ``用户编号 12 `` or ``该号码``: how an error names the account."""
    text = str(phone)
    if len(text) == 11 and text.isdigit():
        return f"号码 {mask_phone(text)} "
    if isinstance(phone, int) or text.isdigit():
        return f"用户编号 {text} "
    return "该号码"


def unknown_subscriber(phone: str | int) -> str:
    return f"未找到{who(phone)}的账户"


def account_closed(phone: str) -> str:
    return f"{who(phone)}已销户，不能再记账"


def unknown_service(code: str) -> str:
    return f"未知的增值业务代码：{code}"


def unknown_plan(code: str) -> str:
    return f"未知的套餐代码：{code}"


def invalid_amount(amount: Any) -> str:
    return f"金额无效：{amount!r}（须为大于 0 的金额，最多两位小数）"


def invalid_usage(data_used_mb: Any) -> str:
    return f"流量用量无效：{data_used_mb!r}（须为不小于 0 的整数，单位 MB）"


def invalid_charge_kind(kind: str) -> str:
    return f"未知的扣费类型：{kind}"


def invalid_payment_method(method: str) -> str:
    return f"未知的缴费方式：{method}"


#: Why a period was refused (``bot.billing.periods.InvalidPeriod.code``).
PERIOD_REFUSALS = {
    "unreadable": "无法识别的账期",
    "future": "账期在未来",
    "too_old": "账期太久远",
    "bad_month": "月份无效",
    "no_months": "月数须至少为1",
    "none_given": "没有指定账期",
}


def period_refused(code: str, value: object) -> str:
    return f"{PERIOD_REFUSALS.get(code, PERIOD_REFUSALS['unreadable'])}：{value!r}"


def period_name(year: int, month: int, offset: int) -> str:
    """``本月`` (offset 0), ``上个月`` (-1), otherwise ``2026年9月``."""
    if offset == 0:
        return "本月"
    if offset == -1:
        return "上个月"
    return f"{year}年{month}月"


def published_fee(name: str, billing: str, fee_fen: int, description: str, provider: str) -> str:
    """A service's published fee, what it is and who provides it."""
    unit = fee_unit(billing)
    return (
        f"{name}的公布资费为 {yuan(fee_fen)} 元/{unit}。{description}"
        f"（业务提供方：{provider}）如需退订，告诉我“退订{name}”即可。"
    )
