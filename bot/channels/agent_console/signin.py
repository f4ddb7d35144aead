"""Signing agents in and out, the failed sign-in throttle, and the bearer token on every other request.

``POST /api/login`` is the only API route open without a token. Failures are answered alike
(unknown user, wrong password, inactive) and cost the same; 5 failures within 10 minutes for a
username or an address answer 429 until the window passes (in this process's memory).

Everything else needs ``Authorization: Bearer <token>`` and answers 401 when it is missing, expired
(absolute or idle), revoked or its agent deactivated. A request with ``X-Console-Refresh: auto``
(the console's automatic refreshes) does not count as activity: it does not slide the idle window.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from sanic.request import Request

from bot.channels.agent_console.api import ApiError, json_body
from bot.channels.agent_console.serialise import iso
from bot.handoff import agents

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services
    from bot.channels.agent_console.store import ConsoleStore
    from bot.handoff.models import Agent

logger = logging.getLogger(__name__)

LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 600.0
AUTO_REFRESH_HEADER = "x-console-refresh"

UNAUTHORIZED = "登录已失效，请重新登录。"
BAD_LOGIN = "用户名或密码不正确。"
TOO_MANY_LOGINS = "登录失败次数过多，请10分钟后再试。"

T = TypeVar("T")


class LoginThrottle:
    """Counts failed sign-ins per key (username, address) in a sliding window, in memory."""

    def __init__(
        self,
        max_failures: int = LOGIN_MAX_FAILURES,
        window: float = LOGIN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._max = max_failures
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, key: str) -> list[float]:
        cutoff = self._clock() - self._window
        times = [t for t in self._failures.get(key, []) if t > cutoff]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, keys: Iterable[str]) -> bool:
        """Whether any key has used up its failures."""
        return any(len(self._recent(key)) >= self._max for key in keys)

    def failed(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.setdefault(key, []).append(self._clock())
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def sign_in(store: ConsoleStore, throttle: LoginThrottle, request: Request) -> dict[str, Any]:
    """``{token, expires_at, agent}`` for a good username and password.

    Raises:
        ApiError: 400 without both, 429 while throttled, 401 for any failure; the store's errors.
    """
    from bot.handoff.errors import InvalidCredentials

    body = json_body(request)
    raw_username, raw_password = body.get("username"), body.get("password")
    username = raw_username.strip()[:40] if isinstance(raw_username, str) else ""
    password = raw_password if isinstance(raw_password, str) else ""
    if not username or not password:
        raise ApiError(400, "请输入用户名和密码。")
    keys = [f"user:{username.lower()}", f"addr:{request.remote_addr or request.ip}"]
    if throttle.blocked(keys):
        raise ApiError(429, TOO_MANY_LOGINS)

    def check(session: Session, now: datetime, services: Services) -> Optional[dict[str, Any]]:
        try:
            issued = agents.authenticate(session, username, password[:200], now, services.settings)
        except InvalidCredentials:
            return None
        return {
            "token": issued.token,
            "expires_at": iso(issued.expires_at),
            "agent": {
                "id": issued.agent_id,
                "name": issued.display_name,
                "username": username,
                "role": issued.role,
            },
        }

    signed_in = await store.run(check)
    if signed_in is None:
        throttle.failed(keys)
        logger.info("an agent console sign-in failed")
        raise ApiError(401, BAD_LOGIN)
    throttle.succeeded(keys[0])
    logger.info("agent %s signed in to the console", signed_in["agent"]["id"])
    return signed_in


async def sign_out(store: ConsoleStore, request: Request) -> None:
    """Revokes the request's token (after checking it, as for any other request)."""

    token = bearer(request)

    def revoke(session: Session, agent: Agent, now: datetime, services: Services) -> bool:
        return agents.revoke(session, token, now)

    await as_agent(store, request, revoke)


async def as_agent(
    store: ConsoleStore, request: Request, work: Callable[[Session, Agent, datetime, Services], T]
) -> T:
    """Checks the request's token and runs ``work`` for its agent, in the same transaction.

    Raises:
        ApiError: 401 for a missing, expired or revoked token; the errors of ``ConsoleStore.run``.
    """

    token = bearer(request)
    if not token:
        raise ApiError(401, UNAUTHORIZED)
    touch = (request.headers.get(AUTO_REFRESH_HEADER) or "").lower() != "auto"

    def checked(session: Session, now: datetime, services: Services) -> T:
        agent = agents.agent_for_token(session, token, now, services.settings, touch=touch)
        if agent is None:
            raise ApiError(401, UNAUTHORIZED)
        return work(session, agent, now, services)

    return await store.run(checked)


async def token_valid(store: ConsoleStore, token: Any) -> bool:
    """Whether ``token`` is a live sign-in (without counting as activity); False when the store is down."""

    if not isinstance(token, str) or not token:
        return False

    def check(session: Session, now: datetime, services: Services) -> bool:
        return agents.agent_for_token(session, token, now, services.settings, touch=False) is not None

    try:
        return await store.run(check)
    except ApiError:
        return False
