"""The WeChat server APIs: the access token, customer-service messages and template messages.

* ``GET {base}/cgi-bin/token?grant_type=client_credential&appid=..&secret=..`` gives an access
  token valid ``expires_in`` seconds (7200). It is cached until shortly before it expires, one
  refresh runs at a time, and a send that is told the token is invalid or expired (errcode
  40001, 40014, 42001) refreshes it once and tries again once.
* ``POST {base}/cgi-bin/message/custom/send?access_token=..`` sends a text to a subscriber who
  wrote in the last 48 hours (a few messages per interaction). Over the quota (45047) or outside
  the window (45015) the message is dropped with a log line: retrying cannot help.

Neither the app secret nor the access token is ever logged; errors are logged by errcode or by
exception class only, since an exception's text may carry the request URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Optional

import aiohttp

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
TOKEN_INVALID = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, token expired
OVER_QUOTA = 45047  # out of response count limit
OUT_OF_WINDOW = 45015  # response out of time limit (48 h) or unsubscribed
SYSTEM_BUSY = -1  # "system error", WeChat asks to try again later
USER_UNSUBSCRIBED = 43004  # require subscribe: the user no longer follows the account


class WeChatApiError(RuntimeError):
    """WeChat answered with an error code (or not at all)."""

    def __init__(self, errcode: int, what: str) -> None:
        super().__init__(f"WeChat {what} failed with errcode {errcode}")
        self.errcode = errcode


class WeChatUnavailable(RuntimeError):
    """WeChat could not be reached, answered HTTP 5xx, or issued no access token: try again later.

    The text names the cause by status, errcode or exception class only (never the URL).
    """


class WeChatApi:
    """Access token cache and customer-service text messages for one Official Account.

    Args:
        app_id: the account's AppID.
        app_secret: the account's AppSecret.
        base_url: the API root (``https://api.weixin.qq.com``; tests point it at a local server).
        timeout: seconds before a call is abandoned.
    """

    def __init__(
        self, app_id: str, app_secret: str, base_url: str = DEFAULT_API_BASE_URL, timeout: float = 5.0
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None
        self._token: Optional[str] = None
        self._token_expires = 0.0
        self._lock: Optional[asyncio.Lock] = None

    def __repr__(self) -> str:  # never show the secret or the token
        return f"WeChatApi(app_id={self.app_id!r}, base_url={self.base_url!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Closes the HTTP session (the server's stop listener calls this)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _cached_token(self) -> Optional[str]:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        return None

    async def access_token(self, stale: Optional[str] = None) -> str:
        """A valid access token, fetched when none is cached or the cached one is ``stale``.

        Args:
            stale: a token WeChat just refused; it is not returned again.

        Raises:
            WeChatApiError: WeChat refused to issue a token.
        """
        cached = self._cached_token()
        if cached and cached != stale:
            return cached
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one refresh in flight; the others wait for its result
            cached = self._cached_token()
            if cached and cached != stale:
                return cached
            self._token = None
            params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
            async with self._client().get(f"{self.base_url}/cgi-bin/token", params=params) as reply:
                body = await reply.json(content_type=None)
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                errcode = body.get("errcode", -1) if isinstance(body, dict) else -1
                raise WeChatApiError(int(errcode), "access token")
            expires_in = int(body.get("expires_in") or 7200)
            # Refresh five minutes early (or halfway, for a short-lived token).
            margin = 300 if expires_in > 600 else expires_in // 2
            self._token, self._token_expires = token, time.monotonic() + expires_in - margin
            logger.info("WeChat access token refreshed (valid %s s)", expires_in)
            return token

    async def _post(self, path: str, token: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """POSTs ``payload`` as JSON to ``{base_url}{path}``; returns the HTTP status and the body."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        async with self._client().post(
            f"{self.base_url}{path}",
            params={"access_token": token},
            data=data,
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as reply:
            body = None if reply.status >= 500 else await reply.json(content_type=None)
            return reply.status, body

    async def _post_custom(self, token: str, payload: dict[str, Any]) -> int:
        _, body = await self._post("/cgi-bin/message/custom/send", token, payload)
        return int(body.get("errcode", 0)) if isinstance(body, dict) else -1

    async def send_text(self, openid: str, text: str) -> bool:
        """Sends ``text`` to ``openid`` as a customer-service message.

        Returns:
            True when WeChat accepted it; False otherwise (the reason is logged, never raised).
        """
        payload = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        try:
            token = await self.access_token()
            errcode = await self._post_custom(token, payload)
            if errcode in TOKEN_INVALID:
                logger.info("WeChat refused the access token (errcode %s); refreshing once", errcode)
                token = await self.access_token(stale=token)
                errcode = await self._post_custom(token, payload)
        except WeChatApiError as exc:
            logger.warning(
                "WeChat customer-service message not sent: no access token (errcode %s)", exc.errcode
            )
            return False
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            logger.warning("WeChat customer-service message not sent: %s", type(exc).__name__)
            return False
        if errcode == 0:
            return True
        if errcode == OVER_QUOTA:
            logger.warning("WeChat customer-service quota for this subscriber is used up (errcode 45047)")
        elif errcode == OUT_OF_WINDOW:
            logger.warning("subscriber is outside the 48-hour customer-service window (errcode 45015)")
        else:
            logger.warning("WeChat customer-service message refused (errcode %s)", errcode)
        return False

    async def _post_template(self, token: str, payload: dict[str, Any]) -> int:
        status, body = await self._post("/cgi-bin/message/template/send", token, payload)
        if status >= 500:
            raise WeChatUnavailable(f"HTTP {status}")
        if not isinstance(body, dict):
            raise WeChatUnavailable("an answer that is not a JSON object")
        return int(body.get("errcode", 0))

    async def send_template(self, openid: str, template_id: str, data: dict[str, Any]) -> int:
        """Sends a template message to ``openid``.

        A refused access token (40001, 40014, 42001) is refreshed once and the message sent again
        once; any other errcode is returned for the caller to judge.

        Args:
            openid: the recipient, a follower of the account.
            template_id: the template chosen on the platform.
            data: the template's fields, ``{"keyword1": {"value": "..."}, ...}``.

        Returns:
            WeChat's errcode: 0 when the message was accepted.

        Raises:
            WeChatUnavailable: a network error, a timeout, an HTTP 5xx or no access token.
        """
        payload = {"touser": openid, "template_id": template_id, "data": data}
        try:
            token = await self.access_token()
            errcode = await self._post_template(token, payload)
            if errcode in TOKEN_INVALID:
                logger.info("WeChat refused the access token (errcode %s); refreshing once", errcode)
                token = await self.access_token(stale=token)
                errcode = await self._post_template(token, payload)
        except WeChatApiError as exc:
            raise WeChatUnavailable(f"no access token (errcode {exc.errcode})") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise WeChatUnavailable(type(exc).__name__) from None
        return errcode
