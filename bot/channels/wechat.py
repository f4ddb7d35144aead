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
through the customer-service message API (``bot.wechat.api``).

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
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Optional
from xml.parsers import expat

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.cache import TtlCache
from bot.channels.client import wechat_client, with_client
from bot.channels.guard import SecretGuard, default_guard
from bot.channels.live import LiveHub, hub_for
from bot.channels.rest import FAILURE_TEXT, MAX_MESSAGE_CHARS
from bot.channels.wechat_crypto import MessageCrypto, WeChatCryptoError, decode_aes_key, signature_matches
from bot.wechat.api import DEFAULT_API_BASE_URL, WeChatApi

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # a text message's XML is well under 10 KiB, even encrypted
MAX_TEXT_BYTES = 2000  # WeChat cuts a text message at 2048 bytes of UTF-8
MAX_TIMESTAMP_SKEW = 300  # seconds; an older signed request is a replay
DEFAULT_REPLY_DEADLINE = 4.5
MAX_REPLY_DEADLINE = 4.8  # WeChat gives up after 5 s
DEDUPE_TTL = 60.0  # WeChat's retries come within 15 s
CHOICES_TTL = 30 * 60.0
MAX_TRACKED = 10_000  # entries per in-memory cache
SHUTDOWN_GRACE = 10.0

TEXT_ONLY = "抱歉，目前只能处理文字消息，请直接输入您的问题。"
CHOICES_HEADER = "回复数字选择："
GREET_PARSE_DATA: dict[str, Any] = {
    "text": "/greet",
    "intent": {"name": "greet", "confidence": 1.0},
    "intent_ranking": [{"name": "greet", "confidence": 1.0}],
    "entities": [],
}

_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")  # what the WeChat platform accepts as a Token
_LONE_NUMBER = re.compile(r"\s*(\d{1,2})\s*")
_LEADING_NUMBER = re.compile(r"(\d{1,2})(?!\d)")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

# --- configuration ---------------------------------------------------------------------------


def _is_production() -> bool:
    return os.environ.get("BOT_ENV", "development") not in ("development", "test")


@dataclass(frozen=True)
class WeChatConfig:
    """The channel's settings (credentials.yml, from the ``WECHAT_*`` environment variables).

    Attributes:
        token: the Token set on the platform (signatures).
        app_id: the account's AppID (safe mode and the API).
        app_secret: the account's AppSecret (access tokens).
        encoding_aes_key: the 43-character EncodingAESKey (safe mode).
        mode: ``safe`` (AES, the default) or ``plaintext``.
        api_base_url: root of WeChat's server API.
        reply_deadline: seconds to wait for the bot before answering ``success``.
    """

    token: str
    app_id: str
    app_secret: str = field(repr=False)
    encoding_aes_key: str = field(default="", repr=False)
    mode: str = "safe"
    api_base_url: str = DEFAULT_API_BASE_URL
    reply_deadline: float = DEFAULT_REPLY_DEADLINE

    def __post_init__(self) -> None:
        problems = []
        if not _TOKEN.fullmatch(self.token):
            problems.append("WECHAT_TOKEN must be 3-32 letters or digits, as on the WeChat platform")
        if not self.app_id:
            problems.append("WECHAT_APP_ID must be set")
        if not self.app_secret:
            problems.append("WECHAT_APP_SECRET must be set (late answers need an access token)")
        if self.mode not in ("safe", "plaintext"):
            problems.append(f"WECHAT_MODE must be safe or plaintext, not {self.mode!r}")
        if self.mode == "safe":
            try:
                decode_aes_key(self.encoding_aes_key)
            except WeChatCryptoError:
                problems.append(
                    "WECHAT_ENCODING_AES_KEY must be the platform's 43-character key in safe mode"
                )
        if not re.match(r"https?://", self.api_base_url):
            problems.append("WECHAT_API_BASE_URL must be an http(s) URL")
        elif _is_production() and not self.api_base_url.startswith("https://"):
            problems.append("WECHAT_API_BASE_URL must use https in production")
        if not 0 < self.reply_deadline <= MAX_REPLY_DEADLINE:
            problems.append(f"WECHAT_REPLY_DEADLINE must be more than 0 and at most {MAX_REPLY_DEADLINE} s")
        if problems:
            raise ValueError("WeChat channel: " + "; ".join(problems))

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> Optional[WeChatConfig]:
        """Settings from credentials.yml; None (channel disabled) when no token is configured.

        Raises:
            ValueError: a token is configured but the rest is missing or invalid.
        """

        def value(key: str) -> str:
            raw = (credentials or {}).get(key)
            text = "" if raw is None else str(raw).strip()
            return "" if text.startswith("${") else text

        if not value("token"):
            return None
        deadline = value("reply_deadline")
        try:
            reply_deadline = float(deadline) if deadline else DEFAULT_REPLY_DEADLINE
        except ValueError:
            raise ValueError("WeChat channel: WECHAT_REPLY_DEADLINE must be a number of seconds") from None
        return cls(
            token=value("token"),
            app_id=value("app_id"),
            app_secret=value("app_secret"),
            encoding_aes_key=value("encoding_aes_key"),
            mode=(value("mode") or "safe").lower(),
            api_base_url=value("api_base_url") or DEFAULT_API_BASE_URL,
            reply_deadline=reply_deadline,
        )


