"""The review queue in the console's API (``GET api/review``, ``POST api/review/label``), in a real
Sanic server on a SQLite store: who may use it, what it lists, and how labels are checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, Optional

import aiohttp
import pytest
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy import select

from bot.app import Services
from bot.channels.agent_console import AgentConsoleInput
from bot.clock import FixedClock
from bot.db import Store
from bot.handoff import agents
from bot.review.models import ReviewItem
from tests.support.review import add_pending
from tests.support.sanic_server import serve
from tests.support.settings import SETTINGS

PASSWORD = "review-password-1"
UNAUTHORIZED = (401, {"error": "登录已失效，请重新登录。"})
FORBIDDEN = (403, {"error": "只有主管账号可以查看和标注待审消息。"})
BAD_REQUEST = "请求格式不正确：ids 须为消息编号列表，intent 须为意图名，entities 须按消息编号给出实体列表。"


class Api:
    def __init__(self, url: str, http: aiohttp.ClientSession, ids: dict[str, list[int]]) -> None:
        self.url, self.http, self.ids = url, http, ids

    async def request(
        self, method: str, path: str, token: Optional[str] = None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        url = f"{self.url}/webhooks/agent/api/{path}"
        async with self.http.request(method, url, headers=headers, json=body) as reply:
            assert reply.headers["Cache-Control"] == "no-store"
            return reply.status, await reply.json(content_type=None)

    async def login(self, username: str) -> str:
        body = {"username": username, "password": PASSWORD}
        status, found = await self.request("POST", "login", body=body)
        assert status == 200, found
        return str(found["token"])


@pytest.fixture
async def api(sqlite_store: Store, clock: FixedClock) -> AsyncIterator[Api]:
    now = clock.now()
    with sqlite_store.transaction() as session:
        agents.create_agent(session, "lead", "组长老王", PASSWORD, now, SETTINGS, role="supervisor")
        agents.create_agent(session, "staff", "客服小李", PASSWORD, now, SETTINGS)
        ids = {
            "balance": add_pending(session, "c-1", ["卡里还剩多少大洋", "卡里还剩多少大洋？"], now),
            "other": add_pending(
                session, "c-2", ["138****5678 的流量咋整"], now, intent="query_usage", reason="low_confidence"
            ),
            "done": add_pending(session, "c-3", ["这条已经导出了"], now),
        }
        session.execute(
            ReviewItem.__table__.update().where(ReviewItem.id == ids["done"][0]).values(status="exported")
        )
    services = Services.build(settings=SETTINGS, store=sqlite_store, clock=clock)
    channel = AgentConsoleInput(services=lambda: services)
    agent = SimpleNamespace(
        tracker_store=InMemoryTrackerStore(Domain.empty()),
        lock_store=InMemoryLockStore(),
        domain=Domain.empty(),
        handle_message=None,
    )
    async with serve([channel], agent) as (url, _):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            found = Api(url, http, ids)
            found.tracker_store = agent.tracker_store  # type: ignore[attr-defined]
            yield found


def _item(store: Store, item_id: int) -> ReviewItem:
    with store.transaction() as session:
        found = session.scalars(select(ReviewItem).where(ReviewItem.id == item_id)).one()
        session.expunge(found)
        return found


async def test_without_a_token_401_and_without_the_supervisor_role_403(api: Api, sqlite_store: Store) -> None:
    label = {"ids": api.ids["balance"], "intent": "query_balance"}
    for token in (None, "", "not-a-token"):
        assert await api.request("GET", "review", token) == UNAUTHORIZED
        assert await api.request("POST", "review/label", token, label) == UNAUTHORIZED
        assert await api.request("POST", "review/label", token, {"ids": "x"}) == UNAUTHORIZED
    staff = await api.login("staff")
    assert await api.request("GET", "review", staff) == FORBIDDEN
    assert await api.request("POST", "review/label", staff, label) == FORBIDDEN
    assert await api.request("POST", "review/label", staff, {"ids": "x"}) == FORBIDDEN  # no hints
    assert _item(sqlite_store, api.ids["balance"][0]).status == "pending"


async def test_a_supervisor_reads_the_pending_messages_grouped_with_the_label_choices(api: Api) -> None:
    status, body = await api.request("GET", "review", await api.login("lead"))
    assert status == 200
    assert body["pending"] == 3
    assert [(g["key"], g["count"]) for g in body["groups"]] == [("卡里还剩多少大洋", 2), ("00的流量咋整", 1)]
    first, second = body["groups"][0]["items"]
    assert [first["id"], second["id"]] == api.ids["balance"]
    assert first == {
        "id": api.ids["balance"][0],
        "text": "卡里还剩多少大洋",
        "predicted_intent": "query_balance",
        "predicted_label": "查询余额",
        "confidence": 0.42,
        "reason": "fallback",
        "reason_label": "未理解",
        "channel": "socketio",
        "time": "2026-11-22T02:00:00+00:00",
        "conversation_id": "c-1",
    }
    other = body["groups"][1]["items"][0]
    assert (other["text"], other["reason_label"], other["predicted_intent"]) == (
        "138****5678 的流量咋整",
        "低置信度",
        "query_usage",
    )
    intents = {i["name"]: i["label"] for i in body["choices"]["intents"]}
    assert intents["query_balance"] == "查询余额"
    assert {"noise", "out_of_scope", "faq/fee_standard"} <= set(intents)
    assert not {"nlu_fallback", "provide_secret", "rephrase"} & set(intents)
    assert "phone_number" in body["choices"]["entities"] and "amount" in body["choices"]["entities"]


async def test_a_supervisor_labels_several_at_once_with_entities_and_they_leave_the_list(
    api: Api, sqlite_store: Store
) -> None:
    token = await api.login("lead")
    first, second = api.ids["balance"]
    body = {
        "ids": [first, second],
        "intent": "query_balance",
        "entities": {str(second): [{"start": 4, "end": 6, "entity": "amount"}], str(first): []},
    }
    status, done = await api.request("POST", "review/label", token, body)
    assert status == 200, done
    assert done == {
        "labelled": [first, second],
        "intent": "query_balance",
        "message": "已将 2 条消息标注为 query_balance。",
    }
    labelled = _item(sqlite_store, second)
    assert (labelled.status, labelled.label_intent, labelled.labelled_by) == (
        "labelled",
        "query_balance",
        "lead",
    )
    assert labelled.label_entities == [{"start": 4, "end": 6, "entity": "amount", "value": "多少"}]
    assert _item(sqlite_store, first).label_entities == []
    status, listing = await api.request("GET", "review", token)
    assert listing["pending"] == 1 and [g["count"] for g in listing["groups"]] == [1]
    status, done = await api.request(
        "POST", "review/label", token, {"ids": api.ids["other"], "intent": "out_of_scope"}
    )
    assert status == 200 and _item(sqlite_store, api.ids["other"][0]).label_intent == "out_of_scope"
    assert (await api.request("GET", "review", token))[1]["groups"] == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"ids": [], "intent": "query_balance"}, "没有指定要标注的消息"),
        ({"ids": "BALANCE", "intent": "nope"}, "意图不在可选列表中（领域文件里的意图，另加 noise）：nope"),
        (
            {"ids": "BALANCE", "intent": "nlu_fallback"},
            "意图不在可选列表中（领域文件里的意图，另加 noise）：nlu_fallback",
        ),
        ({"ids": [999999], "intent": "query_balance"}, "没有这些编号的消息：999999"),
        ({"ids": "DONE", "intent": "query_balance"}, "这些消息已导出，不能再改标注：DONE"),
        (
            {
                "ids": "BALANCE",
                "intent": "query_balance",
                "entities": {"FIRST": [{"start": 0, "end": 2, "entity": "x"}]},
            },
            "实体名不在领域文件的实体列表中：x",
        ),
        (
            {
                "ids": "BALANCE",
                "intent": "query_balance",
                "entities": {"FIRST": [{"start": 5, "end": 99, "entity": "amount"}]},
            },
            "实体位置超出消息范围、重叠或只标了空白：amount 5-99",
        ),
        (
            {
                "ids": "BALANCE",
                "intent": "query_balance",
                "entities": {"FIRST": [{"start": 0, "end": 2, "entity": "amount", "value": " "}]},
            },
            "实体值为空：amount",
        ),
        ({"ids": "1,2", "intent": "query_balance"}, BAD_REQUEST),
        ({"ids": [True], "intent": "query_balance"}, BAD_REQUEST),
        ({"ids": [-1], "intent": "query_balance"}, BAD_REQUEST),
        ({"ids": "BALANCE"}, BAD_REQUEST),
        ({"ids": "BALANCE", "intent": 5}, BAD_REQUEST),
        ({"ids": "BALANCE", "intent": "query_balance", "entities": []}, BAD_REQUEST),
        ({"ids": "BALANCE", "intent": "query_balance", "entities": {"abc": []}}, BAD_REQUEST),
        ({"ids": "BALANCE", "intent": "query_balance", "entities": {"FIRST": {"start": 0}}}, BAD_REQUEST),
        (None, BAD_REQUEST),
    ],
)
async def test_a_refused_label_is_a_400_in_chinese_and_labels_nothing(
    api: Api, sqlite_store: Store, body: Any, error: str
) -> None:
    def fill(value: Any) -> Any:
        if value == "BALANCE":
            return api.ids["balance"]
        if value == "DONE":
            return api.ids["done"]
        if isinstance(value, dict):
            return {fill(k) if k == "FIRST" else k: fill(v) for k, v in value.items()}
        return value

    body = fill(body)
    if isinstance(body, dict) and isinstance(body.get("entities"), dict):
        body["entities"] = {
            str(api.ids["balance"][0]) if k == "FIRST" else k: v for k, v in body["entities"].items()
        }
    error = error.replace("DONE", str(api.ids["done"][0]))
    status, answer = await api.request("POST", "review/label", await api.login("lead"), body)
    assert (status, answer) == (400, {"error": error})
    for item_id in api.ids["balance"] + api.ids["other"]:
        assert _item(sqlite_store, item_id).status == "pending"


async def test_a_supervisor_reads_the_transcript_of_a_messages_conversation(api: Api) -> None:
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events(
        "c-1",
        [
            UserUttered("卡里还剩多少大洋", {"name": "nlu_fallback", "confidence": 0.42}),
            BotUttered("您是想查询余额吗？"),
        ],
    )
    await api.tracker_store.save(tracker)  # type: ignore[attr-defined]
    item = api.ids["balance"][0]
    for token in (None, "not-a-token"):
        assert await api.request("GET", f"review/{item}/transcript", token) == UNAUTHORIZED
    assert await api.request("GET", f"review/{item}/transcript", await api.login("staff")) == FORBIDDEN
    lead = await api.login("lead")
    status, body = await api.request("GET", f"review/{item}/transcript", lead)
    assert status == 200 and body["conversation_id"] == "c-1"
    assert [entry["text"] for entry in body["transcript"]] == ["卡里还剩多少大洋", "您是想查询余额吗？"]
    status, body = await api.request("GET", "review/999999/transcript", lead)
    assert status == 404 and body["error"].startswith("没有这条待审消息")
