"""The WeChat channel's settings, from credentials.yml (the ``WECHAT_*`` environment variables)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from bot.channels.wechat_crypto import WeChatCryptoError, decode_aes_key
from bot.notifications.wechat_api import DEFAULT_API_BASE_URL

DEFAULT_REPLY_DEADLINE = 4.5
MAX_REPLY_DEADLINE = 4.8  # WeChat gives up after 5 s

_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")  # what the WeChat platform accepts as a Token


def is_production() -> bool:
    return os.environ.get("BOT_ENV", "development") not in ("development", "test")


@dataclass(frozen=True)
class WeChatConfig:
    """The channel's settings (credentials.yml, from the ``WECHAT_*`` environment variables).

    Attributes:
        token: the Token set on the platform (signatures).
        app_id: the account's AppID (safe mode and the API).
        app_secret: the account's AppSecret (access tokens).
        encoding_aes_key: the 43-character EncodingAESKey (safe mode).
        mode: ``safe`` (AES, the default) or ``plaintext``.
        api_base_url: root of WeChat's server API.
        reply_deadline: seconds to wait for the bot before answering ``success``.
    """

    token: str
    app_id: str
    app_secret: str = field(repr=False)
    encoding_aes_key: str = field(default="", repr=False)
    mode: str = "safe"
    api_base_url: str = DEFAULT_API_BASE_URL
    reply_deadline: float = DEFAULT_REPLY_DEADLINE

    def __post_init__(self) -> None:
        problems = []
        if not _TOKEN.fullmatch(self.token):
            problems.append("WECHAT_TOKEN must be 3-32 letters or digits, as on the WeChat platform")
        if not self.app_id:
            problems.append("WECHAT_APP_ID must be set")
        if not self.app_secret:
            problems.append("WECHAT_APP_SECRET must be set (late answers need an access token)")
        if self.mode not in ("safe", "plaintext"):
            problems.append(f"WECHAT_MODE must be safe or plaintext, not {self.mode!r}")
        if self.mode == "safe":
            try:
                decode_aes_key(self.encoding_aes_key)
            except WeChatCryptoError:
                problems.append(
                    "WECHAT_ENCODING_AES_KEY must be the platform's 43-character key in safe mode"
                )
        if not re.match(r"https?://", self.api_base_url):
            problems.append("WECHAT_API_BASE_URL must be an http(s) URL")
        elif is_production() and not self.api_base_url.startswith("https://"):
            problems.append("WECHAT_API_BASE_URL must use https in production")
        if not 0 < self.reply_deadline <= MAX_REPLY_DEADLINE:
            problems.append(f"WECHAT_REPLY_DEADLINE must be more than 0 and at most {MAX_REPLY_DEADLINE} s")
        if problems:
            raise ValueError("WeChat channel: " + "; ".join(problems))

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> Optional[WeChatConfig]:
        """Settings from credentials.yml; None (channel disabled) when no token is configured.

        Raises:
            ValueError: a token is configured but the rest is missing or invalid.
        """

        def value(key: str) -> str:
            raw = (credentials or {}).get(key)
            text = "" if raw is None else str(raw).strip()
            return "" if text.startswith("${") else text

        if not value("token"):
            return None
        deadline = value("reply_deadline")
        try:
            reply_deadline = float(deadline) if deadline else DEFAULT_REPLY_DEADLINE
        except ValueError:
            raise ValueError("WeChat channel: WECHAT_REPLY_DEADLINE must be a number of seconds") from None
        return cls(
            token=value("token"),
            app_id=value("app_id"),
            app_secret=value("app_secret"),
            encoding_aes_key=value("encoding_aes_key"),
            mode=(value("mode") or "safe").lower(),
            api_base_url=value("api_base_url") or DEFAULT_API_BASE_URL,
            reply_deadline=reply_deadline,
        )
