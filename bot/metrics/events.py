"""Rasa events → conversation metrics, as pure functions (no database, no clock).

Every new event of a conversation reaches the consumer as ``{"sender_id": ..., **event.as_dict()}``
(``rasa.core.tracker_store.TrackerStore._stream_new_events``; our tracker store groups a save's
events in one message, which the consumer splits back into these).
The events that matter here, by their ``event`` field:

* ``user``: a subscriber's message (a *turn*). It waits for an answer unless the bot is paused.
* ``bot``: a message to the subscriber. The assistant's own answers count as bot messages and
  close the wait of the latest user message (its *latency*). A human agent's message carries
  ``agent_id`` in its metadata; the line sent when an agent hands back or closes carries
  ``handoff`` (``returned`` or ``closed``). ``utter_rating_thanks`` means a rating was stored.
* ``action`` named ``action_handoff``: the bot handed the conversation on (to the queue, to the
  leave-a-message form outside agent hours, or to the hotline when the store is down).
* ``pause`` / ``resume``: a person has the conversation / the bot has it again.
* ``session_started``: a new conversation session; the previous one has ended.

A conversation is **resolved** once, at the first of: a rating (``rating``); an agent closing its
handoff (``closed``); a conversation session that ended after at least one user message with no
handoff in it (``session_end``; Rasa only says so when the next session starts, so
:func:`is_idle_resolved` also counts a last session that has been quiet for the session expiry).

For the supervisors' dashboard each ``user`` event also gives a :class:`Turn` (its intent, whether it
opened a session, whether a person had the conversation), and the assistant's first answer to a
message gives a :class:`Misread` when that answer is a clarification (``utter_clarify``) or a
fallback (``utter_default``, or ``utter_offer_human`` after two in a row), with the intent last
understood before the message (noise and ``nlu_fallback`` are not understood intents).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

HANDOFF_ACTION = "action_handoff"
RATING_THANKS = "utter_rating_thanks"
#: The assistant's answers to a message it did not understand, by kind (``actions/conversation.py``).
MISREAD_ANSWERS = {
    "utter_clarify": "clarification",
    "utter_default": "fallback",
    "utter_offer_human": "fallback",
}
#: Intents that say the message was not understood (or had nothing to understand).
NOT_UNDERSTOOD = frozenset({"nlu_fallback", "noise"})
_COUNTED = frozenset({"user", "bot", "pause", "resume", "session_started"})


@dataclass(frozen=True)
class ConversationState:
    """What the metrics know of one conversation (a row of ``conversation_metrics``)."""

    conversation_id: str
    first_event_at: datetime
    last_event_at: datetime
    channel: Optional[str] = None
    sessions: int = 0
    user_messages: int = 0
    bot_messages: int = 0
    agent_messages: int = 0
    handoff_requests: int = 0
    handoffs: int = 0
    ratings: int = 0
    paused: bool = False
    pending_user_at: Optional[datetime] = None
    session_user_messages: int = 0
    session_escalated: bool = False
    resolution: Optional[str] = None
    resolved_at: Optional[datetime] = None
    last_intent: Optional[str] = None
    pending_intent_before: Optional[str] = None


@dataclass(frozen=True)
class Turn:
    """A subscriber message (a row of ``metrics_turns``)."""

    user_at: datetime
    intent: Optional[str]
    opens_session: bool
    paused: bool


@dataclass(frozen=True)
class Misread:
    """A message answered by a clarification or a fallback (a row of ``metrics_misunderstandings``)."""

    user_at: datetime
    kind: str
    intent_before: Optional[str]


@dataclass(frozen=True)
class Update:
    """The state after one event, and the latency, turn or misunderstanding it completed (if any)."""

    state: ConversationState
    latency: Optional[tuple[datetime, int]] = None  # (user message time, milliseconds)
    turn: Optional[Turn] = None
    misread: Optional[Misread] = None


def _intent_of(event: dict[str, Any]) -> Optional[str]:
    parse_data = event.get("parse_data")
    intent = parse_data.get("intent") if isinstance(parse_data, dict) else None
    name = intent.get("name") if isinstance(intent, dict) else None
    return str(name)[:100] if isinstance(name, str) and name else None


class InvalidEvent(ValueError):
    """A message that is not a Rasa event with a conversation id and a timestamp."""


def is_relevant(event: dict[str, Any]) -> bool:
    """True for the events that change a conversation's metrics."""
    kind = event.get("event")
    return kind in _COUNTED or (kind == "action" and event.get("name") == HANDOFF_ACTION)


