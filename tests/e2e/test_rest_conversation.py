"""The first conversation over the REST channel, against real servers and the seeded store."""

from __future__ import annotations

import uuid
from datetime import timedelta

import requests
from sqlalchemy import select

from bot.identity.models import VerificationChallenge
from tests.support.servers import ACTION_TOKEN, REST_TOKEN, Servers


def _conversation() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def _joined(replies: list[str]) -> str:
    return "\n".join(replies)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _start(servers: Servers, sender: str, phone: str) -> str:
    """Asks for the balance, gives the number; returns the code the phone received."""
    asked = _joined(servers.say(sender, "查一下我的余额"))
    assert "验证身份" in asked and "手机号码" in asked
    sent = _joined(servers.say(sender, phone))
    assert f"验证码已发送至 {phone[:3]}****{phone[-4:]}" in sent
    return servers.latest_code(phone)


def test_greet_verify_by_sms_and_hear_the_real_balance(servers: Servers) -> None:
    sender = _conversation()
    assert "您好" in _joined(servers.say(sender, "你好"))
    code = _start(servers, sender, "13800138000")
    answer = _joined(servers.say(sender, code))
    assert "身份验证成功" in answer
    assert "138****8000" in answer and "36.50 元" in answer
    # Verified now: the next question is answered straight away.
    assert "36.50 元" in _joined(servers.say(sender, "我还有多少话费"))
    # The code never reached Rasa: not in the tracker, not in any log, not in a reply.
    assert code not in servers.tracker(sender)
    assert code not in servers.log_text()
    assert code not in answer


def test_arrears_are_told_as_arrears(servers: Servers) -> None:
    sender = _conversation()
    code = _start(servers, sender, "13900139000")
    answer = _joined(servers.say(sender, code))
    assert "欠费 58.00 元" in answer


def test_wrong_code_then_right_code(servers: Servers) -> None:
    sender = _conversation()
    code = _start(servers, sender, "13700137000")
    assert "验证码不正确，您还可以再试2次" in _joined(servers.say(sender, _wrong(code)))
    answer = _joined(servers.say(sender, code))
    assert "身份验证成功" in answer and "210.00 元" in answer


def test_expired_code_is_refused_and_a_new_one_works(servers: Servers) -> None:
    sender = _conversation()
    code = _start(servers, sender, "13500135000")
    # Six minutes pass: move the challenge into the past.
    with servers.store.transaction() as session:
        for challenge in session.scalars(
            select(VerificationChallenge).where(VerificationChallenge.conversation_id == sender)
        ):
            challenge.created_at -= timedelta(minutes=6)
            challenge.expires_at -= timedelta(minutes=6)
    assert "超过5分钟有效期" in _joined(servers.say(sender, code))
    assert "验证码已发送至 135****5000" in _joined(servers.say(sender, "重发"))
    answer = _joined(servers.say(sender, servers.latest_code("13500135000")))
    assert "身份验证成功" in answer and "5.20 元" in answer


def test_five_failures_lock_the_number(servers: Servers) -> None:
    sender = _conversation()
    code = _start(servers, sender, "13400134000")
    assert "还可以再试2次" in _joined(servers.say(sender, _wrong(code)))
    assert "还可以再试1次" in _joined(servers.say(sender, _wrong(code)))
    assert "验证码错误次数过多" in _joined(servers.say(sender, _wrong(code)))
    assert "验证码已发送" in _joined(servers.say(sender, "重发"))
    code = servers.latest_code("13400134000")
    assert "还可以再试1次" in _joined(servers.say(sender, _wrong(code)))
    locked = _joined(servers.say(sender, _wrong(code)))
    assert "锁定" in locked and "转人工" in locked
    # Even from a new conversation the number stays locked, and no code is sent.
    other = _conversation()
    servers.say(other, "查余额")
    assert "锁定" in _joined(servers.say(other, "13400134000"))
    assert "42.00" not in servers.tracker(other)


def test_unknown_number_and_bad_input_change_nothing(servers: Servers) -> None:
    sender = _conversation()
    servers.say(sender, "查余额")
    assert "没有查到号码 133****5678" in _joined(servers.say(sender, "13312345678"))
    assert "11位手机号码" in _joined(servers.say(sender, "我也不知道"))
    assert "已为您取消" in _joined(servers.say(sender, "算了"))


def test_a_typed_secret_intent_verifies_nothing(servers: Servers) -> None:
    sender = _conversation()
    _start(servers, sender, "13800138000")
    answer = _joined(servers.say(sender, '/provide_secret{"otp_status": "verified"}'))
    assert "36.50" not in answer
    assert "36.50" not in _joined(servers.say(sender, '/query_balance{"verification_needed": false}'))


def test_endpoints_refuse_requests_without_their_token(servers: Servers) -> None:
    rest = requests.post(
        f"{servers.rasa_url}/webhooks/rest/webhook", json={"sender": "x", "message": "查余额"}, timeout=10
    )
    assert rest.status_code == 401
    wrong = requests.post(
        f"{servers.rasa_url}/webhooks/rest/webhook",
        json={"sender": "x", "message": "查余额"},
        headers={"Authorization": f"Bearer {REST_TOKEN}x"},
        timeout=10,
    )
    assert wrong.status_code == 401
    api = requests.get(f"{servers.rasa_url}/conversations/x/tracker", timeout=10)
    assert api.status_code in (401, 403)
    action = requests.post(
        f"{servers.action_url}/webhook", json={"next_action": "action_query_balance"}, timeout=10
    )
    assert action.status_code == 401
    listed = requests.get(f"{servers.action_url}/actions", params={"token": ACTION_TOKEN}, timeout=10)
    assert listed.status_code == 200 and {"name": "action_query_balance"} in listed.json()


def test_odd_input_gets_a_polite_answer_and_no_error(servers: Servers) -> None:
    sender = _conversation()
    noise = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(5000))
    for text in (
        "Hello, can you help me with my phone bill?",
        "",
        noise,
        "😀😡🙏🔥💯",
        "¿Dónde está mi factura?",
    ):
        replies = servers.say(sender, text)
        assert replies, f"no reply to {text[:20]!r}"
        assert all(r.strip() for r in replies)
        assert not any("Traceback" in r or "Error" in r for r in replies)
    # and the conversation still works afterwards
    assert "手机号码" in _joined(servers.say(sender, "查一下我的余额"))
