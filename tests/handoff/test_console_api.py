"""The agent console's API and live updates in a real Sanic server, on a real SQLite store.

The console is mounted next to the web widget's socket.io channel, as in credentials.yml; Rasa is
replaced by an in-memory tracker store and a handler that records each turn (tests/channels).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Optional

import aiohttp
import pytest
import socketio
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    UserUttered,
)

from bot.app import Services
from bot.channels.agent_console import AgentConsoleInput, LoginThrottle, transcript_from_events
from bot.channels.guard import SecretGuard
from bot.channels.socketio import GuardedSocketIOInput, SessionSigner
from bot.clock import FixedClock
from bot.db import Store
from bot.handoff import agents, handoffs
from bot.handoff.models import Handoff
from bot.settings import settings_from_env
from tests.support.sanic_server import serve
from tests.support.settings import SETTINGS
from tests.support.socketio import Client, FakeRasa, NoVerification

PASSWORD = "agent-password-for-tests"
SUMMARY = {
    "headline": "用户要求转人工；已验证 138****8000；诉求：查询余额",
    "wanted": ["查询余额"],
    "verified": True,
    "masked_phone": "138****8000",
    "tried": ["查询余额"],
    "problems": [],
    "flagged_charges": [],
}
REDIS_URL = os.environ.get("BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Every route that needs a token: (method, path).
PROTECTED = [
    ("POST", "api/logout"),
    ("GET", "api/me"),
    ("GET", "api/queue"),
    ("GET", "api/handoffs/1"),
    ("POST", "api/handoffs/1/claim"),
    ("POST", "api/handoffs/1/messages"),
    ("POST", "api/handoffs/1/notes"),
    ("POST", "api/handoffs/1/hand-back"),
    ("POST", "api/handoffs/1/close"),
]


@dataclass
class Console:
    """The servers, the store and an HTTP session, with helpers speaking the console's API."""

    url: str
    store: Store
    clock: FixedClock
    trackers: InMemoryTrackerStore
    widget: GuardedSocketIOInput
    http: aiohttp.ClientSession
    sockets: list[socketio.AsyncClient] = field(default_factory=list)

    def api(self, path: str) -> str:
        return f"{self.url}/webhooks/agent/{path}"

    async def request(
        self, method: str, path: str, token: Optional[str] = None, json: Any = None, **headers: str
    ) -> tuple[int, dict[str, Any]]:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.api(path), json=json, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)

    async def login(self, username: str, password: str = PASSWORD) -> str:
        status, body = await self.request(
            "POST", "api/login", json={"username": username, "password": password}
        )
        assert status == 200, body
        return str(body["token"])

    def queue_handoff(self, conversation_id: str, channel: str = "socketio") -> int:
        with self.store.transaction() as session:
            return handoffs.enqueue(
                session, conversation_id, channel, "requested", SUMMARY, self.clock.now(), subscriber_id=None
            ).id

    async def paused_conversation(self, conversation_id: str) -> None:
        """What action_handoff leaves in the tracker: the request, the queued reply, a pause and a listen."""
        tracker = await self.trackers.get_or_create_tracker(conversation_id, append_action_listen=False)
        for event in (
            UserUttered("转人工", message_id=uuid.uuid4().hex),
            BotUttered("已为您转接人工客服，您当前排在第 1 位。"),
            ConversationPaused(),
            ActionExecuted(ACTION_LISTEN_NAME),
        ):
            tracker.update(event)
        await self.trackers.save(tracker)

    async def events(self, conversation_id: str) -> list[Any]:
        tracker = await self.trackers.retrieve(conversation_id)
        assert tracker is not None
        return list(tracker.events)

    async def subscriber(self) -> tuple[Client, str]:
        """A widget connected to the socket.io channel, with its session id."""
        sio = socketio.AsyncClient(reconnection=False)
        client = Client(sio)
        await sio.connect(self.url, transports=["polling"], socketio_path="/socket.io")
        self.sockets.append(sio)
        session = await client.session()
        return client, str(session["session_id"])

    async def console_socket(self, token: Optional[str]) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
        """A console's live connection to the /agent namespace; its events land in the queue."""
        sio = socketio.AsyncClient(reconnection=False)
        heard: asyncio.Queue[Any] = asyncio.Queue()
        sio.on("queue_changed", lambda data: heard.put_nowait(("queue_changed", data)), namespace="/agent")
        sio.on(
            "handoff_changed", lambda data: heard.put_nowait(("handoff_changed", data)), namespace="/agent"
        )
        self.sockets.append(sio)
        await sio.connect(
            self.url,
            transports=["polling"],
            socketio_path="/socket.io",
            namespaces=["/agent"],
            auth={"token": token} if token else None,
            wait_timeout=5,
        )
        return sio, heard


