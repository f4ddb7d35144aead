"""The web widget's socket.io channel: server-issued sessions, messages processed once, history.

The channel runs in a real Sanic server on a free port and is driven by python-socketio's client;
Rasa is replaced by a handler that writes the turn into an in-memory tracker store, as Rasa would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import socketio
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels.guard import MASK, SecretGuard
from bot.channels.socketio import (
    GuardedSocketIOInput,
    MessageLedger,
    SessionSigner,
    history_from_events,
)
from bot.handoff.handoffs import Wait
from bot.replies import WAITING_TEXT
from tests.support.sanic_server import serve
from tests.support.socketio import BUTTONS, Client, FakeRasa, NoVerification


def test_a_signature_is_checked_against_the_key() -> None:
    signer = SessionSigner(lambda: "k" * 32)
    session_id, signature = signer.issue()
    assert session_id.startswith("web-") and len(session_id) == 36
    assert signer.verify(session_id, signature)
    assert not SessionSigner(lambda: "other-key" * 4).verify(session_id, signature)
    assert not signer.verify(session_id, signature[:-1] + ("0" if signature[-1] != "0" else "1"))
    assert not signer.verify("web-" + "0" * 32, signature)
    assert not signer.verify("demo-1", signer._mac("demo-1"))  # only ids the server could have issued
    assert not signer.verify(None, None)
    assert signer.issue()[0] != session_id


def test_the_key_is_read_on_first_use_only() -> None:
    reads: list[int] = []

    def key() -> str:
        reads.append(1)
        return "k" * 32

    signer = SessionSigner(key)
    assert reads == []
    signer.verify(*signer.issue())
    signer.issue()
    assert reads == [1]


async def test_the_ledger_runs_a_client_id_once_and_remembers_the_tracker() -> None:
    runs: list[str] = []
    ledger = MessageLedger(lambda session_id: _ids(["from-tracker"]))

    async def handler() -> None:
        runs.append("ran")

    assert await ledger.run_once("web-a", "client-0001", handler)
    assert not await ledger.run_once("web-a", "client-0001", handler)
    assert await ledger.run_once("web-b", "client-0001", handler)  # another session, another message
    assert not await ledger.run_once("web-a", "from-tracker", handler)
    assert runs == ["ran", "ran"]


async def test_the_ledger_runs_one_message_of_a_session_at_a_time() -> None:
    ledger = MessageLedger(lambda session_id: _ids([]))
    order: list[str] = []

    def handler(name: str) -> Any:
        async def run() -> None:
            order.append(f"start {name}")
            await asyncio.sleep(0.05)
            order.append(f"end {name}")

        return run

    results = await asyncio.gather(
        ledger.run_once("web-a", "first-001", handler("1")),
        ledger.run_once("web-a", "first-001", handler("1 again")),
        ledger.run_once("web-a", "second-01", handler("2")),
    )
    assert results == [True, False, True]
    assert order == ["start 1", "end 1", "start 2", "end 2"]


async def _ids(ids: list[str]) -> list[str]:
    return ids


def test_history_shows_masked_text_split_bubbles_and_button_titles() -> None:
    events = [
        UserUttered("查一下余额", message_id="c-1", timestamp=1.0),
        BotUttered("请提供手机号码。\n\n我们会发送验证码。", data={"buttons": BUTTONS}, timestamp=2.0),
        UserUttered("/affirm", message_id="c-2", timestamp=3.0),
        UserUttered(MASK, message_id="c-3", timestamp=4.0),
    ]
    assert history_from_events(events) == [
        {"from": "user", "text": "查一下余额", "time": 1.0, "client_id": "c-1"},
        {"from": "bot", "text": "请提供手机号码。", "time": 2.0},
        {"from": "bot", "text": "我们会发送验证码。", "time": 2.0, "quick_replies": BUTTONS},
        {"from": "user", "text": "好的", "time": 3.0, "client_id": "c-2"},
        {"from": "user", "text": MASK, "time": 4.0, "client_id": "c-3"},
    ]


# --- the channel in a real server ----------------------------------------------------------------


@dataclass
class Harness:
    url: str
    rasa: FakeRasa
    channel: GuardedSocketIOInput
    #: what the queue tells a waiting subscriber, once (bot.handoff.handoffs.waiting_notice)
    waits: dict[str, Wait]
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    async def client(self) -> Client:
        sio = socketio.AsyncClient(reconnection=False)
        client = Client(sio)
        await sio.connect(self.url, transports=["polling"], socketio_path="/socket.io")
        self.clients.append(sio)
        return client

    async def drop(self, sio: socketio.AsyncClient) -> None:
        """Ends a connection from the server's side (a client's own disconnect waits out a long poll)."""
        if sio.connected:
            assert self.channel.sio is not None
            await self.channel.sio.disconnect(sio.get_sid())
            await sio.eio.wait()  # (sio.wait() sleeps a second for reconnections)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    store = InMemoryTrackerStore(Domain.empty())
    rasa = FakeRasa(store)
    channel = GuardedSocketIOInput(signer=SessionSigner(lambda: "test-key" * 4))
    waits: dict[str, Wait] = {}
    channel.guard = SecretGuard(
        lambda: NoVerification(),  # type: ignore[arg-type, return-value]
        lambda conversation_id: waits.pop(conversation_id, None),
    )
    agent = SimpleNamespace(tracker_store=store, handle_message=rasa)
    async with serve([channel], agent) as (url, _):
        assert channel.sio is not None
        channel.sio.eio.ping_interval = channel.sio.eio.ping_timeout = 0.2  # long polls end quickly
        harness = Harness(url=url, rasa=rasa, channel=channel, waits=waits)
        try:
            yield harness
        finally:
            await asyncio.gather(*(harness.drop(client) for client in harness.clients))


async def test_a_new_session_is_issued_and_a_forged_one_is_replaced(harness: Harness) -> None:
    first = await (await harness.client()).session()
    assert first["restored"] is False and first["session_id"].startswith("web-")

    again = await (await harness.client()).session(first)
    assert again == {**first, "restored": True}

    other_id = "web-" + "a" * 32
    forged = await (await harness.client()).session({"session_id": other_id, "signature": first["signature"]})
    assert forged["restored"] is False and forged["session_id"] not in (other_id, first["session_id"])

    chosen = await (await harness.client()).session({"session_id": "demo-1"})
    assert chosen["session_id"] != "demo-1"


async def test_messages_go_to_the_bound_session_never_to_one_the_message_names(harness: Harness) -> None:
    victim = await harness.client()
    victim_session = (await victim.session())["session_id"]
    attacker = await harness.client()
    own = (await attacker.session())["session_id"]
    ack = await attacker.sio.call(
        "user_uttered", {"message": "你好", "client_id": str(uuid.uuid4()), "session_id": victim_session}
    )
    assert ack["status"] == "ok"
    assert [m.sender_id for m in harness.rasa.handled] == [own]
    assert (await victim.history())["messages"] == []


async def test_a_message_before_a_session_is_refused(harness: Harness) -> None:
    client = await harness.client()
    assert (await client.say("你好"))["status"] == "no_session"
    assert harness.rasa.handled == []


async def test_a_resent_message_is_processed_once_and_acknowledged(harness: Harness) -> None:
    client = await harness.client()
    await client.session()
    client_id = str(uuid.uuid4())
    assert await client.say("查余额", client_id) == {"client_id": client_id, "status": "ok"}
    assert await client.say("查余额", client_id) == {"client_id": client_id, "status": "duplicate"}
    assert [m.message_id for m in harness.rasa.handled] == [client_id]
    assert client.bot == [
        {"text": "收到：查余额", "quick_replies": [dict(b, content_type="text") for b in BUTTONS]}
    ]


async def test_a_resend_from_a_new_connection_while_the_first_is_processing_waits_and_is_a_duplicate(
    harness: Harness,
) -> None:
    harness.rasa.delay = 0.3
    first = await harness.client()
    session = await first.session()
    client_id = str(uuid.uuid4())
    pending = asyncio.ensure_future(first.say("查余额", client_id))
    await asyncio.sleep(0.05)
    await harness.drop(first.sio)  # the connection drops before the ack arrives
    second = await harness.client()
    assert (await second.session(session))["restored"] is True
    assert (await second.say("查余额", client_id))["status"] == "duplicate"
    pending.cancel()
    assert len(harness.rasa.handled) == 1


async def test_processed_ids_survive_a_restart_through_the_tracker(harness: Harness) -> None:
    client = await harness.client()
    session = await client.session()
    client_id = str(uuid.uuid4())
    await client.say("查余额", client_id)
    harness.channel.ledger = MessageLedger(harness.channel._processed_ids)  # a new process: memory empty
    again = await harness.client()
    await again.session(session)
    assert (await again.say("查余额", client_id))["status"] == "duplicate"
    assert len(harness.rasa.handled) == 1


async def test_history_is_for_the_bound_session_and_masked(harness: Harness) -> None:
    client = await harness.client()
    session = await client.session()
    await client.say("我的验证码是 123456")
    reloaded = await harness.client()
    await reloaded.session(session)
    history = await reloaded.history()
    assert history["session_id"] == session["session_id"]
    texts = [m["text"] for m in history["messages"]]
    assert texts == [f"我的验证码是 {MASK}", f"收到：我的验证码是 {MASK}"]
    assert "123456" not in str(history)
    stranger = await harness.client()
    await stranger.session()
    assert (await stranger.history())["messages"] == []


async def test_a_failure_is_answered_politely_and_not_retried(harness: Harness) -> None:
    client = await harness.client()
    await client.session()
    client_id = str(uuid.uuid4())
    assert (await client.say("boom", client_id))["status"] == "failed"
    assert "系统暂时繁忙" in client.bot[-1]["text"]
    assert (await client.say("boom", client_id))["status"] == "duplicate"
    assert len(harness.rasa.handled) == 1


async def test_bad_messages_are_refused(harness: Harness) -> None:
    client = await harness.client()
    await client.session()
    assert (await client.say("   "))["status"] == "invalid"
    assert (await client.sio.call("user_uttered", {"message": "hi", "client_id": "<script>"}))["status"] == (
        "invalid"
    )
    assert harness.rasa.handled == []


async def test_every_socket_of_a_session_hears_the_bot(harness: Harness) -> None:
    tab1 = await harness.client()
    session = await tab1.session()
    tab2 = await harness.client()
    await tab2.session(session)
    await tab1.say("你好")
    await asyncio.sleep(0.1)
    assert [m["text"] for m in tab2.bot] == ["收到：你好"]


async def test_a_subscriber_waiting_for_a_person_hears_the_place_in_the_queue(harness: Harness) -> None:
    client = await harness.client()
    session_id = (await client.session())["session_id"]
    harness.rasa.paused.add(session_id)
    harness.waits[session_id] = Wait(position=3, minutes=18, agents_online=1)
    assert (await client.say("还要等多久"))["status"] == "ok"
    assert (await client.say("在吗"))["status"] == "ok"  # told already: silence, as Rasa's
    await asyncio.sleep(0.1)
    assert [m["text"] for m in client.bot] == [WAITING_TEXT.format(position=3, minutes=18)]
    assert [m["text"] for m in (await client.history())["messages"]] == ["还要等多久", "在吗"]
