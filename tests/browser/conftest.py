"""Browser tests: the web widget in Debian's Chromium (driven by Playwright) against the real servers.

The servers are tests/e2e's (one set per run, shared). Chromium is the system's (`apt-get install
chromium`); Playwright never downloads a browser here. Each test gets a fresh browser context (so a
fresh localStorage and a new conversation) and leaves a screenshot in test-artifacts/browser/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from bot.settings import PROJECT_ROOT
from tests.e2e.conftest import API_TOKEN, Servers, servers  # noqa: F401 - the shared session fixture

CHROMIUM = Path(os.environ.get("BOT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"

expect.set_options(timeout=20_000)


# Package scope: Playwright's sync API keeps an event loop running in this thread while it is
# started, which the asyncio tests elsewhere in the run must not meet.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _page(browser: Browser, request: pytest.FixtureRequest, **options: Any) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert errors == [], f"errors in the page: {errors}"
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        finally:
            context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop-sized page in a fresh context."""
    yield from _page(browser, request, viewport={"width": 1280, "height": 800})


@pytest.fixture
def phone_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A phone-sized page (375 × 700, touch) in a fresh context."""
    yield from _page(browser, request, viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True)


@pytest.fixture
def demo_url(servers: Servers) -> str:  # noqa: F811 - the fixture imported above
    return f"{servers.rasa_url}/webhooks/web/demo"


class Chat:
    """The widget as a subscriber uses it (Playwright's CSS locators reach into its shadow root)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.input = page.locator(".bc-input")
        self.launcher = page.locator(".bc-launcher")
        self.panel = page.locator(".bc-panel")

    def say(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    @property
    def bot(self) -> Locator:
        return self.page.locator(".bc-msg-bot .bc-text")

    @property
    def user(self) -> Locator:
        return self.page.locator(".bc-msg-user .bc-text")

    def expect_bot(self, text: str) -> Locator:
        """Waits for a bot bubble containing ``text``."""
        bubble = self.bot.filter(has_text=text).last
        expect(bubble).to_be_visible()
        return bubble

    def wait_until_sent(self) -> None:
        """Waits until nothing is pending or in flight (every message acknowledged)."""
        expect(self.page.locator(".bc-state")).to_have_count(0)
        expect(self.page.locator(".bc-typing")).to_be_hidden()

    def session_id(self) -> str:
        stored = self.page.evaluate(
            "() => Object.keys(localStorage).filter(k => k.endsWith(':session')).map(k => localStorage[k])"
        )
        assert len(stored) == 1, stored
        return str(json.loads(stored[0])["session_id"])


def tracker_events(servers: Servers, session_id: str) -> list[dict[str, Any]]:  # noqa: F811
    reply = requests.get(
        f"{servers.rasa_url}/conversations/{session_id}/tracker", params={"token": API_TOKEN}, timeout=30
    )
    reply.raise_for_status()
    return list(reply.json()["events"])


def user_texts(servers: Servers, session_id: str) -> list[str]:  # noqa: F811
    return [e.get("text") or "" for e in tracker_events(servers, session_id) if e["event"] == "user"]
