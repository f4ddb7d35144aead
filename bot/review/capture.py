"""Which subscriber messages the assistant misunderstood, read from Rasa's events (pure functions).

The metrics consumer hands over the events of a batch as Rasa publishes them
(``{"sender_id": ..., **event.as_dict()}``, in the order received). Per conversation, a *turn* is
a ``user`` event and the events after it up to the next ``user`` event: what the bot did with the
message. A message is kept for review when its turn shows:

* ``clarification``: the intent was ``nlu_fallback`` and ``action_fallback`` asked "您是想……？"
  with buttons (the bot event of ``utter_clarify``);
* ``fallback``: the intent was ``nlu_fallback`` otherwise (asked to say it again, offered a
  person), or the policies fell back (``action_default_fallback``);
* ``low_confidence``: the model's top intent was below the threshold (``BOT_REVIEW_LOW_CONFIDENCE``)
  though above the FallbackClassifier's, so the bot acted on a guess.

Not kept: button payloads (``/intent``: chosen, not typed), ``noise`` (nothing to understand), and
a message after which the bot did nothing (no action in its turn): a person had the conversation.

``handoff``: when a conversation is handed to a person (``action_handoff``) for any reason but
an escalating complaint, a lock-out or a failing dependency, its misunderstood messages of the
previous :data:`HANDOFF_WINDOW` (still pending) are marked ``handoff``: they ended with a person.
That is an :class:`Escalation` the store applies with one ``UPDATE``, so it works whether those
messages came in this batch or an earlier one (the ``转人工`` click after "需要为您转接人工客服吗？"
is a turn of its own, usually a later batch).

A turn split across two batches (possible only with Rasa's one-message-per-event stores; our
tracker store publishes a whole save, i.e. a whole turn, as one message) is judged without its
tail: the user event at the end of a batch has no action after it and is not kept.

The text is the one Rasa stored (the channel guard masked codes, passwords and ID numbers); it is
masked again here (:func:`mask_text`) for mobile numbers, ID numbers and long digit runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from bot.phone import PHONE_IN_TEXT
from bot.secret_shapes import ID_NUMBER, SIX_CHARS
from bot.texts.formats import mask_phone

FALLBACK_INTENT = "nlu_fallback"
NOISE_INTENT = "noise"
CLARIFY_RESPONSE = "utter_clarify"
HANDOFF_ACTION = "action_handoff"
CORE_FALLBACK_ACTION = "action_default_fallback"
#: ``handoff_reason`` values that are not about understanding (domain.yml, actions/handoff.py).
NOT_MISUNDERSTANDING = frozenset({"complaint", "locked", "dependency"})
#: Misunderstood messages this recent before a handoff are marked ``handoff``.
HANDOFF_WINDOW = timedelta(minutes=10)

_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# Twelve or more digits in a row: an old 15-digit ID number, a bank card, an account number.
_LONG_DIGITS = re.compile(r"(?<!\d)\d{12,}(?!\d)")


@dataclass(frozen=True)
class Captured:
    """A misunderstood message, ready for the ``review_items`` table."""

    digest: str
    conversation_id: str
    channel: Optional[str]
    text: str
    predicted_intent: Optional[str]
    confidence: Optional[float]
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class Escalation:
    """A conversation handed to a person at ``at``: its misunderstood messages just before are ``handoff``."""

    conversation_id: str
    at: datetime


def mask_text(text: str) -> str:
    """``text`` with mobile numbers shown as ``138****8000`` and ID numbers, six-character codes
    and runs of twelve or more digits as asterisks (full-width digits are read as digits)."""
    text = (text or "").translate(_FULL_WIDTH_DIGITS)
    text = ID_NUMBER.sub(lambda m: "*" * len(m.group(0)), text)
    text = _LONG_DIGITS.sub(lambda m: "*" * len(m.group(0)), text)
    text = PHONE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group(1))), text)
    return SIX_CHARS.sub("******", text)


def review_digest(conversation_id: str, timestamp: float, text: str) -> str:
    """The key of a captured message: the same user event delivered twice has one digest."""
    return hashlib.sha256(f"{conversation_id}\n{timestamp!r}\n{text}".encode()).hexdigest()


def _time(event: dict[str, Any]) -> Optional[datetime]:
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
    try:
        return datetime.fromtimestamp(stamp, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _best_guess(parse_data: dict[str, Any]) -> tuple[Optional[str], Optional[float]]:
    """The model's own top intent and confidence (behind ``nlu_fallback`` when it fell back)."""
    for ranked in parse_data.get("intent_ranking") or []:
        if isinstance(ranked, dict) and ranked.get("name") and ranked.get("name") != FALLBACK_INTENT:
            return str(ranked["name"]), _confidence(ranked)
    intent = parse_data.get("intent") or {}
    return (intent.get("name") or None), _confidence(intent)


