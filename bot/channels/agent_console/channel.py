"""The agent console as a Rasa input channel: its settings, its store, its live updates, its routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from bot.channels.agent_console.namespace import ConsoleUpdates
from bot.channels.agent_console.routes import console_blueprint
from bot.channels.agent_console.signin import LoginThrottle
from bot.channels.agent_console.static import DIST_DIR
from bot.channels.agent_console.store import ConsoleStore, default_services

if TYPE_CHECKING:
    from bot.app import Services


class AgentConsoleInput(InputChannel):
    """The agent console and its JSON API. Receives no subscriber messages."""

    @classmethod
    def name(cls) -> str:
        return "agent"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> InputChannel:
        return cls()

    def __init__(
        self,
        services: Optional[Callable[[], Services]] = None,
        dist_dir: Optional[Path] = None,
        throttle: Optional[LoginThrottle] = None,
    ) -> None:
        """Args:
        services: returns the store, clock and settings (the process's, built on first use).
        dist_dir: where the built console is; ``web/dist/agent`` by default.
        throttle: counts failed sign-ins.
        """
        self.dist_dir = dist_dir or DIST_DIR
        self.throttle = throttle or LoginThrottle()
        self.store = ConsoleStore(services or default_services)
        self.updates = ConsoleUpdates(self.store)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return console_blueprint(self.store, self.updates, self.throttle, self.dist_dir)
