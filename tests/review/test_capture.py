"""Capturing misunderstood messages from Rasa's events: which are kept, masked, once (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.db import Store
from bot.metrics.consumer import MetricsConsumer
from bot.review.capture import find_misunderstood, mask_text
from bot.review.models import ReviewItem
from tests.support.rasa_events import T0, action, paused
from tests.support.review import fallback_turn, handoff_turn, parsed_user, understood_turn
from tests.support.settings import SETTINGS

NOW = datetime.fromtimestamp(T0, tz=timezone.utc) + timedelta(hours=1)


def message(sender: str, events: list[dict[str, Any]]) -> bytes:
    """One save of our tracker store: ``{"sender_id": ..., "events": [...]}``."""
    bare = [{k: v for k, v in event.items() if k != "sender_id"} for event in events]
    return json.dumps({"sender_id": sender, "events": bare}, ensure_ascii=False).encode()


def items(store: Store) -> list[ReviewItem]:
    with store.transaction() as session:
        rows = list(session.scalars(select(ReviewItem).order_by(ReviewItem.created_at)))
        session.expunge_all()
    return rows


def test_each_kind_of_misunderstanding_is_kept_and_an_understood_message_is_not(store: Store) -> None:
    consumer = MetricsConsumer(store, SETTINGS, FixedClock(NOW))
    bodies = [
        message("c1", understood_turn("c1", T0, "查一下我的余额")),
        message("c1", fallback_turn("c1", T0 + 10, "手机还能撑几天不停机")),
        message(
            "c2", fallback_turn("c2", T0 + 20, "那个东西怎么弄", clarify=True, guess=("query_bill", 0.4))
        ),
        message(
            "c3", understood_turn("c3", T0 + 30, "卡里还剩多少大洋", intent="query_usage", confidence=0.55)
        ),
        message(
            "c4", [parsed_user("c4", T0 + 40, "😀", "noise", 1.0), action("c4", T0 + 40.1, "action_noise")]
        ),
    ]
    consumer.count_batch(bodies)
    kept = items(store)
    assert [(i.conversation_id, i.reason, i.text) for i in kept] == [
        ("c1", "fallback", "手机还能撑几天不停机"),
        ("c2", "clarification", "那个东西怎么弄"),
        ("c3", "low_confidence", "卡里还剩多少大洋"),
    ]
    # the model's own best guess behind nlu_fallback, the channel and the time of the message
    assert (kept[1].predicted_intent, kept[1].confidence) == ("query_bill", 0.4)
    assert (kept[2].predicted_intent, kept[2].confidence) == ("query_usage", 0.55)
    assert kept[0].channel == "socketio"
    assert kept[0].created_at == datetime.fromtimestamp(T0 + 10, tz=timezone.utc)
    assert {i.status for i in kept} == {"pending"}


def test_a_redelivered_batch_adds_nothing(store: Store) -> None:
    consumer = MetricsConsumer(store, SETTINGS, FixedClock(NOW))
    body = message("c1", fallback_turn("c1", T0, "这个咋整"))
    consumer.count_batch([body, body])  # twice in one batch
    consumer.count_batch([body])  # and redelivered after the commit
    assert len(items(store)) == 1


def test_a_handoff_after_misunderstandings_marks_them(store: Store) -> None:
    consumer = MetricsConsumer(store, SETTINGS, FixedClock(NOW))
    consumer.count_batch([message("c1", fallback_turn("c1", T0, "这个咋整"))])
    consumer.count_batch([message("c1", fallback_turn("c1", T0 + 20, "就是那个啊"))])
    consumer.count_batch([message("c1", handoff_turn("c1", T0 + 40))])  # a later batch: 转人工
    # an escalating complaint is not a misunderstanding
    consumer.count_batch([message("c2", fallback_turn("c2", T0, "啥玩意"))])
    consumer.count_batch([message("c2", handoff_turn("c2", T0 + 30, reason="complaint"))])
    # a handoff long after a misunderstanding does not reach back to it
    consumer.count_batch([message("c3", fallback_turn("c3", T0, "嗯嗯那个"))])
    consumer.count_batch([message("c3", handoff_turn("c3", T0 + 3600))])
    reasons = {(i.conversation_id, i.text): i.reason for i in items(store)}
    assert reasons == {
        ("c1", "这个咋整"): "handoff",
        ("c1", "就是那个啊"): "handoff",
        ("c2", "啥玩意"): "fallback",
        ("c3", "嗯嗯那个"): "fallback",
    }


def test_messages_to_a_person_and_button_payloads_are_not_kept() -> None:
    events = [
        paused("c1", T0),
        parsed_user("c1", T0 + 1, "你好在吗", "greet", 0.3),  # the bot did nothing: a person has it
        parsed_user("c1", T0 + 2, "/query_balance", "query_balance", 1.0),
        action("c1", T0 + 2.1, "action_query_balance"),
    ]
    assert find_misunderstood(events, 0.6) == ([], [])


def test_phone_numbers_and_id_digits_are_masked_again(store: Store) -> None:
    assert mask_text("我的号码是 +86 138-0013-8000，身份证11010519491231002X") == (
        "我的号码是 138****8000，身份证******************"
    )
    assert mask_text("号码１３９００１３９０００ 验证码 123456 卡号6222021234567890123") == (
        "号码139****9000 验证码 ****** 卡号*******************"
    )
    assert mask_text("这个月扣了58块，余额20元") == "这个月扣了58块，余额20元"
    consumer = MetricsConsumer(store, SETTINGS, FixedClock(NOW))
    consumer.count_batch([message("c1", fallback_turn("c1", T0, "帮13800138000查那个 110105194912310021"))])
    (item,) = items(store)
    assert item.text == "帮138****8000查那个 ******************"
    with store.transaction() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(ReviewItem).where(ReviewItem.text.contains("0013"))
            )
            == 0
        )
