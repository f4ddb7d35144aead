"""Handing a conversation to a person: queue it with a summary and pause the bot, or take a message.

In agent hours the conversation is queued (``bot.handoff.handoffs.enqueue``), the subscriber hears
their position and a rough wait, and the action returns ``ConversationPaused``: Rasa logs the
subscriber's messages but answers none until the console resumes the conversation. Outside agent
hours the ``leave_message_form`` takes the next message, which ``action_leave_message`` stores as
a ticket. When the store is down, the subscriber gets the hotline.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ServiceAction, latest_intent
from bot.app import Services
from bot.db import StoreUnavailable
from bot.handoff import agents, handoffs
from bot.handoff.errors import InvalidText
from bot.handoff.summary import DEPENDENCY_FAILURES, FLAGGED_SHOWN, build_summary, flagged_charges_of

logger = logging.getLogger(__name__)

# Task slots dropped when a person takes over (what they held is in the summary).
TASK_SLOTS = (
    "phone_number",
    "otp_status",
    "second_factor_status",
    "pending_request",
    "pending_level",
    "further_requests",
    "verification_needed",
    "alert_threshold",
    "alert_channel",
    "closure_fee_consent",
    "closure_confirmed",
    "offer",
)


def _user_turns(tracker: Tracker) -> list[list[dict[str, Any]]]:
    """The events of each user turn (a user message and what followed it), oldest first."""
    turns: list[list[dict[str, Any]]] = []
    for event in tracker.events:
        if event.get("event") == "user":
            turns.append([event])
        elif turns:
            turns[-1].append(event)
    return turns


def _responses(events: list[dict[str, Any]]) -> list[str]:
    return [(e.get("metadata") or {}).get("utter_action") or "" for e in events if e.get("event") == "bot"]


def bot_messages(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each bot message as (the action that said it, its response name or "" for plain text).

    Rasa records an action's ``action`` event before the events it returned, so a message
    belongs to the latest action before it.
    """
    said: list[tuple[str, str]] = []
    action = ""
    for event in events:
        if event.get("event") == "action":
            action = event.get("name") or ""
        elif event.get("event") == "bot":
            said.append((action, (event.get("metadata") or {}).get("utter_action") or ""))
    return said


def earlier_dependency_failure(tracker: Tracker) -> bool:
    """Whether the subscriber's previous turn (before the current one) ended in a dependency failure."""
    turns = _user_turns(tracker)
    return len(turns) >= 2 and bool(DEPENDENCY_FAILURES & set(_responses(turns[-2])))


def infer_reason(tracker: Tracker) -> str:
    """Why the subscriber asks for a person, from the conversation: a lock-out, a failure, or just asking."""
    reason = tracker.get_slot("handoff_reason")
    if reason and reason != "none":
        return str(reason)
    turns = _user_turns(tracker)
    recent = {r for turn in turns[-3:-1] for r in _responses(turn)}
    if "utter_number_locked" in recent:
        return "locked"
    if "utter_offer_human" in recent:  # 转人工 chosen after two misunderstandings
        return "fallback"
    if DEPENDENCY_FAILURES & recent:
        return "dependency"
    return "requested"


def summarise(services: Services, tracker: Tracker, reason: str) -> tuple[dict[str, Any], Optional[int]]:
    """The summary for the agent, and the verified subscriber's id.

    What the bot tried is read from what it said (``bot.handoff.summary.done_label``); flagged
    charges are looked up only when the bot put them to the verified subscriber.

    Raises:
        StoreUnavailable: the store cannot be read.
    """
    events = tracker.events
    intents = [
        (e.get("parse_data") or {}).get("intent", {}).get("name") or ""
        for e in events
        if e.get("event") == "user"
    ]
    said = bot_messages(events)
    verified = services.verification.current(tracker.sender_id, touch=False)
    flagged: list[str] = []
    if verified is not None and FLAGGED_SHOWN & {response for _, response in said}:
        with services.store.transaction() as session:
            flagged = flagged_charges_of(
                session, verified.subscriber_id, tracker.get_slot("period"), services.clock.now()
            )
    # the other requests of a message that started verification ("退订彩铃，钱退给我") were wanted too
    intents += list(tracker.get_slot("further_requests") or [])
    summary = build_summary(
        reason=reason,
        intents=[i for i in intents if i],
        said=said,
        verified=verified,
        flagged=flagged,
        pending_request=tracker.get_slot("pending_request"),
    )
    return summary, verified.subscriber_id if verified else None