# --- XML -------------------------------------------------------------------------------------


class BadXml(ValueError):
    """The body is not a WeChat XML message we accept."""


def parse_xml(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat ``<xml>`` message.

    Parsed with expat directly: a document type declaration or an entity declaration stops the
    parse before anything in it is read, so entity expansion and external entities cannot happen.

    Raises:
        BadXml: too large, not well-formed, a DTD or entity, or not rooted in ``<xml>``.
    """
    if len(body) > MAX_BODY_BYTES:
        raise BadXml("message too large")
    fields: dict[str, str] = {}
    depth = 0
    text: list[str] = []

    def refuse(*_: Any) -> int:  # int: expat's signature for external entity references
        raise BadXml("DTDs and entities are not accepted")

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal depth
        if depth == 0 and name != "xml":
            raise BadXml("the root element must be <xml>")
        depth += 1
        if depth > 8:
            raise BadXml("too deeply nested")
        if depth == 2:
            text.clear()

    def end(name: str) -> None:
        nonlocal depth
        if depth == 2:
            fields.setdefault(name, "".join(text))
        depth -= 1

    def characters(data: str) -> None:
        if depth == 2:
            text.append(data)

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadXml("not well-formed XML") from exc
    return fields


def _cdata(value: str) -> str:
    clean = _XML_INVALID.sub("", value)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, now: int) -> str:
    """A passive text reply, as WeChat expects it in plaintext mode."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )


# --- rendering the bot's messages -----------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """What the subscriber reads, and the payloads the offered numbers stand for."""

    text: str
    choices: dict[int, str]


def _numbers_for(buttons: list[dict[str, Any]], taken: dict[int, str]) -> list[int]:
    """Numbers for ``buttons``: their own when every title starts with a distinct one ("5分 非常满意"),
    so that typing 5 means 5分; otherwise the next free numbers in order."""
    own = [_LEADING_NUMBER.match(str(b.get("title") or "")) for b in buttons]
    numbers = [int(m.group(1)) for m in own if m]
    if len(numbers) == len(buttons) and len(set(numbers)) == len(numbers):
        if all(0 < n and n not in taken for n in numbers):
            return numbers
    start = max(taken, default=0) + 1
    return list(range(start, start + len(buttons)))


def render(messages: Iterable[tuple[str, list[dict[str, Any]]]]) -> Rendered:
    """Joins the bot's messages into one text; buttons become numbered choices."""
    parts: list[str] = []
    choices: dict[int, str] = {}
    for text, buttons in messages:
        block = (text or "").strip()
        usable = [b for b in buttons if str(b.get("title") or b.get("payload") or "").strip()]
        lines = []
        for number, button in zip(_numbers_for(usable, choices), usable, strict=True):
            if number > 99:
                break
            title = str(button.get("title") or button.get("payload")).strip()
            choices[number] = str(button.get("payload") or title)
            lines.append(f"{number}. {title}")
        if lines:
            block = "\n".join(filter(None, [block, CHOICES_HEADER, *lines]))
        if block:
            parts.append(block)
    return Rendered("\n\n".join(parts), choices)


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.strip().splitlines(keepends=True):
        while len(line.encode("utf-8")) > limit:  # a single overlong line: cut by characters
            cut = len(line)
            while len(line[:cut].encode("utf-8")) > limit:
                cut = max(1, cut * limit // len(line[:cut].encode("utf-8")))
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode("utf-8")) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


class WeChatCollector(OutputChannel):
    """Collects the bot's messages of one turn (texts and their buttons)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[dict[str, Any]]]] = []

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append((text, []))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.messages.append((text, list(buttons)))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        self.messages.append((f"图片：{image}", []))

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        self.messages.append((f"附件：{attachment}", []))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        logger.debug("a custom payload has no WeChat form; not sent")


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
        elif config.mode == "plaintext" and _is_production():
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