def _add_agents(store: Store, clock: FixedClock) -> None:
    with store.transaction() as session:
        agents.create_agent(session, "alice", "客服小王", PASSWORD, clock.now(), SETTINGS)
        agents.create_agent(session, "bob", "客服小李", PASSWORD, clock.now(), SETTINGS)


@pytest.fixture
async def console(sqlite_store: Store, clock: FixedClock) -> AsyncIterator[Console]:
    _add_agents(sqlite_store, clock)
    services = Services.build(settings=SETTINGS, store=sqlite_store, clock=clock)
    trackers = InMemoryTrackerStore(Domain.empty())
    rasa = FakeRasa(trackers)
    widget = GuardedSocketIOInput(signer=SessionSigner(lambda: "test-key" * 4), redis_url="")
    widget.guard = SecretGuard(lambda: NoVerification())  # type: ignore[arg-type, return-value]
    channel = AgentConsoleInput(services=lambda: services)
    agent = SimpleNamespace(
        tracker_store=trackers, lock_store=InMemoryLockStore(), domain=Domain.empty(), handle_message=rasa
    )
    async with serve([widget, channel], agent) as (url, _):
        assert widget.sio is not None
        widget.sio.eio.ping_interval, widget.sio.eio.ping_timeout = 0.2, 1  # long polls end quickly
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            harness = Console(url, sqlite_store, clock, trackers, widget, http)
            try:
                yield harness
            finally:
                for sio in harness.sockets:  # ended from the server's side: no long poll to wait out
                    if sio.connected:
                        for namespace in list(sio.namespaces):
                            await widget.sio.disconnect(sio.get_sid(namespace), namespace=namespace)
                        await sio.wait()


async def until(queue: asyncio.Queue[Any], event: str, seconds: float = 5) -> Any:
    """The data of the next ``event`` in ``queue`` (others are skipped)."""

    async def wait() -> Any:
        while True:
            name, data = await queue.get()
            if name == event:
                return data

    return await asyncio.wait_for(wait(), seconds)


# --- tokens ------------------------------------------------------------------------------------


async def test_every_api_route_refuses_a_missing_or_unknown_token(console: Console) -> None:
    for method, path in PROTECTED:
        for token in (None, "", "not-a-token", "x" * 43):
            status, body = await console.request(method, path, token, json={"text": "hi", "resolution": "ok"})
            assert (status, body) == (401, {"error": "登录已失效，请重新登录。"}), (method, path, token)
    async with console.http.get(console.api("api/queue")) as reply:
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert reply.headers["Cache-Control"] == "no-store"


async def test_the_console_page_loads_without_a_token_but_holds_no_data(console: Console) -> None:
    async with console.http.get(console.api("")) as reply:
        page = await reply.text()
        assert reply.status == 200 and "人工客服工作台" in page
        assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    console.queue_handoff("web-" + "1" * 32)
    assert "138****8000" not in page and "web-" not in page
    async with console.http.get(console.api("console.js")) as reply:
        assert reply.status == 200 and reply.content_type == "text/javascript"


async def test_a_token_expires_absolutely_and_after_idle_time(console: Console) -> None:
    token = await console.login("alice")
    assert (await console.request("GET", "api/queue", token))[0] == 200
    # Idle: automatic refreshes do not count as activity, an agent's own request does.
    console.clock.advance(minutes=20)
    assert (await console.request("GET", "api/queue", token, **{"X-Console-Refresh": "auto"}))[0] == 200
    console.clock.advance(minutes=11)
    assert (await console.request("GET", "api/queue", token))[0] == 401

    token = await console.login("alice")
    minutes = 0
    while minutes < 24 * 60:  # active every 29 minutes: the idle window slides, until the 8 hours are up
        console.clock.advance(minutes=29)
        minutes += 29
        if (await console.request("GET", "api/me", token))[0] != 200:
            break
    assert SETTINGS.agent_session_hours * 60 <= minutes < SETTINGS.agent_session_hours * 60 + 29


