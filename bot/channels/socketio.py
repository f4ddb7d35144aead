"""Rasa's socket.io channel (for the web widget) with the secret guard in front of Rasa."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from bot.channels.guard import SecretGuard, default_guard


class GuardedSocketIOInput(SocketIOInput):
    """``socketio`` as Rasa ships it; every message passes the secret guard first."""

    guard: Optional[SecretGuard] = None

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        guard = self.guard or default_guard()
        return super().blueprint(guard.wrap(on_new_message))
