"""Agent roles (``agent-add --role``, the console's ``me``) and the dashboard API's access rules, in a
real Sanic server on a SQLite store with a seeded week (tests/support/dashboard.py)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import aiohttp
import pytest
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy import select

from bot import settings as bot_settings
from bot.app import Services
from bot.channels.agent_console import AgentConsoleInput
from bot.cli import main
from bot.clock import FixedClock
from bot.db import Store
from bot.handoff import agents
from bot.handoff.errors import InvalidAgent
from bot.handoff.models import Agent
from tests.support.dashboard import AGENT, PASSWORD, SUPERVISOR, WEEK_END, seed_week
from tests.support.sanic_server import serve
from tests.support.settings import SETTINGS, TEST_ENV

# --- the role on the account ----------------------------------------------------------------------


def _role(store: Store, username: str) -> str:
    with store.transaction() as session:
        return str(session.scalars(select(Agent.role).where(Agent.username == username)).one())


def test_an_agent_is_an_agent_unless_made_a_supervisor_and_keeps_its_role_when_saved_again(
    store: Store, clock: FixedClock
) -> None:
    with store.transaction() as session:
        agents.create_agent(session, "amy", "", PASSWORD, clock.now(), SETTINGS)
        agents.create_agent(session, "sam", "", PASSWORD, clock.now(), SETTINGS, role="supervisor")
    assert (_role(store, "amy"), _role(store, "sam")) == ("agent", "supervisor")
    with store.transaction() as session:  # a new password only: the role stays
        agents.create_agent(session, "sam", "", PASSWORD + "x", clock.now(), SETTINGS)
    assert _role(store, "sam") == "supervisor"
    with store.transaction() as session:
        agents.create_agent(session, "sam", "", PASSWORD, clock.now(), SETTINGS, role="agent")
        agents.create_agent(session, "amy", "", PASSWORD, clock.now(), SETTINGS, role="supervisor")
    assert (_role(store, "amy"), _role(store, "sam")) == ("supervisor", "agent")
    with store.transaction() as session, pytest.raises(InvalidAgent):
        agents.create_agent(session, "bob", "", PASSWORD, clock.now(), SETTINGS, role="admin")


@pytest.fixture
def cli_store(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The settings' SQLite store, migrated, for the command line."""
    path = tmp_path / "billing.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{path}")
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOT_NEW_AGENT_PASSWORD", PASSWORD)
    bot_settings.get_settings.cache_clear()
    store = Store.from_url(f"sqlite:///{path}")
    try:
        yield store
    finally:
        store.dispose()
        bot_settings.get_settings.cache_clear()


