"""Live delivery inside a Rasa server: how the agent console reaches the subscriber's channel and back.

One :class:`LiveHub` per Sanic app (``app.ctx.live_hub``, see :func:`hub_for`), filled in by the
channels as they are mounted, so no channel imports another:

* the socket.io channel attaches its ``AsyncServer`` (:meth:`LiveHub.attach_socketio`): the console
  emits an agent's reply as the channel's ``bot_uttered`` event to the room named by the session id,
  and serves its own live updates on the ``/agent`` namespace of the same server;
* the WeChat channel attaches its customer-service sender (:meth:`LiveHub.attach_wechat`);
* both report each subscriber message they handed to Rasa (:meth:`LiveHub.user_message_processed`);
  the console listens (:meth:`LiveHub.on_user_message`) and tells the agents watching.

With ``SOCKETIO_REDIS_URL`` set, the socket.io server uses python-socketio's Redis manager
(:func:`client_manager`): an emit in one Rasa process reaches sockets connected to any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Optional

from sanic import Sanic
from socketio import AsyncManager, AsyncRedisManager, AsyncServer

logger = logging.getLogger(__name__)

#: ``listener(conversation_id, channel_name)``, awaited after a subscriber message was processed.
UserMessageListener = Callable[[str, str], Awaitable[None]]
#: ``send(openid, text)``: True when WeChat accepted every piece.
WeChatSender = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True)
class SocketIOTarget:
    """The web widget's socket.io server and how its bot messages are emitted."""

    sio: AsyncServer
    bot_message_evt: str
    namespace: Optional[str]


class LiveHub:
    """What one Rasa server process can reach live: the widget's sockets, WeChat's sender."""

    def __init__(self) -> None:
        self.socketio: Optional[SocketIOTarget] = None
        self.wechat: Optional[WeChatSender] = None
        self._listeners: list[UserMessageListener] = []
        self._socketio_waiters: list[Callable[[SocketIOTarget], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def attach_socketio(self, sio: AsyncServer, bot_message_evt: str, namespace: Optional[str]) -> None:
        """The socket.io channel's server (called when its blueprint is mounted)."""
        self.socketio = SocketIOTarget(sio, bot_message_evt, namespace)
        waiters, self._socketio_waiters = self._socketio_waiters, []
        for waiter in waiters:
            waiter(self.socketio)

    def when_socketio(self, callback: Callable[[SocketIOTarget], None]) -> None:
        """Calls ``callback`` with the socket.io server now, or once it is attached."""
        if self.socketio is not None:
            callback(self.socketio)
        else:
            self._socketio_waiters.append(callback)

    def attach_wechat(self, sender: WeChatSender) -> None:
        """The WeChat channel's customer-service sender (when the channel is configured)."""
        self.wechat = sender

    def on_user_message(self, listener: UserMessageListener) -> None:
        """Registers a listener told of every subscriber message a channel handed to Rasa."""
        self._listeners.append(listener)

    def user_message_processed(self, conversation_id: str, channel: str) -> None:
        """A channel finished handing a subscriber message to Rasa; listeners run in the background.

        Never raises and never delays the channel: a failing listener is logged (without the message).
        """
        for listener in self._listeners:
            task = asyncio.ensure_future(self._run_listener(listener, conversation_id, channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run_listener(listener: UserMessageListener, conversation_id: str, channel: str) -> None:
        try:
            await listener(conversation_id, channel)
        except Exception:  # noqa: BLE001 - a live update is best effort; the transcript stays complete
            logger.warning("a live update after a %s message failed", channel, exc_info=True)

    async def deliver(self, channel: str, conversation_id: str, text: str, agent_name: str) -> bool:
        """Sends an agent's message to the subscriber on the conversation's channel.

        Args:
            channel: the handoff's channel (``socketio``, ``wechat``, ``rest`` …).
            conversation_id: Rasa's sender id (the widget's session id, the WeChat openid).
            text: what the agent wrote.
            agent_name: the agent's display name, shown with the message.

        Returns:
            True when the message went out; False when the channel cannot push (REST: the App reads
            the conversation) or is not configured in this server.
        """
        if channel == "socketio" and self.socketio is not None:
            target = self.socketio
            await target.sio.emit(
                target.bot_message_evt,
                {"text": text, "agent": agent_name},
                room=conversation_id,
                namespace=target.namespace,
            )
            return True
        if channel == "wechat" and self.wechat is not None:
            return await self.wechat(conversation_id, f"【人工客服 {agent_name}】{text}")
        return False


def hub_for(app: Sanic) -> LiveHub:
    """The app's hub, created on first use."""
    hub = getattr(app.ctx, "live_hub", None)
    if hub is None:
        hub = app.ctx.live_hub = LiveHub()
    return hub


def client_manager(redis_url: Optional[str] = None) -> Optional[AsyncManager]:
    """python-socketio's Redis manager for ``redis_url`` (the settings' ``socketio_redis_url`` when
    None); None, meaning the in-memory manager of a single process, when no URL is configured."""
    if redis_url is None:
        from bot.settings import get_settings

        redis_url = get_settings().socketio_redis_url
    if not redis_url:
        return None
    logger.info("socket.io messages are shared between Rasa processes through Redis")
    return AsyncRedisManager(redis_url, channel="billing-assistant-socketio")
