"""Issue 13, item 9, end to end over REST: one conversation may not have codes sent to many numbers,
nor one address many codes, whatever numbers; the subscriber hears a kind answer, the refusal is
audited, and the address comes from the connection (trusted proxy: the servers' loopback), never
from the message body.

What happened earlier (a script's requests, numbers tried two hours ago) is written into the
servers' store, as earlier requests would have left it: asking for hundreds of real codes would
spend the demo numbers' five-an-hour that the other end-to-end tests need.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Optional

import requests
from sqlalchemy import select

from bot.audit import AuditLog
from bot.billing.models import Subscriber
from bot.clock import SystemClock
from bot.identity.models import VerificationChallenge
from bot.notifications.models import Notification
from tests.support.demo import LI, WANG
from tests.support.servers import CODES_PER_CLIENT_HOUR, REST_TOKEN, Servers

LI_NA = LI  # two codes in the other e2e tests; one more here
WANG_QIANG = WANG  # only refused here


def _say(
    servers: Servers,
    sender: str,
    text: str,
    forwarded_for: Optional[str] = None,
    metadata: Optional[dict[str, Any]] = None,
) -> str:
    headers = {"Authorization": f"Bearer {REST_TOKEN}"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata is not None:
        body["metadata"] = metadata
    reply = requests.post(f"{servers.rasa_url}/webhooks/rest/webhook", json=body, headers=headers, timeout=30)
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def _earlier_codes(
    servers: Servers, *, conversation: str, phones: list[str], client: str, ago: timedelta
) -> None:
    now = SystemClock().now()
    with servers.store.transaction() as session:
        subscriber_id = session.scalars(select(Subscriber.id).order_by(Subscriber.id)).first()
        for i, phone in enumerate(phones):
            session.add(
                VerificationChallenge(
                    conversation_id=conversation if conversation else f"e2e-script-{uuid.uuid4().hex}",
                    subscriber_id=subscriber_id,
                    phone=phone,
                    factor="sms_otp",
                    code_hash="0" * 64,
                    created_at=now - ago + timedelta(seconds=i),
                    expires_at=now - ago + timedelta(minutes=5),
                    attempts=0,
                    status="expired",
                    client=client,
                )
            )


def _refusals(servers: Servers, conversation: str) -> list[dict[str, Any]]:
    with servers.store.transaction() as session:
        rows = session.scalars(
            select(AuditLog).where(
                AuditLog.action == "verification.code_refused", AuditLog.conversation_id == conversation
            )
        ).all()
        return [dict(row.details) for row in rows]


def _codes_to(servers: Servers, phone: str) -> int:
    with servers.store.transaction() as session:
        return len(
            session.scalars(
                select(Notification.id).where(
                    Notification.phone == phone, Notification.kind == "verification_code"
                )
            ).all()
        )


def test_a_conversation_may_not_have_codes_sent_to_a_fourth_number(servers: Servers) -> None:
    sender = f"e2e-{uuid.uuid4().hex}"
    # Two hours ago this conversation had codes sent to two other numbers.
    _earlier_codes(
        servers,
        conversation=sender,
        phones=["13500135000", "13600136000"],
        client="ip:203.0.113.40",
        ago=timedelta(hours=2),
    )
    assert "手机号码" in _say(servers, sender, "查一下我的余额", "203.0.113.40")
    assert "验证码已发送至 139****9000" in _say(servers, sender, LI_NA, "203.0.113.40")
    assert "取消" in _say(servers, sender, "算了", "203.0.113.40")
    assert "手机号码" in _say(servers, sender, "查一下我的余额", "203.0.113.40")
    sent_before = _codes_to(servers, WANG_QIANG)

    answer = _say(servers, sender, WANG_QIANG, "203.0.113.40")

    assert "已为3个不同的号码发送过验证码" in answer
    assert "转人工" in answer and "10086" in answer
    assert "验证码已发送" not in answer
    assert _codes_to(servers, WANG_QIANG) == sent_before
    [refusal] = _refusals(servers, sender)
    assert refusal["reason"] == "numbers_per_conversation"
    assert refusal["phone"] == "137****7000" and refusal["client"] == "ip:203.0.113.40"


def test_an_address_may_not_have_more_codes_sent_than_its_limit(servers: Servers) -> None:
    script = "ip:203.0.113.66"
    # Within the last ten minutes a script at 203.0.113.66 had codes sent up to the hourly limit.
    _earlier_codes(
        servers,
        conversation="",
        phones=["19900000000"] * CODES_PER_CLIENT_HOUR,
        client=script,
        ago=timedelta(minutes=10),
    )
    sender = f"e2e-{uuid.uuid4().hex}"
    _say(servers, sender, "查一下我的余额", "203.0.113.66")
    sent_before = _codes_to(servers, LI_NA)

    answer = _say(servers, sender, LI_NA, "203.0.113.66")

    assert "获取验证码的次数已达上限" in answer and "转人工" in answer
    assert _codes_to(servers, LI_NA) == sent_before
    [refusal] = _refusals(servers, sender)
    assert (refusal["reason"], refusal["client"]) == ("codes_per_client", script)

    # The script cannot name another client: not in the body, not in a forged X-Forwarded-For
    # (nginx appends the real address; the leftmost entries are the client's own).
    other = f"e2e-{uuid.uuid4().hex}"
    _say(servers, other, "查一下我的余额", "203.0.113.66, 203.0.113.67", {"client": "ip:198.51.100.9"})
    answer = _say(servers, other, LI_NA, "203.0.113.66, 203.0.113.67", {"client": "ip:198.51.100.9"})
    assert "验证码已发送至 139****9000" in answer
    with servers.store.transaction() as session:
        recorded = session.scalars(
            select(VerificationChallenge.client).where(VerificationChallenge.conversation_id == other)
        ).all()
    assert recorded == ["ip:203.0.113.67"]