def test_agent_add_sets_the_role_given_and_otherwise_keeps_it(
    cli_store: Store, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agent-add", "zhou", "--name", "主管老周", "--role", "supervisor"], clock=clock) == 0
    assert "zhou（主管老周，角色：主管）" in capsys.readouterr().out
    assert _role(cli_store, "zhou") == "supervisor"
    assert main(["agent-add", "zhou"], clock=clock) == 0  # resets the password, keeps the role
    assert "角色：主管" in capsys.readouterr().out and _role(cli_store, "zhou") == "supervisor"
    assert main(["agent-add", "zhou", "--role", "agent"], clock=clock) == 0
    assert _role(cli_store, "zhou") == "agent"
    assert main(["agent-add", "xiaochen"], clock=clock) == 0
    assert "角色：坐席" in capsys.readouterr().out and _role(cli_store, "xiaochen") == "agent"
    assert main(["agent-add", "x2", "--role", "boss"], clock=clock) == 1


# --- the API --------------------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http

    async def get(self, path: str, token: Optional[str] = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.http.get(f"{self.url}/webhooks/agent/{path}", headers=headers) as reply:
            assert reply.headers["Cache-Control"] == "no-store"
            return reply.status, await reply.json(content_type=None)

    async def login(self, username: str) -> tuple[str, dict[str, Any]]:
        body = {"username": username, "password": PASSWORD}
        async with self.http.post(f"{self.url}/webhooks/agent/api/login", json=body) as reply:
            found = await reply.json()
            assert reply.status == 200, found
            return str(found["token"]), found["agent"]


@pytest.fixture
async def api(sqlite_store: Store) -> AsyncIterator[Api]:
    week = seed_week(sqlite_store)
    clock = FixedClock(week.end)
    services = Services.build(settings=SETTINGS, store=sqlite_store, clock=clock)
    channel = AgentConsoleInput(services=lambda: services)
    trackers = InMemoryTrackerStore(Domain.empty())
    agent = SimpleNamespace(
        tracker_store=trackers, lock_store=InMemoryLockStore(), domain=Domain.empty(), handle_message=None
    )
    async with serve([channel], agent) as (url, _):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            yield Api(url, http)


async def test_sign_in_and_me_tell_the_role(api: Api) -> None:
    token, signed_in = await api.login(SUPERVISOR)
    assert signed_in["role"] == "supervisor"
    assert (await api.get("api/me", token))[1]["agent"]["role"] == "supervisor"
    token, signed_in = await api.login(AGENT)
    assert signed_in["role"] == "agent"
    assert (await api.get("api/me", token))[1]["agent"] == {
        "id": signed_in["id"],
        "name": "客服小陈",
        "username": AGENT,
        "role": "agent",
    }


async def test_the_dashboard_needs_a_token_then_the_supervisor_role_then_a_period(api: Api) -> None:
    for token in (None, "", "not-a-token"):
        assert await api.get("api/dashboard?period=7d", token) == (401, {"error": "登录已失效，请重新登录。"})
        assert (await api.get("api/dashboard?period=nonsense", token))[0] == 401  # before the period
    agent_token, _ = await api.login(AGENT)
    for query in ("?period=7d", "?period=nonsense", ""):
        assert await api.get("api/dashboard" + query, agent_token) == (
            403,
            {"error": "只有主管账号可以查看运营看板。"},
        )
    token, _ = await api.login(SUPERVISOR)
    for bad in ("week", "7", "30D", "today,7d"):
        status, body = await api.get(f"api/dashboard?period={bad}", token)
        assert (status, body) == (400, {"error": "统计周期无效，请选择今天、近7天或近30天。"}), bad
    for period, label in (("today", "今天"), ("7d", "近7天"), ("30d", "近30天")):
        status, body = await api.get(f"api/dashboard?period={period}", token)
        assert status == 200 and body["period"]["name"] == period and body["period"]["label"] == label
    status, default = await api.get("api/dashboard", token)
    assert status == 200 and default["period"]["name"] == "today"


async def test_the_dashboard_answers_the_store_figures_with_labels(api: Api, sqlite_store: Store) -> None:
    from bot.dashboard import dashboard

    token, _ = await api.login(SUPERVISOR)
    status, body = await api.get("api/dashboard?period=7d", token)
    assert status == 200
    with sqlite_store.transaction() as session:
        figures = dashboard(session, "7d", WEEK_END)
    assert body["conversations"] == figures["conversations"]
    assert body["latency_ms"] == figures["latency_ms"]
    assert {r["reason"]: r["label"] for r in body["handoffs"]["reasons"]} == {
        "requested": "用户要求转人工",
        "complaint": "用户升级投诉",
    }
    assert {r["intent"]: r["label"] for r in body["intents"]}["query_bill"] == "查询账单"
    assert {r["intent"]: r["label"] for r in body["misunderstood"]["intents_before"]} == {
        "query_bill": "查询账单",
        "query_usage": "查询用量",
    }
    assert body["tasks"] == [
        {"task": "disputes_opened", "label": "发起退费申诉", "count": 1},
        {"task": "alerts_set", "label": "设置提醒", "count": 2},
        {"task": "closures_requested", "label": "申请销户", "count": 1},
        {"task": "closures_cancelled", "label": "撤销销户", "count": 1},
    ]
    assert body["misunderstood"]["kind_labels"] == {"fallback": "未能理解", "clarification": "澄清追问"}
