"""The web chat widget's files and, in development only, its demo page, served by the Rasa server.

Mounted by Rasa under ``/webhooks/web/``:

* ``widget.js``: the widget (built from ``web/`` by ``make setup`` or ``make web``), embedded with
  one script tag; it talks to the socket.io channel (``bot.channels.socketio``).
* ``demo``, ``demo.js``: a page with the widget and a "demo phone" showing the SMS the development
  gateway "sent" to a demo number, so a newcomer can verify in the browser.
* ``demo/phones``, ``demo/outbox/<n>``: the demo numbers (masked) and the latest SMS to the n-th one.
  Read-only, demo numbers only.

Outside development (``BOT_ENV=production``) the demo routes are not registered: they answer 404.
This channel receives no messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DIST_DIR = PROJECT_ROOT / "web" / "dist"
OUTBOX_LIMIT = 5
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8"}
_KIND_LABELS = {"verification_code": "验证码"}


def _demo_phones() -> list[dict[str, str]]:
    from bot.seed import DEMO_STORIES
    from bot.texts.formats import mask_phone

    return [
        {"key": str(index), "name": story.name, "masked_phone": mask_phone(story.phone)}
        for index, story in enumerate(DEMO_STORIES)
    ]


def _read_outbox(index: int) -> Optional[dict[str, Any]]:
    """The latest SMS to the index-th demo number, newest first; None for no such number."""
    from bot.app import get_services
    from bot.billing.queries import list_outbox
    from bot.clock import to_local
    from bot.seed import DEMO_STORIES
    from bot.texts.formats import mask_phone
    from bot.texts.labels import NOTIFY_CHANNEL_LABELS

    if not 0 <= index < len(DEMO_STORIES):
        return None
    phone = DEMO_STORIES[index].phone
    with get_services().store.transaction() as session:
        messages = list_outbox(session, phone, limit=OUTBOX_LIMIT)
    return {
        "masked_phone": mask_phone(phone),
        "messages": [
            {
                "id": m.id,
                "time": f"{to_local(m.created_at):%Y-%m-%d %H:%M:%S}",
                "channel": NOTIFY_CHANNEL_LABELS.get(m.channel, m.channel),
                "kind": _KIND_LABELS.get(m.kind, "通知"),
                "body": m.body,
            }
            for m in messages
        ],
    }


class WebChatInput(InputChannel):
    """Serves the widget, and in development the demo page with its demo phone."""

    @classmethod
    def name(cls) -> str:
        return "web"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> InputChannel:
        return cls()

    def __init__(
        self,
        dist_dir: Optional[Path] = None,
        demo: Optional[bool] = None,
        read_outbox: Callable[[int], Optional[dict[str, Any]]] = _read_outbox,
    ) -> None:
        """Args:
        dist_dir: where the built files are; ``web/dist`` by default.
        demo: serve the demo routes; by default only when the settings say development.
        read_outbox: reads the demo phone's SMS (the store is opened on first use).
        """
        self.dist_dir = dist_dir or DIST_DIR
        self.demo = demo
        self.read_outbox = read_outbox

    def _file(self, name: str) -> HTTPResponse:
        path = self.dist_dir / name
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            logger.warning("web/dist/%s is missing: build the widget with `make web`", name)
            return response.text("网页组件尚未构建，请先运行 make web。", status=404)
        return response.raw(
            body,
            content_type=_CONTENT_TYPES[path.suffix],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        demo = self.demo
        if demo is None:
            from bot.settings import get_settings

            demo = get_settings().is_development
        hook = Blueprint(f"web_chat_{id(self)}", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/widget.js", methods=["GET"])
        async def widget(_: Request) -> HTTPResponse:
            return self._file("widget.js")

        if not demo:
            return hook

        @hook.route("/demo", methods=["GET"])
        async def demo_page(_: Request) -> HTTPResponse:
            return self._file("demo.html")

        @hook.route("/demo.js", methods=["GET"])
        async def demo_script(_: Request) -> HTTPResponse:
            return self._file("demo.js")

        @hook.route("/demo/phones", methods=["GET"])
        async def demo_phones(_: Request) -> HTTPResponse:
            return response.json({"phones": _demo_phones()})

        @hook.route("/demo/outbox/<index:int>", methods=["GET"])
        async def demo_outbox(_: Request, index: int) -> HTTPResponse:
            try:
                found = await asyncio.to_thread(self.read_outbox, index)
            except Exception:  # noqa: BLE001 - the page says so; nothing about the store is echoed
                logger.warning("reading the demo outbox failed", exc_info=False)
                return response.json({"error": "暂时无法读取短信，请稍后再试。"}, status=503)
            if found is None:
                return response.json({"error": "没有这个演示号码。"}, status=404)
            return response.json(found, headers={"Cache-Control": "no-store"})

        return hook
