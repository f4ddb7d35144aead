"""Handing a conversation to a person, against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk.events import ActionExecuted, ConversationPaused, FollowupAction, SlotSet
from sqlalchemy import select

from actions.account import ActionQueryBalance
from actions.charges import ActionExplainCharges
from actions.conversation import ActionComplain, ActionFallback
from actions.handoff import TASK_SLOTS, ActionHandoff, ActionLeaveMessage
from bot.app import Services
from bot.clock import FixedClock
from bot.db import Store
from bot.handoff.models import Handoff
from bot.handoff.summary import build_summary
from tests.support.actions import code_sent_to, run, said, services_on, tracker, verify
from tests.support.settings import SETTINGS

RESET = [*(SlotSet(slot, None) for slot in TASK_SLOTS), SlotSet("handoff_reason", "none")]
PAUSED = [*RESET, SlotSet("leave_message", False), ConversationPaused(), ActionExecuted("action_listen")]


def user(intent: str, text: str = "") -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "input_channel": "socketio",
        "parse_data": {"intent": {"name": intent, "confidence": 1.0}, "entities": []},
    }


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def bot(response: str) -> dict[str, Any]:
    return {"event": "bot", "text": "…", "metadata": {"utter_action": response}}


def handoffs(services: Services) -> list[Handoff]:
    with services.store.transaction() as session:
        return list(session.execute(select(Handoff).order_by(Handoff.id)).scalars())


async def test_request_human_queues_a_summary_and_pauses_the_bot(services: Services) -> None:
    verify(services, "c1", "13800138000")
    code = code_sent_to(services.store, "13800138000")
    await run(ActionExplainCharges(services), tracker("c1", intent="query_unknown_charge"))
    history = [
        user("query_unknown_charge", "这个月怎么多扣了10块"),
        action("action_explain_charges"),
        bot("utter_charges"),
        bot("utter_charges_flagged"),
        user("request_human", "转人工"),
    ]
    events, messages = await run(
        ActionHandoff(services), tracker("c1", intent="request_human", text="转人工", events=history)
    )
    assert events == PAUSED
    assert messages == [
        {
            **messages[0],
            "response": "utter_handoff_queued",
            "position": 1,
            "minutes": SETTINGS.agent_handle_minutes,
        }
    ]
    [handoff] = handoffs(services)
    assert (handoff.conversation_id, handoff.channel, handoff.status, handoff.reason) == (
        "c1",
        "socketio",
        "queued",
        "requested",
    )
    summary = handoff.summary
    assert summary["verified"] is True and summary["masked_phone"] == "138****8000"
    assert summary["wanted"] == ["查询不明扣费"] and "列出并解释扣费" in summary["tried"]
    assert any("视频彩铃" in line and "10.00元" in line for line in summary["flagged_charges"])
    assert "已验证 138****8000" in summary["headline"]
    everything = json.dumps([events, messages, summary], ensure_ascii=False, default=str)
    assert "13800138000" not in everything and code not in everything and "135790" not in everything

    # asking again while queued creates nothing new
    _, messages = await run(ActionHandoff(services), tracker("c1", intent="request_human", events=history))
    assert said(messages) == ["utter_handoff_already_queued"]
    assert len(handoffs(services)) == 1


async def test_an_unverified_subscriber_is_queued_as_unverified(services: Services) -> None:
    history = [user("query_balance"), action("action_query_balance"), bot("utter_need_verification")]
    events, _ = await run(
        ActionHandoff(services),
        tracker("c2", intent="request_human", slots={"pending_request": "query_balance"}, events=history),
    )
    assert events == PAUSED
    [handoff] = handoffs(services)
    assert handoff.summary["verified"] is False and handoff.summary["masked_phone"] == ""
    assert handoff.summary["wanted"] == ["查询余额"] and handoff.subscriber_id is None


async def test_asking_about_a_charge_then_for_a_person_before_verifying_tried_nothing(
    services: Services,
) -> None:
    """Issue 13, item 8: the charges action ran but only asked for verification; no code was sent."""
    history = [
        user("query_unknown_charge", "这个月怎么多扣了10块"),
        action("action_explain_charges"),
        bot("utter_need_verification"),
        action("verification_form"),
        bot("utter_ask_phone_number"),
        user("request_human", "转人工"),
        action("action_deactivate_loop"),
    ]
    await run(
        ActionHandoff(services),
        tracker(
            "c9", intent="request_human", slots={"pending_request": "query_unknown_charge"}, events=history
        ),
    )
    [handoff] = handoffs(services)
    assert handoff.summary["tried"] == []
    assert handoff.summary["wanted"] == ["查询不明扣费"] and handoff.summary["flagged_charges"] == []


async def test_a_code_sent_is_verification_tried_and_unlisted_charges_are_not_flagged(
    services: Services,
) -> None:
    verify(services, "c10", "13800138000")  # verified earlier, as on another task
    history = [
        user("query_balance", "查余额"),
        action("action_query_balance"),
        bot("utter_need_verification"),
        action("verification_form"),
        bot("utter_code_sent"),
        user("provide_secret", "******"),
        action("verification_form"),
        bot("utter_verified"),
        action("action_verification_done"),
        bot("utter_balance"),
        # an escalating complaint about a charge goes to a person before any charge is listed
        user("query_unknown_charge", "这笔扣费我要投诉到工信部"),
        action("action_explain_charges"),
        bot("utter_handoff_complaint"),
    ]
    await run(ActionHandoff(services), tracker("c10", intent="query_unknown_charge", events=history))
    [handoff] = handoffs(services)
    assert handoff.summary["tried"] == ["短信验证码身份验证", "查询余额"]
    assert handoff.summary["flagged_charges"] == [] and "可疑扣费" not in handoff.summary["headline"]


def test_what_the_bot_tried_is_what_it_said_it_did() -> None:
    said_by = [
        ("action_answer_faq", ""),  # a fee standard from the catalogue, as plain text
        ("action_answer_faq", "utter_faq/roaming"),
        ("action_explain_charges", "utter_need_verification"),
        ("action_verification_done", "utter_charges"),
        ("action_verification_done", "utter_charges_flagged"),
        ("action_fallback", "utter_default"),
        ("action_listen", ""),
    ]
    summary = build_summary(reason="requested", intents=["faq"], said=said_by, verified=None)
    assert summary["tried"] == ["解答常见问题", "列出并解释扣费", "请用户换个说法"]
    assert summary["problems"] == ["机器人未能理解"]


async def test_a_lock_out_then_request_is_queued_as_locked(services: Services) -> None:
    history = [
        user("provide_secret", "******"),
        action("verification_form"),
        bot("utter_number_locked"),
        user("request_human", "转人工"),
    ]
    await run(ActionHandoff(services), tracker("c3", intent="request_human", events=history))
    [handoff] = handoffs(services)
    assert handoff.reason == "locked" and "号码因连续验证失败被锁定" in handoff.summary["problems"]


async def test_outside_agent_hours_the_next_message_becomes_a_ticket(
    services: Services, clock: FixedClock
) -> None:
    clock.advance(hours=13)  # 23:00 in Shanghai
    events, messages = await run(ActionHandoff(services), tracker("c4", intent="request_human"))
    assert events == [
        *RESET,
        SlotSet("handoff_pending_reason", "requested"),
        SlotSet("leave_message", True),
        FollowupAction("leave_message_form"),
    ]
    assert messages[0]["response"] == "utter_handoff_closed_hours"
    assert (messages[0]["start"], messages[0]["end"]) == ("08:00", "22:00")
    assert handoffs(services) == []

    text = "视频彩铃我没订过，请明天回电"
    events, messages = await run(
        ActionLeaveMessage(services),
        tracker(
            "c4",
            intent="complain",
            text=text,
            slots={"handoff_message": text, "handoff_pending_reason": "requested"},
            events=[user("request_human"), action("action_handoff"), user("complain", text)],
        ),
    )
    assert events == [
        SlotSet("handoff_message", None),
        SlotSet("leave_message", False),
        SlotSet("handoff_pending_reason", None),
    ]
    [ticket] = handoffs(services)
    assert (ticket.status, ticket.message, ticket.channel) == ("ticket", text, "socketio")
    assert said(messages) == ["utter_message_left"] and messages[0]["ticket_no"] == ticket.ticket_no


async def test_cancelling_the_message_leaves_nothing(services: Services, clock: FixedClock) -> None:
    clock.advance(hours=13)
    _, messages = await run(
        ActionLeaveMessage(services),
        tracker("c5", intent="stop", text="算了", slots={"handoff_message": "算了"}),
    )
    assert said(messages) == ["utter_message_cancelled"] and handoffs(services) == []


def _down(clock: FixedClock) -> Services:
    return services_on(Store.from_url("postgresql+psycopg2://nobody@127.0.0.1:1/none"), clock)


async def test_store_down_gives_the_hotline_and_no_pause(clock: FixedClock) -> None:
    events, messages = await run(ActionHandoff(_down(clock)), tracker("c6", intent="request_human"))
    assert said(messages) == ["utter_human_hotline"]
    assert events == [*RESET, SlotSet("leave_message", False)]


async def test_a_second_dependency_failure_in_a_row_hands_off(clock: FixedClock) -> None:
    down = _down(clock)
    events, messages = await run(
        ActionQueryBalance(down), tracker("c7", intent="query_balance", events=[user("query_balance")])
    )
    assert said(messages) == ["utter_service_unavailable"]
    assert events == [SlotSet("verification_needed", False), SlotSet("resume_form", "none")]

    history = [
        user("query_balance"),
        action("action_query_balance"),
        bot("utter_service_unavailable"),
        user("query_balance"),
    ]
    events, messages = await run(
        ActionQueryBalance(down), tracker("c7", intent="query_balance", events=history)
    )
    # the store is down, so no queue: the hotline, after saying why
    assert said(messages) == ["utter_service_unavailable", "utter_handoff_dependency", "utter_human_hotline"]
    assert events[:2] == [SlotSet("verification_needed", False), SlotSet("resume_form", "none")]


async def test_two_fallbacks_in_a_row_offer_a_person_and_queue_nobody(services: Services) -> None:
    first = [user("nlu_fallback", "啊啊")]
    events, messages = await run(ActionFallback(services), tracker("c8", intent="nlu_fallback", events=first))
    assert events == [SlotSet("handoff_reason", "none")] and said(messages) == ["utter_default"]
    second = [*first, action("action_fallback"), bot("utter_default"), user("nlu_fallback", "呃呃")]
    events, messages = await run(
        ActionFallback(services), tracker("c8", intent="nlu_fallback", events=second)
    )
    # offered, with buttons, not queued
    assert events == [SlotSet("handoff_reason", "none")] and said(messages) == ["utter_offer_human"]
    assert handoffs(services) == []

    # 转人工 after the offer: queued, and the agent sees that the bot did not understand
    chosen = [*second, action("action_fallback"), bot("utter_offer_human"), user("request_human", "转人工")]
    events, _ = await run(ActionHandoff(services), tracker("c8", intent="request_human", events=chosen))
    assert events == PAUSED and handoffs(services)[0].reason == "fallback"

    # after an agent hands back, what was said to the agent does not count as a fallback
    resumed = [
        *chosen,
        action("action_handoff"),
        user("nlu_fallback", "好的谢谢"),
        {"event": "resume"},
        user("nlu_fallback", "嗯"),
    ]
    events, messages = await run(
        ActionFallback(services), tracker("c8", intent="nlu_fallback", events=resumed)
    )
    assert events == [SlotSet("handoff_reason", "none")] and said(messages) == ["utter_default"]


async def test_noise_between_misunderstandings_does_not_count(services: Services) -> None:
    events = [
        user("nlu_fallback", "啊啊"),
        user("noise", ""),
        user("noise", "😀"),
        user("nlu_fallback", "呃"),
    ]
    _, messages = await run(ActionFallback(services), tracker("c9", intent="nlu_fallback", events=events))
    assert said(messages) == ["utter_offer_human"]
    events = [user("nlu_fallback", "啊啊"), user("greet", "你好"), user("nlu_fallback", "呃")]
    _, messages = await run(ActionFallback(services), tracker("c9", intent="nlu_fallback", events=events))
    assert said(messages) == ["utter_default"]


@pytest.mark.parametrize(
    "text,reason,response",
    [
        ("再不处理我就去工信部投诉你们", "complaint", "utter_handoff_complaint"),
        ("我要打12300", "complaint", "utter_handoff_complaint"),
        ("我要曝光你们", "complaint", "utter_handoff_complaint"),
        ("你们的服务太差了", "none", "utter_complain"),
    ],
)
async def test_only_an_escalating_complaint_goes_to_a_person(
    services: Services, text: str, reason: str, response: str
) -> None:
    events, messages = await run(ActionComplain(services), tracker("c9", intent="complain", text=text))
    assert events == [SlotSet("last_task", "complaint"), SlotSet("handoff_reason", reason)]
    assert said(messages) == [response]


async def test_handoff_reason_from_the_rules_is_used(services: Services) -> None:
    await run(
        ActionHandoff(services),
        tracker("c10", intent="complain", text="工信部", slots={"handoff_reason": "complaint"}),
    )
    [handoff] = handoffs(services)
    assert handoff.reason == "complaint" and handoff.summary["headline"].startswith("用户升级投诉")
