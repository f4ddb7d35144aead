"""The conversation flows' actions against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re

import pytest
from rasa_sdk.events import SlotSet
from sqlalchemy import select

from actions.alerts import ActionCancelAlert, ActionChangeAlert, ActionListAlerts, ActionSaveAlert
from actions.charges import ActionExplainCharges, ActionRequestRefund, ActionUnsubscribe
from actions.closure import ActionCancelClosure, ActionCloseAccount, ActionSubmitClosure
from actions.conversation import ActionAnswerFaq, ActionFallback, ActionHandleInform, ActionRateService
from bot.app import Services
from bot.audit import AuditLog
from bot.billing.models import AlertRule, ClosureRequest, Dispute, SatisfactionRating, Subscription
from bot.notifications.models import Notification
from tests.support.actions import count, run, said, tracker, verify


async def test_unknown_charge_flags_the_marketing_ringtone_and_refund_is_idempotent(
    services: Services,
) -> None:
    verify(services, "c1", "13800138000")
    events, messages = await run(ActionExplainCharges(services), tracker("c1", intent="query_unknown_charge"))
    charges = next(m for m in messages if m.get("response") == "utter_charges")
    assert "视频彩铃" in charges["lines"] and "短信营销" in charges["lines"]
    flagged = next(m for m in messages if m.get("response") == "utter_charges_flagged")
    assert "视频彩铃" in flagged["reasons"] and "腾讯视频" not in flagged["reasons"]
    assert SlotSet("offer", "refund") in events

    events, messages = await run(ActionRequestRefund(services), tracker("c1", intent="request_refund"))
    opened = next(m for m in messages if m.get("response") == "utter_refund_opened")
    assert opened["ticket_no"].startswith("TS") and "视频彩铃" in opened["unsubscribed"]
    assert count(services, Dispute) == 1
    assert count(services, Subscription, Subscription.ended_at.isnot(None)) >= 1
    assert (
        count(services, AuditLog, AuditLog.action == "dispute.opened", AuditLog.conversation_id == "c1") == 1
    )

    _, messages = await run(ActionRequestRefund(services), tracker("c1", intent="request_refund"))
    assert said(messages) == ["utter_refund_exists"]
    assert count(services, Dispute) == 1


async def test_duplicate_charge_is_disputed_for_chen_jing(services: Services) -> None:
    verify(services, "c2", "13500135000")
    _, messages = await run(ActionExplainCharges(services), tracker("c2"))
    assert "utter_charges_flagged" in said(messages)
    _, messages = await run(ActionRequestRefund(services), tracker("c2"))
    assert next(m for m in messages if m.get("response") == "utter_refund_opened")["amount"] == "6.00"


async def test_clean_account_has_nothing_suspicious(services: Services) -> None:
    verify(services, "c3", "13600136000")
    _, messages = await run(ActionExplainCharges(services), tracker("c3"))
    assert "utter_charges_clean" in said(messages)
    _, messages = await run(ActionRequestRefund(services), tracker("c3"))
    assert said(messages) == ["utter_nothing_to_refund"]


async def test_correction_of_the_period_reruns_the_explanation(services: Services) -> None:
    verify(services, "c4", "13800138000")
    t = tracker(
        "c4",
        text="不对，是上个月",
        entities=[{"entity": "period", "value": "relative:-1"}],
        slots={"last_task": "charges", "period": "relative:-1"},
    )
    _, messages = await run(ActionHandleInform(services), t)
    assert next(m for m in messages if m.get("response") == "utter_charges")["period_name"] == "上个月"


async def test_unsubscribe_asks_which_then_unsubscribes(services: Services) -> None:
    verify(services, "c5", "13800138000")
    _, messages = await run(ActionUnsubscribe(services), tracker("c5", intent="unsubscribe_service"))
    assert said(messages) == ["utter_ask_which_service"]
    assert {b["title"] for b in messages[0]["buttons"]} == {"视频彩铃", "腾讯视频会员"}
    _, messages = await run(ActionUnsubscribe(services), tracker("c5", slots={"service": "tencent_video"}))
    assert "utter_unsubscribed" in said(messages)
    _, messages = await run(ActionUnsubscribe(services), tracker("c5", slots={"service": "tencent_video"}))
    assert said(messages) == ["utter_not_subscribed"]


async def test_alerts_created_listed_changed_cancelled(services: Services) -> None:
    verify(services, "c6", "13600136000")
    slots = {"alert_type": "balance", "alert_threshold": "2000", "alert_channel": "sms"}
    _, messages = await run(ActionSaveAlert(services), tracker("c6", slots=slots))
    assert "余额低于20.00元" in messages[0]["description"]
    _, messages = await run(ActionListAlerts(services), tracker("c6", intent="query_alerts"))
    assert "余额低于20.00元" in messages[0]["lines"]
    change = tracker(
        "c6", intent="change_alert", text="改成50", entities=[{"entity": "amount", "value": "5000"}]
    )
    _, messages = await run(ActionChangeAlert(services), change)
    assert "50.00元" in messages[0]["description"]
    _, messages = await run(ActionCancelAlert(services), tracker("c6", intent="cancel_alert"))
    assert "utter_alert_cancelled" in said(messages)
    assert count(services, AlertRule, AlertRule.active.is_(True)) == 2  # 王强's two remain


async def test_changing_one_of_two_alerts_asks_which(services: Services) -> None:
    verify(services, "c7", "13700137000")
    change = tracker(
        "c7", intent="change_alert", text="改成50", entities=[{"entity": "amount", "value": "5000"}]
    )
    _, messages = await run(ActionChangeAlert(services), change)
    assert said(messages) == ["utter_ask_which_alert"]
    assert all('"amount": "5000"' in b["payload"] for b in messages[0]["buttons"])


async def test_invalid_alert_is_refused_politely_and_changes_nothing(services: Services) -> None:
    verify(services, "c8", "13600136000")
    slots = {"alert_type": "data", "alert_threshold": "150", "alert_channel": "sms"}
    _, messages = await run(ActionSaveAlert(services), tracker("c8", slots=slots))
    assert said(messages) == ["utter_alert_invalid"]
    assert count(services, AlertRule, AlertRule.subscriber_id != None) == 2  # noqa: E711


@pytest.mark.parametrize("phone, reason", [("13900139000", "58.00"), ("13700137000", "90.00")])
async def test_closure_blocked(services: Services, phone: str, reason: str) -> None:
    verify(services, "c9", phone, strong=True)
    _, messages = await run(ActionCloseAccount(services), tracker("c9", intent="close_account"))
    blocked = next(m for m in messages if m.get("response") == "utter_closure_blocked")
    assert reason in blocked["reasons"]
    assert count(services, ClosureRequest) == 0


async def test_closure_needs_strong_verification(services: Services) -> None:
    verify(services, "c10", "13600136000")
    events, messages = await run(ActionCloseAccount(services), tracker("c10", intent="close_account"))
    assert said(messages) == ["utter_closure_intro", "utter_need_strong_verification"]
    assert SlotSet("verification_needed", True) in events and SlotSet("pending_level", "strong") in events


async def test_closure_happy_path_then_cancel(services: Services) -> None:
    verify(services, "c11", "13600136000", strong=True)
    events, messages = await run(ActionCloseAccount(services), tracker("c11", intent="close_account"))
    summary = next(m for m in messages if m.get("response") == "utter_closure_summary")
    assert "120.00" in summary["details"]
    assert SlotSet("resume_form", "closure_form") in events
    confirmed = {"closure_fee_consent": "not_needed", "closure_confirmed": "yes"}
    _, messages = await run(ActionSubmitClosure(services), tracker("c11", slots=confirmed))
    assert "utter_closure_requested" in said(messages)
    _, messages = await run(ActionSubmitClosure(services), tracker("c11", slots=confirmed))
    assert said(messages) == ["utter_closure_exists"]
    assert count(services, ClosureRequest, ClosureRequest.status == "pending") == 1
    _, messages = await run(ActionCancelClosure(services), tracker("c11", intent="cancel_closure"))
    assert "utter_closure_cancelled" in said(messages)
    assert count(services, ClosureRequest, ClosureRequest.status == "cancelled") == 1


async def test_closure_not_confirmed_writes_nothing(services: Services) -> None:
    verify(services, "c12", "13600136000", strong=True)
    _, messages = await run(ActionSubmitClosure(services), tracker("c12", slots={"closure_confirmed": "no"}))
    assert said(messages) == ["utter_cancelled"]
    assert count(services, ClosureRequest) == 0


async def test_fee_standard_comes_from_the_catalogue(services: Services) -> None:
    selector = {"default": {"response": {"intent_response_key": "faq/fee_standard"}}}
    t = tracker(
        "c13",
        intent="faq",
        entities=[{"entity": "service", "value": "video_ringtone"}],
        response_selector=selector,
    )
    _, messages = await run(ActionAnswerFaq(services), t)
    assert "视频彩铃" in messages[0]["text"] and "10.00 元/月" in messages[0]["text"]
    other = {"default": {"response": {"intent_response_key": "faq/business_hours"}}}
    _, messages = await run(ActionAnswerFaq(services), tracker("c13", intent="faq", response_selector=other))
    assert said(messages) == ["utter_faq/business_hours"]


async def test_rating_is_stored(services: Services) -> None:
    _, messages = await run(
        ActionRateService(services), tracker("c14", intent="rate_service", text="给你打5分")
    )
    assert said(messages) == ["utter_rating_thanks"]
    assert count(services, SatisfactionRating, SatisfactionRating.score == 5) == 1
    _, messages = await run(ActionRateService(services), tracker("c14", intent="rate_service", text="还行吧"))
    assert said(messages) == ["utter_rating_invalid"]


async def test_second_fallback_in_a_row_offers_a_person(services: Services) -> None:
    user = lambda name: {"event": "user", "parse_data": {"intent": {"name": name}}}  # noqa: E731
    _, messages = await run(
        ActionFallback(services), tracker("c15", events=[user("greet"), user("nlu_fallback")])
    )
    assert said(messages) == ["utter_default"]
    _, messages = await run(
        ActionFallback(services), tracker("c15", events=[user("nlu_fallback"), user("nlu_fallback")])
    )
    assert said(messages) == ["utter_offer_human"]


async def test_no_secret_reaches_events_or_messages(services: Services) -> None:
    verify(services, "c16", "13800138000", strong=True)
    with services.store.transaction() as session:
        code = re.search(
            r"\d{6}",
            session.scalars(select(Notification.body).order_by(Notification.id.desc()).limit(1)).one(),
        )
    events, messages = await run(ActionExplainCharges(services), tracker("c16"))
    dumped = json.dumps([events, messages], ensure_ascii=False)
    assert "135790" not in dumped and "10001X" not in dumped
    assert code is None or code.group(0) not in dumped
