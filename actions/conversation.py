"""Conversation glue: answers and corrections, yes/no to an offer, FAQs, ratings, fallbacks."""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ServiceAction, latest_entity
from actions.common import resume_if_verified
from actions.failures import store_failed
from bot.billing.catalogue_queries import published_fee
from bot.db import StoreUnavailable
from bot.feedback import InvalidRating, record_rating
from bot.nlu.clarify import button_payload, clarification_options
from bot.nlu.cues import is_escalating, telecom_topic
from bot.nlu.noise import NOISE_INTENT, is_blank
from bot.nlu.requests import further_requests

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
    """An answer outside a form: a score after the rating question is a rating; a correction of the
    period re-runs the last period task."""

    def name(self) -> str:
        return "action_handle_inform"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.get_slot("offer") == "rating" and score_from(tracker) is not None:
            # a bare "5" answering "请为本次服务打个分吧" is a rating, not a correction
            return await ActionRateService(self.services).run(dispatcher, tracker, domain)
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
            try:
                with self.services.store.transaction() as session:
                    fee = published_fee(session, code)
            except StoreUnavailable:
                return store_failed(dispatcher, "reading a published fee")
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
            return store_failed(dispatcher, "saving a rating")
        dispatcher.utter_message(response="utter_rating_thanks", score=score)
        return [SlotSet("offer", None)]


class ActionFallback(ServiceAction):
    """Not understood: clarify or ask again; the second time in a row, offer a person.

    When tasks stand near the top of the model's ranking (``bot.nlu.clarify``), the subscriber
    is asked "您是想……？" with those tasks as buttons, each carrying the entities already
    understood, plus 转人工; otherwise to say it another way. After two misunderstandings in a
    row the subscriber is offered a person (buttons 转人工 / 换个说法); nobody is queued unless
    they choose it. Blank messages and noise (``bot.nlu.noise``) are not misunderstandings and do
    not count. A message naming two queries the model could not choose between ("余额和流量都查一下")
    is answered as both (``bot.nlu.requests``).
    """

    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        both = several_queries(tracker.latest_message or {})
        if both:
            return [SlotSet("handoff_reason", "none"), FollowupAction(QUERY_ACTIONS[both[0]])]
        if misunderstood_in_a_row(tracker) >= 2:
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("handoff_reason", "none")]
        buttons = clarification_buttons(tracker.latest_message or {}, domain)
        if buttons:
            dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_default")
        return [SlotSet("handoff_reason", "none")]


# The queries a fallback may answer at once when the message names two of them.
QUERY_ACTIONS = {
    "query_balance": "action_query_balance",
    "query_usage": "action_query_usage",
    "query_bill": "action_query_bill",
}


def several_queries(parse_data: dict[str, Any]) -> list[str]:
    """The queries of a not-understood message that names two or more (the likelier one first)."""
    ranking = [r.get("name") for r in parse_data.get("intent_ranking") or []]
    top = next((name for name in ranking if name in QUERY_ACTIONS), None)
    if top is None:
        return []
    others = [r for r in further_requests(parse_data.get("text") or "", top) if r in QUERY_ACTIONS]
    return [top, *others] if others else []


def misunderstood_in_a_row(tracker: Tracker) -> int:
    """How many of the subscriber's latest messages in a row were not understood (this one included).

    Noise and blank messages are skipped; messages logged while a person had the conversation,
    and those before it, do not count.
    """
    intents: list[Optional[str]] = []
    for event in tracker.events:
        if event.get("event") == "resume" or (
            event.get("event") == "action" and event.get("name") == "action_handoff"
        ):
            intents = []
        elif event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if intent != NOISE_INTENT:
                intents.append(intent)
    count = 0
    for intent in reversed(intents):
        if intent != "nlu_fallback":
            break
        count += 1
    return count


class ActionNoise(ServiceAction):
    """A message with nothing to understand gets one short prompt, and changes nothing.

    A blank message is told that nothing arrived; emoji, markup or a key held down are asked for
    words. Neither counts as a misunderstanding (``misunderstood_in_a_row``).
    """

    def name(self) -> str:
        return "action_noise"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # the text as typed: the parsed one has emoji removed already (bot.nlu.normalise)
        typed = next((e.get("text") for e in reversed(tracker.events) if e.get("event") == "user"), None)
        blank = is_blank(typed if typed is not None else (tracker.latest_message or {}).get("text") or "")
        dispatcher.utter_message(response="utter_blank" if blank else "utter_noise")
        return []


def clarification_buttons(parse_data: dict[str, Any], domain: dict[str, Any]) -> list[dict[str, str]]:
    """A button per likely task (titles from the domain's ``utter_task_<intent>``), then 转人工.

    Empty when nothing is worth offering. The titles come from the domain Rasa sends with the
    call: should the action endpoint ever send the domain selectively, ``action_fallback`` needs
    ``send_domain: true`` in domain.yml.
    """
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
        if telecom_topic((tracker.latest_message or {}).get("text") or ""):
            dispatcher.utter_message(response="utter_out_of_scope_telecom")
        else:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


class ActionComplain(ServiceAction):
    """投诉: apologise and offer to look at the charge; an escalating complaint goes to a person.

    Escalation words (``bot.nlu.cues.ESCALATION_WORDS``: 投诉, 工信部, 12300, 曝光, 消协 …)
    set ``handoff_reason`` to ``complaint`` and the rules run ``action_handoff``.
    """

    def name(self) -> str:
        return "action_complain"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if is_escalating((tracker.latest_message or {}).get("text") or ""):
            dispatcher.utter_message(response="utter_handoff_complaint")
            return [SlotSet("last_task", "complaint"), SlotSet("handoff_reason", "complaint")]
        dispatcher.utter_message(response="utter_complain")
        return [SlotSet("last_task", "complaint"), SlotSet("handoff_reason", "none")]
