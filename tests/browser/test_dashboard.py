"""The supervisors' dashboard page (运营看板) of the agent console in Chromium, over a seeded week.

The week (tests/support/dashboard.py) is fixed in time (it ends 2026-11-22 10:00 Beijing) and writes
disputes, alerts, a closure and a ticket for the demo subscribers, so it is not put into the shared
servers' store (their clock is the real one, and the other browser and e2e tests use the demo
numbers and the agents' queue). The console is served instead by the real console channel
(``AgentConsoleInput``) in a Sanic server of this module, on a SQLite store of its own with the week
in it and a clock fixed at the week's end. The figures the page shows are checked against figures
computed here from the ``Week`` record (not by ``bot.dashboard``).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest
from playwright.sync_api import Browser, Page, expect
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain

from bot.app import Services
from bot.channels.agent_console import AgentConsoleInput
from bot.clock import SHANGHAI, FixedClock
from bot.db import Store
from bot.migrate import upgrade
from tests.support.browser import ARTIFACTS, console_window
from tests.support.dashboard import AGENT, PASSWORD, SUPERVISOR, Week, seed_week
from tests.support.sanic_server import serve
from tests.support.settings import SETTINGS


@dataclass
class Console:
    url: str
    week: Week


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console channel in a Sanic server on its own thread and event loop, over the seeded week."""
    path: Path = tmp_path_factory.mktemp("dashboard") / "billing.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = Store.from_url(url)
    week = seed_week(store)
    services = Services.build(settings=SETTINGS, store=store, clock=FixedClock(week.end))
    channel = AgentConsoleInput(services=lambda: services)
    agent = SimpleNamespace(
        tracker_store=InMemoryTrackerStore(Domain.empty()),
        lock_store=InMemoryLockStore(),
        domain=Domain.empty(),
        handle_message=None,
    )
    loop = asyncio.new_event_loop()
    started = threading.Event()
    found: dict[str, Any] = {}

    async def run() -> None:
        found["stop"] = asyncio.Event()
        try:
            async with serve([channel], agent) as (base, _):
                found["url"] = base
                started.set()
                await found["stop"].wait()
            # the browser's keep-alive connections end here, before the loop is closed
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        except BaseException as error:  # noqa: BLE001 - reported to the test thread
            found["error"] = error
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(60), "the console server started"
    if "error" in found:
        raise found["error"]
    try:
        yield Console(f"{found['url']}/webhooks/agent/", week)
    finally:
        loop.call_soon_threadsafe(found["stop"].set)
        thread.join(30)
        loop.close()
        store.dispose()


@pytest.fixture
def dash_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with console_window(browser, request.node.name) as page:
        yield page


# --- the figures, from the Week record ------------------------------------------------------------


def since(week: Week, days: int) -> datetime:
    """Beijing midnight ``days - 1`` days before the week's last day, in UTC."""
    last = week.end.astimezone(SHANGHAI)
    midnight = datetime(last.year, last.month, last.day, tzinfo=SHANGHAI) - timedelta(days=days - 1)
    return midnight.astimezone(timezone.utc)


def rank(values: list[float], share: float) -> Optional[float]:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1] if ordered else None


