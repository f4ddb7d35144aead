"""WeChat in tests: the channel's configuration, and the template and follower of the alert tests."""

from __future__ import annotations

from typing import Any, Optional

from bot.alerts.rules import create_alert
from bot.billing.posting import post_charge
from bot.channels.wechat_config import WeChatConfig
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.wechat import bind
from tests.support.demo import ZHANG, subscriber_id
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


def bind_follower(store: Store, clock: FixedClock, phone: str = ZHANG) -> None:
    """Binds ``phone`` to the test follower :data:`OPENID`, as a verification in WeChat does."""
    with store.transaction() as session:
        bind(
            session,
            openid=OPENID,
            subscriber_id=subscriber_id(store, phone),
            at=clock.now(),
            conversation_id=OPENID,
        )


def queue_wechat_alert(
    store: Store, clock: FixedClock, phone: str = ZHANG, amount_fen: int = 1000, sms: Optional[Any] = None
) -> None:
    """A deduction alert by WeChat for ``phone``, then a charge a minute later that queues it."""
    with store.transaction() as session:
        create_alert(
            session,
            subscriber_id=subscriber_id(store, phone),
            alert_type="deduction",
            threshold=None,
            channel="wechat",
            at=clock.now(),
            conversation_id="c1",
        )
    extra = {"sms": sms} if sms is not None else {}
    with store.transaction() as session:
        post_charge(
            session,
            phone=phone,
            amount_fen=amount_fen,
            item_kind="other",
            description="测试扣费",
            at=clock.advance(minutes=1),
            **extra,
        )
