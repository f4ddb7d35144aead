"""Conversation glue: answers and corrections, yes/no to an offer, FAQs, ratings, fallbacks."""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import ServiceAction, latest_entity, resume_if_verified
from bot.db import StoreUnavailable
from bot.feedback import InvalidRating, record_rating

logger = logging.getLogger(__name__)

# Tasks whose answer depends on the period: "不对，是上个月" asks them again for the new one.
PERIOD_TASKS = {"charges": "query_unknown_charge", "bill": "query_bill"}
WORD_SCORES = (
    ("非常不满意", 1),
    ("很不满意", 1),
    ("不满意", 2),
    ("很差", 1),
    ("一般", 3),
    ("非常满意", 5),
    ("很满意", 5),
    ("满意", 4),
)


class ActionHandleInform(ServiceAction):
    """An answer outside a form: a correction of the period re-runs the last period task."""

    def name(self) -> str:
        return "action_handle_inform"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        task = PERIOD_TASKS.get(tracker.get_slot("last_task") or "")
        if task and latest_entity(tracker, "period"):
            events = resume_if_verified(task, self.services, dispatcher, tracker)
            if events is not None:
                return events
        dispatcher.utter_message(response="utter_default")
        return []


class ActionHandleYesNo(ServiceAction):
    """好的 / 不用了 in answer to what the bot just offered (a refund, a rating)."""

    def name(self) -> str:
        return "action_handle_yes_no"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        offer = tracker.get_slot("offer")
        intent = (tracker.latest_message or {}).get("intent", {}).get("name")
        if offer == "refund" and intent == "affirm":
            events = resume_if_verified("request_refund", self.services, dispatcher, tracker)
            if events is not None:
                return events
            dispatcher.utter_message(response="utter_verification_incomplete")
            return [SlotSet("offer", None)]
        if offer == "rating" and intent == "affirm":
            dispatcher.utter_message(response="utter_ask_rating")
            return []
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("offer", None)]


class ActionAnswerFaq(ServiceAction):
    """FAQs from the response selector; the fee standard of a named service from the catalogue."""

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        selector = (tracker.latest_message or {}).get("response_selector") or {}
        chosen = (selector.get("faq") or selector.get("default") or {}).get("response") or {}
        key = chosen.get("intent_response_key") or "faq/fee_standard"
        code = latest_entity(tracker, "service") or tracker.get_slot("service")
        if key == "faq/fee_standard" and code:
            from bot.billing.catalogue_queries import published_fee

            try:
                with self.services.store.transaction() as session:
                    fee = published_fee(session, code)
            except StoreUnavailable:
                dispatcher.utter_message(response="utter_service_unavailable")
                return []
            if fee is not None:
                dispatcher.utter_message(text=fee)
                return [SlotSet("service", None)]
        dispatcher.utter_message(response=f"utter_{key}")
        return []


def score_from(tracker: Tracker) -> Optional[int]:
    """A 1–5 score from a button entity, a digit in the text, or words such as 非常满意."""
    value = latest_entity(tracker, "score")
    if value and value.isdigit():
        return int(value)
    text = (tracker.latest_message or {}).get("text") or ""
    digits = re.findall(r"(?<!\d)([1-5])(?:\s*(?:分|星|颗星))?(?!\d)", text)
    if digits:
        return int(digits[0])
    for word, score in WORD_SCORES:
        if word in text:
            return score
    return None


class ActionRateService(ServiceAction):
    """Stores the satisfaction score (1–5)."""

    def name(self) -> str:
        return "action_rate_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        score = score_from(tracker)
        if score is None:
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        try:
            verified = self.services.verification.current(tracker.sender_id, touch=False)
            with self.services.store.transaction() as session:
                record_rating(
                    session,
                    conversation_id=tracker.sender_id,
                    score=score,
                    at=self.services.clock.now(),
                    subscriber_id=verified.subscriber_id if verified else None,
                    task=tracker.get_slot("last_task") or "",
                )
        except InvalidRating:
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        except StoreUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        dispatcher.utter_message(response="utter_rating_thanks", score=score)
        return [SlotSet("offer", None)]


class ActionFallback(ServiceAction):
    """Not understood: clarify or ask again; the second time in a row, hand over to a person.

    When tasks stand near the top of the model's ranking (``bot.nlu.clarify``), the subscriber
    is asked "您是想……？" with those tasks as buttons, each carrying the entities already
    understood, plus 转人工; otherwise to say it another way. Sets ``handoff_reason`` (``none`` or
    ``fallback``): the rules run ``action_handoff`` on ``fallback``.
    """

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intents: list[Optional[str]] = []
        for event in tracker.events:
            # messages logged while a person had the conversation do not count
            if event.get("event") == "resume" or (
                event.get("event") == "action" and event.get("name") == "action_handoff"
            ):
                intents = []
            elif event.get("event") == "user":
                intents.append(event.get("parse_data", {}).get("intent", {}).get("name"))
        if len(intents) >= 2 and intents[-1] == intents[-2] == "nlu_fallback":
            dispatcher.utter_message(response="utter_handoff_fallback")
            return [SlotSet("handoff_reason", "fallback")]
        buttons = clarification_buttons(tracker.latest_message or {}, domain)
        if buttons:
            dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_default")
        return [SlotSet("handoff_reason", "none")]


def clarification_buttons(parse_data: dict[str, Any], domain: dict[str, Any]) -> list[dict[str, str]]:
    """A button per likely task (titles from the domain's ``utter_task_<intent>``), then 转人工.

    Empty when nothing is worth offering. The titles come from the domain Rasa sends with the
    call: should the action endpoint ever send the domain selectively, ``action_fallback`` needs
    ``send_domain: true`` in domain.yml.
    """
    from bot.nlu.clarify import button_payload, clarification_options

    responses = domain.get("responses") or {}
    buttons = []
    for intent in clarification_options(parse_data):
        label = (responses.get(f"utter_task_{intent}") or [{}])[0].get("text")
        if label:
            buttons.append({"title": label, "payload": button_payload(intent, parse_data)})
    human = (responses.get("utter_task_request_human") or [{}])[0].get("text")
    if not buttons or not human:
        return buttons
    return [*buttons, {"title": human, "payload": "/request_human"}]


class ActionOutOfScope(ServiceAction):
    """Outside what the assistant does; a problem of the network, broadband, a handset, a SIM card
    or a shop (``bot.nlu.cues.telecom_topic``) is one a person can take on, so one is offered."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        from bot.nlu.cues import telecom_topic

        if telecom_topic((tracker.latest_message or {}).get("text") or ""):
            dispatcher.utter_message(response="utter_out_of_scope_telecom")
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


class ActionComplain(ServiceAction):
    """投诉: apologise and offer to look at the charge; an escalating complaint goes to a person.

    Escalation words (``bot.handoff.summary.ESCALATION_WORDS``: 投诉, 工信部, 12300, 曝光, 消协 …)
    set ``handoff_reason`` to ``complaint`` and the rules run ``action_handoff``.
    """

    def name(self) -> str:
        return "action_complain"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        from bot.handoff.summary import is_escalating

        if is_escalating((tracker.latest_message or {}).get("text") or ""):
            dispatcher.utter_message(response="utter_handoff_complaint")
            return [SlotSet("last_task", "complaint"), SlotSet("handoff_reason", "complaint")]
        dispatcher.utter_message(response="utter_complain")
        return [SlotSet("last_task", "complaint"), SlotSet("handoff_reason", "none")]
