"""WeChat Official Account (微信公众号) channel: signed callbacks, safe mode, passive and late replies.

WeChat calls ``/webhooks/wechat/webhook``:

* ``GET`` once, when the URL is saved on the platform: answered with ``echostr`` when
  ``signature`` is SHA-1 of the sorted token, timestamp and nonce.
* ``POST`` for every message, signed the same way; in safe mode (``WECHAT_MODE=safe``) the body
  carries an AES-encrypted ``Encrypt`` with its own ``msg_signature`` (see ``wechat_crypto``).
  A bad signature is refused with 403, unreadable XML (or XML with a DTD or entity) with 400.

Text messages (and recognised voice) go to Rasa through the secret guard, with the subscriber's
openid as the conversation id; a ``subscribe`` event greets the new subscriber through the bot;
other messages get a short answer that only text is understood. When the bot answers within the
deadline (4.5 s by default; WeChat waits 5 s) the answer is the passive XML reply, several bot
messages joined into one text. Otherwise WeChat gets ``success`` at once and the answer follows
through the customer-service message API (``bot.notifications.wechat_api``).

WeChat retries a message it got no answer to (three times within 15 s). Each message (its
``MsgId``, or sender and time for events) runs the bot once: a retry waits for the same run, and
gets ``success`` when the answer already went out through the API.

Buttons become numbered choices ("回复数字选择：\\n1. …"); the choices last offered to a subscriber
are kept **in this process's memory** for 30 minutes, so a lone number answers with the button's
payload. They are lost on restart, and with several Rasa processes a number may reach a process
that did not offer them: it then goes to the bot as plain text.

For the agent console the channel puts its customer-service sender on the app's live hub
(``bot.channels.live``), so an agent's replies reach the subscriber, and reports each message it
handed to Rasa, so the console shows it at once.

This module is the input channel; its pieces: ``wechat_config`` (the settings), ``wechat_xml``
(reading callbacks, writing passive replies), ``wechat_render`` (the bot's messages as one text with
numbered choices) and ``wechat_crypto`` (signatures and safe mode).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.cache import TtlCache
from bot.channels.client import wechat_client, with_client
from bot.channels.guard import SecretGuard, default_guard
from bot.channels.live import LiveHub, hub_for
from bot.channels.rest import FAILURE_TEXT, MAX_MESSAGE_CHARS
from bot.channels.wechat_config import WeChatConfig, is_production
from bot.channels.wechat_crypto import MessageCrypto, WeChatCryptoError, signature_matches
from bot.channels.wechat_render import Rendered, WeChatCollector, render, split_text
from bot.channels.wechat_xml import MAX_BODY_BYTES, BadXml, parse_xml, text_reply_xml
from bot.notifications.wechat_api import WeChatApi

logger = logging.getLogger(__name__)

MAX_TIMESTAMP_SKEW = 300  # seconds; an older signed request is a replay
DEDUPE_TTL = 60.0  # WeChat's retries come within 15 s
CHOICES_TTL = 30 * 60.0
MAX_TRACKED = 10_000  # entries per in-memory cache
SHUTDOWN_GRACE = 10.0

TEXT_ONLY = "抱歉，目前只能处理文字消息，请直接输入您的问题。"
GREET_PARSE_DATA: dict[str, Any] = {
    "text": "/greet",
    "intent": {"name": "greet", "confidence": 1.0},
    "intent_ranking": [{"name": "greet", "confidence": 1.0}],
    "entities": [],
}

_LONE_NUMBER = re.compile(r"\s*(\d{1,2})\s*")


@dataclass
class _Run:
    """One message's bot run, shared by WeChat's retries of it."""

    task: asyncio.Future[Rendered]
    delivery: str = "pending"  # "passive" once a reply carried it, "api" once it was left to the API


# --- the channel ----------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class WeChatInput(InputChannel):
    """A WeChat Official Account, plaintext or safe mode, with the secret guard in front of Rasa."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> InputChannel:
        config = WeChatConfig.from_credentials(credentials)
        if config is None:
            logger.info("WeChat channel disabled: WECHAT_TOKEN is not set (see docs/channels.md)")
        elif config.mode == "plaintext" and is_production():
            logger.warning("WeChat channel runs in plaintext mode in production; safe mode is advised")
        return cls(config)

    def __init__(
        self,
        config: Optional[WeChatConfig],
        guard: Optional[SecretGuard] = None,
        api: Optional[WeChatApi] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.guard = guard or default_guard()
        self._clock = clock
        self.api: Optional[WeChatApi] = None
        self.crypto: Optional[MessageCrypto] = None
        if config is not None:
            self.api = api or WeChatApi(config.app_id, config.app_secret, config.api_base_url)
            if config.mode == "safe":
                self.crypto = MessageCrypto(config.token, config.encoding_aes_key, config.app_id)
        self._runs: TtlCache[_Run] = TtlCache(DEDUPE_TTL, max_entries=MAX_TRACKED)
        self._choices: TtlCache[dict[int, str]] = TtlCache(CHOICES_TTL, max_entries=MAX_TRACKED)
        self._background: set[asyncio.Task[Any]] = set()
        self._hub: Optional[LiveHub] = None

    # -- request checks ------------------------------------------------------------------------

    def _signed(self, request: Request) -> bool:
        assert self.config is not None
        timestamp = request.args.get("timestamp") or ""
        nonce = request.args.get("nonce") or ""
        try:
            fresh = abs(self._clock() - int(timestamp)) <= MAX_TIMESTAMP_SKEW
        except ValueError:
            fresh = False
        ok = fresh and signature_matches(request.args.get("signature"), self.config.token, timestamp, nonce)
        if not ok:
            logger.warning("refused a WeChat request: bad or stale signature")
        return ok

    def _open(self, request: Request) -> dict[str, str]:
        """The message's fields, decrypted in safe mode."""
        assert self.config is not None
        outer = parse_xml(request.body)
        encrypted = outer.get("Encrypt")
        if self.crypto is None:
            if request.args.get("encrypt_type", "raw") != "raw" or (encrypted and "MsgType" not in outer):
                logger.warning("WeChat sent an encrypted message but WECHAT_MODE is plaintext")
                raise _Refused(400, "encrypted message in plaintext mode")
            return outer
        if not encrypted:
            raise _Refused(400, "safe mode expects an Encrypt element")
        timestamp = request.args.get("timestamp") or ""
        nonce = request.args.get("nonce") or ""
        if not signature_matches(
            request.args.get("msg_signature"), self.config.token, timestamp, nonce, encrypted
        ):
            logger.warning("refused a WeChat request: bad msg_signature")
            raise _Refused(403, "bad msg_signature")
        try:
            inner = self.crypto.decrypt(encrypted)
        except WeChatCryptoError as exc:
            logger.warning("refused a WeChat request: %s", exc)
            raise _Refused(403 if "app id" in str(exc) else 400, "undecryptable") from None
        return parse_xml(inner.encode("utf-8"))

    # -- answering -----------------------------------------------------------------------------

    def _choice(self, openid: str, text: str) -> Optional[str]:
        """The payload a lone number stands for, when the last reply offered that choice."""
        number = _LONE_NUMBER.fullmatch(unicodedata.normalize("NFKC", text))
        if number is None:
            return None
        choices = self._choices.get(openid)
        if not choices or int(number.group(1)) not in choices:
            return None
        self._choices.pop(openid)
        return choices[int(number.group(1))]

    async def _run_bot(
        self,
        on_message: Callable[[UserMessage], Awaitable[Any]],
        openid: str,
        text: str,
        parse_data: Optional[dict[str, Any]] = None,
        message_id: Optional[str] = None,
    ) -> Rendered:
        collector = WeChatCollector()
        try:
            await on_message(
                UserMessage(
                    text,
                    collector,
                    openid,
                    parse_data=parse_data,
                    input_channel=self.name(),
                    message_id=message_id,
                    # Limits on one-time codes count per WeChat user (the address is WeChat's).
                    metadata=with_client(None, wechat_client(openid)),
                )
            )
            rendered = render(collector.messages)
        except Exception:  # noqa: BLE001 - the subscriber gets a kind answer; the text is not logged
            logger.exception("handling a WeChat message failed")
            rendered = render([*collector.messages, (FAILURE_TEXT, [])])
        if rendered.choices:
            self._choices.put(openid, rendered.choices)
        else:
            self._choices.pop(openid)
        return rendered

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_pieces(self, openid: str, pieces: list[str]) -> None:
        assert self.api is not None
        for piece in pieces:
            if not await self.api.send_text(openid, piece):
                break  # over quota, out of the window or unreachable: the rest would fail too

    async def send_text(self, openid: str, text: str) -> bool:
        """Sends ``text`` to a subscriber through the customer-service API (the agent console's replies).

        Returns:
            True when WeChat accepted every piece; False when the channel is not configured or a
            piece was refused (the reason is logged by the API client).
        """
        if self.api is None:
            return False
        for piece in split_text(text):
            if not await self.api.send_text(openid, piece):
                return False
        return True

    async def _deliver_later(self, openid: str, run: _Run) -> None:
        rendered = await run.task
        await self._send_pieces(openid, split_text(rendered.text))

    def _leave_to_api(self, openid: str, run: _Run) -> None:
        if run.delivery == "pending":
            run.delivery = "api"
            self._spawn(self._deliver_later(openid, run))

    async def _once(
        self, key: str, openid: str, start: Callable[[], Awaitable[Rendered]], deadline: float
    ) -> Optional[str]:
        """Runs the bot once per ``key``; the passive reply text, or None for ``success``."""
        loop = asyncio.get_running_loop()
        run = self._runs.get(key)
        if run is None:
            run = _Run(asyncio.ensure_future(start()))
            self._runs.put(key, run)
        elif run.delivery == "api":
            return None
        try:
            rendered = await asyncio.wait_for(asyncio.shield(run.task), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            self._leave_to_api(openid, run)
            return None
        except asyncio.CancelledError:  # WeChat hung up: the answer still goes out, by the API
            self._leave_to_api(openid, run)
            raise
        if run.delivery == "api":
            return None
        pieces = split_text(rendered.text)
        if run.delivery == "pending":
            run.delivery = "passive"
            if len(pieces) > 1:
                self._spawn(self._send_pieces(openid, pieces[1:]))
        return pieces[0] if pieces else None

    async def _answer(
        self, fields: dict[str, str], on_message: Callable[[UserMessage], Awaitable[Any]], deadline: float
    ) -> Optional[str]:
        openid = fields["FromUserName"]
        msg_type = fields["MsgType"].strip().lower()
        created = fields.get("CreateTime", "")
        if msg_type == "event":
            event = fields.get("Event", "").strip().lower()
            if event == "unsubscribe":
                self._choices.pop(openid)
            if event != "subscribe":
                return None
            return await self._once(
                f"event:{openid}:{created}:{event}",
                openid,
                lambda: self._run_bot(on_message, openid, "/greet", parse_data=dict(GREET_PARSE_DATA)),
                deadline,
            )
        if msg_type == "text":
            text = fields.get("Content", "")
        elif msg_type == "voice" and fields.get("Recognition", "").strip():
            text = fields["Recognition"]  # WeChat's speech recognition, when the account enabled it
        else:
            return TEXT_ONLY
        text = text.strip()[:MAX_MESSAGE_CHARS]
        if not text:
            return None
        msg_id = fields.get("MsgId", "").strip()

        def start() -> Awaitable[Rendered]:
            payload = self._choice(openid, text)
            return self._run_bot(on_message, openid, payload or text, message_id=msg_id or None)

        return await self._once(msg_id or f"{openid}:{created}", openid, start, deadline)

    def _reply(self, fields: dict[str, str], content: Optional[str]) -> HTTPResponse:
        if not content:
            return response.text("success")
        now = int(self._clock())
        xml = text_reply_xml(fields["FromUserName"], fields.get("ToUserName", ""), content, now)
        if self.crypto is not None:
            xml = self.crypto.encrypt_reply(xml, timestamp=str(now))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    async def aclose(self) -> None:
        """Lets late answers go out (up to a grace period), then closes the API session."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=SHUTDOWN_GRACE)
        if self.api is not None:
            await self.api.close()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"wechat_{id(self)}", __name__)
        guarded_only = self.guard.wrap(on_new_message)

        async def guarded(message: UserMessage) -> Any:
            try:
                return await guarded_only(message)
            finally:
                if self._hub is not None:
                    self._hub.user_message_processed(message.sender_id, self.name())

        @hook.listener("before_server_start")
        async def attach(app: Any, *_: Any) -> None:
            self._hub = hub_for(app)
            if self.api is not None:
                self._hub.attach_wechat(self.send_text)

        @hook.listener("before_server_stop")
        async def close(*_: Any) -> None:
            await self.aclose()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config else "disabled"})

        @hook.route("/webhook", methods=["GET"])
        async def handshake(request: Request) -> HTTPResponse:
            if self.config is None:
                return response.text("WeChat channel is not configured", status=503)
            if not self._signed(request):
                return response.text("forbidden", status=403)
            return response.text(request.args.get("echostr") or "")

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if self.config is None:
                return response.text("WeChat channel is not configured", status=503)
            deadline = asyncio.get_running_loop().time() + self.config.reply_deadline
            if not self._signed(request):
                return response.text("forbidden", status=403)
            if len(request.body or b"") > MAX_BODY_BYTES:
                return response.text("too large", status=413)
            try:
                fields = self._open(request)
            except _Refused as refused:
                return response.text(str(refused), status=refused.status)
            except BadXml as exc:
                logger.warning("refused a WeChat request: %s", exc)
                return response.text("bad request", status=400)
            if not fields.get("FromUserName", "").strip() or not fields.get("MsgType", "").strip():
                return response.text("bad request", status=400)
            if len(fields["FromUserName"]) > 128:
                return response.text("bad request", status=400)
            return self._reply(fields, await self._answer(fields, guarded, deadline))

        return hook