def hand_off(
    services: Services,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: str,
    intro: Optional[str] = None,
) -> list[EventType]:
    """Hands the conversation to a person (shared by every trigger).

    Args:
        services: the assistant's services.
        dispatcher: where the subscriber's messages go.
        tracker: the conversation.
        reason: ``requested``, ``fallback``, ``locked``, ``complaint`` or ``dependency``.
        intro: a response said first (e.g. why the bot hands off).

    Returns:
        In agent hours: task slots reset, ``ConversationPaused`` and a listen (the bot stays silent
        until resumed). Outside: ``leave_message`` set and the leave-message form next. Store down:
        the hotline, nothing else.
    """
    if intro:
        dispatcher.utter_message(response=intro)
    reset = [*(SlotSet(slot, None) for slot in TASK_SLOTS), SlotSet("handoff_reason", "none")]
    now = services.clock.now()
    if not agents.within_agent_hours(now, services.settings):
        start, end = services.settings.agent_hours_range()
        dispatcher.utter_message(
            response="utter_handoff_closed_hours", start=f"{start:%H:%M}", end=f"{end:%H:%M}"
        )
        return [
            *reset,
            SlotSet("handoff_pending_reason", reason),
            SlotSet("leave_message", True),
            FollowupAction("leave_message_form"),
        ]
    try:
        summary, subscriber_id = summarise(services, tracker, reason)
        channel = tracker.get_latest_input_channel() or "other"
        with services.store.transaction() as session:
            already = handoffs.open_handoff_for(session, tracker.sender_id)
            handoff = already or handoffs.enqueue(
                session, tracker.sender_id, channel, reason, summary, now, subscriber_id=subscriber_id
            )
            wait = handoffs.position_and_wait(session, handoff, now, services.settings)
    except StoreUnavailable:
        logger.warning("store unavailable while handing off a conversation")
        dispatcher.utter_message(response="utter_human_hotline")
        return [*reset, SlotSet("leave_message", False)]
    if wait.position == 0:
        dispatcher.utter_message(response="utter_handoff_with_agent")
    else:
        dispatcher.utter_message(
            response="utter_handoff_already_queued" if already else "utter_handoff_queued",
            position=wait.position,
            minutes=wait.minutes,
        )
    logger.info("conversation %s handed off (%s)", tracker.sender_id, reason)
    return [*reset, SlotSet("leave_message", False), ConversationPaused(), ActionExecuted("action_listen")]


class ActionHandoff(ServiceAction):
    """转人工, or a trigger the rules route here (two fallbacks, an escalating complaint)."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return hand_off(self.services, dispatcher, tracker, infer_reason(tracker))


class ActionLeaveMessage(ServiceAction):
    """Outside agent hours: stores the message the form took as a ticket and gives its number."""

    def name(self) -> str:
        return "action_leave_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        done = [
            SlotSet("handoff_message", None),
            SlotSet("leave_message", False),
            SlotSet("handoff_pending_reason", None),
        ]
        if latest_intent(tracker) == "stop":
            dispatcher.utter_message(response="utter_message_cancelled")
            return done
        # the latest message itself: the channel guard already masked any secret in it
        text = (tracker.latest_message or {}).get("text") or tracker.get_slot("handoff_message") or ""
        reason = tracker.get_slot("handoff_pending_reason") or "requested"
        try:
            summary, subscriber_id = summarise(self.services, tracker, reason)
            with self.services.store.transaction() as session:
                ticket = handoffs.leave_message(
                    session,
                    tracker.sender_id,
                    tracker.get_latest_input_channel() or "other",
                    reason,
                    summary,
                    text,
                    self.services.clock.now(),
                    subscriber_id=subscriber_id,
                )
                ticket_no = ticket.ticket_no
        except InvalidText:
            dispatcher.utter_message(response="utter_message_invalid")
            return done
        except StoreUnavailable:
            logger.warning("store unavailable while leaving a message")
            dispatcher.utter_message(response="utter_human_hotline")
            return done
        dispatcher.utter_message(response="utter_message_left", ticket_no=ticket_no)
        return done