def _confidence(ranked: dict[str, Any]) -> Optional[float]:
    value = ranked.get("confidence")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _acted(turn: list[dict[str, Any]]) -> bool:
    return any(e.get("event") == "action" and e.get("name") != "action_listen" for e in turn)


def _reason(user: dict[str, Any], turn: list[dict[str, Any]], low_confidence: float) -> Optional[str]:
    """Why the message of this turn is kept, or None."""
    text = user.get("text")
    if not isinstance(text, str) or not text.strip() or text.lstrip().startswith("/"):
        return None
    if not _acted(turn):
        return None
    parse_data = user.get("parse_data") or {}
    intent = parse_data.get("intent") or {}
    name = intent.get("name")
    if name == NOISE_INTENT:
        return None
    if name == FALLBACK_INTENT:
        clarified = any(
            e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == CLARIFY_RESPONSE
            for e in turn
        )
        return "clarification" if clarified else "fallback"
    if any(e.get("event") == "action" and e.get("name") == CORE_FALLBACK_ACTION for e in turn):
        return "fallback"
    confidence = _confidence(intent)
    if confidence is not None and confidence < low_confidence:
        return "low_confidence"
    return None


def _escalation(conversation_id: str, turn: list[dict[str, Any]]) -> Optional[Escalation]:
    """The handoff in ``turn`` (events after a user message, or the tail of an earlier turn), if
    it may follow a misunderstanding."""
    for event in turn:
        if event.get("event") == "slot" and event.get("name") in ("handoff_reason", "handoff_pending_reason"):
            if event.get("value") in NOT_MISUNDERSTANDING:
                return None
    for event in turn:
        if event.get("event") == "action" and event.get("name") == HANDOFF_ACTION:
            at = _time(event)
            return Escalation(conversation_id, at) if at is not None else None
    return None


def find_misunderstood(
    events: Iterable[dict[str, Any]], low_confidence: float
) -> tuple[list[Captured], list[Escalation]]:
    """The misunderstood messages among ``events``, and the handoffs that may follow misunderstandings.

    Args:
        events: decoded events as published (``sender_id`` plus ``Event.as_dict()``), in order.
        low_confidence: a top intent below this confidence is a guess worth reviewing.

    Returns:
        The messages to keep (in order, each once) and the escalations (module docstring).
    """
    by_conversation: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        sender = event.get("sender_id")
        if isinstance(sender, str) and sender and len(sender) <= 100:
            by_conversation.setdefault(sender, []).append(event)
    captured: list[Captured] = []
    escalations: list[Escalation] = []
    seen: set[str] = set()
    for conversation_id, stream in by_conversation.items():
        turns: list[tuple[Optional[dict[str, Any]], list[dict[str, Any]]]] = [(None, [])]
        for event in stream:
            if event.get("event") == "user":
                turns.append((event, []))
            else:
                turns[-1][1].append(event)
        for user, turn in turns:
            escalation = _escalation(conversation_id, turn)
            if escalation is not None:
                escalations.append(escalation)
            if user is None:
                continue
            reason = _reason(user, turn, low_confidence)
            at = _time(user)
            if reason is None or at is None:
                continue
            text = mask_text(user["text"])
            digest = review_digest(conversation_id, user["timestamp"], text)
            if digest in seen:
                continue
            seen.add(digest)
            intent, confidence = _best_guess(user.get("parse_data") or {})
            channel = user.get("input_channel")
            captured.append(
                Captured(
                    digest=digest,
                    conversation_id=conversation_id,
                    channel=str(channel)[:40] if channel else None,
                    text=text,
                    predicted_intent=intent[:100] if intent else None,
                    confidence=confidence,
                    reason=reason,
                    created_at=at,
                )
            )
    return captured, escalations
