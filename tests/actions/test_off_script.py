"""Subscribers off the script (issue 13): two requests in one message, questions inside forms,
a voided code, the closure summary saying each fact once. Actions against a real store."""

from __future__ import annotations

from typing import Any

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.account import ActionQueryBalance
from actions.charges import ActionRequestRefund, ActionUnsubscribe
from actions.closure import ActionCloseAccount
from actions.conversation import ActionFallback, ActionHandleInform, ActionNoise
from actions.identity import ActionAskOtpStatus, ActionVerificationDone, ValidateVerificationForm
from bot.app import Services
from bot.billing.models import Dispute, Subscription
from bot.notifications.models import Notification
from bot.settings import PROJECT_ROOT
from tests.support.actions import code_sent_to, count, run, said, tracker, verify

RINGTONE = [{"entity": "service", "value": "video_ringtone"}]


async def test_unsubscribe_and_refund_in_one_message(services: Services) -> None:
    verify(services, "o1", "13800138000")
    text = "帮我把彩铃退订了，钱要退给我"
    t = tracker(
        "o1", intent="unsubscribe_service", text=text, entities=RINGTONE, slots={"service": "video_ringtone"}
    )
    events, messages = await run(ActionUnsubscribe(services), t)
    assert said(messages) == ["utter_unsubscribed", "utter_refund_opened", "utter_ask_rating"]
    assert count(services, Dispute) == 1
    running = Subscription.ended_at.is_(None), Subscription.service.has(code="video_ringtone")
    assert count(services, Subscription, *running) == 0
    assert SlotSet("further_requests", None) in events


async def test_the_refund_is_not_dropped_when_the_service_is_already_gone(services: Services) -> None:
    verify(services, "o2", "13800138000")
    slots = {"service": "video_ringtone"}
    t = tracker("o2", intent="unsubscribe_service", text="退订视频彩铃", entities=RINGTONE, slots=slots)
    _, messages = await run(ActionUnsubscribe(services), t)
    assert said(messages) == ["utter_unsubscribed", "utter_ask_rating"] and count(services, Dispute) == 0
    # later: unsubscribed already, but the disputed 10.00 元 is still there and must be refunded
    text = "彩铃给我关了，钱也退了"
    t = tracker("o2", intent="unsubscribe_service", text=text, entities=RINGTONE, slots=slots)
    _, messages = await run(ActionUnsubscribe(services), t)
    assert said(messages) == ["utter_not_subscribed", "utter_refund_opened", "utter_ask_rating"]
    opened = next(m for m in messages if m["response"] == "utter_refund_opened")
    assert opened["amount"] == "10.00" and count(services, Dispute) == 1


async def test_a_named_service_narrows_the_refund(services: Services) -> None:
    verify(services, "o3", "13800138000")
    # 腾讯视频会员 is an ordinary subscription: nothing of it to refund, and the ringtone is not touched
    slots = {"service": "tencent_video_vip"}
    t = tracker("o3", intent="request_refund", text="腾讯视频的钱退给我", slots=slots)
    _, messages = await run(ActionRequestRefund(services), t)
    assert said(messages) == ["utter_nothing_to_refund"] and count(services, Dispute) == 0


async def test_balance_and_usage_in_one_message(services: Services) -> None:
    verify(services, "o4", "13500135000")
    events, messages = await run(
        ActionQueryBalance(services), tracker("o4", intent="query_balance", text="查一下余额和流量")
    )
    assert said(messages)[:2] == ["utter_balance", "utter_usage"]


async def test_two_requests_survive_verification(services: Services) -> None:
    events, messages = await run(
        ActionQueryBalance(services), tracker("o5", intent="query_balance", text="查一下余额和流量")
    )
    assert (
        SlotSet("further_requests", ["query_usage"]) in events
        and SlotSet("verification_needed", True) in events
    )
    verify(services, "o5", "13500135000")
    slots = {
        "pending_request": "query_balance",
        "pending_level": "basic",
        "further_requests": ["query_usage"],
    }
    _, messages = await run(
        ActionVerificationDone(services), tracker("o5", intent="provide_secret", slots=slots)
    )
    assert said(messages)[:2] == ["utter_balance", "utter_usage"]


async def test_a_fallback_naming_two_queries_answers_both(services: Services) -> None:
    latest = {
        "text": "余额和流量都查一下",
        "intent": {"name": "nlu_fallback", "confidence": 0.45},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.45},
            {"name": "query_balance", "confidence": 0.39},
            {"name": "query_usage", "confidence": 0.26},
        ],
        "entities": [],
    }
    t = tracker("o6", intent="nlu_fallback", text=latest["text"])
    t.latest_message = latest
    events, messages = await run(ActionFallback(services), t)
    assert messages == [] and FollowupAction("action_query_balance") in events


async def test_the_closure_summary_states_each_fact_once(services: Services) -> None:
    verify(services, "o7", "13600136000", strong=True)
    _, messages = await run(
        ActionCloseAccount(services), tracker("o7", intent="close_account", text="我要销户")
    )
    summary = next(m for m in messages if m["response"] == "utter_closure_summary")["details"]
    assert summary.count("120.00") == 1  # the refund, once
    assert "生效" not in summary  # the effective date is in the confirmation question, only there
    lines = summary.splitlines()
    assert len(lines) == len(set(lines))


