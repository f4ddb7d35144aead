"""The review queue in the store: purge, grouping, labelling (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.db import Store
from bot.review.capture import Captured, review_digest
from bot.review.labels import InvalidLabel, group_key, load_vocabulary
from bot.review.models import ReviewItem
from bot.review.queue import label, pending_groups, purge, record_captured
from bot.settings import PROJECT_ROOT

AT = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
VOCABULARY = load_vocabulary(PROJECT_ROOT)


def add(store: Store, text: str, at: datetime = AT, conversation: str = "c1") -> int:
    captured = Captured(
        review_digest(conversation, at.timestamp(), text),
        conversation,
        "socketio",
        text,
        "query_usage",
        0.4,
        "fallback",
        at,
    )
    with store.transaction() as session:
        record_captured(session, [captured], [])
        return session.scalars(select(ReviewItem.id).where(ReviewItem.digest == captured.digest)).one()


def test_the_vocabulary_is_the_trained_intents_of_the_domain_plus_noise() -> None:
    assert {"query_balance", "out_of_scope", "noise", "faq/fee_standard"} <= set(VOCABULARY.intents)
    assert not {"nlu_fallback", "faq", "provide_secret"} & set(VOCABULARY.intents)
    assert {"phone_number", "service", "amount", "period"} <= VOCABULARY.entities


def test_messages_older_than_the_retention_are_purged(store: Store) -> None:
    add(store, "很久以前的", AT - timedelta(days=91))
    kept = add(store, "最近的", AT - timedelta(days=89))
    with store.transaction() as session:
        assert purge(session, AT - timedelta(days=90)) == 1
        assert list(session.scalars(select(ReviewItem.id))) == [kept]


def test_similar_messages_are_grouped(store: Store) -> None:
    assert group_key("卡里 还剩多少大洋？？") == group_key("卡里还剩多少大洋!") == "卡里还剩多少大洋"
    assert group_key("扣了58块") == group_key("扣了 12 块。") != group_key("扣了块")
    assert group_key("帮138****8000查") == group_key("帮139****1234 查")
    add(store, "卡里还剩多少大洋？", AT, "c1")
    add(store, "卡里 还剩多少大洋", AT + timedelta(minutes=1), "c2")
    add(store, "别的事", AT + timedelta(minutes=2), "c3")
    with store.transaction() as session:
        groups = [[item.text for item in group.items] for group in pending_groups(session)]
    assert groups == [["卡里还剩多少大洋？", "卡里 还剩多少大洋"], ["别的事"]]


def test_several_messages_are_labelled_at_once_with_entities(store: Store) -> None:
    first = add(store, "彩铃那个给我停了", AT, "c1")
    second = add(store, "彩铃那个给我停了吧", AT, "c2")
    entities = {first: [{"start": 0, "end": 2, "entity": "service", "value": "video_ringtone"}]}
    with store.transaction() as session:
        done = label(
            session, [first, second], "unsubscribe_service", VOCABULARY, by="sup1", now=AT, entities=entities
        )
        assert [(i.status, i.label_intent, i.labelled_by) for i in done] == [
            ("labelled", "unsubscribe_service", "sup1")
        ] * 2
        assert done[0].label_entities == [
            {"start": 0, "end": 2, "entity": "service", "value": "video_ringtone"}
        ]
        assert done[1].label_entities == []


@pytest.mark.parametrize(
    ("intent", "entities", "code"),
    [
        ("no_such_intent", None, "unknown_intent"),
        ("nlu_fallback", None, "unknown_intent"),
        ("unsubscribe_service", [{"start": 0, "end": 2, "entity": "colour", "value": "x"}], "unknown_entity"),
        ("unsubscribe_service", [{"start": 5, "end": 40, "entity": "service", "value": "x"}], "bad_offsets"),
        ("unsubscribe_service", [{"start": 2, "end": 1, "entity": "service", "value": "x"}], "bad_offsets"),
        (
            "unsubscribe_service",
            [
                {"start": 0, "end": 2, "entity": "service", "value": "x"},
                {"start": 1, "end": 3, "entity": "service", "value": "y"},
            ],
            "bad_offsets",
        ),
    ],
)
def test_invalid_labels_are_refused_whole(
    store: Store, intent: str, entities: list | None, code: str
) -> None:
    item = add(store, "彩铃那个给我停了")
    with pytest.raises(InvalidLabel) as refused, store.transaction() as session:
        label(
            session,
            [item],
            intent,
            VOCABULARY,
            by="sup1",
            now=AT,
            entities={item: entities} if entities else None,
        )
    assert refused.value.code == code
    with store.transaction() as session:
        assert session.get(ReviewItem, item).status == "pending"


def test_unknown_and_exported_messages_are_refused(store: Store) -> None:
    item = add(store, "彩铃那个给我停了")
    with pytest.raises(InvalidLabel, match="unknown_item"), store.transaction() as session:
        label(session, [item, item + 100], "unsubscribe_service", VOCABULARY, by="sup1", now=AT)
    with store.transaction() as session:
        session.get(ReviewItem, item).status = "exported"
    with pytest.raises(InvalidLabel, match="already_exported"), store.transaction() as session:
        label(session, [item], "unsubscribe_service", VOCABULARY, by="sup1", now=AT)
