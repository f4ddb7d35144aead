"""Account queries: balance (more come with the conversation flows)."""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import GatedRequestAction, resumable
from bot.app import Services
from bot.billing.queries import account_summary, get_balance
from bot.clock import to_local
from bot.db import StoreUnavailable
from bot.identity.service import Verified
from bot.money import yuan

logger = logging.getLogger(__name__)


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
        logger.warning("store unavailable while reading the balance")
        dispatcher.utter_message(response="utter_service_unavailable")
        return []
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
    return []


class ActionQueryBalance(GatedRequestAction):
    """查余额: answers when verified, otherwise starts verification and resumes afterwards."""

    request = "query_balance"

    def name(self) -> str:
        return "action_query_balance"
