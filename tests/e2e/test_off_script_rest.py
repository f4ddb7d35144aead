"""Subscribers off the script (issue 13), over the REST channel against real servers.

Two requests in one message, blank and noise messages, two misunderstandings, questions inside
forms, a voided code. The demo numbers are shared by the whole session and each may get five
codes an hour, so every conversation here asks for as few codes as it can.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.billing.models import Dispute
from bot.handoff.models import Handoff
from tests.support.servers import Servers


def _new() -> str:
    return f"off-{uuid.uuid4().hex}"


def _all(replies: list[str]) -> str:
    return "\n".join(replies)


def _buttons(messages: list[dict]) -> list[str]:
    return [b["title"] for m in messages for b in m.get("buttons") or []]


def _handoffs(servers: Servers, sender: str) -> list[Handoff]:
    with servers.store.transaction() as session:
        rows = session.scalars(select(Handoff).where(Handoff.conversation_id == sender)).all()
        session.expunge_all()
        return list(rows)


def test_blank_and_noise_are_not_misunderstandings(servers: Servers) -> None:
    sender = _new()
    for blank in ("", "   "):  # nothing typed: told so, once
        replies = servers.say(sender, blank)
        assert len(replies) == 1 and "没有输入内容" in replies[0]
    for noise in ("x" * 5000, "<b></b>", "😀😀😀"):
        replies = servers.say(sender, noise)
        assert len(replies) == 1 and "文字" in replies[0], noise  # one short prompt
    assert _handoffs(servers, sender) == []
    # the bot still answers: nothing was queued for a person
    assert "验证身份" in _all(servers.say(sender, "查一下余额"))
    # inside the verification form too: the short prompt, then the form's own question again; no
    # "wrong number format", no code sent
    for odd in ("", "😀"):
        replies = servers.say(sender, odd)
        assert "格式" not in _all(replies) and "验证码已发送" not in _all(replies), replies
        assert replies[-1] == "请输入您的11位手机号码。", replies


def test_two_misunderstandings_offer_a_person_without_queueing(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "那个啥来着我忘了")
    offer = servers.say_messages(sender, "就是那个东西")
    assert _buttons(offer) == ["转人工", "换个说法"]
    assert _handoffs(servers, sender) == []
    assert "用一句话" in _all(servers.say(sender, "/rephrase"))
    assert "验证身份" in _all(servers.say(sender, "查一下余额"))
    assert _handoffs(servers, sender) == []


def test_a_person_chosen_after_two_misunderstandings_is_queued_as_a_fallback(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "那个啥来着我忘了")
    servers.say(sender, "就是那个东西")
    servers.say(sender, "/request_human")
    assert [h.reason for h in _handoffs(servers, sender)] == ["fallback"]


def test_unsubscribe_and_refund_in_one_message(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "游戏加速包给我关了，钱也退了")  # the model hears 退订 only
    assert "验证码已发送" in _all(servers.say(sender, "13500135000"))
    answer = _all(servers.say(sender, servers.latest_code("13500135000")))
    assert "已为您退订游戏加速包" in answer and "工单号 TS" in answer and "6.00" in answer
    assert answer.count("打个分") == 1
    assert "感谢您的评价（5分）" in _all(servers.say(sender, "5"))  # a bare digit answers the rating
    with servers.store.transaction() as session:
        assert len(session.scalars(select(Dispute).where(Dispute.conversation_id == sender)).all()) == 1


def test_questions_inside_verification_and_the_alert_form_and_a_voided_code(servers: Servers) -> None:
    sender = _new()
    servers.say(sender, "查余额")
    assert "验证码已发送" in _all(servers.say(sender, "13900139000"))
    # a question about the code is answered with a 重发 button; no second code is sent
    not_arrived = servers.say_messages(sender, "我的验证码怎么还没收到")
    assert "重发" in _buttons(not_arrived) and "139****9000" in _all([m.get("text", "") for m in not_arrived])
    # another request while verifying is kept for later
    assert "验证通过后" in _all(servers.say(sender, "顺便查下流量"))
    code = servers.latest_code("13900139000")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    servers.say(sender, wrong)
    servers.say(sender, wrong)
    voided = servers.say_messages(sender, wrong)
    voided_text = _all([m.get("text", "") for m in voided])
    assert "已失效" in voided_text and "6位" not in voided_text and "重发" in _buttons(voided)
    # typing a code again does not bring back "enter the 6-digit code"
    again = servers.say_messages(sender, wrong)
    assert "6位" not in _all([m.get("text", "") for m in again]) and "重发" in _buttons(again)
    assert "验证码已发送" in _all(servers.say(sender, "/resend_code"))
    verified = _all(servers.say(sender, servers.latest_code("13900139000")))
    assert "欠费 58.00 元" in verified and "本月用量" in verified  # both requests answered

    both = _all(servers.say(sender, "查一下余额和流量"))
    assert "58.00" in both and "本月用量" in both

    assert "低于多少元" in _all(servers.say(sender, "帮我设个余额提醒"))
    aside = _all(servers.say(sender, "我现在都设置了哪些提醒？"))
    assert "没有设置提醒" in aside and "低于多少元" in aside  # answered, then the form asks again
    assert "余额低于30.00元" in _all(servers.say(sender, "30"))