def event_digest(event: dict[str, Any]) -> str:
    """A stable SHA-256 of the event (its canonical JSON): the same event delivered twice has one digest."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_time(event: dict[str, Any]) -> datetime:
    """The event's timestamp (seconds since the epoch) as an aware UTC datetime.

    Raises:
        InvalidEvent: no usable timestamp.
    """
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
        raise InvalidEvent("event without a numeric timestamp")
    try:
        return datetime.fromtimestamp(stamp, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise InvalidEvent("event timestamp out of range") from None


def conversation_of(event: dict[str, Any]) -> str:
    """The conversation id (``sender_id``) of a published event.

    Raises:
        InvalidEvent: missing, empty or longer than 100 characters.
    """
    sender = event.get("sender_id")
    if not isinstance(sender, str) or not sender or len(sender) > 100:
        raise InvalidEvent("event without a usable sender_id")
    return sender


def _resolve(state: ConversationState, reason: str, at: datetime) -> ConversationState:
    if state.resolution is not None:
        return state
    return replace(state, resolution=reason, resolved_at=at)


def apply_event(state: Optional[ConversationState], event: dict[str, Any]) -> Update:
    """The conversation's metrics after ``event``.

    Args:
        state: the metrics so far; ``None`` for a conversation not seen yet.
        event: a relevant event as Rasa publishes it (see :func:`is_relevant`).

    Returns:
        The new state, and the latency of the user message this event answered, if it did.

    Raises:
        InvalidEvent: the event has no conversation id or timestamp.
    """
    conversation_id = conversation_of(event)
    at = event_time(event)
    if state is None:
        state = ConversationState(conversation_id=conversation_id, first_event_at=at, last_event_at=at)
    previous_last = state.last_event_at
    state = replace(
        state, first_event_at=min(state.first_event_at, at), last_event_at=max(state.last_event_at, at)
    )
    kind = event.get("event")
    metadata = event.get("metadata") or {}
    if not isinstance(metadata, dict):
        metadata = {}

    if kind == "user":
        channel = event.get("input_channel")
        intent = _intent_of(event)
        turn = Turn(at, intent, opens_session=state.session_user_messages == 0, paused=state.paused)
        understood = intent is not None and intent not in NOT_UNDERSTOOD and not state.paused
        return Update(
            replace(
                state,
                user_messages=state.user_messages + 1,
                session_user_messages=state.session_user_messages + 1,
                channel=state.channel or (str(channel)[:40] if channel else None),
                pending_user_at=None if state.paused else at,
                pending_intent_before=None if state.paused else state.last_intent,
                last_intent=intent if understood else state.last_intent,
            ),
            turn=turn,
        )
    if kind == "bot":
        if metadata.get("agent_id") is not None:
            return Update(replace(state, agent_messages=state.agent_messages + 1))
        if metadata.get("handoff") in ("returned", "closed"):
            # The line an agent's hand-back or close sends; the bot is not answering anyone.
            if metadata["handoff"] == "closed":
                state = _resolve(state, "closed", at)
            return Update(state)
        latency = misread = None
        if state.pending_user_at is not None and at >= state.pending_user_at:
            millis = round((at - state.pending_user_at) / timedelta(milliseconds=1))
            latency = (state.pending_user_at, millis)
            kind_of_misread = MISREAD_ANSWERS.get(str(metadata.get("utter_action")))
            if kind_of_misread is not None:
                misread = Misread(state.pending_user_at, kind_of_misread, state.pending_intent_before)
        state = replace(
            state, bot_messages=state.bot_messages + 1, pending_user_at=None, pending_intent_before=None
        )
        if metadata.get("utter_action") == RATING_THANKS:
            state = _resolve(replace(state, ratings=state.ratings + 1), "rating", at)
        return Update(state, latency, misread=misread)
    if kind == "action" and event.get("name") == HANDOFF_ACTION:
        return Update(replace(state, handoff_requests=state.handoff_requests + 1, session_escalated=True))
    if kind == "pause":
        return Update(
            replace(
                state,
                handoffs=state.handoffs + 1,
                paused=True,
                pending_user_at=None,
                pending_intent_before=None,
                session_escalated=True,
            )
        )
    if kind == "resume":
        return Update(replace(state, paused=False))
    if kind == "session_started":
        if state.session_user_messages > 0 and not state.session_escalated:
            state = _resolve(state, "session_end", previous_last)
        return Update(
            replace(
                state,
                sessions=state.sessions + 1,
                session_user_messages=0,
                session_escalated=False,
                paused=False,
                pending_user_at=None,
                pending_intent_before=None,
                last_intent=None,
            )
        )
    return Update(state)


def is_idle_resolved(state: ConversationState, now: datetime, idle: timedelta) -> bool:
    """True when the open session of an unresolved conversation ended by going quiet.

    The session had user messages and no handoff, the bot is not paused, and nothing happened
    for ``idle`` (Rasa's session expiry): the subscriber left without needing a person.
    """
    return (
        state.resolution is None
        and state.session_user_messages > 0
        and not state.session_escalated
        and not state.paused
        and state.last_event_at <= now - idle
    )
