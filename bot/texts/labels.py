"""Names of codes as subscribers and agents read them: statuses, channels, kinds, alert rules."""

from __future__ import annotations

from typing import Optional, Protocol

from bot.texts.formats import yuan

#: Account statuses (``subscribers.status``).
STATUS_LABELS = {"active": "正常", "suspended": "停机", "closing": "销户处理中", "closed": "已销户"}
#: Where a value-added service was ordered (``subscriptions.channel``).
CHANNEL_LABELS = {
    "app": "手机App",
    "sms_marketing": "短信营销链接",
    "hall": "营业厅",
    "third_party": "第三方渠道",
    "web": "网上营业厅",
}
#: What a charge was for (``charges.item_kind``).
CHARGE_KIND_LABELS = {
    "plan_fee": "套餐月费",
    "vas": "增值业务",
    "data": "流量费",
    "voice": "通话费",
    "sms": "短信费",
    "other": "其他费用",
}
ALERT_LABELS = {"balance": "余额提醒", "spend": "消费提醒", "deduction": "扣费提醒", "data": "流量提醒"}
NOTIFY_CHANNEL_LABELS = {"sms": "短信", "wechat": "微信"}
BILL_STATUS_LABELS = {"open": "本月未出账", "paid": "已缴清", "unpaid": "未缴清"}
#: An alert type nobody named (``你要改哪个提醒``).
SOME_ALERT = "这个提醒"
ANY_ALERT = "提醒"


def label(labels: dict[str, str], code: Optional[str]) -> str:
    """``labels[code]``, or the code itself when it has no name."""
    return labels.get(code or "", code or "")


class AlertRuleLike(Protocol):
    """What :func:`describe_alert` reads of an alert rule (``bot.billing.queries.AlertRuleView``)."""

    @property
    def alert_type(self) -> str: ...
    @property
    def threshold(self) -> Optional[int]: ...
    @property
    def channel(self) -> str: ...
    @property
    def active(self) -> bool: ...


def describe_alert(rule: AlertRuleLike) -> str:
    """The rule in one Chinese phrase, e.g. ``余额低于30.00元时短信提醒``."""
    via = NOTIFY_CHANNEL_LABELS.get(rule.channel, rule.channel)
    threshold = rule.threshold if rule.threshold is not None else 0
    if rule.alert_type == "balance":
        text = f"余额低于{yuan(threshold)}元时{via}提醒"
    elif rule.alert_type == "spend":
        text = f"当月消费超过{yuan(threshold)}元时{via}提醒"
    elif rule.alert_type == "data":
        text = f"本月流量用到{threshold}%时{via}提醒"
    elif rule.alert_type == "deduction":
        text = f"每次扣费时{via}提醒"
    else:
        text = f"{ALERT_LABELS.get(rule.alert_type, rule.alert_type)}（{via}）"
    if not rule.active:
        text += "（已关闭）"
    return text