async def test_signing_out_revokes_the_token(console: Console) -> None:
    token = await console.login("alice")
    other = await console.login("alice")  # another tab: its own sign-in
    status, body = await console.request("POST", "api/logout", token)
    assert (status, body) == (200, {"ok": True})
    for method, path in PROTECTED:
        assert (await console.request(method, path, token))[0] == 401, path
    assert (await console.request("GET", "api/me", other))[1]["agent"]["name"] == "客服小王"


async def test_a_wrong_password_is_refused_alike_and_repeated_failures_are_throttled(
    console: Console,
) -> None:
    wrong = await console.request(
        "POST", "api/login", json={"username": "alice", "password": "wrong-password"}
    )
    unknown = await console.request("POST", "api/login", json={"username": "nobody", "password": PASSWORD})
    assert wrong == unknown == (401, {"error": "用户名或密码不正确。"})
    assert (await console.request("POST", "api/login", json={"username": "alice"}))[0] == 400
    for _ in range(4):
        await console.request("POST", "api/login", json={"username": "alice", "password": "wrong-password"})
    status, body = await console.request(
        "POST", "api/login", json={"username": "alice", "password": PASSWORD}
    )
    assert status == 429 and "次数过多" in body["error"]


def test_the_throttle_forgets_failures_after_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window=60, clock=lambda: now[0])
    throttle.failed(["user:a"])
    throttle.failed(["user:a"])
    assert throttle.blocked(["user:a", "addr:x"]) and not throttle.blocked(["user:b"])
    now[0] = 61
    assert not throttle.blocked(["user:a"])


# --- the queue and one conversation --------------------------------------------------------


async def test_one_agent_claims_and_the_other_can_neither_claim_nor_act(console: Console) -> None:
    conversation = "web-" + "2" * 32
    await console.paused_conversation(conversation)
    handoff_id = console.queue_handoff(conversation)
    alice, bob = await console.login("alice"), await console.login("bob")

    status, queue = await console.request("GET", "api/queue", bob)
    assert status == 200
    [listed] = queue["handoffs"]
    assert listed["id"] == handoff_id and listed["status"] == "queued" and listed["status_label"] == "排队中"
    assert listed["summary"]["masked_phone"] == "138****8000" and listed["channel_label"] == "网页"

    status, claimed = await console.request("POST", f"api/handoffs/{handoff_id}/claim", alice)
    assert status == 200 and claimed["handoff"]["claimed_by"]["name"] == "客服小王"
    assert (await console.request("POST", f"api/handoffs/{handoff_id}/claim", alice))[0] == 200  # again: fine

    status, body = await console.request("POST", f"api/handoffs/{handoff_id}/claim", bob)
    assert status == 409 and body["error"] == "该会话已由客服小王接入，您不能再接入或操作。"
    for path, payload in (
        ("messages", {"text": "我来处理"}),
        ("hand-back", None),
        ("close", {"resolution": "已处理"}),
    ):
        status, body = await console.request("POST", f"api/handoffs/{handoff_id}/{path}", bob, json=payload)
        assert (status, body) == (403, {"error": "该会话不是由您接入的，不能进行此操作。"}), path
    assert not [e for e in await console.events(conversation) if isinstance(e, BotUttered) and e.metadata]

    # Any agent may read the conversation and write an internal note.
    status, view = await console.request("GET", f"api/handoffs/{handoff_id}", bob)
    assert status == 200 and [t["text"] for t in view["transcript"] if t["from"] == "user"] == ["转人工"]
    status, _ = await console.request(
        "POST", f"api/handoffs/{handoff_id}/notes", bob, json={"text": "老用户"}
    )
    assert status == 200
    assert (await console.request("POST", f"api/handoffs/{handoff_id}/notes", bob, json={"text": " "}))[
        0
    ] == 400
    assert (await console.request("GET", "api/handoffs/999", bob))[0] == 404


