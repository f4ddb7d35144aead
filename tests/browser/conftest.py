"""Browser tests: the web widget in Debian's Chromium (driven by Playwright) against the real servers.

The servers are tests/e2e's (tests/support/servers.py: one set per run, shared). Chromium is the
system's (`apt-get install chromium`); Playwright never downloads a browser here. Each test gets a
fresh browser context (so a fresh localStorage and a new conversation) and leaves a screenshot in
test-artifacts/browser/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import ARTIFACTS
from tests.support.servers import Servers, servers  # noqa: F401 - the shared session fixture

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
