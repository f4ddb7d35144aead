"""Rasa's socket.io channel for the web widget: server-issued sessions, each message processed once.

Rasa's own channel lets the client name its conversation (``session_request`` accepts any id) and
processes every ``user_uttered`` it receives, so a resend after a dropped connection is answered
twice. This channel keeps Rasa's events and payloads and changes three things:

* **Sessions are issued by the server.** A session id is ``web-`` and 128 random bits, handed out
  with an HMAC-SHA256 signature keyed by the app's secret key. The client keeps both and presents
  them in ``session_request``; a forged or altered pair gets a fresh session instead. Messages go to
  the session bound to the socket, never to an id named in the message.
* **Each user message is processed once.** The client gives every message a client id (a UUID),
  which becomes Rasa's ``message_id``. A (session, client id) is processed at most once and
  acknowledged; a resend is answered ``duplicate``. The ids already processed are read back from
  the tracker, so a restarted server does not forget them. Messages of one session run one at a time.
* **History for the bound session.** ``session_history`` returns the current conversation session's
  user and bot messages from the tracker store: masked text, as stored. A message a human agent
  wrote (``BotUttered`` with ``agent_name`` in its metadata) carries ``agent``.

For the agent console (``bot.channels.agent_console``) the channel puts its server on the app's
live hub (``bot.channels.live``) and reports each message it handed to Rasa. With
``SOCKETIO_REDIS_URL`` set the server uses python-socketio's Redis manager, so emits reach sockets
held by another Rasa process.

The secret guard stands in front of Rasa, as on every channel. Each message's ``client`` metadata
is the address of the connection that opened the socket (``bot.channels.client``).

The protocol, as the widget speaks it::

    → session_request {session_id?, signature?}
    ← session_confirm {session_id, signature, restored}
    → session_history {}                       ack {session_id, messages: [{from, text, time, ...}]}
    → user_uttered {message, client_id}       ack {client_id, status}
    ← bot_uttered {text, quick_replies?}       (Rasa's payloads, to every socket of the session)
    ← bot_uttered {text, agent}                (a human agent's message, from the agent console)

``status`` is ``ok`` (processed), ``duplicate`` (processed before), ``failed`` (processing failed;
an apology was sent), ``unavailable`` (try again later), ``no_session`` or ``invalid``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.events import BotUttered, Event, UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels.client import address_client, request_client, with_client
from bot.channels.guard import SecretGuard, default_guard
from bot.channels.live import client_manager, hub_for
from bot.channels.rest import FAILURE_TEXT, MAX_MESSAGE_CHARS
from bot.channels.transcript import button_list, shown_user_text

logger = logging.getLogger(__name__)

SESSION_PREFIX = "web-"
_SESSION_ID = re.compile(r"^web-[0-9a-f]{32}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_SIGNING_CONTEXT = b"billing-assistant/web-session/v1\x00"
#: The most history entries ``session_history`` returns (the newest).
HISTORY_LIMIT = 200


def _default_key() -> str:
    from bot.settings import get_settings

    return get_settings().secret_key


class SessionSigner:
    """Issues session ids and checks the signatures clients present with them."""

    def __init__(self, key: Optional[Callable[[], str]] = None) -> None:
        """Args:
        key: returns the signing key; the app's ``secret_key``, read on first use, by default.
        """
        self._key_source = key or _default_key
        self._key: Optional[bytes] = None

    def _mac(self, session_id: str) -> str:
        if self._key is None:
            self._key = self._key_source().encode()
        return hmac.new(self._key, _SIGNING_CONTEXT + session_id.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> tuple[str, str]:
        """A new, unguessable session id and its signature."""
        session_id = SESSION_PREFIX + secrets.token_hex(16)
        return session_id, self._mac(session_id)

    def verify(self, session_id: Any, signature: Any) -> bool:
        """True when ``signature`` is the server's signature of ``session_id``."""
        if not isinstance(session_id, str) or not isinstance(signature, str):
            return False
        if not _SESSION_ID.match(session_id) or not _SIGNATURE.match(signature):
            return False
        return hmac.compare_digest(self._mac(session_id), signature)


class LedgerUnavailable(RuntimeError):
    """The ids a session already processed could not be read (the tracker store failed)."""


@dataclass
class _SessionLedger:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    loaded: bool = False


