"""The copy of subscribers' alerts (余额/消费/扣费/流量提醒): the alert SMS and the rules' refusals.

``bot.alerts`` decides what fires and what is refused; the sentences are made here from plain
values. Labels (``余额提醒``, ``短信`` …) are passed in by the caller, which reads them from the
billing labels, so they are written down once.
"""

from __future__ import annotations

from datetime import datetime

from bot.texts.formats import cn_month_day_time, yuan


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f}GB"


# --------------------------------------------------------------------------- alert SMS


def deduction_body(charged_at: datetime, amount_fen: int, description: str, balance_fen: int) -> str:
    """The text of a deduction alert (the charge's local time, amount, bill line; the balance after)."""
    return (
        f"【扣费提醒】尊敬的客户，您的账户于{cn_month_day_time(charged_at)}"
        f"扣费{yuan(amount_fen)}元（{description}），当前余额{yuan(balance_fen)}元。"
    )


def balance_body(balance_fen: int, threshold_fen: int) -> str:
    """The text of a balance alert."""
    return (
        f"【余额提醒】尊敬的客户，您的账户余额为{yuan(balance_fen)}元，已低于您设置的"
        f"{yuan(threshold_fen)}元，请及时充值，以免影响正常使用。"
    )


def spend_body(spend_fen: int, threshold_fen: int) -> str:
    """The text of a spend alert."""
    return (
        f"【消费提醒】尊敬的客户，您本月消费已达{yuan(spend_fen)}元，超过您设置的"
        f"{yuan(threshold_fen)}元提醒额度。"
    )


def data_body(used_mb: int, allowance_mb: int, threshold_percent: int) -> str:
    """The text of a data alert (``allowance_mb`` must be positive)."""
    percent = used_mb * 100 // allowance_mb
    return (
        f"【流量提醒】尊敬的客户，您本月已使用流量{_gb(used_mb)}，占套餐内流量{_gb(allowance_mb)}的"
        f"{percent}%，已达到您设置的{threshold_percent}%提醒比例。"
    )


def fired_label(type_label: str, channel_label: str) -> str:
    """An alert that fired, by type and channel: ``余额提醒（短信）``."""
    return f"{type_label}（{channel_label}）"


def delivery_failed(type_label: str, detail: str) -> str:
    """An alert SMS the gateway would not take; the whole operation was rolled back."""
    return f"{type_label}短信未能发出（{detail}），本次操作已撤销，请稍后重试"


# --------------------------------------------------------------------------- the rules' refusals


def unknown_alert_type(alert_type: object) -> str:
    return f"不支持的提醒类型：{alert_type}（可设置余额、消费、扣费或流量提醒）"


def unknown_channel(channel: object) -> str:
    return f"不支持的提醒方式：{channel}（可选短信或微信）"


def deduction_takes_no_threshold() -> str:
    return "扣费提醒在每次扣费时通知，不需要设置金额或比例"


def _money_bounds(min_fen: int, max_fen: int) -> str:
    return f"{yuan(min_fen)}元到{yuan(max_fen)}元"


def money_threshold_missing(type_label: str, min_fen: int, max_fen: int) -> str:
    return f"{type_label}需要设置提醒金额（{_money_bounds(min_fen, max_fen)}之间）"


def money_threshold_out_of_range(type_label: str, min_fen: int, max_fen: int) -> str:
    return f"{type_label}的金额须在{_money_bounds(min_fen, max_fen)}之间"


def _percent_bounds(min_percent: int, max_percent: int) -> str:
    return f"{min_percent}%到{max_percent}%"


def percent_threshold_missing(type_label: str, min_percent: int, max_percent: int) -> str:
    return f"{type_label}需要设置提醒比例（{_percent_bounds(min_percent, max_percent)}之间）"


def percent_threshold_out_of_range(type_label: str, min_percent: int, max_percent: int) -> str:
    return f"{type_label}的比例须在{_percent_bounds(min_percent, max_percent)}之间"


def account_closed() -> str:
    return "该账户已销户，不能再设置提醒"


def nothing_to_change() -> str:
    return "请说明要把提醒金额、比例或提醒方式改成什么"


def no_such_alert(type_label: str) -> str:
    return f"您还没有开启{type_label}"
