"""Handoffs, agents and conversations as the console reads them (JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from rasa.shared.core.events import (
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    UserUttered,
)

from bot.channels.transcript import button_list, shown_user_text
from bot.texts.handoff import HANDOFF_CHANNEL_LABELS, HANDOFF_STATUS_LABELS

if TYPE_CHECKING:
    from bot.handoff.models import Agent, Handoff

#: The most transcript entries a handoff view returns (the newest).
TRANSCRIPT_LIMIT = 300


def iso(when: Optional[datetime]) -> Optional[str]:
    return when.isoformat() if when is not None else None


def agent_json(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "name": agent.display_name, "username": agent.username, "role": agent.role}


def handoff_json(handoff: Handoff, now: datetime) -> dict[str, Any]:
    """A handoff as the console shows it (summary fields carry no secrets: see bot.handoff.summary)."""
    summary = dict(handoff.summary or {})
    end = handoff.claimed_at or handoff.closed_at or now
    return {
        "id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "channel": handoff.channel,
        "channel_label": HANDOFF_CHANNEL_LABELS.get(handoff.channel, handoff.channel),
        "status": handoff.status,
        "status_label": HANDOFF_STATUS_LABELS.get(handoff.status, handoff.status),
        "reason": handoff.reason,
        "headline": summary.get("headline") or "",
        "summary": summary,
        "message": handoff.message,
        "ticket_no": handoff.ticket_no,
        "queued_at": iso(handoff.queued_at),
        "claimed_at": iso(handoff.claimed_at),
        "closed_at": iso(handoff.closed_at),
        "waiting_seconds": max(0, int((end - handoff.queued_at).total_seconds())),
        "claimed_by": (
            {"id": handoff.agent.id, "name": handoff.agent.display_name}
            if handoff.agent is not None
            else None
        ),
        "resolution": handoff.resolution,
    }


def transcript_from_events(events: Iterable[Event], limit: int = TRANSCRIPT_LIMIT) -> list[dict[str, Any]]:
    """The conversation as an agent reads it: subscriber, bot and agent messages, and handoff marks.

    Texts are as stored in the tracker (the channel guard masked secrets before Rasa saw them).
    A user message that is a button's payload shows the button's title.
    """
    items: list[dict[str, Any]] = []
    offered: list[dict[str, str]] = []
    for event in events:
        if isinstance(event, UserUttered):
            text = shown_user_text(event.text or "", offered)
            items.append({"from": "user", "text": text, "time": event.timestamp})
        elif isinstance(event, BotUttered):
            metadata = event.metadata or {}
            buttons = button_list(event.data or {})
            text = (event.text or "").strip()
            if buttons:
                text = "\n".join(filter(None, [text, "［选项］" + " / ".join(b["title"] for b in buttons)]))
            if not text:
                continue
            item: dict[str, Any] = {"from": "bot", "text": text, "time": event.timestamp}
            if metadata.get("agent_id") is not None:
                item["from"] = "agent"
                item["agent_id"] = metadata.get("agent_id")
                item["agent"] = metadata.get("agent_name") or ""
            items.append(item)
            offered = buttons or offered
        elif isinstance(event, ConversationPaused):
            items.append({"from": "system", "text": "已转人工，机器人暂停回复", "time": event.timestamp})
        elif isinstance(event, ConversationResumed):
            items.append({"from": "system", "text": "已转回机器人", "time": event.timestamp})
        elif isinstance(event, SessionStarted) and items:
            items.append({"from": "system", "text": "新的会话", "time": event.timestamp})
    return items[-limit:]
