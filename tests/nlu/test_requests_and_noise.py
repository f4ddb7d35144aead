"""Two requests in one message, messages with nothing to understand, a question about the code
(bot.nlu.requests, bot.nlu.noise, bot.nlu.cues)."""

from __future__ import annotations

import pytest

from bot.nlu.cues import asks_where_the_code_is, is_escalating
from bot.nlu.noise import is_blank, is_noise
from bot.nlu.requests import further_requests, in_order


@pytest.mark.parametrize(
    "text,primary,entities,expected",
    [
        ("帮我把彩铃退订了，钱要退给我", "unsubscribe_service", ["service"], ["request_refund"]),
        ("彩铃给我关了，钱也退了", "unsubscribe_service", ["service"], ["request_refund"]),
        ("把那个视频彩铃取消掉 再把钱退回来", "unsubscribe_service", ["service"], ["request_refund"]),
        ("退订彩铃并且退费", "unsubscribe_service", ["service"], ["request_refund"]),
        ("退订视频彩铃,扣的10块退给我", "request_refund", ["service"], ["unsubscribe_service"]),
        ("这个月多扣了10块，给我退回来", "query_unknown_charge", [], ["request_refund"]),
        ("这个月多扣了钱，给我退回来", "request_refund", [], ["query_unknown_charge"]),
        ("查一下余额和流量", "query_balance", [], ["query_usage"]),
        ("流量还剩多少，余额呢", "query_usage", [], ["query_balance"]),
        ("我还剩多少话费多少流量", "query_balance", [], ["query_usage"]),
        ("余额、流量、账单都帮我看看", "query_balance", [], ["query_usage", "query_bill"]),
    ],
)
def test_the_second_request_is_found(
    text: str, primary: str, entities: list[str], expected: list[str]
) -> None:
    assert further_requests(text, primary, entities) == expected


@pytest.mark.parametrize(
    "text,primary,entities",
    [
        ("帮我把彩铃退订了", "unsubscribe_service", ["service"]),
        ("查一下余额", "query_balance", []),
        ("钱退给我", "request_refund", []),  # no service named: nothing to unsubscribe
        ("退订彩铃，钱就不用退了", "unsubscribe_service", ["service"]),  # "不用退" is no request
        ("流量费怎么扣了这么多", "query_unknown_charge", []),  # a charge question, not a usage query
        ("我要设置余额提醒，顺便看看流量", "set_alert", []),  # forms never combine
        ("", "query_balance", []),
    ],
)
def test_one_request_stays_one(text: str, primary: str, entities: list[str]) -> None:
    assert further_requests(text, primary, entities) == []


def test_requests_run_unsubscription_before_refund() -> None:
    assert in_order(["request_refund", "unsubscribe_service", "request_refund"]) == [
        "unsubscribe_service",
        "request_refund",
    ]
    assert in_order(["query_usage", "query_plan", "query_balance"]) == [
        "query_balance",
        "query_usage",
        "query_plan",
    ]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\u3000\u200b", "\n\t", "x" * 5000, "<b></b>", "<br/>", "😀😀😀", "？？？", "...", "aaaa"],
)
def test_noise(text: str) -> None:
    assert is_noise(text)


@pytest.mark.parametrize(
    "text", ["hi", "ok", "1", "5", "哈哈哈哈", "<b>hi</b>", "SMS", "查余额", "asdf", "👍好"]
)
def test_not_noise(text: str) -> None:
    assert not is_noise(text)


def test_blank_is_only_white_space() -> None:
    assert is_blank("") and is_blank(" \u3000\u200b ")
    assert not is_blank("😀") and not is_blank("x")


@pytest.mark.parametrize("text", ["我的验证码怎么还没收到", "验证码还没到", "没收到短信啊", "收不到验证码"])
def test_a_question_about_the_code(text: str) -> None:
    assert asks_where_the_code_is(text)


@pytest.mark.parametrize("text", ["重发", "/resend_code", "没收到，再发一个", "重新发一下验证码"])
def test_a_request_for_a_new_code(text: str) -> None:
    assert not asks_where_the_code_is(text)


@pytest.mark.parametrize(
    ("text", "escalating"),
    [
        ("再不处理我就去工信部投诉", True),
        ("我要打12300", True),
        ("找媒体曝光你们", True),
        ("扣费不对", False),
        ("", False),
    ],
)
def test_an_escalating_complaint(text: str, escalating: bool) -> None:
    assert is_escalating(text) is escalating
