"""The web widget in a browser page as a subscriber uses it, and what the servers recorded of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from playwright.sync_api import Browser, Locator, Page, expect

from bot.settings import PROJECT_ROOT
from tests.support.servers import API_TOKEN, Servers

#: Where the browser tests leave their screenshots.
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"


@contextmanager
def console_window(browser: Browser, screenshot: str) -> Iterator[Page]:
    """A page in a browser context of its own (another person, another machine), 1280×900, zh-CN:
    fails the test on a script error in the page, and leaves ``ARTIFACTS/<screenshot>.png``."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert errors == [], f"errors in the console: {errors}"
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"), full_page=True)
        finally:
            context.close()


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


def tracker_events(servers: Servers, session_id: str) -> list[dict[str, Any]]:
    reply = requests.get(
        f"{servers.rasa_url}/conversations/{session_id}/tracker", params={"token": API_TOKEN}, timeout=30
    )
    reply.raise_for_status()
    return list(reply.json()["events"])


def user_texts(servers: Servers, session_id: str) -> list[str]:
    return [e.get("text") or "" for e in tracker_events(servers, session_id) if e["event"] == "user"]