async def test_an_agents_reply_is_recorded_with_its_agent_and_reaches_the_widget_live(
    console: Console,
) -> None:
    widget, conversation = await console.subscriber()
    await console.paused_conversation(conversation)
    handoff_id = console.queue_handoff(conversation)
    token = await console.login("alice")

    status, body = await console.request(
        "POST", f"api/handoffs/{handoff_id}/messages", token, json={"text": "在吗"}
    )
    assert status == 409 and "排队中" in body["error"]  # claim first

    await console.request("POST", f"api/handoffs/{handoff_id}/claim", token)
    status, body = await console.request(
        "POST",
        f"api/handoffs/{handoff_id}/messages",
        token,
        json={"text": "您好，我是客服小王，请问有什么可以帮您？"},
    )
    assert (status, body) == (200, {"delivered": True, "channel": "socketio"})
    for _ in range(50):
        if widget.bot:
            break
        await asyncio.sleep(0.1)
    assert widget.bot == [{"text": "您好，我是客服小王，请问有什么可以帮您？", "agent": "客服小王"}]

    agent_id = (await console.request("GET", "api/me", token))[1]["agent"]["id"]
    recorded = [e for e in await console.events(conversation) if isinstance(e, BotUttered)][-1]
    assert recorded.text == "您好，我是客服小王，请问有什么可以帮您？"
    assert recorded.metadata == {"agent_id": agent_id, "agent_name": "客服小王"}

    # The widget's history after a reload names the agent; the console's transcript marks the message.
    history = await widget.history()
    assert history["messages"][-1]["agent"] == "客服小王"
    view = (await console.request("GET", f"api/handoffs/{handoff_id}", token))[1]
    assert [(t["from"], t.get("agent")) for t in view["transcript"]][-1] == ("agent", "客服小王")
    assert [t["from"] for t in view["transcript"]] == ["user", "bot", "system", "agent"]


async def test_a_rest_conversation_records_the_reply_but_cannot_push_it(console: Console) -> None:
    await console.paused_conversation("app-user-1")
    handoff_id = console.queue_handoff("app-user-1", channel="rest")
    token = await console.login("alice")
    await console.request("POST", f"api/handoffs/{handoff_id}/claim", token)
    status, body = await console.request(
        "POST", f"api/handoffs/{handoff_id}/messages", token, json={"text": "您好"}
    )
    assert (status, body) == (200, {"delivered": False, "channel": "rest"})
    assert [e.text for e in await console.events("app-user-1") if isinstance(e, BotUttered)][-1] == "您好"


async def test_handing_back_resumes_the_bot_and_tells_the_subscriber(console: Console) -> None:
    widget, conversation = await console.subscriber()
    await console.paused_conversation(conversation)
    handoff_id = console.queue_handoff(conversation)
    token = await console.login("alice")
    await console.request("POST", f"api/handoffs/{handoff_id}/claim", token)

    status, body = await console.request("POST", f"api/handoffs/{handoff_id}/hand-back", token)
    assert status == 200 and body["handoff"]["status"] == "returned"
    events = await console.events(conversation)
    assert isinstance(events[-2], ConversationResumed) and events[-1] == ActionExecuted(ACTION_LISTEN_NAME)
    tracker = await console.trackers.retrieve(conversation)
    assert tracker is not None and not tracker.is_paused()
    for _ in range(50):
        if widget.bot:
            break
        await asyncio.sleep(0.1)
    assert widget.bot and "转回智能助手" in widget.bot[-1]["text"] and "agent" not in widget.bot[-1]

    status, body = await console.request(
        "POST", f"api/handoffs/{handoff_id}/messages", token, json={"text": "还在"}
    )
    assert status == 409 and "已转回机器人" in body["error"]
    assert (await console.request("POST", f"api/handoffs/{handoff_id}/hand-back", token))[0] == 409


