"""The demo stories of the conversation flows, over the REST channel against real servers."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from sqlalchemy import select

from bot.billing.models import ClosureRequest, Dispute
from bot.billing.posting import post_charge, record_payment
from bot.notifications.models import Notification
from tests.support.servers import Servers


def _new() -> str:
    return f"flow-{uuid.uuid4().hex}"


def _all(replies: list[str]) -> str:
    return "\n".join(replies)


def _verify(servers: Servers, sender: str, phone: str) -> str:
    """Answers the verification questions; returns what the bot said after the code."""
    assert "验证码已发送" in _all(servers.say(sender, phone))
    return _all(servers.say(sender, servers.latest_code(phone)))


def test_zhang_wei_unknown_ringtone_charge_refund_once(servers: Servers) -> None:
    sender = _new()
    assert "验证身份" in _all(servers.say(sender, "这个月怎么多扣了10块"))
    answer = _verify(servers, sender, "13800138000")
    assert "视频彩铃" in answer and "短信营销" in answer and "申请退费吗" in answer
    refund = _all(servers.say(sender, "好的"))
    assert "工单号 TS" in refund and "退订视频彩铃" in refund
    again = _all(servers.say(sender, "我要退款"))
    assert "已经提交过退费申请" in again
    with servers.store.transaction() as session:
        disputes = session.scalars(select(Dispute).where(Dispute.conversation_id == sender)).all()
    assert len(disputes) == 1


def test_chen_jing_double_game_boost_is_flagged(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "最近扣费不对劲，帮我查下这个月扣了啥")
    answer = _verify(servers, sender, "13500135000")
    assert "游戏加速包" in answer and "重复" in answer


def test_closure_blocked_by_arrears_for_li_na(servers: Servers) -> None:
    sender = _new()
    intro = _all(servers.say(sender, "我要销户"))
    assert "注销" in intro
    _verify(servers, sender, "13900139000")
    blocked = _all(servers.say(sender, "135790"))
    assert "58.00" in blocked and "无法为您办理销户" in blocked


def test_liu_yang_closes_with_a_digression_and_cancels(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "我要销户")
    after_code = _verify(servers, sender, "13600136000")
    assert "服务密码" in after_code
    summary = _all(servers.say(sender, "135790"))
    assert "120.00" in summary and "确认销户" in summary
    # each fact once: the refund and the effective date are not repeated in other words
    assert summary.count("120.00") == 1 and len(re.findall(r"\d+月\d+日", summary)) == 1, summary
    digression = _all(servers.say(sender, "查一下余额"))
    assert "120.00 元" in digression and "确认销户" in digression  # answered, then the closure resumes
    requested = _all(servers.say(sender, "确认销户"))
    assert "销户申请已提交" in requested and "120.00" not in requested
    with servers.store.transaction() as session:
        assert session.scalars(
            select(ClosureRequest.status).where(ClosureRequest.conversation_id == sender)
        ).all() == ["pending"]
    assert "已为您撤销销户申请" in _all(servers.say(sender, "撤销销户申请"))


def test_alert_set_in_chat_fires_when_a_charge_posts(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "余额低于20提醒我")
    # 王强's number is not bound to WeChat: the form does not offer 微信, the alert is set by SMS
    saved = _verify(servers, sender, "13700137000")
    assert "方式" not in saved
    assert "余额低于20.00元时短信提醒" in saved
    with servers.store.transaction() as session:
        post_charge(
            session,
            phone="13700137000",
            amount_fen=19500,
            item_kind="other",
            description="测试扣费",
            at=datetime.now(timezone.utc),
        )
        bodies = session.scalars(
            select(Notification.body).where(Notification.phone == "13700137000", Notification.kind == "alert")
        ).all()
    assert any("余额" in b and "20.00" in b for b in bodies)
    # put the money back, so the other conversations see 王强's demo balance
    with servers.store.transaction() as session:
        record_payment(
            session, phone="13700137000", amount_fen=19500, method="alipay", at=datetime.now(timezone.utc)
        )
