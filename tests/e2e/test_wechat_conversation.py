"""A WeChat conversation against the real servers: plaintext mode, passive replies, codes guarded.

The servers' environment (tests/support/servers.py) enables the WeChat channel in plaintext mode
with test values; its customer-service API points at a closed loopback port, so every answer
asserted here is the passive reply, given within WeChat's deadline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone

import requests
from sqlalchemy import select

from bot.alerts.rules import cancel_alert
from bot.billing.models import Subscriber
from bot.billing.posting import post_charge, record_payment
from bot.channels.wechat_xml import parse_xml
from bot.clock import SystemClock
from bot.notifications.models import Notification, WeChatBinding
from bot.notifications.sms import OutboxSmsGateway
from bot.notifications.wechat_api import WeChatApi
from bot.notifications.wechat_delivery import WeChatAlertSender
from tests.support.fake_wechat import APP_ID, APP_SECRET, FakeWeChatApi
from tests.support.servers import WECHAT_ACCOUNT as ACCOUNT
from tests.support.servers import Servers, post_text, signed_query
from tests.support.wechat import TEMPLATE_ID


def _say(servers: Servers, openid: str, text: str) -> str:
    reply = post_text(servers, openid, text)
    assert reply.text != "success", "the bot did not answer within WeChat's deadline"
    fields = parse_xml(reply.content)
    assert (fields["ToUserName"], fields["FromUserName"], fields["MsgType"]) == (openid, ACCOUNT, "text")
    return fields["Content"]


def test_a_wechat_subscriber_verifies_by_code_and_hears_the_balance(servers: Servers) -> None:
    handshake = requests.get(
        f"{servers.rasa_url}/webhooks/wechat/webhook",
        params={**signed_query(), "echostr": "e2e-echo"},
        timeout=10,
    )
    assert (handshake.status_code, handshake.text) == (200, "e2e-echo")

    openid = f"oE2E{uuid.uuid4().hex[:24]}"
    asked = _say(servers, openid, "查余额")
    assert "验证身份" in asked and "手机号码" in asked
    assert "验证码已发送至 138****8000" in _say(servers, openid, "13800138000")
    code = servers.latest_code("13800138000")
    answer = _say(servers, openid, code)
    assert "身份验证成功" in answer and "36.50 元" in answer
    # The openid is the conversation; the code reached neither its tracker nor the logs.
    tracker = servers.tracker(openid)
    said = [e.get("text") for e in json.loads(tracker)["events"] if e["event"] == "user"]
    assert said[:2] == ["查余额", "13800138000"] and code not in tracker
    assert json.loads(tracker)["latest_input_channel"] == "wechat"
    assert code not in servers.log_text()


async def _deliver(servers: Servers) -> FakeWeChatApi:
    """One pass of the WeChat sender against a fake WeChat API on loopback."""
    fake = FakeWeChatApi()
    await fake.start()
    api = WeChatApi(APP_ID, APP_SECRET, fake.base_url, timeout=3.0)
    try:
        sender = WeChatAlertSender(servers.store, SystemClock(), OutboxSmsGateway(), api, TEMPLATE_ID)
        await sender.run_once()
    finally:
        await api.close()
        await fake.stop()
    return fake


def test_verifying_in_wechat_binds_the_number_alerts_go_there_and_it_can_be_unbound(servers: Servers) -> None:
    openid = f"oE2E{uuid.uuid4().hex[:24]}"
    phone = "13600136000"  # 刘洋, balance 120.00 元, no alerts
    _say(servers, openid, "余额低于20提醒我")
    _say(servers, openid, phone)
    verified = _say(servers, openid, servers.latest_code(phone))
    assert "已将号码136****6000与您的微信绑定" in verified
    assert "方式" in verified, "bound: the form offers 微信"
    saved = _say(servers, openid, "微信")
    assert "余额低于20.00元时微信提醒" in saved

    with servers.store.transaction() as session:
        subscriber_id = session.scalars(select(Subscriber.id).where(Subscriber.phone == phone)).one()
        assert session.scalars(
            select(WeChatBinding.openid).where(WeChatBinding.subscriber_id == subscriber_id)
        ).all() == [openid]
        post_charge(
            session,
            phone=phone,
            amount_fen=10100,
            item_kind="other",
            description="测试扣费",
            at=datetime.now(timezone.utc),
        )
    fake = asyncio.run(_deliver(servers))
    assert [body["touser"] for _, body in fake.sends] == [openid]
    assert fake.sends[0][1]["data"]["keyword1"]["value"] == "余额提醒"
    with servers.store.transaction() as session:
        rows = session.execute(
            select(Notification.channel, Notification.status).where(
                Notification.phone == phone, Notification.kind == "alert"
            )
        ).all()
        assert [tuple(r) for r in rows][-1:] == [("wechat", "sent")]

    unbound = _say(servers, openid, "解除微信绑定")
    assert "已解除号码136****6000与微信的绑定" in unbound
    with servers.store.transaction() as session:
        assert session.scalars(select(WeChatBinding).where(WeChatBinding.openid == openid)).all() == []
        # put 刘洋 back as the demo has him, for the other conversations
        record_payment(session, phone=phone, amount_fen=10100, method="alipay", at=datetime.now(timezone.utc))
        cancel_alert(
            session,
            subscriber_id=subscriber_id,
            alert_type="balance",
            at=datetime.now(timezone.utc),
            conversation_id=None,
        )
