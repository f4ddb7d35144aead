"""The console's direct edits of a conversation's tracker, made as Rasa's own API makes them.

An agent's message is appended as ``BotUttered`` with ``agent_id`` and ``agent_name`` in its
metadata; handing back and closing append the bot's line, ``ConversationResumed`` and a listen, so
the bot answers the subscriber's next message. Each edit is made under the conversation's lock.
"""

from __future__ import annotations

from typing import Any

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed, Event
from sanic import Sanic

from bot.channels.agent_console.api import ApiError
from bot.channels.agent_console.serialise import transcript_from_events

BOT_NOT_READY = "机器人服务尚未就绪，请稍后再试。"


def rasa_agent(app: Sanic) -> Any:
    agent = getattr(app.ctx, "agent", None)
    if agent is None or agent.tracker_store is None or agent.lock_store is None:
        raise ApiError(503, BOT_NOT_READY)
    return agent


async def append(app: Sanic, conversation_id: str, events: list[Event]) -> None:
    """Appends ``events`` to the conversation's tracker under its lock, as Rasa's API does."""
    agent = rasa_agent(app)
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.tracker_store.get_or_create_tracker(conversation_id, append_action_listen=False)
        for event in events:
            tracker.update(event, agent.domain)
        await agent.tracker_store.save(tracker)


async def transcript(app: Sanic, conversation_id: str) -> list[dict[str, Any]]:
    agent = rasa_agent(app)
    tracker = await agent.tracker_store.retrieve_full_tracker(conversation_id)
    return transcript_from_events(tracker.events) if tracker is not None else []


async def record_agent_message(app: Sanic, conversation_id: str, text: str, agent: dict[str, Any]) -> None:
    """An agent's message, as the bot's utterance marked with the agent."""
    await append(
        app,
        conversation_id,
        [BotUttered(text, data={}, metadata={"agent_id": agent["id"], "agent_name": agent["name"]})],
    )


async def record_resumed(
    app: Sanic, conversation_id: str, agent: dict[str, Any], text: str, outcome: str
) -> None:
    """The bot takes over again: its line to the subscriber, ``ConversationResumed``, a listen."""
    await append(
        app,
        conversation_id,
        [
            BotUttered(text, data={}, metadata={"handoff": outcome, "handed_back_by": agent["id"]}),
            ConversationResumed(),
            ActionExecuted(ACTION_LISTEN_NAME),
        ],
    )
