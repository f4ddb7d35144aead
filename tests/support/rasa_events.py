"""Events as Rasa's tracker store publishes them to the broker: ``{"sender_id": ..., **event.as_dict()}``,
through JSON (what the consumer receives)."""

from __future__ import annotations

import json
from typing import Any

from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)

T0 = 1_795_312_800.0  # 2026-11-22 02:00:00 UTC


def published(sender: str, event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {"sender_id": sender}
    body.update(event.as_dict())
    return json.loads(json.dumps(body))


def user(
    sender: str,
    at: float,
    text: str = "查一下我的余额",
    channel: str = "socketio",
    intent: str = "query_balance",
    confidence: float = 0.97,
) -> dict[str, Any]:
    parse_data = {
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "text": text,
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    return published(
        sender,
        UserUttered(
            text,
            intent=parse_data["intent"],
            parse_data=parse_data,
            input_channel=channel,
            message_id=f"m-{at}",
            timestamp=at,
        ),
    )


def bot(sender: str, at: float, text: str = "您的余额是 36.50 元。", **metadata: Any) -> dict[str, Any]:
    metadata.setdefault("utter_action", "utter_balance")
    return published(sender, BotUttered(text, data={"buttons": None}, metadata=metadata, timestamp=at))


def agent(sender: str, at: float, text: str = "您好，我是客服小王。") -> dict[str, Any]:
    return published(
        sender, BotUttered(text, data={}, metadata={"agent_id": 1, "agent_name": "客服小王"}, timestamp=at)
    )


def handed_back(sender: str, at: float, outcome: str) -> dict[str, Any]:
    metadata = {"handoff": outcome, "handed_back_by": 1}
    return published(sender, BotUttered("机器人回来了", data={}, metadata=metadata, timestamp=at))


def action(sender: str, at: float, name: str) -> dict[str, Any]:
    return published(sender, ActionExecuted(name, policy="RulePolicy", confidence=1.0, timestamp=at))


def slot(sender: str, at: float, name: str = "offer", value: Any = None) -> dict[str, Any]:
    return published(sender, SlotSet(name, value, timestamp=at))


def paused(sender: str, at: float) -> dict[str, Any]:
    return published(sender, ConversationPaused(timestamp=at))


def resumed(sender: str, at: float) -> dict[str, Any]:
    return published(sender, ConversationResumed(timestamp=at))


def session_started(sender: str, at: float) -> dict[str, Any]:
    return published(sender, SessionStarted(timestamp=at))


def balance_turn(sender: str, at: float, latency: float) -> list[dict[str, Any]]:
    """A whole turn: user message, the listen and the action, the answer after ``latency`` s, a listen."""
    return [
        user(sender, at),
        action(sender, at + latency / 2, "action_check_balance"),
        bot(sender, at + latency),
        action(sender, at + latency + 0.001, "action_listen"),
    ]