class MessageLedger:
    """Runs each (session, client id) once, one message of a session at a time, in arrival order.

    The ids a session processed before this process started are loaded from the tracker the first
    time the session sends; afterwards they are kept in memory (bounded per session and in sessions).
    """

    def __init__(
        self,
        load_seen: Callable[[str], Awaitable[Iterable[str]]],
        max_sessions: int = 10_000,
        max_ids_per_session: int = 1_000,
    ) -> None:
        self._load_seen = load_seen
        self._sessions: OrderedDict[str, _SessionLedger] = OrderedDict()
        self._max_sessions = max_sessions
        self._max_ids = max_ids_per_session

    def _entry(self, session_id: str) -> _SessionLedger:
        entry = self._sessions.get(session_id)
        if entry is None:
            entry = self._sessions[session_id] = _SessionLedger()
        self._sessions.move_to_end(session_id)
        if len(self._sessions) > self._max_sessions:
            for old_id in list(self._sessions)[: len(self._sessions) - self._max_sessions]:
                if not self._sessions[old_id].lock.locked():
                    del self._sessions[old_id]
        return entry

    async def run_once(self, session_id: str, client_id: str, handler: Callable[[], Awaitable[Any]]) -> bool:
        """Runs ``handler`` unless ``client_id`` was already run for ``session_id``.

        The id is recorded before the handler runs, so a handler that fails is not run again.

        Returns:
            True when the handler ran, False for a duplicate.

        Raises:
            LedgerUnavailable: the session's earlier ids could not be loaded; nothing ran.
        """
        entry = self._entry(session_id)
        async with entry.lock:
            if not entry.loaded:
                try:
                    earlier = await self._load_seen(session_id)
                except Exception as exc:  # noqa: BLE001 - any store failure means "cannot tell"
                    raise LedgerUnavailable(type(exc).__name__) from exc
                for earlier_id in earlier:
                    entry.seen[earlier_id] = None
                entry.loaded = True
            if client_id in entry.seen:
                return False
            entry.seen[client_id] = None
            while len(entry.seen) > self._max_ids:
                entry.seen.popitem(last=False)
            await handler()
            return True


