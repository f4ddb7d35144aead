"""What every account action shares: lazy services and the verification gate.

Verification state lives in the store and is looked up by the conversation id; slots only
steer the dialogue (``verification_needed``) and never grant access.
"""

from __future__ import annotations

import logging
from abc import ABC
from collections.abc import Callable
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ServiceAction, local_time
from actions.failures import dependency_handoff, store_failed
from bot.app import Services
from bot.db import StoreUnavailable
from bot.identity.errors import NumberLocked
from bot.identity.rules import Verified
from bot.nlu.cues import is_escalating, sounds_upset
from bot.nlu.requests import further_requests, in_order

logger = logging.getLogger(__name__)

# A resumable request: called with the verified subscriber once verification succeeds.
Handler = Callable[[Services, CollectingDispatcher, Tracker, Verified], list[EventType]]
RESUMABLE: dict[str, Handler] = {}

# Intents that interrupt a form instead of answering its question (noise is answered by its own
# rule: nothing for a blank message, one short prompt for the rest; the question stands).
INTERRUPTING_INTENTS = frozenset({"stop", "request_human", "goodbye", "noise"})
# Questions and asides that may interrupt the alert and closure forms; the form resumes after the
# answer (the rules "… in the middle of …" in data/rules/account.yml).
FORM_DIGRESSIONS = frozenset(
    {
        "query_balance",
        "query_usage",
        "query_bill",
        "query_plan",
        "query_subscriptions",
        "query_alerts",
        "stop",
        "request_human",
        "faq",
        "chitchat",
        "noise",
    }
)


def resumable(request: str) -> Callable[[Handler], Handler]:
    """Registers a handler that ``action_verification_done`` runs once the subscriber is verified."""

    def register(handler: Handler) -> Handler:
        RESUMABLE[request] = handler
        return handler

    return register


class GatedRequestAction(ServiceAction, ABC):
    """An account request that needs a verified conversation; otherwise starts verification.

    Subclasses set ``request`` (a key in ``RESUMABLE``), ``level`` (``basic`` or ``strong``) and
    optionally ``intro`` (a response said before verification starts, e.g. what closure means).
    The events always say whether verification is needed and which form (if any) comes next.
    """

    request: str = ""
    level: str = "basic"
    intro: Optional[str] = None

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        if is_escalating(text):
            # 投诉, 工信部, 12300 …: a person takes it, as any escalating complaint; the request
            # itself stays in the conversation, so the agent's summary says what was wanted.
            # action_complain reaches action_handoff by a rule; here a follow-up action does it,
            # instead of one rule per account task.
            dispatcher.utter_message(response="utter_handoff_complaint")
            return [SlotSet("handoff_reason", "complaint"), FollowupAction("action_handoff")]
        if sounds_upset(text):
            # the request inside the anger is answered; the anger is acknowledged once, first
            dispatcher.utter_message(response="utter_sorry_upset")
        try:
            verified = self.services.verification.current(tracker.sender_id)
            if verified is not None and self.level == "strong" and verified.level != "strong":
                if self.intro:
                    dispatcher.utter_message(response=self.intro)
                self.services.verification.request_second_factor(tracker.sender_id)
                dispatcher.utter_message(response="utter_need_strong_verification")
                # the SMS step is done already: the form goes straight to the second factor
                return [
                    *self._start_verification(),
                    SlotSet("phone_number", verified.phone),
                    SlotSet("otp_status", "verified"),
                ]
        except StoreUnavailable:
            return [
                *store_failed(dispatcher, "checking verification"),
                SlotSet("verification_needed", False),
                SlotSet("resume_form", "none"),
                *dependency_handoff(self.services, dispatcher, tracker),
            ]
        except NumberLocked as exc:
            dispatcher.utter_message(
                response="utter_number_locked",
                masked_phone=verified.masked_phone if verified else "",
                until=local_time(exc.until),
            )
            return [SlotSet("verification_needed", False), SlotSet("resume_form", "none")]
        further = self._further(tracker)
        if verified is None:
            if self.intro:
                dispatcher.utter_message(response=self.intro)
            dispatcher.utter_message(response="utter_need_verification")
            later = [SlotSet("further_requests", further)] if further else []
            return [*self._start_verification(), *later]
        return run_requests([self.request, *further], self.services, dispatcher, tracker, verified)

    def _further(self, tracker: Tracker) -> list[str]:
        """The other requests of the same message (``bot.nlu.requests``), when it was typed for this one."""

        message = tracker.latest_message or {}
        if (message.get("intent") or {}).get("name") not in (self.request, "nlu_fallback"):
            return []  # a button, a rule's follow-up: the text was not asking for this task
        entities = [e.get("entity") or "" for e in message.get("entities") or []]
        return further_requests(message.get("text") or "", self.request, entities)

    def _start_verification(self) -> list[EventType]:
        return [
            SlotSet("pending_request", self.request),
            SlotSet("pending_level", self.level),
            SlotSet("verification_needed", True),
            SlotSet("resume_form", "none"),
        ]


