"""Turns as Rasa's tracker store publishes them, for the review queue: a user message with the
model's parse, and what the bot did with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from rasa.shared.core.events import UserUttered

from tests.support.rasa_events import action, bot, published, slot


def parsed_user(
    sender: str,
    at: float,
    text: str,
    intent: str,
    confidence: float,
    ranking: Optional[list[tuple[str, float]]] = None,
    channel: str = "socketio",
) -> dict[str, Any]:
    """A user event whose parse put ``intent`` first (then ``ranking``)."""
    ranked = [{"name": intent, "confidence": confidence}]
    ranked += [{"name": name, "confidence": score} for name, score in ranking or []]
    parse_data = {"intent": ranked[0], "entities": [], "text": text, "intent_ranking": ranked}
    return published(
        sender,
        UserUttered(
            text,
            intent=ranked[0],
            parse_data=parse_data,
            input_channel=channel,
            message_id=f"m-{at}",
            timestamp=at,
        ),
    )


def fallback_turn(
    sender: str,
    at: float,
    text: str,
    *,
    clarify: bool = False,
    guess: tuple[str, float] = ("query_balance", 0.3),
) -> list[dict[str, Any]]:
    """A message the FallbackClassifier turned into ``nlu_fallback``; the bot clarifies or asks again."""
    return [
        parsed_user(sender, at, text, "nlu_fallback", 0.45, [guess, ("out_of_scope", 0.1)]),
        action(sender, at + 0.1, "action_fallback"),
        bot(sender, at + 0.2, "……", utter_action="utter_clarify" if clarify else "utter_default"),
        slot(sender, at + 0.2, "handoff_reason", "none"),
        action(sender, at + 0.3, "action_listen"),
    ]


def understood_turn(
    sender: str, at: float, text: str, intent: str = "query_balance", confidence: float = 0.97
) -> list[dict[str, Any]]:
    """A message the model was sure of (or ``confidence``), answered."""
    return [
        parsed_user(sender, at, text, intent, confidence, [("query_usage", 0.02)]),
        action(sender, at + 0.1, f"action_{intent}"),
        bot(sender, at + 0.2, "……", utter_action="utter_balance"),
        action(sender, at + 0.3, "action_listen"),
    ]


def handoff_turn(sender: str, at: float, reason: Optional[str] = None) -> list[dict[str, Any]]:
    """转人工 (the button after two misunderstandings, or an escalating complaint with ``reason``)."""
    events = [parsed_user(sender, at, "/request_human", "request_human", 1.0)]
    if reason:
        events.append(slot(sender, at + 0.05, "handoff_reason", reason))
    return [
        *events,
        action(sender, at + 0.1, "action_handoff"),
        bot(sender, at + 0.2, "……", utter_action="utter_handoff_queued"),
        slot(sender, at + 0.2, "handoff_reason", "none"),
        action(sender, at + 0.3, "action_listen"),
    ]


def add_pending(
    session: Any,
    conversation_id: str,
    texts: list[str],
    at: datetime,
    *,
    intent: Optional[str] = "query_balance",
    confidence: Optional[float] = 0.42,
    reason: str = "fallback",
    channel: str = "socketio",
) -> list[int]:
    """Stores ``texts`` as pending review items of ``conversation_id`` (a minute apart from ``at``),
    through ``bot.review.queue.record_captured``; returns their ids in order."""
    import hashlib
    from datetime import timedelta

    from sqlalchemy import select

    from bot.review.capture import Captured
    from bot.review.models import ReviewItem
    from bot.review.queue import record_captured

    captured = [
        Captured(
            digest=hashlib.sha256(f"{conversation_id}|{n}|{text}".encode()).hexdigest(),
            conversation_id=conversation_id,
            channel=channel,
            text=text,
            predicted_intent=intent,
            confidence=confidence,
            reason=reason,
            created_at=at + timedelta(minutes=n),
        )
        for n, text in enumerate(texts)
    ]
    record_captured(session, captured, [])
    session.flush()
    digests = [c.digest for c in captured]
    found = {
        d: i
        for i, d in session.execute(
            select(ReviewItem.id, ReviewItem.digest).where(ReviewItem.digest.in_(digests))
        ).all()
    }
    return [found[d] for d in digests]
