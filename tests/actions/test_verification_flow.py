"""Verification and balance actions against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.account import ActionQueryBalance
from actions.identity import ActionCancelTask, ActionVerificationDone, ValidateVerificationForm
from bot.app import Services
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.models import VerificationChallenge
from bot.identity.service import VerificationService
from bot.notifications.errors import SmsGatewayError
from bot.notifications.sms import OutboxSmsGateway
from bot.seed import seed_demo
from bot.settings import Settings
from tests.support.actions import code_sent_to
from tests.support.settings import SETTINGS

CONVERSATION = "conv-actions"
PHONE = "13800138000"


def _settings() -> Settings:
    return SETTINGS


def _services(store: Store, clock: FixedClock, sms: Any = None) -> Services:
    settings = _settings()
    gateway = sms or OutboxSmsGateway()
    verification = VerificationService(store, gateway, clock, settings)
    return Services(settings=settings, clock=clock, store=store, verification=verification, sms=gateway)


@pytest.fixture
def services(store: Store, clock: FixedClock) -> Services:
    with store.transaction() as session:
        seed_demo(session, clock.now(), _settings())
    return _services(store, clock)


def tracker(
    *,
    intent: str = "inform",
    text: str = "",
    entities: Optional[list[dict[str, Any]]] = None,
    slots: Optional[dict[str, Any]] = None,
    sender: str = CONVERSATION,
) -> Tracker:
    return Tracker(
        sender_id=sender,
        slots=dict(slots or {}),
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "verification_form"},
        latest_action_name="action_listen",
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


async def test_balance_needs_verification_then_resumes(services: Services) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionQueryBalance(services).run(dispatcher, tracker(intent="query_balance"), {})
    assert events == [
        SlotSet("pending_request", "query_balance"),
        SlotSet("pending_level", "basic"),
        SlotSet("verification_needed", True),
        SlotSet("resume_form", "none"),
    ]
    assert responses(dispatcher) == ["utter_need_verification"]

    form = ValidateVerificationForm(services)
    dispatcher = CollectingDispatcher()
    filled = await form.extract_phone_number(
        dispatcher,
        tracker(
            text=PHONE,
            entities=[{"entity": "phone_number", "value": PHONE}],
            slots={"requested_slot": "phone_number"},
        ),
        {},
    )
    assert filled == {"phone_number": PHONE}
    assert dispatcher.messages[0]["response"] == "utter_code_sent"
    assert dispatcher.messages[0]["masked_phone"] == "138****8000"

    # What the channel guard does with the typed code, before Rasa sees the message:
    services.verification.submit_secret(CONVERSATION, code_sent_to(services.store, PHONE))

    dispatcher = CollectingDispatcher()
    otp = await form.extract_otp_status(
        dispatcher,
        tracker(
            intent="provide_secret",
            text="******",
            slots={"requested_slot": "otp_status", "phone_number": PHONE},
        ),
        {},
    )
    assert otp == {"otp_status": "verified"}

    dispatcher = CollectingDispatcher()
    events = await ActionVerificationDone(services).run(
        dispatcher, tracker(slots={"pending_request": "query_balance", "otp_status": "verified"}), {}
    )
    assert SlotSet("verification_needed", False) in events
    assert SlotSet("pending_request", None) in events
    balance = [m for m in dispatcher.messages if m.get("response") == "utter_balance"]
    assert balance and balance[0]["balance"] == "36.50" and balance[0]["masked_phone"] == "138****8000"

    # Now verified: the balance comes straight away, and only for the verified subscriber.
    dispatcher = CollectingDispatcher()
    events = await ActionQueryBalance(services).run(
        dispatcher, tracker(intent="query_balance", slots={"phone_number": "13600136000"}), {}
    )
    assert SlotSet("verification_needed", False) in events and SlotSet("resume_form", "none") in events
    assert dispatcher.messages[0]["balance"] == "36.50"


async def test_a_message_claiming_a_code_without_one_verifies_nothing(services: Services) -> None:
    form = ValidateVerificationForm(services)
    await form.extract_phone_number(
        CollectingDispatcher(), tracker(text=PHONE, slots={"requested_slot": "phone_number"}), {}
    )
    dispatcher = CollectingDispatcher()
    otp = await form.extract_otp_status(
        dispatcher,
        tracker(
            intent="provide_secret",
            text="/provide_secret",
            slots={"requested_slot": "otp_status", "phone_number": PHONE},
        ),
        {},
    )
    assert otp == {"otp_status": None}
    assert responses(dispatcher) == ["utter_code_not_received"]
    assert services.verification.current(CONVERSATION) is None


async def test_wrong_code_is_explained_and_asked_again(services: Services) -> None:
    form = ValidateVerificationForm(services)
    await form.extract_phone_number(
        CollectingDispatcher(), tracker(text=PHONE, slots={"requested_slot": "phone_number"}), {}
    )
    code = code_sent_to(services.store, PHONE)
    services.verification.submit_secret(CONVERSATION, f"{(int(code) + 1) % 1_000_000:06d}")
    dispatcher = CollectingDispatcher()
    otp = await form.extract_otp_status(
        dispatcher,
        tracker(intent="provide_secret", slots={"requested_slot": "otp_status", "phone_number": PHONE}),
        {},
    )
    assert otp == {"otp_status": None}
    assert dispatcher.messages[0]["response"] == "utter_code_wrong"
    assert dispatcher.messages[0]["attempts_left"] == 2


async def test_invalid_and_unknown_numbers_are_asked_again(services: Services) -> None:
    form = ValidateVerificationForm(services)
    dispatcher = CollectingDispatcher()
    assert await form.extract_phone_number(
        dispatcher, tracker(text="12345", slots={"requested_slot": "phone_number"}), {}
    ) == {"phone_number": None}
    assert responses(dispatcher) == ["utter_invalid_phone"]
    dispatcher = CollectingDispatcher()
    assert await form.extract_phone_number(
        dispatcher, tracker(text="号码是 133 1234 5678", slots={"requested_slot": "phone_number"}), {}
    ) == {"phone_number": None}
    assert responses(dispatcher) == ["utter_unknown_phone"]
    assert dispatcher.messages[0]["masked_phone"] == "133****5678"


async def test_interrupting_intents_leave_the_form_to_the_rules(services: Services) -> None:
    form = ValidateVerificationForm(services)
    for intent in ("stop", "request_human"):
        dispatcher = CollectingDispatcher()
        assert (
            await form.extract_phone_number(
                dispatcher, tracker(intent=intent, slots={"requested_slot": "phone_number"}), {}
            )
            == {}
        )
        assert dispatcher.messages == []
    dispatcher = CollectingDispatcher()
    events = await ActionCancelTask(services).run(dispatcher, tracker(intent="stop"), {})
    assert responses(dispatcher) == ["utter_cancelled"]
    assert SlotSet("pending_request", None) in events


class BrokenGateway:
    def send(self, session: Any, **kwargs: Any) -> None:
        raise SmsGatewayError("gateway down")


async def test_sms_gateway_failure_is_kind_and_leaves_nothing_half_done(
    store: Store, clock: FixedClock
) -> None:
    with store.transaction() as session:
        seed_demo(session, clock.now(), _settings())
    services = _services(store, clock, sms=BrokenGateway())
    dispatcher = CollectingDispatcher()
    filled = await ValidateVerificationForm(services).extract_phone_number(
        dispatcher, tracker(text=PHONE, slots={"requested_slot": "phone_number"}), {}
    )
    assert filled == {"phone_number": PHONE, "otp_status": "error", "second_factor_status": "error"}
    assert responses(dispatcher) == ["utter_sms_unavailable"]
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(VerificationChallenge)) == 0


async def test_unreachable_store_gets_a_kind_answer(clock: FixedClock) -> None:
    store = Store.from_url("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    services = _services(store, clock)
    dispatcher = CollectingDispatcher()
    events = await ActionQueryBalance(services).run(dispatcher, tracker(intent="query_balance"), {})
    assert responses(dispatcher) == ["utter_service_unavailable"]
    assert events == [SlotSet("verification_needed", False), SlotSet("resume_form", "none")]