def day_of(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def expected(week: Week, days: int) -> dict[str, Optional[float]]:
    """What the page must show, by data-testid (without the ``dash-`` prefix)."""
    start = since(week, days)
    inside = [c for c in week.conversations if start <= c.start <= week.end]
    handed = [c for c in inside if c.handoff]
    ticket = int(start <= week.ticket_at <= week.end)
    shown: dict[str, Optional[float]] = {
        "conversations-total": len(inside),
        "contained": len(inside) - len(handed),
        "handed-over": len(handed),
        "handoffs-total": len(handed) + ticket,
        "tickets": ticket,
    }
    for c in inside:
        hour = c.start.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H")
        shown[f"hour-{hour}"] = shown.get(f"hour-{hour}", 0) + 1  # type: ignore[operator]
    reasons = Counter(c.handoff["reason"] for c in handed if c.handoff)
    reasons["requested"] += ticket
    shown.update({f"reason-{r}": n for r, n in (+reasons).items()})

    misread = [m for c in inside for m in c.misread]
    shown["misunderstood-total"] = len(misread)
    for n in range(days):
        day = day_of(start + timedelta(days=n, hours=12))
        for kind in ("fallback", "clarification"):
            shown[f"misread-{day}-{kind}"] = sum(1 for at, k, _ in misread if k == kind and day_of(at) == day)
    shown.update({f"before-{b or 'start'}": n for b, n in Counter(b for _, _, b in misread).items()})

    intents = Counter(i for c in inside for i in c.intents)
    top = sorted(intents.items(), key=lambda item: (-item[1], item[0]))[:10]
    shown.update({f"intent-{i}": n for i, n in top})

    def within(times: list[datetime]) -> int:
        return sum(start <= t <= week.end for t in times)

    shown["task-disputes_opened"] = within(week.disputes)
    shown["task-alerts_set"] = within(week.alerts)
    shown["task-closures_requested"] = within(week.closures_requested)
    shown["task-closures_cancelled"] = within(week.closures_cancelled)

    ratings = [c.rating for c in inside if c.rating]
    scores = [score for _, score in ratings]
    shown["ratings-count"] = len(scores)
    shown["ratings-average"] = round(sum(scores) / len(scores), 2) if scores else None
    for score in range(1, 6):
        shown[f"rating-{score}"] = scores.count(score)
    for n in range(days):
        day = day_of(start + timedelta(days=n, hours=12))
        values = [s for at, s in ratings if day_of(at) == day]
        shown[f"rating-day-{day}-count"] = len(values)
        shown[f"rating-day-{day}-average"] = round(sum(values) / len(values), 2) if values else None

    for key, values in (
        ("wait", [(c.handoff["claimed"] - c.handoff["queued"]).total_seconds() for c in handed if c.handoff]),
        (
            "handling",
            [(c.handoff["ended"] - c.handoff["claimed"]).total_seconds() for c in handed if c.handoff],
        ),
    ):
        shown[f"{key}-count"] = len(values)
        shown[f"{key}-mean"] = round(sum(values) / len(values), 1) if values else None
        shown[f"{key}-p50"] = rank(values, 0.5)
        shown[f"{key}-p95"] = rank(values, 0.95)

    latencies: list[float] = [ms for c in inside for ms in c.latencies_ms]
    shown["latency-count"] = len(latencies)
    shown["latency-p50"] = rank(latencies, 0.5)
    shown["latency-p95"] = rank(latencies, 0.95)
    return shown


# --- the page ---------------------------------------------------------------------------------------


def sign_in(page: Page, console: Console, username: str) -> None:
    page.goto(console.url)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()


def open_period(page: Page, name: str) -> None:
    page.get_by_test_id(f"dash-period-{name}").click()
    expect(page.get_by_test_id("dash-range")).to_have_attribute("data-period", name)
    expect(page.get_by_test_id(f"dash-period-{name}")).to_have_attribute("aria-pressed", "true")


def shown_figures(page: Page) -> dict[str, Optional[float]]:
    """Every ``data-testid="dash-…"`` number on the page: its data-value, or the cell's text."""
    found = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#dashboard-view [data-testid^="dash-"]')]
            .filter((n) => n.tagName === 'STRONG' || n.tagName === 'TD')
            .map((n) => [n.dataset.testid.slice(5),
                         n.tagName === 'STRONG' ? n.dataset.value : n.textContent]))"""
    )
    return {key: (None if value in ("", "—") else float(value)) for key, value in found.items()}


def assert_figures(page: Page, week: Week, days: int) -> dict[str, Optional[float]]:
    want = expected(week, days)
    got = shown_figures(page)
    # every figure computed here is on the page with the same value...
    assert {k: got.get(k, "missing") for k in want} == want
    # ...and every per-hour, reason, intent figure on the page is one computed here
    listed = ("hour-", "reason-", "before-", "intent-")
    assert {k for k in got if k.startswith(listed)} == {k for k in want if k.startswith(listed)}
    return got


def assert_charts_drawn(page: Page) -> None:
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('#dashboard-view canvas')].map((c) => {
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let inked = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
            return [c.dataset.testid, c.width, c.height, inked];
        })"""
    )
    names = {name for name, *_ in drawn}
    assert {
        "dash-chart-hourly",
        "dash-chart-handover",
        "dash-chart-reasons",
        "dash-chart-misread",
        "dash-chart-before",
        "dash-chart-intents",
        "dash-chart-tasks",
        "dash-chart-ratings",
        "dash-chart-rating-days",
        "dash-chart-durations",
        "dash-chart-latency",
    } <= names
    for name, width, height, inked in drawn:
        assert width > 100 and height > 100 and inked > 500, (name, width, height, inked)