async def test_a_voided_code_asks_for_a_new_one(services: Services) -> None:
    services.verification.start_sms("o8", "13700137000")
    code = code_sent_to(services.store, "13700137000")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    ask = ActionAskOtpStatus(services)
    _, messages = await run(ask, tracker("o8", slots={"phone_number": "13700137000"}))
    assert said(messages) == ["utter_ask_otp_status"]
    for _ in range(3):
        services.verification.submit_secret("o8", wrong)
    _, messages = await run(ask, tracker("o8", slots={"phone_number": "13700137000"}))
    assert said(messages) == ["utter_ask_new_code"]
    assert [b["payload"] for b in _buttons(services, "utter_ask_new_code")][0] == "/resend_code"
    # a code typed now is no longer checked: no "enter the 6-digit code" hint, the ask says what to do
    form = ValidateVerificationForm(services)
    slots = {"phone_number": "13700137000", "requested_slot": "otp_status"}
    result = await _extract(form, tracker("o8", intent="inform", text="******", slots=slots))
    assert result == ({"otp_status": None}, [])
    # 重发: a new code, and the ordinary question again
    result = await _extract(form, tracker("o8", intent="resend_code", text="重发", slots=slots))
    assert result[1] == ["utter_code_sent"]
    _, messages = await run(ask, tracker("o8", slots={"phone_number": "13700137000"}))
    assert said(messages) == ["utter_ask_otp_status"]


async def test_a_code_not_arrived_is_answered_with_a_resend_button(services: Services) -> None:
    services.verification.start_sms("o9", "13700137000")
    codes = Notification.kind == "verification_code", Notification.phone == "13700137000"
    assert count(services, Notification, *codes) == 1
    form = ValidateVerificationForm(services)
    slots = {"phone_number": "13700137000", "requested_slot": "otp_status"}
    t = tracker("o9", intent="resend_code", text="我的验证码怎么还没收到", slots=slots)
    value, responses = await _extract(form, t)
    assert value == {"otp_status": None} and responses == ["utter_code_not_arrived"]
    assert count(services, Notification, *codes) == 1  # asking about the code sends no new one
    # the button (or "重发") does
    value, responses = await _extract(
        form, tracker("o9", intent="resend_code", text="/resend_code", slots=slots)
    )
    assert responses == ["utter_code_sent"] and count(services, Notification, *codes) == 2


async def test_a_task_asked_while_verifying_is_kept_for_after(services: Services) -> None:
    services.verification.start_sms("o10", "13700137000")
    form = ValidateVerificationForm(services)
    slots = {
        "phone_number": "13700137000",
        "requested_slot": "otp_status",
        "pending_request": "query_balance",
    }
    t = tracker("o10", intent="query_usage", text="顺便查下流量", slots=slots)
    dispatcher = CollectingDispatcher()
    events = await form.run(dispatcher, t, _domain())
    messages = dispatcher.messages
    assert "utter_after_verification" in said(messages)
    assert SlotSet("further_requests", ["query_usage"]) in events
    assert "utter_code_not_received" not in said(messages)


def _domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def _buttons(services: Services, response: str) -> list[dict[str, str]]:
    return _domain()["responses"][response][0]["buttons"]


async def _extract(form: ValidateVerificationForm, t: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    value = await form.extract_otp_status(dispatcher, t, {})
    return value, said(dispatcher.messages)


async def test_noise_gets_one_short_prompt_and_blank_is_told_so(services: Services) -> None:
    for typed, response in (("", "utter_blank"), (" \u3000", "utter_blank"), ("😀😀", "utter_noise")):
        # the parsed text has emoji removed; the typed text is the user event's
        t = tracker("o11", intent="noise", text=typed.strip() and "  ")
        t.events = [{"event": "user", "text": typed, "parse_data": {"intent": {"name": "noise"}}}]
        events, messages = await run(ActionNoise(services), t)
        assert events == [] and said(messages) == [response]


async def test_a_bare_digit_after_the_rating_question_is_a_rating(services: Services) -> None:
    t = tracker("o12", intent="inform", text="5", slots={"offer": "rating", "last_task": "refund"})
    events, messages = await run(ActionHandleInform(services), t)
    assert said(messages) == ["utter_rating_thanks"] and SlotSet("offer", None) in events
    # without the question, a digit is still not a rating
    _, messages = await run(ActionHandleInform(services), tracker("o13", intent="inform", text="5"))
    assert said(messages) == ["utter_default"]


async def test_a_refund_asked_with_a_charge_question_explains_the_charges_first(services: Services) -> None:
    verify(services, "o14", "13800138000")
    t = tracker("o14", intent="request_refund", text="这个月怎么多扣了钱，给我退回来")
    _, messages = await run(ActionRequestRefund(services), t)
    assert said(messages) == [
        "utter_charges",
        "utter_charges_flagged_refunding",  # no "要退费吗？" when the refund follows at once
        "utter_refund_opened",
        "utter_ask_rating",
    ]
    assert count(services, Dispute) == 1
