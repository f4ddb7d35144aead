"""The agent console: human agents take over handed-off conversations, served by the Rasa server.

Mounted by Rasa under ``/webhooks/agent/`` (credentials.yml). See docs/handoff.md.

* ``GET /`` and ``/console.js``, ``/console.css``: the console (built from ``web/agent/`` into
  ``web/dist/agent/``). The page itself is static and holds nothing; every piece of data comes
  from the API below with the agent's token.
* ``POST /api/login`` ``{username, password}`` → ``{token, expires_at, agent}``; the only API route
  open without a token. Failures are answered alike (unknown user, wrong password, inactive) and
  cost the same; 5 failures within 10 minutes for a username or an address answer 429 until the
  window passes (in this process's memory).
* Everything else needs ``Authorization: Bearer <token>`` and answers 401 when it is missing,
  expired (absolute or idle), revoked or its agent deactivated: ``POST /api/logout``,
  ``GET /api/me``, ``GET /api/queue``, ``GET /api/handoffs/<id>``, ``POST /api/handoffs/<id>/claim``,
  ``…/messages {text}``, ``…/notes {text}``, ``…/hand-back``, ``…/close {resolution}``.
  A request with ``X-Console-Refresh: auto`` (the console's automatic refreshes) does not count
  as activity: it does not slide the idle window.
* Only the agent holding a claimed conversation may write to the subscriber, hand it back or close
  it (403, or 409 when another agent claimed it first). Refusals are Chinese sentences in ``error``.

An agent's message is appended to the conversation's tracker as ``BotUttered`` with ``agent_id``
and ``agent_name`` in its metadata (under the conversation's lock, as Rasa appends events), then
delivered live by the conversation's channel (``bot.channels.live``): socket.io as the widget's
``bot_uttered`` event, WeChat through the customer-service API; REST cannot be pushed to (the App
reads the conversation). Handing back and closing append ``ConversationResumed`` and a listen, so
the bot answers the subscriber's next message.

Live updates: the console connects to the socket.io server's ``/agent`` namespace with its token
(refused without a valid one); it hears ``queue_changed`` in the queue room and ``handoff_changed``
for the conversation it watches (``watch {handoff_id}``), then reads the API again. A subscriber's
message on socket.io or WeChat sends ``handoff_changed`` once Rasa has recorded it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    UserUttered,
)
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.live import SocketIOTarget, hub_for
from bot.channels.transcript import button_list, shown_user_text
from bot.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services
    from bot.handoff.models import Agent, Handoff

logger = logging.getLogger(__name__)

DIST_DIR = PROJECT_ROOT / "web" / "dist" / "agent"
NAMESPACE = "/agent"
QUEUE_ROOM = "queue"
#: The most transcript entries a handoff view returns (the newest).
TRANSCRIPT_LIMIT = 300
MAX_TEXT = 2000
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 600.0
AUTO_REFRESH_HEADER = "x-console-refresh"

# What the subscriber reads when the agent hands back or closes (sent as the bot).
HANDED_BACK_TEXT = "人工客服已将对话转回智能助手，您可以继续向我提问。"
CLOSED_TEXT = "本次人工服务已结束，感谢您的耐心等待。如还有问题，可以直接向我提问。"

# Refusals, as the agent reads them.
UNAUTHORIZED = "登录已失效，请重新登录。"
BAD_LOGIN = "用户名或密码不正确。"
TOO_MANY_LOGINS = "登录失败次数过多，请10分钟后再试。"
NOT_FOUND = "没有找到这个会话。"
NOT_HOLDER = "该会话不是由您接入的，不能进行此操作。"
EMPTY_TEXT = "内容不能为空，且不能超过2000字。"
STORE_DOWN = "系统暂时繁忙，请稍后再试。"
BOT_NOT_READY = "机器人服务尚未就绪，请稍后再试。"
STATUS_LABELS = {
    "queued": "排队中",
    "claimed": "已接入",
    "returned": "已转回机器人",
    "closed": "已结束",
    "ticket": "留言待处理",
}
OPERATION_LABELS = {
    "claim": "接入",
    "reply": "回复",
    "hand back": "转回机器人",
    "close": "结束",
}
CHANNEL_LABELS = {"socketio": "网页", "wechat": "微信", "rest": "App", "cmdline": "命令行", "other": "其他"}

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
_API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

T = TypeVar("T")


class ApiError(Exception):
    """A refusal, answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginThrottle:
    """Counts failed sign-ins per key (username, address) in a sliding window, in memory."""

    def __init__(
        self,
        max_failures: int = LOGIN_MAX_FAILURES,
        window: float = LOGIN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._max = max_failures
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str) -> list[float]:
        cutoff = self._clock() - self._window
        times = [t for t in self._failures.get(key, []) if t > cutoff]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, keys: Iterable[str]) -> bool:
        """Whether any key has used up its failures."""
        return any(len(self._recent(key)) >= self._max for key in keys)

    def failed(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.setdefault(key, []).append(self._clock())
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


def _iso(when: Optional[datetime]) -> Optional[str]:
    return when.isoformat() if when is not None else None


def _agent_json(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "name": agent.display_name, "username": agent.username}


def handoff_json(handoff: Handoff, now: datetime) -> dict[str, Any]:
    """A handoff as the console shows it (summary fields carry no secrets: see bot.handoff.summary)."""
    summary = dict(handoff.summary or {})
    end = handoff.claimed_at or handoff.closed_at or now
    return {
        "id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "channel": handoff.channel,
        "channel_label": CHANNEL_LABELS.get(handoff.channel, handoff.channel),
        "status": handoff.status,
        "status_label": STATUS_LABELS.get(handoff.status, handoff.status),
        "reason": handoff.reason,
        "headline": summary.get("headline") or "",
        "summary": summary,
        "message": handoff.message,
        "ticket_no": handoff.ticket_no,
        "queued_at": _iso(handoff.queued_at),
        "claimed_at": _iso(handoff.claimed_at),
        "closed_at": _iso(handoff.closed_at),
        "waiting_seconds": max(0, int((end - handoff.queued_at).total_seconds())),
        "claimed_by": (
            {"id": handoff.agent.id, "name": handoff.agent.display_name}
            if handoff.agent is not None
            else None
        ),
        "resolution": handoff.resolution,
    }


def transcript_from_events(events: Iterable[Event], limit: int = TRANSCRIPT_LIMIT) -> list[dict[str, Any]]:
    """The conversation as an agent reads it: subscriber, bot and agent messages, and handoff marks.

    Texts are as stored in the tracker (the channel guard masked secrets before Rasa saw them).
    A user message that is a button's payload shows the button's title.
    """
    items: list[dict[str, Any]] = []
    offered: list[dict[str, str]] = []
    for event in events:
        if isinstance(event, UserUttered):
            text = shown_user_text(event.text or "", offered)
            items.append({"from": "user", "text": text, "time": event.timestamp})
        elif isinstance(event, BotUttered):
            metadata = event.metadata or {}
            buttons = button_list(event.data or {})
            text = (event.text or "").strip()
            if buttons:
                text = "\n".join(filter(None, [text, "［选项］" + " / ".join(b["title"] for b in buttons)]))
            if not text:
                continue
            item: dict[str, Any] = {"from": "bot", "text": text, "time": event.timestamp}
            if metadata.get("agent_id") is not None:
                item["from"] = "agent"
                item["agent_id"] = metadata.get("agent_id")
                item["agent"] = metadata.get("agent_name") or ""
            items.append(item)
            offered = buttons or offered
        elif isinstance(event, ConversationPaused):
            items.append({"from": "system", "text": "已转人工，机器人暂停回复", "time": event.timestamp})
        elif isinstance(event, ConversationResumed):
            items.append({"from": "system", "text": "已转回机器人", "time": event.timestamp})
        elif isinstance(event, SessionStarted) and items:
            items.append({"from": "system", "text": "新的会话", "time": event.timestamp})
    return items[-limit:]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - Sanic raises its own error for unparseable JSON
        body = None
    return body if isinstance(body, dict) else {}


def _text_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_TEXT:
        raise ApiError(400, EMPTY_TEXT)
    return text


def _default_services() -> Services:
    from bot.app import get_services

    return get_services()


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
        self._services = services or _default_services
        self.dist_dir = dist_dir or DIST_DIR
        self.throttle = throttle or LoginThrottle()
        self._app: Optional[Sanic] = None

    # -- the store -----------------------------------------------------------------------------

    async def _in_store(self, work: Callable[[Session, datetime, Services], T]) -> T:
        """Runs ``work`` in one transaction in a worker thread (the store is synchronous)."""
        from bot.db import StoreUnavailable
        from bot.handoff.errors import (
            AlreadyClaimed,
            HandoffNotFound,
            InvalidText,
            InvalidTransition,
            NotHolder,
        )

        def run() -> T:
            services = self._services()
            with services.store.transaction() as session:
                return work(session, services.clock.now(), services)

        try:
            return await asyncio.to_thread(run)
        except HandoffNotFound:
            raise ApiError(404, NOT_FOUND) from None
        except AlreadyClaimed as exc:
            raise ApiError(
                409, f"该会话已由{exc.agent_name or '其他客服'}接入，您不能再接入或操作。"
            ) from None
        except NotHolder:
            raise ApiError(403, NOT_HOLDER) from None
        except InvalidTransition as exc:
            status = STATUS_LABELS.get(exc.status, exc.status)
            operation = OPERATION_LABELS.get(exc.operation, exc.operation)
            raise ApiError(409, f"该会话当前状态为“{status}”，不能{operation}。") from None
        except InvalidText:
            raise ApiError(400, EMPTY_TEXT) from None
        except StoreUnavailable:
            logger.warning("the store is unavailable for the agent console")
            raise ApiError(503, STORE_DOWN) from None

    async def _as_agent(self, request: Request, work: Callable[[Session, Agent, datetime, Services], T]) -> T:
        """Checks the request's token and runs ``work`` for its agent, in the same transaction.

        Raises:
            ApiError: 401 for a missing, expired or revoked token; the errors of ``_in_store``.
        """
        from bot.handoff import service

        token = _bearer(request)
        if not token:
            raise ApiError(401, UNAUTHORIZED)
        touch = (request.headers.get(AUTO_REFRESH_HEADER) or "").lower() != "auto"

        def checked(session: Session, now: datetime, services: Services) -> T:
            agent = service.agent_for_token(session, token, now, services.settings, touch=touch)
            if agent is None:
                raise ApiError(401, UNAUTHORIZED)
            return work(session, agent, now, services)

        return await self._in_store(checked)

    # -- the conversation's tracker -----------------------------------------------------------

    @staticmethod
    def _rasa_agent(app: Sanic) -> Any:
        agent = getattr(app.ctx, "agent", None)
        if agent is None or agent.tracker_store is None or agent.lock_store is None:
            raise ApiError(503, BOT_NOT_READY)
        return agent

    async def _append(self, app: Sanic, conversation_id: str, events: list[Event]) -> None:
        """Appends ``events`` to the conversation's tracker under its lock, as Rasa's API does."""
        agent = self._rasa_agent(app)
        async with agent.lock_store.lock(conversation_id):
            tracker = await agent.tracker_store.get_or_create_tracker(
                conversation_id, append_action_listen=False
            )
            for event in events:
                tracker.update(event, agent.domain)
            await agent.tracker_store.save(tracker)

    async def _transcript(self, app: Sanic, conversation_id: str) -> list[dict[str, Any]]:
        agent = self._rasa_agent(app)
        tracker = await agent.tracker_store.retrieve_full_tracker(conversation_id)
        return transcript_from_events(tracker.events) if tracker is not None else []

    # -- live updates --------------------------------------------------------------------------

    def _socketio(self, app: Sanic) -> Optional[SocketIOTarget]:
        return hub_for(app).socketio

    async def _announce(self, app: Sanic, handoff_id: Optional[int], queue: bool) -> None:
        """Tells watching consoles that a handoff (and the queue) changed; best effort."""
        target = self._socketio(app)
        if target is None:
            return
        try:
            if handoff_id is not None:
                await target.sio.emit(
                    "handoff_changed",
                    {"handoff_id": handoff_id},
                    room=f"handoff:{handoff_id}",
                    namespace=NAMESPACE,
                )
            if queue:
                await target.sio.emit("queue_changed", {}, room=QUEUE_ROOM, namespace=NAMESPACE)
        except Exception:  # noqa: BLE001 - consoles also refresh on their own
            logger.warning("telling the agent consoles about a change failed", exc_info=True)

    async def _subscriber_wrote(self, conversation_id: str, channel: str) -> None:
        """A subscriber's message was recorded: consoles watching its open handoff read it."""
        from bot.handoff import service

        if self._app is None:
            return

        def find(session: Session, now: datetime, services: Services) -> Optional[tuple[int, str]]:
            handoff = service.open_handoff_for(session, conversation_id)
            return (handoff.id, handoff.status) if handoff is not None else None

        try:
            found = await self._in_store(find)
        except ApiError:
            return
        if found is not None:
            await self._announce(self._app, found[0], queue=found[1] == "queued")

    def _attach_namespace(self, target: SocketIOTarget) -> None:
        """The ``/agent`` namespace on the widget's socket.io server: token on connect, rooms."""
        from socketio.exceptions import ConnectionRefusedError as Refused

        from bot.handoff import service

        sio = target.sio

        async def valid(token: Any) -> bool:
            if not isinstance(token, str) or not token:
                return False

            def check(session: Session, now: datetime, services: Services) -> bool:
                return (
                    service.agent_for_token(session, token, now, services.settings, touch=False) is not None
                )

            try:
                return await self._in_store(check)
            except ApiError:
                return False

        async def drop(sid: str) -> None:
            await asyncio.sleep(0.5)
            await sio.disconnect(sid, namespace=NAMESPACE)

        @sio.on("connect", namespace=NAMESPACE)
        async def connect(sid: str, environ: dict[str, Any], auth: Optional[dict[str, Any]] = None) -> None:
            token = auth.get("token") if isinstance(auth, dict) else None
            if not await valid(token):
                raise Refused("unauthorized")
            await sio.save_session(sid, {"token": token}, namespace=NAMESPACE)
            await sio.enter_room(sid, QUEUE_ROOM, namespace=NAMESPACE)

        @sio.on("watch", namespace=NAMESPACE)
        async def watch(sid: str, data: Any = None) -> dict[str, Any]:
            session = await sio.get_session(sid, namespace=NAMESPACE)
            if not await valid(session.get("token")):
                for room in sio.rooms(sid, namespace=NAMESPACE):
                    if room != sid:
                        await sio.leave_room(sid, room, namespace=NAMESPACE)
                sio.start_background_task(drop, sid)  # after this answer has gone out
                return {"error": "unauthorized"}
            for room in sio.rooms(sid, namespace=NAMESPACE):
                if room.startswith("handoff:"):
                    await sio.leave_room(sid, room, namespace=NAMESPACE)
            handoff_id = data.get("handoff_id") if isinstance(data, dict) else None
            if isinstance(handoff_id, int) and handoff_id > 0:
                await sio.enter_room(sid, f"handoff:{handoff_id}", namespace=NAMESPACE)
                return {"watching": handoff_id}
            return {"watching": None}

    def _bind(self, app: Sanic) -> None:
        self._app = app
        hub = hub_for(app)
        hub.on_user_message(self._subscriber_wrote)
        hub.when_socketio(self._attach_namespace)

    # -- HTTP ----------------------------------------------------------------------------------

    def _file(self, name: str) -> HTTPResponse:
        path = self.dist_dir / name
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            logger.warning("web/dist/agent/%s is missing: build the console with `make web`", name)
            return response.text("客服工作台尚未构建，请先运行 make web。", status=404)
        return response.raw(body, content_type=_CONTENT_TYPES[path.suffix], headers=_PAGE_HEADERS)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        from bot.handoff import service

        hook = Blueprint(f"agent_console_{id(self)}", __name__)
        console = self

        @hook.listener("before_server_start")
        async def bind(app: Sanic, *_: Any) -> None:
            console._bind(app)

        def api(
            handler: Callable[..., Awaitable[HTTPResponse]],
        ) -> Callable[..., Awaitable[HTTPResponse]]:
            async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                try:
                    reply = await handler(request, *args, **kwargs)
                except ApiError as exc:
                    reply = response.json({"error": exc.message}, status=exc.status)
                    if exc.status == 401:
                        reply.headers["WWW-Authenticate"] = 'Bearer realm="agent-console"'
                reply.headers.update(_API_HEADERS)
                return reply

            wrapped.__name__ = handler.__name__
            return wrapped

        @hook.route("/", methods=["GET"])
        async def page(_: Request) -> HTTPResponse:
            return self._file("index.html")

        @hook.route("/console.js", methods=["GET"])
        async def script(_: Request) -> HTTPResponse:
            return self._file("console.js")

        @hook.route("/console.css", methods=["GET"])
        async def style(_: Request) -> HTTPResponse:
            return self._file("console.css")

        @hook.route("/api/login", methods=["POST"])
        @api
        async def login(request: Request) -> HTTPResponse:
            from bot.handoff.errors import InvalidCredentials

            body = _json_body(request)
            raw_username, raw_password = body.get("username"), body.get("password")
            username = raw_username.strip()[:40] if isinstance(raw_username, str) else ""
            password = raw_password if isinstance(raw_password, str) else ""
            if not username or not password:
                raise ApiError(400, "请输入用户名和密码。")
            keys = [f"user:{username.lower()}", f"addr:{request.remote_addr or request.ip}"]
            if self.throttle.blocked(keys):
                raise ApiError(429, TOO_MANY_LOGINS)

            def sign_in(session: Session, now: datetime, services: Services) -> Optional[dict[str, Any]]:
                try:
                    issued = service.authenticate(session, username, password[:200], now, services.settings)
                except InvalidCredentials:
                    return None
                return {
                    "token": issued.token,
                    "expires_at": _iso(issued.expires_at),
                    "agent": {"id": issued.agent_id, "name": issued.display_name, "username": username},
                }

            signed_in = await self._in_store(sign_in)
            if signed_in is None:
                self.throttle.failed(keys)
                logger.info("an agent console sign-in failed")
                raise ApiError(401, BAD_LOGIN)
            self.throttle.succeeded(keys[0])
            logger.info("agent %s signed in to the console", signed_in["agent"]["id"])
            return response.json(signed_in)

        @hook.route("/api/logout", methods=["POST"])
        @api
        async def logout(request: Request) -> HTTPResponse:
            token = _bearer(request)

            def sign_out(session: Session, agent: Agent, now: datetime, services: Services) -> bool:
                return service.revoke(session, token, now)

            await self._as_agent(request, sign_out)
            return response.json({"ok": True})

        @hook.route("/api/me", methods=["GET"])
        @api
        async def me(request: Request) -> HTTPResponse:
            found = await self._as_agent(request, lambda session, agent, now, services: _agent_json(agent))
            return response.json({"agent": found})

        @hook.route("/api/queue", methods=["GET"])
        @api
        async def queue(request: Request) -> HTTPResponse:
            def read(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
                return {
                    "handoffs": [handoff_json(h, now) for h in service.queue(session)],
                    "tickets": [handoff_json(h, now) for h in service.tickets(session)],
                    "agents_online": service.agents_online(session, now, services.settings),
                    "now": _iso(now),
                }

            return response.json(await self._as_agent(request, read))

        @hook.route("/api/handoffs/<handoff_id:int>", methods=["GET"])
        @api
        async def handoff(request: Request, handoff_id: int) -> HTTPResponse:
            def read(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
                found = service.get_handoff(session, handoff_id)
                return {
                    "handoff": handoff_json(found, now),
                    "notes": [
                        {
                            "id": n.id,
                            "agent": n.agent.display_name if n.agent is not None else "",
                            "text": n.body,
                            "time": _iso(n.created_at),
                        }
                        for n in service.notes(session, handoff_id)
                    ],
                    "me": _agent_json(agent),
                }

            view = await self._as_agent(request, read)
            view["transcript"] = await self._transcript(request.app, view["handoff"]["conversation_id"])
            return response.json(view)

        @hook.route("/api/handoffs/<handoff_id:int>/claim", methods=["POST"])
        @api
        async def claim(request: Request, handoff_id: int) -> HTTPResponse:
            def take(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
                return handoff_json(service.claim(session, handoff_id, agent, now), now)

            claimed = await self._as_agent(request, take)
            await self._announce(request.app, handoff_id, queue=True)
            return response.json({"handoff": claimed})

        @hook.route("/api/handoffs/<handoff_id:int>/messages", methods=["POST"])
        @api
        async def reply(request: Request, handoff_id: int) -> HTTPResponse:
            from bot.handoff.errors import InvalidTransition, NotHolder

            body = _json_body(request)

            def held(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
                text = _text_field(body, "text")  # after the token: no hints without one
                found = service.get_handoff(session, handoff_id)
                if found.status != "claimed":
                    raise InvalidTransition(handoff_id, found.status, "reply")
                if found.claimed_by != agent.id:
                    raise NotHolder(handoff_id)
                return {"handoff": handoff_json(found, now), "agent": _agent_json(agent), "text": text}

            checked = await self._as_agent(request, held)
            text = checked["text"]
            conversation = checked["handoff"]
            agent = checked["agent"]
            await self._append(
                request.app,
                conversation["conversation_id"],
                [BotUttered(text, data={}, metadata={"agent_id": agent["id"], "agent_name": agent["name"]})],
            )
            delivered = await self._deliver(request.app, conversation, text, agent["name"])
            await self._announce(request.app, handoff_id, queue=False)
            return response.json({"delivered": delivered, "channel": conversation["channel"]})

        @hook.route("/api/handoffs/<handoff_id:int>/notes", methods=["POST"])
        @api
        async def note(request: Request, handoff_id: int) -> HTTPResponse:
            body = _json_body(request)

            def write(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
                added = service.add_note(session, handoff_id, agent, _text_field(body, "text"), now)
                return {"id": added.id, "agent": agent.display_name, "text": added.body, "time": _iso(now)}

            written = await self._as_agent(request, write)
            await self._announce(request.app, handoff_id, queue=False)
            return response.json({"note": written})

        @hook.route("/api/handoffs/<handoff_id:int>/hand-back", methods=["POST"])
        @api
        async def hand_back(request: Request, handoff_id: int) -> HTTPResponse:
            def give_back(
                session: Session, agent: Agent, now: datetime, services: Services
            ) -> dict[str, Any]:
                returned = service.hand_back(session, handoff_id, agent, now)
                return {"handoff": handoff_json(returned, now), "agent": _agent_json(agent)}

            done = await self._as_agent(request, give_back)
            await self._resume(request.app, done["handoff"], done["agent"], HANDED_BACK_TEXT, "returned")
            await self._announce(request.app, handoff_id, queue=True)
            return response.json({"handoff": done["handoff"]})

        @hook.route("/api/handoffs/<handoff_id:int>/close", methods=["POST"])
        @api
        async def close(request: Request, handoff_id: int) -> HTTPResponse:
            body = _json_body(request)

            def finish(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
                resolution = _text_field(body, "resolution")
                was = service.get_handoff(session, handoff_id).status
                closed = service.close(session, handoff_id, agent, resolution, now)
                return {"handoff": handoff_json(closed, now), "agent": _agent_json(agent), "was": was}

            done = await self._as_agent(request, finish)
            if done["was"] == "claimed":  # a ticket's conversation was never paused
                await self._resume(request.app, done["handoff"], done["agent"], CLOSED_TEXT, "closed")
            await self._announce(request.app, handoff_id, queue=True)
            return response.json({"handoff": done["handoff"]})

        return hook

    async def _resume(
        self, app: Sanic, handoff: dict[str, Any], agent: dict[str, Any], text: str, outcome: str
    ) -> None:
        """The bot takes over again: a line to the subscriber, ``ConversationResumed``, a listen."""
        await self._append(
            app,
            handoff["conversation_id"],
            [
                BotUttered(text, data={}, metadata={"handoff": outcome, "handed_back_by": agent["id"]}),
                ConversationResumed(),
                ActionExecuted(ACTION_LISTEN_NAME),
            ],
        )
        hub = hub_for(app)
        try:
            if handoff["channel"] == "socketio" and hub.socketio is not None:
                target = hub.socketio
                await target.sio.emit(
                    target.bot_message_evt,
                    {"text": text},
                    room=handoff["conversation_id"],
                    namespace=target.namespace,
                )
            elif handoff["channel"] == "wechat" and hub.wechat is not None:
                await hub.wechat(handoff["conversation_id"], text)
        except Exception:  # noqa: BLE001 - the tracker has it; the subscriber sees it in the history
            logger.warning("telling the subscriber that the bot is back failed", exc_info=True)

    async def _deliver(self, app: Sanic, handoff: dict[str, Any], text: str, agent_name: str) -> bool:
        try:
            return await hub_for(app).deliver(
                handoff["channel"], handoff["conversation_id"], text, agent_name
            )
        except Exception:  # noqa: BLE001 - recorded in the tracker already; the console says "not delivered"
            logger.warning("delivering an agent's message on %s failed", handoff["channel"], exc_info=True)
            return False