def run_resumable(
    request: str, services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Runs a registered request for a verified subscriber; the events say which form comes next."""
    events = RESUMABLE[request](services, dispatcher, tracker, verified)
    if not any(isinstance(e, dict) and e.get("name") == "resume_form" for e in events):
        events = [*events, SlotSet("resume_form", "none")]
    return [SlotSet("verification_needed", False), *events]


def run_requests(
    requests: list[str],
    services: Services,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    verified: Verified,
) -> list[EventType]:
    """Runs the requests of one message in turn (``bot.nlu.requests.ORDER``), answering each.

    Only the last answer offers a rating; the charges explanation does not offer the refund that
    follows it in the same turn.
    """

    ordered = [r for r in in_order(requests) if r in RESUMABLE]
    if len(ordered) == 1:
        return run_resumable(ordered[0], services, dispatcher, tracker, verified)
    events: list[EventType] = []
    form = "none"
    for request in ordered:
        for event in run_resumable(request, services, dispatcher, tracker, verified):
            if event.get("name") == "resume_form":
                # a request that continues in a form (an alert, a closure) keeps it going
                form = event.get("value") if form == "none" else form
            else:
                events.append(event)
    _one_answer_each(dispatcher, refund_follows="request_refund" in ordered)
    return [*events, SlotSet("resume_form", form or "none"), SlotSet("further_requests", None)]


def _one_answer_each(dispatcher: CollectingDispatcher, *, refund_follows: bool) -> None:
    """Drops all but the last rating request; turns the refund offer into a statement when it follows."""
    messages = dispatcher.messages
    ratings = [i for i, m in enumerate(messages) if m.get("response") == "utter_ask_rating"]
    for i in reversed(ratings[:-1]):
        del messages[i]
    if refund_follows:
        for message in messages:
            if message.get("response") == "utter_charges_flagged":
                message["response"] = "utter_charges_flagged_refunding"
                message["buttons"] = []


def resume_if_verified(
    request: str, services: Services, dispatcher: CollectingDispatcher, tracker: Tracker
) -> Optional[list[EventType]]:
    """Re-runs a registered request outside the gated rules (an answer, a yes to an offer).

    Returns:
        The request's events without the routing slots (the rule that called us routes
        nothing further), ``[]`` after a kind message when the store is unreachable, or None when
        the conversation is not verified (the caller decides what to say).
    """

    try:
        verified = services.verification.current(tracker.sender_id)
    except StoreUnavailable:
        return store_failed(dispatcher, "checking verification")
    if verified is None:
        return None
    events = run_resumable(request, services, dispatcher, tracker, verified)
    return [e for e in events if e.get("name") not in ("verification_needed", "resume_form")]


def offer_rating(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Asks for a 1–5 score when a task ends."""
    dispatcher.utter_message(response="utter_ask_rating")
    return [SlotSet("offer", "rating")]