def history_from_events(events: Iterable[Event], limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The user and bot messages of ``events`` as the widget shows them, newest last.

    A bot text is split into bubbles at blank lines, as the socket.io output channel sends it, and
    its buttons go with the last bubble. A user message that is a button's payload shows the
    button's title. Texts are as stored: secrets were masked before Rasa saw them.
    """
    items: list[dict[str, Any]] = []
    offered: list[dict[str, str]] = []
    for event in events:
        if isinstance(event, UserUttered):
            text = shown_user_text(event.text or "", offered)
            items.append(
                {"from": "user", "text": text, "time": event.timestamp, "client_id": event.message_id}
            )
        elif isinstance(event, BotUttered):
            buttons = button_list(event.data or {})
            parts = [p for p in (event.text or "").strip().split("\n\n") if p] or ([""] if buttons else [])
            agent_name = (event.metadata or {}).get("agent_name")
            for index, part in enumerate(parts):
                item: dict[str, Any] = {"from": "bot", "text": part, "time": event.timestamp}
                if isinstance(agent_name, str) and agent_name:
                    item["agent"] = agent_name
                if buttons and index == len(parts) - 1:
                    item["quick_replies"] = buttons
                items.append(item)
            offered = buttons or offered
    return items[-limit:]


class _AppAwareSocketBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that also tells the channel which app it was mounted on."""

    def __init__(self, on_register: Callable[[Sanic], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx.on_register = on_register

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.on_register(app)
        super().register(app, options)


class GuardedSocketIOInput(SocketIOInput):
    """``socketio`` for the web widget: bound sessions, at-most-once messages, the secret guard."""

    guard: Optional[SecretGuard] = None

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> SocketIOInput:
        credentials = credentials or {}
        if credentials.get("session_persistence") is False:
            raise ValueError(
                "The web widget's socket.io channel binds every socket to a server-issued session: "
                "session_persistence must be true (credentials.yml)."
            )
        return super().from_credentials({**credentials, "session_persistence": True})

    def __init__(
        self,
        *args: Any,
        signer: Optional[SessionSigner] = None,
        redis_url: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        """Args:
        signer: issues and checks session ids (the app's secret key by default).
        redis_url: Redis for python-socketio's manager; None reads ``SOCKETIO_REDIS_URL`` from the
            settings, empty means in memory (one process).
        """
        super().__init__(*args, **kwargs)
        self.session_persistence = True
        self.signer = signer or SessionSigner()
        self.redis_url = redis_url
        self.ledger = MessageLedger(self._processed_ids)
        self._app: Optional[Sanic] = None

    def _bind_app(self, app: Sanic) -> None:
        self._app = app
        hub_for(app).attach_socketio(self.sio, self.bot_message_evt, self.namespace)

    async def _tracker_events(self, session_id: str) -> list[Event]:
        """The events of the session's current conversation session, from the agent's tracker store."""
        agent = getattr(self._app.ctx, "agent", None) if self._app is not None else None
        if agent is None or agent.tracker_store is None:
            raise LedgerUnavailable("the agent is not ready")
        tracker = await agent.tracker_store.retrieve(session_id)
        return list(tracker.events) if tracker is not None else []

    async def _processed_ids(self, session_id: str) -> list[str]:
        return [e.message_id for e in await self._tracker_events(session_id) if isinstance(e, UserUttered)]

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        guarded = (self.guard or default_guard()).wrap(on_new_message)
        sio = AsyncServer(
            async_mode="sanic", cors_allowed_origins=[], client_manager=client_manager(self.redis_url)
        )
        hook = _AppAwareSocketBlueprint(
            self._bind_app, sio, self.socketio_path, f"bound_socketio_{id(self)}", __name__
        )
        self.sio = sio
        namespace = self.namespace

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: Optional[dict]) -> bool:
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            return bool(token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm))

        def socket_client(sid: str) -> str:
            # The request that opened the socket (engine.io's environ says 127.0.0.1 for every one).
            request = (sio.get_environ(sid, namespace=namespace) or {}).get("sanic.request")
            if request is None:
                return address_client(None)
            return request_client(request.ip, request.headers)

        async def bound_session(sid: str) -> Optional[str]:
            session = await sio.get_session(sid, namespace=namespace)
            return session.get("session_id")

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            presented, signature = data.get("session_id"), data.get("signature")
            restored = self.signer.verify(presented, signature)
            if restored:
                session_id, signature = presented, signature
            else:
                if presented:
                    logger.info("a socket presented a session it was not issued; a new one was issued")
                session_id, signature = self.signer.issue()
            previous = await bound_session(sid)
            if previous and previous != session_id:
                await sio.leave_room(sid, previous, namespace=namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)
            await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit(
                "session_confirm",
                {"session_id": session_id, "signature": signature, "restored": restored},
                room=sid,
                namespace=namespace,
            )

        @sio.on("session_history", namespace=namespace)
        async def session_history(sid: str, _: Any = None) -> dict[str, Any]:
            session_id = await bound_session(sid)
            if session_id is None:
                return {"error": "no_session"}
            try:
                events = await self._tracker_events(session_id)
            except Exception:  # noqa: BLE001 - the widget keeps what it shows and asks again later
                logger.warning("reading a web session's history failed", exc_info=False)
                return {"error": "unavailable"}
            return {"session_id": session_id, "messages": history_from_events(events)}

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> dict[str, Any]:
            data = data if isinstance(data, dict) else {}
            client_id = data.get("client_id")
            if client_id is None:  # a client that does not number its messages gets no resend protection
                client_id = uuid.uuid4().hex
            if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
                return {"client_id": None, "status": "invalid"}
            reply = {"client_id": client_id}
            session_id = await bound_session(sid)
            if session_id is None:
                return {**reply, "status": "no_session"}
            text = data.get("message")
            if not isinstance(text, str) or not text.strip():
                return {**reply, "status": "invalid"}
            output = SocketIOOutput(sio, self.bot_message_evt)
            message = UserMessage(
                text[:MAX_MESSAGE_CHARS],
                output,
                session_id,
                input_channel=self.name(),
                message_id=client_id,
                metadata=with_client(data.get(self.metadata_key), socket_client(sid)),
            )
            failed = False

            async def process() -> None:
                nonlocal failed
                try:
                    await guarded(message)
                except Exception:  # noqa: BLE001 - the subscriber gets a kind answer; the text is not logged
                    logger.exception("handling a socket.io message failed")
                    failed = True
                    await output.send_text_message(session_id, FAILURE_TEXT)
                finally:
                    if self._app is not None:
                        hub_for(self._app).user_message_processed(session_id, self.name())

            try:
                ran = await self.ledger.run_once(session_id, client_id, process)
            except LedgerUnavailable:
                logger.warning("could not tell whether a web message was processed before; not processed")
                return {**reply, "status": "unavailable"}
            if not ran:
                return {**reply, "status": "duplicate"}
            return {**reply, "status": "failed" if failed else "ok"}

        return hook
