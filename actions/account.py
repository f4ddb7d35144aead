"""Account queries: balance, bill, usage, plan and value-added services, from the billing store."""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import GatedRequestAction, resumable
from actions.failures import store_failed
from bot.app import Services
from bot.billing.charges import explain_charges
from bot.billing.periods import InvalidPeriod, describe_period, resolve_periods
from bot.billing.queries import account_summary, active_subscriptions, get_balance, list_bills, plan_of
from bot.clock import to_local
from bot.db import StoreUnavailable
from bot.identity.rules import Verified
from bot.texts.formats import yuan
from bot.texts.labels import BILL_STATUS_LABELS

logger = logging.getLogger(__name__)


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f}GB" if mb >= 1024 else f"{mb}MB"


@resumable("query_balance")
def answer_balance(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Tells the verified subscriber their balance (or arrears) from the billing store."""
    now = services.clock.now()
    try:
        with services.store.transaction() as session:
            balance = get_balance(session, verified.subscriber_id, now)
            summary = account_summary(session, verified.subscriber_id, now)
    except StoreUnavailable:
        return store_failed(dispatcher, "reading the balance")
    as_of = to_local(balance.as_of).strftime("%m月%d日 %H:%M")
    if balance.balance_fen < 0:
        dispatcher.utter_message(
            response="utter_balance_arrears",
            masked_phone=verified.masked_phone,
            name=summary.name,
            arrears=yuan(-balance.balance_fen),
            as_of=as_of,
        )
    else:
        dispatcher.utter_message(
            response="utter_balance",
            masked_phone=verified.masked_phone,
            name=summary.name,
            balance=yuan(balance.balance_fen),
            as_of=as_of,
        )
    return [SlotSet("last_task", "balance")]


@resumable("query_bill")
def answer_bill(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """The bill of the period asked for (this month when none was named), line by line."""
    now = services.clock.now()
    try:
        periods = resolve_periods(tracker.get_slot("period"), now)
    except InvalidPeriod:
        dispatcher.utter_message(response="utter_invalid_period")
        return [SlotSet("period", None)]
    try:
        with services.store.transaction() as session:
            bills = {b.period: b for b in list_bills(session, verified.subscriber_id)}
            report = explain_charges(session, verified.subscriber_id, periods, now)
    except StoreUnavailable:
        return store_failed(dispatcher, "reading a bill")
    for period in periods:
        charges = [c for c in report.charges if c.bill_period == period]
        name = describe_period(period, now)
        if not charges:
            dispatcher.utter_message(response="utter_no_bill", period_name=name, period=period)
            continue
        bill = bills.get(period)
        status = BILL_STATUS_LABELS.get(bill.status, bill.status) if bill else "本月未出账"
        lines = "\n".join(
            f"· {to_local(c.charged_at):%m-%d} {c.service_name or c.description} {yuan(c.amount_fen)}元"
            for c in sorted(charges, key=lambda c: c.charged_at)
        )
        dispatcher.utter_message(
            response="utter_bill",
            period_name=name,
            period=period,
            total=yuan(sum(c.amount_fen for c in charges)),
            status=status,
            lines=lines,
        )
    return [SlotSet("last_task", "bill")]


@resumable("query_usage")
def answer_usage(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """This month's data, minutes and SMS against the plan's allowances."""
    now = services.clock.now()
    try:
        with services.store.transaction() as session:
            usage = account_summary(session, verified.subscriber_id, now).data_usage
    except StoreUnavailable:
        return store_failed(dispatcher, "reading usage")
    if usage is None:
        dispatcher.utter_message(response="utter_no_bill", period_name="本月", period="")
        return []
    dispatcher.utter_message(
        response="utter_usage",
        period_name="本月",
        data_used=_gb(usage.data_used_mb),
        data_allowance=_gb(usage.data_allowance_mb),
        data_percent=usage.data_percent,
        voice_used=usage.voice_used_minutes,
        voice_allowance=usage.voice_allowance_minutes,
        sms_used=usage.sms_used,
        sms_allowance=usage.sms_allowance,
    )
    return [SlotSet("last_task", "usage")]


@resumable("query_plan")
def answer_plan(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """The plan, its fee and allowances, and the contract if there is one."""
    try:
        with services.store.transaction() as session:
            plan = plan_of(session, verified.subscriber_id)
    except StoreUnavailable:
        return store_failed(dispatcher, "reading the plan")
    contract = (
        f"合约期至 {plan.contract_end:%Y年%m月%d日}，提前解约违约金 {yuan(plan.early_termination_fee_fen)} 元。"  # noqa: E501
        if plan.contract_end
        else ""
    )
    dispatcher.utter_message(
        response="utter_plan",
        plan_name=plan.name,
        fee=yuan(plan.monthly_fee_fen),
        data=_gb(plan.data_mb),
        voice=plan.voice_minutes,
        sms=plan.sms_count,
        contract=contract,
    )
    return [SlotSet("last_task", "plan")]


@resumable("query_subscriptions")
def answer_subscriptions(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """The value-added services that are running, with fee, channel and start date."""
    now = services.clock.now()
    try:
        with services.store.transaction() as session:
            subscriptions = active_subscriptions(session, verified.subscriber_id, now)
    except StoreUnavailable:
        return store_failed(dispatcher, "reading subscriptions")
    if not subscriptions:
        dispatcher.utter_message(response="utter_no_subscriptions")
        return [SlotSet("last_task", "subscriptions")]
    lines = "\n".join(
        f"· {s.service_name} {yuan(s.fee_fen)}元/{'月' if s.billing == 'monthly' else '次'}，"
        f"{to_local(s.started_at):%Y-%m-%d} 通过{s.channel_label}开通"
        for s in subscriptions
    )
    dispatcher.utter_message(
        response="utter_subscriptions", lines=lines, example=subscriptions[0].service_name
    )
    return [SlotSet("last_task", "subscriptions")]


class ActionQueryBalance(GatedRequestAction):
    """查余额."""

    request = "query_balance"

    def name(self) -> str:
        return "action_query_balance"


class ActionQueryBill(GatedRequestAction):
    """查账单."""

    request = "query_bill"

    def name(self) -> str:
        return "action_query_bill"


class ActionQueryUsage(GatedRequestAction):
    """查流量/通话/短信用量."""

    request = "query_usage"

    def name(self) -> str:
        return "action_query_usage"


class ActionQueryPlan(GatedRequestAction):
    """查套餐."""

    request = "query_plan"

    def name(self) -> str:
        return "action_query_plan"


class ActionQuerySubscriptions(GatedRequestAction):
    """查已开通的增值业务."""

    request = "query_subscriptions"

    def name(self) -> str:
        return "action_query_subscriptions"
