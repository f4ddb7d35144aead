"""Unknown or disputed charges: explain each deduction, unsubscribe, open a refund dispute."""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import GatedRequestAction, offer_rating, resumable
from actions.failures import sms_failed, store_failed
from bot.app import Services
from bot.billing.catalogue import service_spec
from bot.billing.charges import ExplainedCharge, NotSubscribed, explain_charges, unsubscribe
from bot.billing.periods import InvalidPeriod, describe_period, resolve_periods
from bot.billing.queries import active_subscriptions
from bot.billing.refunds import EXISTS, NOTHING, refund_flagged_charges
from bot.db import StoreUnavailable
from bot.identity.rules import Verified
from bot.notifications.errors import SmsGatewayError
from bot.texts import charges as texts
from bot.texts.formats import yuan

logger = logging.getLogger(__name__)


def _periods(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker
) -> tuple[str, ...] | None:
    try:
        return resolve_periods(tracker.get_slot("period"), services.clock.now())
    except InvalidPeriod:
        dispatcher.utter_message(response="utter_invalid_period")
        return None


def _line(charge: ExplainedCharge) -> str:
    return texts.charge_line(
        charged_at=charge.charged_at,
        name=charge.service_name or charge.description,
        amount_fen=charge.amount_fen,
        service_name=charge.service_name,
        service_description=charge.service_description,
        fee_fen=charge.published_fee_fen,
        billing=charge.billing,
        opened_at=charge.opened_at,
        channel_label=charge.channel_label,
        flagged=charge.flagged,
    )


@resumable("query_unknown_charge")
def answer_unknown_charges(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Lists the period's deductions, explains each from the catalogue, flags the suspicious ones."""
    periods = _periods(services, dispatcher, tracker)
    if periods is None:
        return [SlotSet("period", None)]
    now = services.clock.now()
    try:
        with services.store.transaction() as session:
            report = explain_charges(session, verified.subscriber_id, periods, now)
    except StoreUnavailable:
        return store_failed(dispatcher, "explaining charges")
    name = "、".join(describe_period(p, now) for p in periods)
    events: list[EventType] = [SlotSet("last_task", "charges")]
    if not report.charges:
        dispatcher.utter_message(response="utter_no_charges", period_name=name)
        return events
    dispatcher.utter_message(
        response="utter_charges",
        period_name=name,
        count=len(report.charges),
        total=yuan(report.total_fen),
        lines="\n".join(_line(c) for c in report.charges),
    )
    flagged = report.flagged_charges
    if not flagged:
        dispatcher.utter_message(response="utter_charges_clean")
        return [*events, SlotSet("offer", None)]
    reasons = "\n".join(
        texts.flagged_line(
            c.charged_at, c.service_name or c.description, c.amount_fen, (f.explanation for f in c.flags)
        )
        for c in flagged
    )
    dispatcher.utter_message(
        response="utter_charges_flagged",
        flagged_count=len(flagged),
        flagged_total=yuan(report.flagged_total_fen),
        reasons=reasons,
    )
    return [*events, SlotSet("offer", "refund")]


@resumable("request_refund")
def answer_refund(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Unsubscribes the flagged services and disputes the flagged charges (``bot.billing.refunds``)."""
    periods = _periods(services, dispatcher, tracker)
    if periods is None:
        return [SlotSet("period", None)]
    now = services.clock.now()
    try:
        with services.store.transaction() as session:
            outcome = refund_flagged_charges(
                session,
                subscriber_id=verified.subscriber_id,
                periods=periods,
                at=now,
                conversation_id=tracker.sender_id,
                sms=services.sms,
                service_code=tracker.get_slot("service"),  # "彩铃的钱退给我": that service only
            )
    except SmsGatewayError:
        return sms_failed(dispatcher, "opening a dispute")
    except StoreUnavailable:
        return store_failed(dispatcher, "opening a dispute")
    if outcome.kind == NOTHING:
        name = "、".join(describe_period(p, now) for p in periods)
        dispatcher.utter_message(response="utter_nothing_to_refund", period_name=name)
        return [SlotSet("offer", None)]
    if outcome.kind == EXISTS:
        dispatcher.utter_message(
            response="utter_refund_exists", ticket_no=outcome.ticket_no, amount=yuan(outcome.amount_fen)
        )
        if not outcome.unsubscribed:
            return [SlotSet("offer", None)]
    else:
        dispatcher.utter_message(
            response="utter_refund_opened",
            ticket_no=outcome.ticket_no,
            amount=yuan(outcome.amount_fen),
            unsubscribed=texts.also_unsubscribed(outcome.unsubscribed),
        )
    return [
        SlotSet("offer", None),
        SlotSet("service", None),
        SlotSet("last_task", "refund"),
        *offer_rating(dispatcher),
    ]


@resumable("unsubscribe_service")
def answer_unsubscribe(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """退订: the named service, or a choice among the running ones."""
    now = services.clock.now()
    code = tracker.get_slot("service")
    try:
        if not code:
            with services.store.transaction() as session:
                running = active_subscriptions(session, verified.subscriber_id, now)
            if not running:
                dispatcher.utter_message(response="utter_no_subscriptions")
                return []
            dispatcher.utter_message(
                response="utter_ask_which_service",
                buttons=[
                    {
                        "title": s.service_name,
                        "payload": f'/unsubscribe_service{{"service": "{s.service_code}"}}',
                    }
                    for s in running
                ],
            )
            return []
        with services.store.transaction() as session:
            result = unsubscribe(
                session,
                subscriber_id=verified.subscriber_id,
                service_code=code,
                at=now,
                conversation_id=tracker.sender_id,
                sms=services.sms,
            )
    except NotSubscribed:
        spec = service_spec(code) if code else None
        dispatcher.utter_message(
            response="utter_not_subscribed", service_name=spec.name if spec else texts.UNNAMED_SERVICE
        )
        return [SlotSet("service", None)]
    except SmsGatewayError:
        return sms_failed(dispatcher, "unsubscribing")
    except StoreUnavailable:
        return store_failed(dispatcher, "unsubscribing")
    dispatcher.utter_message(response="utter_unsubscribed", service_name=result.service_name)
    return [SlotSet("service", None), SlotSet("last_task", "unsubscribe"), *offer_rating(dispatcher)]


class ActionExplainCharges(GatedRequestAction):
    """查询不明扣费."""

    request = "query_unknown_charge"

    def name(self) -> str:
        return "action_explain_charges"


class ActionRequestRefund(GatedRequestAction):
    """申请退费 (with unsubscribing the flagged services)."""

    request = "request_refund"

    def name(self) -> str:
        return "action_request_refund"


class ActionUnsubscribe(GatedRequestAction):
    """退订增值业务."""

    request = "unsubscribe_service"

    def name(self) -> str:
        return "action_unsubscribe"