async def test_closing_needs_a_resolution_and_resumes_the_bot(console: Console) -> None:
    conversation = "web-" + "3" * 32
    await console.paused_conversation(conversation)
    handoff_id = console.queue_handoff(conversation)
    token = await console.login("alice")
    await console.request("POST", f"api/handoffs/{handoff_id}/claim", token)

    status, body = await console.request(
        "POST", f"api/handoffs/{handoff_id}/close", token, json={"resolution": ""}
    )
    assert (status, body) == (400, {"error": "内容不能为空，且不能超过2000字。"})
    status, body = await console.request(
        "POST", f"api/handoffs/{handoff_id}/close", token, json={"resolution": "已解释扣费，用户认可"}
    )
    assert status == 200 and body["handoff"]["status"] == "closed"
    assert body["handoff"]["resolution"] == "已解释扣费，用户认可"
    tracker = await console.trackers.retrieve(conversation)
    assert tracker is not None and not tracker.is_paused()
    with console.store.transaction() as session:
        assert session.get(Handoff, handoff_id).resolution == "已解释扣费，用户认可"
    assert (await console.request("GET", "api/queue", token))[1]["handoffs"] == []


def test_the_transcript_shows_every_side_and_the_handoff_marks() -> None:
    events = [
        UserUttered("查一下余额", timestamp=1.0),
        BotUttered(
            "请提供手机号码。", data={"buttons": [{"title": "好的", "payload": "/affirm"}]}, timestamp=2.0
        ),
        UserUttered("/affirm", timestamp=3.0),
        ConversationPaused(timestamp=4.0),
        BotUttered("您好", metadata={"agent_id": 7, "agent_name": "客服小王"}, timestamp=5.0),
        ConversationResumed(timestamp=6.0),
    ]
    assert transcript_from_events(events) == [
        {"from": "user", "text": "查一下余额", "time": 1.0},
        {"from": "bot", "text": "请提供手机号码。\n［选项］好的", "time": 2.0},
        {"from": "user", "text": "好的", "time": 3.0},
        {"from": "system", "text": "已转人工，机器人暂停回复", "time": 4.0},
        {"from": "agent", "text": "您好", "time": 5.0, "agent_id": 7, "agent": "客服小王"},
        {"from": "system", "text": "已转回机器人", "time": 6.0},
    ]


# --- live updates ------------------------------------------------------------------------------


async def test_the_live_namespace_refuses_a_missing_or_expired_token(console: Console) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await console.console_socket(None)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await console.console_socket("forged-token")
    token = await console.login("alice")
    console.clock.advance(hours=9)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await console.console_socket(token)


async def test_consoles_hear_of_claims_and_of_the_subscribers_new_messages(console: Console) -> None:
    widget, conversation = await console.subscriber()
    await console.paused_conversation(conversation)
    handoff_id = console.queue_handoff(conversation)
    token = await console.login("alice")
    sio, heard = await console.console_socket(token)
    assert await sio.call("watch", {"handoff_id": handoff_id}, namespace="/agent", timeout=5) == {
        "watching": handoff_id
    }

    await console.request("POST", f"api/handoffs/{handoff_id}/claim", token)
    assert await until(heard, "handoff_changed") == {"handoff_id": handoff_id}
    assert await until(heard, "queue_changed") == {}

    assert (await widget.say("我的话费怎么多扣了"))["status"] == "ok"
    assert await until(heard, "handoff_changed") == {"handoff_id": handoff_id}
    view = (await console.request("GET", f"api/handoffs/{handoff_id}", token))[1]
    assert "我的话费怎么多扣了" in [t["text"] for t in view["transcript"] if t["from"] == "user"]

    # A revoked token stops the live connection at its next request.
    await console.request("POST", "api/logout", token)
    assert await sio.call("watch", {"handoff_id": handoff_id}, namespace="/agent", timeout=5) == {
        "error": "unauthorized"
    }


# --- several Rasa processes: the Redis manager --------------------------------------------------


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


