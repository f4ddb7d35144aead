"""The verification form under the limits on who may have codes sent (issue 13, item 9): the
subscriber hears a kind answer with when to try again and a way to a person; the refusal is audited."""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.identity import ValidateVerificationForm
from bot.app import Services
from bot.audit import AuditLog
from bot.identity.clients import UNNAMED_CLIENT
from bot.notifications.models import Notification

NUMBERS = ["13800138000", "13900139000", "13700137000", "13600136000", "13500135000", "13400134000"]
ADDRESS = "ip:203.0.113.7"


def asks_for(phone: str, sender: str, metadata: Optional[dict[str, Any]]) -> Tracker:
    latest: dict[str, Any] = {
        "text": f"我的号码是{phone}",
        "intent": {"name": "inform", "confidence": 1.0},
        "entities": [],
    }
    if metadata is not None:
        latest["metadata"] = metadata
    return Tracker(
        sender_id=sender,
        slots={"requested_slot": "phone_number"},
        latest_message=latest,
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "verification_form"},
        latest_action_name="action_listen",
    )


async def ask(
    services: Services, phone: str, sender: str, metadata: Optional[dict[str, Any]] = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    slots = await ValidateVerificationForm(services).extract_phone_number(
        dispatcher, asks_for(phone, sender, metadata), {}
    )
    return slots, dispatcher.messages


def refusals(services: Services) -> list[dict[str, Any]]:
    with services.store.transaction() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "verification.code_refused")).all()
        return [dict(row.details) for row in rows]


def sms_count(services: Services) -> int:
    with services.store.transaction() as session:
        return len(
            session.scalars(select(Notification.id).where(Notification.kind == "verification_code")).all()
        )


async def test_a_fourth_number_in_one_conversation_is_refused_kindly(services: Services) -> None:
    for phone in NUMBERS[:3]:
        slots, messages = await ask(services, phone, "conv-web", {"client": ADDRESS})
        assert [m["response"] for m in messages] == ["utter_code_sent"]

    slots, messages = await ask(services, NUMBERS[3], "conv-web", {"client": ADDRESS})

    assert slots == {
        "phone_number": NUMBERS[3],
        "otp_status": "rate_limited",
        "second_factor_status": "rate_limited",
    }
    [message] = messages
    assert message["response"] == "utter_too_many_numbers"
    assert message["limit"] == 3
    assert message["retry_at"] == "11月23日 10:00"  # a day after the first, in Shanghai time
    assert sms_count(services) == 3
    assert [(r["reason"], r["phone"], r["client"]) for r in refusals(services)] == [
        ("numbers_per_conversation", "136****6000", ADDRESS)
    ]


async def test_one_address_may_have_ten_codes_sent_an_hour(services: Services) -> None:
    for i in range(10):
        slots, messages = await ask(services, NUMBERS[i % 5], f"conv-{i}", {"client": ADDRESS})
        assert [m["response"] for m in messages] == ["utter_code_sent"], i

    slots, messages = await ask(services, NUMBERS[5], "conv-script", {"client": ADDRESS})

    assert slots["otp_status"] == "rate_limited"
    assert [(m["response"], m["retry_at"]) for m in messages] == [("utter_code_requests_limited", "11:00")]
    assert refusals(services)[0]["reason"] == "codes_per_client"
    # Someone else, from another address, is served.
    slots, messages = await ask(services, NUMBERS[5], "conv-other", {"client": "ip:198.51.100.20"})
    assert [m["response"] for m in messages] == ["utter_code_sent"]
    assert sms_count(services) == 11


async def test_a_message_whose_channel_named_no_client_counts_as_one_unnamed_client(
    services: Services,
) -> None:
    for i in range(10):
        await ask(services, NUMBERS[i % 5], f"conv-{i}", None if i % 2 else {"app": "v2"})
    slots, messages = await ask(services, NUMBERS[5], "conv-x", {"client": "  "})
    assert [m["response"] for m in messages] == ["utter_code_requests_limited"]
    assert refusals(services)[0]["client"] == UNNAMED_CLIENT
