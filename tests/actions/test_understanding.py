"""Clarifying instead of guessing, answering the request inside the anger, out of scope with a person."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.account import ActionQueryBalance
from actions.charges import ActionExplainCharges
from actions.conversation import ActionFallback, ActionOutOfScope
from bot.app import Services
from bot.nlu.clarify import button_payload, clarification_options
from bot.nlu.cues import sounds_upset, telecom_topic
from tests.support.actions import said, tracker, verify

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8"))


def unsure(*ranking: tuple[str, float], entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A parse the FallbackClassifier turned into nlu_fallback, with the model's ranking behind it."""
    return {
        "text": "……",
        "intent": {"name": "nlu_fallback", "confidence": 0.4},
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.4},
            *({"name": n, "confidence": c} for n, c in ranking),
        ],
        "entities": entities or [],
    }


async def run_with_domain(action: Any, t: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    return events, dispatcher.messages


def test_the_likely_tasks_are_offered_in_order_and_only_tasks() -> None:
    parse = unsure(
        ("query_unknown_charge", 0.31),
        ("thank", 0.2),
        ("request_refund", 0.18),
        ("complain", 0.1),
        ("query_bill", 0.09),
        ("query_usage", 0.05),
    )
    assert clarification_options(parse) == ["query_unknown_charge", "request_refund", "complain"]
    # under the floor: not worth a button
    assert clarification_options(unsure(("query_bill", 0.05), ("greet", 0.5))) == []
    # understood: nothing to clarify
    assert clarification_options({"intent": {"name": "query_bill"}, "intent_ranking": []}) == []


def test_a_button_carries_the_entities_already_understood() -> None:
    entities = [
        {"entity": "amount", "value": "1000"},
        {"entity": "period", "value": "relative:0"},
        {"entity": "phone_number", "value": "13800138000"},  # not carried: the form asks for it
    ]
    payload = button_payload("query_unknown_charge", {"entities": entities})
    assert payload.startswith("/query_unknown_charge{")
    assert json.loads(payload[len("/query_unknown_charge") :]) == {"amount": "1000", "period": "relative:0"}
    assert button_payload("query_balance", {"entities": []}) == "/query_balance"


async def test_an_unsure_message_gets_the_likely_tasks_as_buttons_and_a_person(services: Services) -> None:
    t = tracker(
        "u1",
        intent="nlu_fallback",
        events=[{"event": "user", "parse_data": {"intent": {"name": "nlu_fallback"}}}],
    )
    t.latest_message = unsure(
        ("query_unknown_charge", 0.3),
        ("request_refund", 0.25),
        entities=[{"entity": "amount", "value": "1000"}],
    )
    events, messages = await run_with_domain(ActionFallback(services), t)
    assert said(messages) == ["utter_clarify"]
    buttons = messages[0]["buttons"]
    assert [b["title"] for b in buttons] == ["查扣费明细", "申请退费", "转人工"]
    assert buttons[0]["payload"] == '/query_unknown_charge{"amount": "1000"}'
    assert buttons[-1]["payload"] == "/request_human"
    assert events == [SlotSet("handoff_reason", "none")]


async def test_nothing_likely_asks_to_say_it_again(services: Services) -> None:
    t = tracker("u2", intent="nlu_fallback")
    t.latest_message = unsure(("greet", 0.3), ("out_of_scope", 0.3))
    _, messages = await run_with_domain(ActionFallback(services), t)
    assert said(messages) == ["utter_default"] and not messages[0].get("buttons")


@pytest.mark.parametrize(
    "text,response",
    [
        ("小区宽带断了三天了，报修也没人来", "utter_out_of_scope_telecom"),
        ("地铁里一点信号都没有", "utter_out_of_scope_telecom"),
        ("今天天气怎么样", "utter_out_of_scope"),
        ("帮我订张去上海的机票", "utter_out_of_scope"),
    ],
)
async def test_out_of_scope_offers_a_person_for_telecom_problems(
    services: Services, text: str, response: str
) -> None:
    _, messages = await run_with_domain(
        ActionOutOfScope(services), tracker("u3", intent="out_of_scope", text=text)
    )
    assert said(messages) == [response]


def test_the_out_of_scope_telecom_answer_offers_a_person() -> None:
    buttons = DOMAIN["responses"]["utter_out_of_scope_telecom"][0]["buttons"]
    assert {"title": "转人工", "payload": "/request_human"} in buttons


@pytest.mark.parametrize(
    "text,upset",
    [
        ("TMD又乱扣我话费，你们是强盗吗", True),
        ("开了个啥会员我根本不知道，每个月偷偷扣钱", True),
        ("怎么又扣了我十块！！", True),
        ("这个月怎么多扣了10块", False),
        ("帮我查一下余额", False),
        ("我想问下这笔扣费是什么？", False),
    ],
)
def test_anger_is_recognised_by_its_words(text: str, upset: bool) -> None:
    assert sounds_upset(text) is upset


def test_telecom_problems_are_recognised_by_their_words() -> None:
    assert telecom_topic("家里WiFi连不上")
    assert telecom_topic("营业厅排队两个小时")
    assert not telecom_topic("帮我推荐一部电影")


async def test_a_task_asked_in_anger_is_acknowledged_once_then_done(services: Services) -> None:
    angry = "开了个啥会员我根本不知道，每个月偷偷扣钱，你们是强盗吗"
    _, messages = await run_with_domain(
        ActionExplainCharges(services), tracker("u4", intent="query_unknown_charge", text=angry)
    )
    assert said(messages) == ["utter_sorry_upset", "utter_need_verification"]

    verify(services, "u4", "13800138000")
    _, messages = await run_with_domain(
        ActionExplainCharges(services), tracker("u4", intent="query_unknown_charge", text=angry)
    )
    assert said(messages)[0] == "utter_sorry_upset"
    assert "utter_charges" in said(messages) and said(messages).count("utter_sorry_upset") == 1


async def test_a_calm_task_is_answered_without_apology(services: Services) -> None:
    verify(services, "u5", "13800138000")
    _, messages = await run_with_domain(
        ActionQueryBalance(services), tracker("u5", intent="query_balance", text="查下余额")
    )
    assert "utter_sorry_upset" not in said(messages) and "utter_balance" in said(messages)


async def test_a_task_with_an_escalation_word_goes_to_a_person_as_a_complaint(services: Services) -> None:
    text = "乱扣我钱，每个月十块，再不说清楚我就去工信部投诉你们"
    events, messages = await run_with_domain(
        ActionExplainCharges(services), tracker("u6", intent="query_unknown_charge", text=text)
    )
    assert said(messages) == ["utter_handoff_complaint"]
    assert events == [SlotSet("handoff_reason", "complaint"), FollowupAction("action_handoff")]
