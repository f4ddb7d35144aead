"""One fake of WeChat's server API on loopback: access tokens, customer-service and template messages.

The channel's tests (tests/channels/test_wechat.py, the agent console) send customer-service
messages; the alert sender's tests (tests/wechat/) send template messages. Both record every call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from aiohttp import test_utils, web

#: The test Official Account's credentials (the secret must never appear in a log).
APP_ID = "wx1234567890abcdef"
APP_SECRET = "app-secret-never-logged-7f3a"


@dataclass
class FakeWeChatApi:
    """Serves /cgi-bin/token, /cgi-bin/message/custom/send and /cgi-bin/message/template/send.

    Customer-service sends are recorded in ``send_calls``; ``send_errcodes`` are answered, in
    order, to the next ones made with a valid token, and an invalid token gets 40001. Template
    sends are recorded in ``sends``; ``answers`` are used in order for the next ones made with a
    valid token (an int is the errcode, ``"503"`` an HTTP 503, ``"drop"`` a closed connection),
    and an invalid token gets 42001. ``revoke()`` invalidates the current token.
    """

    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    token_calls: list[dict[str, str]] = field(default_factory=list)
    token_delay: float = 0.0
    send_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    send_errcodes: list[int] = field(default_factory=list)
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    valid_token: Optional[str] = None
    issued: int = 0
    server: Optional[test_utils.TestServer] = None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls.append(dict(request.query))
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if request.query.get("appid") != self.app_id or request.query.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.issued += 1
        self.valid_token = f"ACCESS-TOKEN-{self.issued}"
        return web.json_response({"access_token": self.valid_token, "expires_in": 7200})

    async def _custom(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        self.send_calls.append((token, await request.json()))
        if token != self.valid_token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if self.send_errcodes:
            return web.json_response({"errcode": self.send_errcodes.pop(0), "errmsg": "refused"})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _template(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("access_token", "")
        self.sends.append((token, await request.json()))
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
        app.router.add_post("/cgi-bin/message/custom/send", self._custom)
        app.router.add_post("/cgi-bin/message/template/send", self._template)
        self.server = test_utils.TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def wait_for_sends(self, count: int, timeout: float = 3.0) -> list[tuple[str, dict[str, Any]]]:
        """The customer-service sends, once there are ``count`` of them (fails after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while len(self.send_calls) < count:
            assert time.monotonic() < deadline, f"expected {count} sends, got {self.send_calls}"
            await asyncio.sleep(0.01)
        return self.send_calls
