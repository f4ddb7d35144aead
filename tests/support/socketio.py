"""The socket.io channel's counterparts in tests: a client as the widget uses it, and a stand-in for Rasa."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import socketio
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.events import BotUttered, UserUttered

from bot.rasa_patches import PAUSED_CONVERSATIONS

#: The buttons the fake Rasa sends with every reply.
BUTTONS = [{"title": "好的", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"}]


class NoVerification:
    def pending_factor(self, conversation_id: str) -> None:
        return None


@dataclass
class FakeRasa:
    """Stands in for Rasa: records each turn in the tracker store and answers."""

    store: InMemoryTrackerStore
    handled: list[UserMessage] = field(default_factory=list)
    delay: float = 0.0
    fail_on: str = "boom"
    #: conversations with a person: logged, not answered (noted as bot/rasa_patches.py does)
    paused: set[str] = field(default_factory=set)

    async def __call__(self, message: UserMessage) -> None:
        self.handled.append(message)
        await asyncio.sleep(self.delay)
        if message.text == self.fail_on:
            raise RuntimeError("the model fell over")
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, message_id=message.message_id))
        if message.sender_id in self.paused:
            await self.store.save(tracker)
            noted = PAUSED_CONVERSATIONS.get()
            assert noted is not None, "the guard notes paused conversations for every message"
            noted.add(message.sender_id)
            return
        reply = f"收到：{message.text}"
        tracker.update(BotUttered(reply, data={"buttons": BUTTONS}))
        await self.store.save(tracker)
        await message.output_channel.send_text_with_buttons(message.sender_id, reply, BUTTONS)


class Client:
    def __init__(self, sio: socketio.AsyncClient) -> None:
        self.sio = sio
        self.bot: list[dict[str, Any]] = []
        self.confirmed: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sio.on("bot_uttered", self.bot.append)
        sio.on("session_confirm", self.confirmed.put_nowait)

    async def session(self, presented: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.sio.emit("session_request", presented or {})
        return await asyncio.wait_for(self.confirmed.get(), 5)

    async def say(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        payload = {"message": text, "client_id": client_id or str(uuid.uuid4())}
        return await self.sio.call("user_uttered", payload, timeout=5)

    async def history(self) -> dict[str, Any]:
        return await self.sio.call("session_history", {}, timeout=5)
