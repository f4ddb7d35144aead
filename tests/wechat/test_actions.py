"""The conversation side of WeChat binding: bind after verification in WeChat, the alert form's
channel question, and 解除微信绑定 — rasa-sdk actions against the demo store."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from actions.alerts import ActionSaveAlert, ValidateAlertForm
from actions.identity import ActionVerificationDone
from actions.wechat import ActionUnbindWechat
from bot.app import Services
from bot.billing.models import AlertRule
from bot.notifications.models import WeChatBinding
from tests.support.actions import verify
from tests.support.demo import ZHANG
from tests.support.wechat import OPENID


def tracker(
    sender: str,
    *,
    channel: str = "wechat",
    intent: str = "inform",
    slots: Optional[dict[str, Any]] = None,
) -> Tracker:
    latest = {"text": "", "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    events = [{"event": "user", "text": "", "parse_data": latest, "input_channel": channel}]
    return Tracker(sender, dict(slots or {}), latest, events, False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, dispatcher.messages


def said(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("response") or m.get("text") for m in messages]


def bindings(services: Services) -> set[tuple[str, str]]:
    from bot.billing.models import Subscriber

    with services.store.transaction() as session:
        rows = session.execute(
            select(WeChatBinding.openid, Subscriber.phone).join(
                Subscriber, Subscriber.id == WeChatBinding.subscriber_id
            )
        ).all()
    return {(o, p) for o, p in rows}


async def verified_in_wechat(services: Services, sender: str = OPENID) -> list[dict[str, Any]]:
    verify(services, sender, ZHANG)
    _, messages = await run(
        ActionVerificationDone(services), tracker(sender, slots={"pending_request": "query_balance"})
    )
    return messages


async def test_verifying_in_wechat_binds_the_number_to_the_openid_once(services: Services) -> None:
    messages = await verified_in_wechat(services)
    bound = [m for m in messages if m.get("response") == "utter_wechat_bound"]
    assert bound and bound[0]["masked_phone"] == "138****8000"
    assert "utter_balance" in said(messages), "the request goes on"
    assert bindings(services) == {(OPENID, ZHANG)}
    again = await verified_in_wechat(services)
    assert "utter_wechat_bound" not in said(again), "told once"


async def test_a_binding_lost_to_a_simultaneous_one_does_not_fail_the_request(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def raced(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("INSERT INTO wechat_bindings", {}, Exception("unique constraint"))

    monkeypatch.setattr("actions.wechat.bind", raced)
    messages = await verified_in_wechat(services)
    assert "utter_balance" in said(messages) and "utter_wechat_bound" not in said(messages)


async def test_verifying_in_another_channel_binds_nothing(services: Services) -> None:
    verify(services, "web-1", ZHANG)
    t = tracker("web-1", channel="socketio", slots={"pending_request": "query_balance"})
    _, messages = await run(ActionVerificationDone(services), t)
    assert "utter_wechat_bound" not in said(messages)
    assert bindings(services) == set()


async def test_the_alert_form_offers_wechat_only_when_the_number_is_bound(services: Services) -> None:
    form = ValidateAlertForm(services)
    domain_slots = ["alert_type", "alert_threshold", "alert_channel"]
    verify(services, "web-2", ZHANG)
    t = tracker("web-2", channel="socketio")
    assert await form.required_slots(domain_slots, CollectingDispatcher(), t, {}) == domain_slots[:2]
    await verified_in_wechat(services)
    t = tracker(OPENID)
    assert await form.required_slots(domain_slots, CollectingDispatcher(), t, {}) == domain_slots


async def test_wechat_asked_without_a_binding_is_saved_as_sms_and_told(services: Services) -> None:
    verify(services, "web-3", ZHANG)
    slots = {"alert_type": "deduction", "alert_threshold": "none", "alert_channel": "wechat"}
    _, messages = await run(ActionSaveAlert(services), tracker("web-3", channel="socketio", slots=slots))
    assert said(messages)[:2] == ["utter_wechat_not_bound", "utter_alert_saved"]
    assert "短信" in messages[1]["description"]
    await verified_in_wechat(services)
    _, messages = await run(ActionSaveAlert(services), tracker(OPENID, slots=slots))
    assert "微信" in messages[0]["description"]
    with services.store.transaction() as session:
        assert session.scalars(
            select(AlertRule.channel).where(AlertRule.alert_type == "deduction")
        ).all() == ["wechat"]


async def test_unbinding_in_wechat_needs_no_code(services: Services) -> None:
    await verified_in_wechat(services)
    events, messages = await run(ActionUnbindWechat(services), tracker(OPENID, intent="unbind_wechat"))
    assert said(messages) == ["utter_wechat_unbound"] and messages[0]["masked_phone"] == "138****8000"
    assert SlotSet("verification_needed", False) in events
    assert bindings(services) == set()
    _, messages = await run(ActionUnbindWechat(services), tracker("oSomeoneElse", intent="unbind_wechat"))
    assert said(messages) == ["utter_wechat_nothing_to_unbind"]


async def test_unbinding_from_another_channel_verifies_the_number_first(services: Services) -> None:
    await verified_in_wechat(services)
    t = tracker("web-4", channel="socketio", intent="unbind_wechat")
    events, messages = await run(ActionUnbindWechat(services), t)
    assert (
        SlotSet("verification_needed", True) in events
        and SlotSet("pending_request", "unbind_wechat") in events
    )
    assert bindings(services) == {(OPENID, ZHANG)}
    verify(services, "web-4", ZHANG)
    t = tracker("web-4", channel="socketio", slots={"pending_request": "unbind_wechat"})
    _, messages = await run(ActionVerificationDone(services), t)
    assert "utter_wechat_unbound" in said(messages)
    assert bindings(services) == set()
