"""The fake WeChat API on loopback (tests/support/fake_wechat.py), and the demo store with alerts
set to 微信."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.fake_wechat import FakeWeChatApi


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChatApi]:
    fake = FakeWeChatApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def services(store: Any, clock: Any) -> Any:
    """The assistant's services on the demo store (as the action tests build them)."""
    from bot.seed import seed_demo
    from tests.support.actions import services_on
    from tests.support.settings import SETTINGS

    with store.transaction() as session:
        seed_demo(session, clock.now(), SETTINGS)
    return services_on(store, clock)
