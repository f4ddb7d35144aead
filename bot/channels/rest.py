"""REST channel for the operator's App: bearer-token authenticated, secrets guarded.

``POST /webhooks/rest/webhook`` with ``Authorization: Bearer <token>`` and a JSON body
``{"sender": "<conversation id>", "message": "<text>", "metadata": {...}}`` answers with the
bot's messages as a JSON list, like Rasa's own REST channel. The App's backend holds the
token and chooses the conversation ids (unguessable, one per subscriber session). The message's
``client`` metadata is set from the connection (``bot.channels.client``): the App's backend
forwards its user's address in ``X-Forwarded-For`` and is listed in ``BOT_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.client import request_client, with_client
from bot.channels.guard import SecretGuard, default_guard
from bot.replies import FAILURE_TEXT

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000


class AuthenticatedRestInput(InputChannel):
    """Rasa's REST protocol behind a bearer token, with the secret guard in front of Rasa."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> InputChannel:
        token = (credentials or {}).get("token")
        if not token or str(token).startswith("${"):
            raise ValueError(
                "The REST channel needs a token: set REST_CHANNEL_TOKEN (credentials.yml: rest token)."
            )
        return cls(str(token))

    def __init__(self, token: str, guard: Optional[SecretGuard] = None) -> None:
        self.token = token
        self.guard = guard or default_guard()

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, supplied = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            supplied.strip().encode(), self.token.encode()
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"authenticated_rest_{id(self)}", __name__)
        guarded = self.guard.wrap(on_new_message)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            body = request.json if isinstance(request.json, dict) else None
            if body is None:
                return response.json({"error": "expected a JSON object"}, status=400)
            sender = body.get("sender")
            text = body.get("message")
            if not isinstance(sender, str) or not sender.strip() or len(sender) > 100:
                return response.json(
                    {"error": "sender must be a non-empty string of at most 100 characters"}, status=400
                )
            if not isinstance(text, str):
                return response.json({"error": "message must be a string"}, status=400)
            # The client that code limits count against, from the connection, never from the body.
            metadata = with_client(body.get("metadata"), request_client(request.ip, request.headers))
            collector = CollectingOutputChannel()
            try:
                await guarded(
                    UserMessage(
                        text[:MAX_MESSAGE_CHARS],
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata=metadata,
                    )
                )
            except Exception:  # noqa: BLE001 - the subscriber gets a kind answer; the text is not logged
                logger.exception("handling a REST message failed")
                collector.messages.append({"recipient_id": sender, "text": FAILURE_TEXT})
            return response.json(collector.messages)

        return hook
