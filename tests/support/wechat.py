"""WeChat in tests: the channel's configuration, and the template and follower of the alert tests."""

from __future__ import annotations

from bot.channels.wechat import WeChatConfig
from tests.support.fake_wechat import APP_ID, APP_SECRET

TOKEN = "testtoken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

#: The alert template and the bound follower of the alert-delivery tests (tests/wechat).
TEMPLATE_ID = "TPL-alerts-1"
OPENID = "oTestOpenId0123456789abcdefgh"


def make_config(mode: str, base_url: str, deadline: float = 2.0) -> WeChatConfig:
    return WeChatConfig(
        token=TOKEN,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        encoding_aes_key=AES_KEY if mode == "safe" else "",
        mode=mode,
        api_base_url=base_url,
        reply_deadline=deadline,
    )
