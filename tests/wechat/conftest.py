"""A fake WeChat template-message API on loopback, and the demo store with alerts set to 微信."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from aiohttp import test_utils, web

APP_ID = "wx-test-app"
APP_SECRET = "test-app-secret-0123456789abcdef"
TEMPLATE_ID = "TPL-alerts-1"
OPENID = "oTestOpenId0123456789abcdefgh"


@dataclass
class FakeTemplateApi:
    """Serves /cgi-bin/token and /cgi-bin/message/template/send, recording every send.

    ``answers`` are used in order for the next sends made with a valid token: an int is the
    errcode, ``"503"`` an HTTP 503, ``"drop"`` a closed connection. ``revoke()`` invalidates
    the current token (the next send gets 40001).
    """

    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    token_calls: int = 0
    answers: list[Any] = field(default_factory=list)
    valid_token: Optional[str] = None
    issued: int = 0
    server: Optional[test_utils.TestServer] = None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        if request.query.get("appid") != APP_ID or request.query.get("secret") != APP_SECRET:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.issued += 1
        self.valid_token = f"ACCESS-TOKEN-{self.issued}"
        return web.json_response({"access_token": self.valid_token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("access_token", "")
        body = await request.json()
        self.sends.append((token, body))
        if token != self.valid_token:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        answer = self.answers.pop(0) if self.answers else 0
        if answer == "503":
            return web.Response(status=503, text="busy")
        if answer == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return web.json_response({"errcode": answer, "errmsg": "ok" if answer == 0 else "refused"})

    def revoke(self) -> None:
        self.valid_token = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/template/send", self._send)
        self.server = test_utils.TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeTemplateApi]:
    fake = FakeTemplateApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def services(store: Any, clock: Any) -> Any:
    """The assistant's services on the demo store (as the action tests build them)."""
    from bot.billing.seed import seed_demo
    from tests.actions.conftest import SETTINGS, services_on

    with store.transaction() as session:
        seed_demo(session, clock.now(), SETTINGS)
    return services_on(store, clock)