def test_a_supervisor_reads_the_week_on_the_dashboard_and_switches_period(
    dash_page: Page, console: Console
) -> None:
    page = dash_page
    week = console.week
    sign_in(page, console, SUPERVISOR)
    entry = page.get_by_test_id("nav-dashboard")
    expect(entry).to_be_visible()
    expect(entry).to_have_text("运营看板")
    entry.click()
    expect(page.locator(".columns")).to_be_hidden()
    expect(page.get_by_test_id("dash-range")).to_have_attribute("data-period", "7d")  # the default
    expect(page.get_by_test_id("dash-range")).to_contain_text("近7天：2026-11-16 至 2026-11-22")

    seven = assert_figures(page, week, 7)
    assert seven["conversations-total"] == 39  # the seed's own count, as a sanity check of the helper
    assert 0 < seven["handed-over"] < seven["contained"]  # type: ignore[operator]
    expect(page.get_by_test_id("dash-wait-mean")).to_have_text(f"{seven['wait-mean']:g} 秒")
    expect(page.get_by_test_id("dash-latency-p95")).to_have_text(f"{seven['latency-p95']:g} 毫秒")
    assert_charts_drawn(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-7d.png"), full_page=True)

    open_period(page, "today")
    today = assert_figures(page, week, 1)
    assert today["conversations-total"] == 3 and today != seven
    assert_charts_drawn(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-today.png"), full_page=True)

    open_period(page, "30d")
    month = assert_figures(page, week, 30)
    assert month["handoffs-total"] == seven["handoffs-total"]  # nothing was seeded before the week
    assert_charts_drawn(page)

    # back to the workbench, and the page is a supervisor's only after the next sign-in too
    page.click("#dashboard-back")
    expect(page.locator(".columns")).to_be_visible()
    expect(page.locator("#dashboard-view")).to_be_hidden()


def test_an_agent_without_the_role_has_no_dashboard_entry_and_gets_403(
    dash_page: Page, console: Console
) -> None:
    page = dash_page
    sign_in(page, console, AGENT)
    expect(page.locator("#me")).to_contain_text("客服小陈")
    expect(page.get_by_test_id("nav-dashboard")).to_be_hidden()
    expect(page.locator("#dashboard-view")).to_be_hidden()
    answer = page.evaluate(
        """async () => {
            const token = sessionStorage.getItem('agent-console:token');
            const headers = {Authorization: `Bearer ${token}`};
            const reply = await fetch('api/dashboard?period=7d', {headers});
            return [reply.status, await reply.json()];
        }"""
    )
    assert answer == [403, {"error": "只有主管账号可以查看运营看板。"}]
    # signed out, then in as the supervisor in the same tab: the entry appears
    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#username", SUPERVISOR)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    expect(page.get_by_test_id("nav-dashboard")).to_be_visible()
