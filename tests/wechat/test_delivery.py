"""The WeChat alert sender against a fake WeChat API on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Optional

import pytest
from sqlalchemy import select

from bot.audit import AuditLog
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import Notification, WeChatBinding
from bot.notifications.wechat_api import WeChatApi
from bot.notifications.wechat_delivery import WeChatAlertSender, sender_from_settings
from bot.settings import settings_from_env
from tests.support.alerts import alert_messages
from tests.support.demo import ZHANG
from tests.support.fake_wechat import APP_ID, APP_SECRET, FakeWeChatApi
from tests.support.sms import FailingGateway, RecordingGateway
from tests.support.wechat import OPENID, TEMPLATE_ID, bind_follower, queue_wechat_alert


@pytest.fixture
async def api(fake_wechat: FakeWeChatApi) -> AsyncIterator[WeChatApi]:
    client = WeChatApi(APP_ID, APP_SECRET, fake_wechat.base_url, timeout=2.0)
    yield client
    await client.close()


def _bind(store: Store, clock: FixedClock, phone: str = ZHANG) -> None:
    bind_follower(store, clock, phone)


def _wechat_alert(store: Store, clock: FixedClock, phone: str = ZHANG) -> None:
    """张伟 asks for a deduction alert by WeChat; a 10元 charge queues it."""
    queue_wechat_alert(store, clock, phone, sms=FailingGateway())  # nothing may go by SMS when it posts


def _sender(
    store: Store, clock: FixedClock, sms: Any, api: Optional[WeChatApi], **kwargs: Any
) -> WeChatAlertSender:
    return WeChatAlertSender(store, clock, sms, api, TEMPLATE_ID, retry_seconds=60, **kwargs)


def _row(store: Store) -> Notification:
    with store.transaction() as session:
        row = session.scalars(select(Notification).where(Notification.channel == "wechat")).one()
        session.expunge(row)
        return row


def _audit(store: Store, prefix: str = "notification.") -> list[tuple[str, dict[str, Any]]]:
    with store.transaction() as session:
        rows = session.execute(
            select(AuditLog.action, AuditLog.details, AuditLog.actor)
            .where(AuditLog.action.like(f"{prefix}%"))
            .order_by(AuditLog.id)
        ).all()
    assert all(actor in ("wechat_sender", "system") for _, _, actor in rows)
    return [(action, details) for action, details, _ in rows]


async def test_a_bound_number_gets_its_alert_as_a_template_message(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    sms = RecordingGateway()
    stats = await _sender(seeded, clock, sms, api).run_once()
    assert (stats.sent, stats.fallback) == (1, 0)
    assert len(fake_wechat.sends) == 1
    token, payload = fake_wechat.sends[0]
    assert token == "ACCESS-TOKEN-1"
    assert payload["touser"] == OPENID and payload["template_id"] == TEMPLATE_ID
    data = {name: field["value"] for name, field in payload["data"].items()}
    assert data["keyword1"] == "扣费提醒" and data["keyword2"] == "138****8000"
    assert data["keyword4"].startswith("尊敬的客户，您的账户于") and "扣费10.00元" in data["keyword4"]
    assert alert_messages(seeded, ZHANG) == [("wechat", "sent", alert_messages(seeded, ZHANG)[0][2])]
    assert sms.sent == []
    assert [a for a, _ in _audit(seeded)] == ["notification.wechat_sent"]
    assert await _sender(seeded, clock, sms, api).run_once() == type(stats)()  # nothing sent twice


async def test_an_unbound_number_gets_the_alert_by_sms(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _wechat_alert(seeded, clock)
    sms = RecordingGateway()
    stats = await _sender(seeded, clock, sms, api).run_once()
    assert stats.fallback == 1 and fake_wechat.sends == []
    messages = alert_messages(seeded, ZHANG)
    assert [(c, s) for c, s, _ in messages] == [("wechat", "failed"), ("sms", "sent")]
    assert messages[0][2] == messages[1][2] and sms.sent[0]["phone"] == ZHANG
    assert _audit(seeded) == [
        ("notification.wechat_failed", {"kind": "alert", "attempts": 0, "reason": "not_bound"}),
        ("notification.sms_fallback", {"kind": "alert", "attempts": 0, "reason": "not_bound"}),
    ]


async def test_system_busy_is_retried_later_then_sent(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    fake_wechat.answers = [-1]
    sender = _sender(seeded, clock, RecordingGateway(), api)
    assert (await sender.run_once()).retried == 1
    row = _row(seeded)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "queued",
        1,
        clock.now() + timedelta(seconds=60),
    )
    clock.advance(seconds=59)
    assert (await sender.run_once()).outcomes == [], "not before its time"
    clock.advance(seconds=1)
    assert (await sender.run_once()).sent == 1
    assert (_row(seeded).status, _row(seeded).attempts) == ("sent", 2)
    actions = _audit(seeded)
    assert [a for a, _ in actions] == ["notification.wechat_retry", "notification.wechat_sent"]
    assert actions[0][1]["errcode"] == -1 and actions[0][1]["reason"] == "busy"


async def test_server_errors_and_dropped_connections_are_retried_then_the_alert_goes_by_sms(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    fake_wechat.answers = ["503", "drop", -1]
    sms = RecordingGateway()
    sender = _sender(seeded, clock, sms, api, max_attempts=3)
    outcomes = []
    for pause in (0, 60, 120):
        clock.advance(seconds=pause)
        outcomes += [o for _, o in (await sender.run_once()).outcomes]
    assert outcomes == ["retry", "retry", "sms"]
    assert len(fake_wechat.sends) == 3
    assert [(c, s) for c, s, _ in alert_messages(seeded, ZHANG)] == [("wechat", "failed"), ("sms", "sent")]
    actions = _audit(seeded)
    assert [a for a, _ in actions] == [
        "notification.wechat_retry",
        "notification.wechat_retry",
        "notification.wechat_failed",
        "notification.sms_fallback",
    ]
    assert actions[0][1]["error"] == "HTTP 503" and actions[2][1]["reason"] == "retries_exhausted"


async def test_an_expired_access_token_is_refreshed_and_the_message_sent(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _bind(seeded, clock)
    await api.access_token()
    fake_wechat.revoke()
    _wechat_alert(seeded, clock)
    assert (await _sender(seeded, clock, RecordingGateway(), api).run_once()).sent == 1
    assert [t for t, _ in fake_wechat.sends] == ["ACCESS-TOKEN-1", "ACCESS-TOKEN-2"]
    assert len(fake_wechat.token_calls) == 2


async def test_an_unsubscribed_follower_is_unbound_and_gets_sms(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    fake_wechat.answers = [43004]
    sms = RecordingGateway()
    assert (await _sender(seeded, clock, sms, api).run_once()).fallback == 1
    assert len(sms.sent) == 1
    with seeded.transaction() as session:
        assert session.scalars(select(WeChatBinding)).all() == []
    assert ("wechat.unbound", {"reason": "unsubscribed"}) in _audit(seeded, "wechat.unbound")
    failed = dict(_audit(seeded))["notification.wechat_failed"]
    assert (failed["reason"], failed["errcode"]) == ("refused", 43004)


async def test_another_refusal_is_final_at_once(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    fake_wechat.answers = [40037]  # invalid template_id
    sms = RecordingGateway()
    assert [o for _, o in (await _sender(seeded, clock, sms, api).run_once()).outcomes] == ["sms"]
    assert len(fake_wechat.sends) == 1 and len(sms.sent) == 1
    with seeded.transaction() as session:
        assert session.scalars(select(WeChatBinding)).one().openid == OPENID, "still bound"


async def test_when_sms_is_down_too_the_alert_waits_then_is_given_up(
    seeded: Store, clock: FixedClock, fake_wechat: FakeWeChatApi, api: WeChatApi
) -> None:
    _wechat_alert(seeded, clock)  # not bound: straight to SMS, which is down
    sender = _sender(seeded, clock, FailingGateway(), api, max_attempts=2)
    assert [o for _, o in (await sender.run_once()).outcomes] == ["retry"]
    row = _row(seeded)
    assert (row.status, row.attempts) == ("queued", 1)
    assert [(c, s) for c, s, _ in alert_messages(seeded, ZHANG)] == [("wechat", "queued")]
    clock.advance(seconds=60)
    assert (await sender.run_once()).undelivered == 1
    assert _row(seeded).status == "failed"
    assert [a for a, _ in _audit(seeded)] == ["notification.sms_fallback_failed", "notification.undelivered"]


async def test_without_a_template_every_wechat_alert_goes_by_sms(
    seeded: Store, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    settings = settings_from_env(
        {"BOT_ENV": "test", "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET}
    )
    with caplog.at_level(logging.WARNING):
        sender = sender_from_settings(seeded, settings, clock)
    assert not sender.configured and "WECHAT_ALERT_TEMPLATE_ID" in caplog.text
    sender.sms = RecordingGateway()
    assert (await sender.run_once()).fallback == 1
    assert dict(_audit(seeded))["notification.wechat_failed"]["reason"] == "not_configured"


def test_the_template_id_and_the_account_come_from_the_environment() -> None:
    settings = settings_from_env(
        {
            "BOT_ENV": "test",
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_ALERT_TEMPLATE_ID": TEMPLATE_ID,
            "WECHAT_API_BASE_URL": "",
        }
    )
    assert settings.wechat_alert_template_id == TEMPLATE_ID
    assert settings.wechat_api_base_url == "https://api.weixin.qq.com"
    assert APP_SECRET not in repr(settings)


async def test_logs_carry_no_openid_token_body_or_full_number(
    seeded: Store,
    clock: FixedClock,
    fake_wechat: FakeWeChatApi,
    api: WeChatApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _bind(seeded, clock)
    _wechat_alert(seeded, clock)
    fake_wechat.answers = [-1, 40037]
    with caplog.at_level(logging.DEBUG):
        sender = _sender(seeded, clock, RecordingGateway(), api)
        await sender.run_once()
        clock.advance(minutes=5)
        await sender.run_once()
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))  # not the fake's
    assert "138****8000" in ours
    for secret in (OPENID, ZHANG, "ACCESS-TOKEN", APP_SECRET, "尊敬的客户"):
        assert secret not in ours