async def test_with_redis_an_emit_in_one_server_reaches_a_socket_of_another() -> None:
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} under CI")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    signer = SessionSigner(lambda: "test-key" * 4)
    first = GuardedSocketIOInput(signer=signer, redis_url=REDIS_URL)
    second = GuardedSocketIOInput(signer=signer, redis_url=REDIS_URL)
    trackers = InMemoryTrackerStore(Domain.empty())
    agent = SimpleNamespace(tracker_store=trackers, handle_message=FakeRasa(trackers))
    async with serve([first], agent) as (first_url, _), serve([second], agent) as (_, second_app):
        assert type(first.sio.manager).__name__ == "AsyncRedisManager"
        first.sio.eio.ping_interval = first.sio.eio.ping_timeout = 0.2
        sio = socketio.AsyncClient(reconnection=False)
        widget = Client(sio)
        await sio.connect(first_url, transports=["polling"], socketio_path="/socket.io")
        try:
            session_id = (await widget.session())["session_id"]
            await asyncio.sleep(0.5)  # the first server's Redis listener subscribes
            # The agent console in the second process delivers through its own hub.
            from bot.channels.live import hub_for

            assert await hub_for(second_app).deliver("socketio", session_id, "来自另一个进程", "客服小王")
            for _ in range(50):
                if widget.bot:
                    break
                await asyncio.sleep(0.1)
            assert widget.bot == [{"text": "来自另一个进程", "agent": "客服小王"}]
        finally:
            await first.sio.disconnect(sio.get_sid())
            await sio.wait()


def test_agent_hours_can_cover_the_whole_day() -> None:
    all_day = settings_from_env({"BOT_ENV": "test", "BOT_AGENT_HOURS": "00:00-24:00"})
    for hour, minute in ((0, 0), (12, 0), (23, 59)):
        when = datetime(2026, 11, 22, hour, minute, 59, tzinfo=timezone(timedelta(hours=8)))
        assert agents.within_agent_hours(when, all_day)


async def test_an_agents_reply_reaches_a_wechat_subscriber_through_the_customer_service_api(
    sqlite_store: Store, clock: FixedClock
) -> None:
    from bot.channels.wechat import WeChatInput
    from tests.support.fake_wechat import FakeWeChatApi
    from tests.support.wechat import make_config

    _add_agents(sqlite_store, clock)
    services = Services.build(settings=SETTINGS, store=sqlite_store, clock=clock)
    trackers = InMemoryTrackerStore(Domain.empty())
    agent = SimpleNamespace(
        tracker_store=trackers, lock_store=InMemoryLockStore(), domain=Domain.empty(), handle_message=None
    )
    api = FakeWeChatApi()
    await api.start()
    wechat = WeChatInput(make_config("plaintext", api.base_url))
    try:
        async with (
            serve([wechat, AgentConsoleInput(services=lambda: services)], agent) as (url, _),
            aiohttp.ClientSession() as http,
        ):
            console = Console(url, sqlite_store, clock, trackers, None, http)  # type: ignore[arg-type]
            await console.paused_conversation("o-openid-1")
            handoff_id = console.queue_handoff("o-openid-1", channel="wechat")
            token = await console.login("alice")
            await console.request("POST", f"api/handoffs/{handoff_id}/claim", token)
            status, body = await console.request(
                "POST", f"api/handoffs/{handoff_id}/messages", token, json={"text": "您好，我来帮您查"}
            )
            assert (status, body) == (200, {"delivered": True, "channel": "wechat"})
            await console.request("POST", f"api/handoffs/{handoff_id}/hand-back", token)
    finally:
        await wechat.aclose()
        await api.stop()
    sent = [(call["touser"], call["text"]["content"]) for _, call in api.send_calls]
    assert sent[0] == ("o-openid-1", "【人工客服 客服小王】您好，我来帮您查")
    assert sent[1][0] == "o-openid-1" and "转回智能助手" in sent[1][1]


def test_the_redis_manager_is_used_only_when_a_url_is_configured() -> None:
    from bot.channels.live import client_manager
    from bot.settings import SettingsError

    configured = settings_from_env({"BOT_ENV": "test", "SOCKETIO_REDIS_URL": REDIS_URL})
    assert configured.socketio_redis_url == REDIS_URL
    assert settings_from_env({"BOT_ENV": "test"}).socketio_redis_url == ""
    assert type(client_manager(REDIS_URL)).__name__ == "AsyncRedisManager"
    assert client_manager("") is None  # python-socketio's in-memory manager
    with pytest.raises(SettingsError):
        settings_from_env({"BOT_ENV": "test", "SOCKETIO_REDIS_URL": "http://127.0.0.1:6379"})
