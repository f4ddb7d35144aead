"""Shared pieces of the widget's history and the console's transcript."""

from __future__ import annotations

from bot.channels.transcript import button_list, shown_user_text

BUTTONS = [{"title": "好的", "payload": "/affirm"}, {"title": "暂不需要", "payload": "/deny"}]


def test_buttons_come_from_buttons_or_quick_replies_and_need_a_payload() -> None:
    assert button_list({"buttons": BUTTONS}) == BUTTONS
    assert button_list({"quick_replies": [{"title": "1分", "payload": "/rate_service"}, {"title": "x"}]}) == [
        {"title": "1分", "payload": "/rate_service"}
    ]
    assert button_list({}) == []
    assert button_list({"buttons": ["not a button"]}) == []


def test_a_payload_shows_as_the_title_of_the_button_that_sent_it() -> None:
    assert shown_user_text("/deny", BUTTONS) == "暂不需要"
    assert shown_user_text("/stop", BUTTONS) == "/stop"
    assert shown_user_text("查余额", BUTTONS) == "查余额"
