"""``python -m bot deliver-wechat --once`` against the settings' store and a fake WeChat API."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import settings as bot_settings
from bot.cli import main
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import WeChatBinding
from tests.support.alerts import alert_messages
from tests.support.demo import WANG, ZHANG
from tests.support.fake_wechat import APP_ID, APP_SECRET, FakeWeChatApi
from tests.support.settings import TEST_ENV
from tests.support.wechat import OPENID, TEMPLATE_ID, bind_follower, queue_wechat_alert


async def test_deliver_wechat_once_sends_bound_alerts_and_falls_back_for_the_others(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_template: Path,
    clock: FixedClock,
    fake_wechat: FakeWeChatApi,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "billing.db"
    shutil.copy(sqlite_template, path)
    env = {
        "BOT_DATABASE_URL": f"sqlite:///{path}",
        **TEST_ENV,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_API_BASE_URL": fake_wechat.base_url,
        "WECHAT_ALERT_TEMPLATE_ID": TEMPLATE_ID,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_SMS_GATEWAY", raising=False)
    bot_settings.get_settings.cache_clear()
    try:
        assert main(["seed-demo"], clock=clock) == 0
        store = Store.from_url(env["BOT_DATABASE_URL"])
        bind_follower(store, clock, ZHANG)
        for phone in (ZHANG, WANG):  # 张伟 is bound, 王强 is not
            queue_wechat_alert(store, clock, phone, amount_fen=100)
        capsys.readouterr()
        # main() runs its own event loop: run it in a thread so the fake API keeps serving here
        code = await asyncio.to_thread(main, ["deliver-wechat", "--once"], clock=clock)
        out = capsys.readouterr().out
        assert code == 0 and "微信送达 1 条" in out and "改发短信 1 条" in out
        assert [(c, s) for c, s, _ in alert_messages(store, ZHANG)] == [("wechat", "sent")]
        assert [(c, s) for c, s, _ in alert_messages(store, WANG)] == [("wechat", "failed"), ("sms", "sent")]
        assert len(fake_wechat.sends) == 1 and fake_wechat.sends[0][1]["touser"] == OPENID
        with store.transaction() as session:
            assert session.scalar(select(func.count()).select_from(WeChatBinding)) == 1
        store.dispose()
    finally:
        bot_settings.get_settings.cache_clear()
