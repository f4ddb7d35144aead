"""The console's JSON API conventions: refusals as ``{"error": …}``, request bodies, response headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

MAX_TEXT = 2000
EMPTY_TEXT = "内容不能为空，且不能超过2000字。"

API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ApiError(Exception):
    """A refusal, answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def api(
    handler: Callable[..., Awaitable[HTTPResponse]],
) -> Callable[..., Awaitable[HTTPResponse]]:
    """An API route: its ``ApiError`` becomes the JSON refusal; every answer is ``no-store``."""

    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        try:
            reply = await handler(request, *args, **kwargs)
        except ApiError as exc:
            reply = response.json({"error": exc.message}, status=exc.status)
            if exc.status == 401:
                reply.headers["WWW-Authenticate"] = 'Bearer realm="agent-console"'
        reply.headers.update(API_HEADERS)
        return reply

    wrapped.__name__ = handler.__name__
    return wrapped


def json_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - Sanic raises its own error for unparseable JSON
        body = None
    return body if isinstance(body, dict) else {}


def text_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_TEXT:
        raise ApiError(400, EMPTY_TEXT)
    return text
