"""The widget's files and the development demo page with its demo phone (bot.channels.web)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import aiohttp
import pytest

import bot.app
import bot.settings
from bot.channels.web import WebChatInput, _read_outbox
from bot.db import Store
from bot.notifications.sms import OutboxSmsGateway
from bot.seed import DEMO_PHONES, seed_demo
from tests.support.sanic_server import serve
from tests.support.settings import SETTINGS


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    for name, body in {
        "widget.js": "window.BillingChat={};",
        "demo.js": "/* demo */",
        "demo.html": "<!doctype html><title>演示</title>",
    }.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


async def _get(url: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.request(method, url) as reply:
        return reply.status, await reply.text(), dict(reply.headers)


def _outbox(index: int) -> Optional[dict[str, Any]]:
    if index != 0:
        return None
    return {"masked_phone": "138****8000", "messages": [{"id": 1, "body": "您的验证码为 123456"}]}


async def test_development_serves_the_widget_the_demo_page_and_the_demo_phone(dist: Path) -> None:
    async with serve([WebChatInput(dist_dir=dist, demo=True, read_outbox=_outbox)]) as (url, _):
        base = f"{url}/webhooks/web"
        status, body, headers = await _get(f"{base}/widget.js")
        assert status == 200 and body == "window.BillingChat={};"
        assert headers["Content-Type"].startswith("text/javascript")
        status, body, headers = await _get(f"{base}/demo")
        assert status == 200 and "演示" in body and headers["Content-Type"].startswith("text/html")
        assert (await _get(f"{base}/demo.js"))[0] == 200
        status, body, _ = await _get(f"{base}/demo/phones")
        assert status == 200 and "138****8000" in body and "13800138000" not in body
        status, body, _ = await _get(f"{base}/demo/outbox/0")
        assert status == 200 and "123456" in body
        assert (await _get(f"{base}/demo/outbox/99"))[0] == 404


async def test_the_demo_phone_is_read_only(dist: Path) -> None:
    async with serve([WebChatInput(dist_dir=dist, demo=True, read_outbox=_outbox)]) as (url, _):
        for method in ("POST", "PUT", "DELETE"):
            assert (await _get(f"{url}/webhooks/web/demo/outbox/0", method))[0] == 405


async def test_production_has_the_widget_but_no_demo_page_or_outbox(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = SimpleNamespace(is_development=False)
    monkeypatch.setattr(bot.settings, "get_settings", lambda: production)
    async with serve([WebChatInput(dist_dir=dist, read_outbox=_outbox)]) as (url, _):
        base = f"{url}/webhooks/web"
        assert (await _get(f"{base}/widget.js"))[0] == 200
        for path in ("demo", "demo.js", "demo/phones", "demo/outbox/0"):
            assert (await _get(f"{base}/{path}"))[0] == 404, path


async def test_an_unbuilt_widget_says_how_to_build_it(tmp_path: Path) -> None:
    async with serve([WebChatInput(dist_dir=tmp_path / "missing", demo=False)]) as (url, _):
        status, body, _ = await _get(f"{url}/webhooks/web/widget.js")
        assert status == 404 and "make web" in body


async def test_a_store_failure_is_a_polite_503(dist: Path) -> None:
    def broken(index: int) -> None:
        raise RuntimeError("database is gone")

    async with serve([WebChatInput(dist_dir=dist, demo=True, read_outbox=broken)]) as (url, _):
        status, body, _ = await _get(f"{url}/webhooks/web/demo/outbox/0")
        assert status == 503 and "稍后再试" in json.loads(body)["error"] and "database" not in body


def test_the_outbox_reader_shows_the_latest_sms_to_a_demo_number_only(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
    with sqlite_store.transaction() as session:
        seed_demo(session, now, SETTINGS)
        gateway = OutboxSmsGateway()
        for code in ("111111", "222222"):
            gateway.send(
                session, phone=DEMO_PHONES[0], body=f"验证码 {code}", kind="verification_code", at=now
            )
        gateway.send(session, phone=DEMO_PHONES[1], body="验证码 333333", kind="verification_code", at=now)
    monkeypatch.setattr(bot.app, "get_services", lambda: SimpleNamespace(store=sqlite_store))
    found = _read_outbox(0)
    assert found is not None
    assert found["masked_phone"] == "138****8000"
    bodies = [m["body"] for m in found["messages"]]
    assert bodies[:2] == ["验证码 222222", "验证码 111111"]  # newest first (the seed sent one earlier)
    assert "验证码 333333" not in bodies
    assert found["messages"][0]["kind"] == "验证码" and found["messages"][0]["time"] == "2026-11-22 10:00:00"
    assert _read_outbox(len(DEMO_PHONES)) is None
    assert _read_outbox(-1) is None
