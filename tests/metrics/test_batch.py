"""Counting a batch of events (SQLite and PostgreSQL): the same metrics as counting them one at a time,
each event once, in a fixed handful of statements, and nothing of a batch the store refused."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest
from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.exc import OperationalError

from bot.clock import FixedClock
from bot.db import Store, StoreUnavailable
from bot.metrics.consumer import MetricsConsumer
from bot.metrics.events import ConversationState, InvalidEvent, apply_event, event_digest, is_relevant
from bot.metrics.models import ConversationMetrics, Misunderstanding, ResponseLatency, SeenEvent, TurnFact
from bot.metrics.service import Counts, record_event, record_events, summary
from bot.settings import settings_from_env
from tests.support.rasa_events import (
    T0,
    action,
    agent,
    balance_turn,
    bot,
    handed_back,
    paused,
    resumed,
    session_started,
    slot,
    user,
)

AT0 = datetime.fromtimestamp(T0, tz=timezone.utc)
NOW = AT0 + timedelta(hours=3)
HOUR = timedelta(minutes=60)
CONVERSATION = ConversationMetrics.__table__


def conversation_events(sender: str, start: float, kind: int) -> list[dict[str, Any]]:
    """One conversation as Rasa publishes it: turns, irrelevant events, a handoff, a rating, a new session."""
    events = [action(sender, start, "action_session_start"), session_started(sender, start)]
    events += [slot(sender, start, "session_started_metadata", {"channel": "socketio"})]
    events += balance_turn(sender, start + 1, latency=0.1 + kind / 10)
    if kind % 3 == 0:
        events += [
            user(sender, start + 10, text="转人工"),
            action(sender, start + 10.1, "action_handoff"),
            bot(sender, start + 10.3, utter_action="utter_handoff_queued"),
            paused(sender, start + 10.3),
            user(sender, start + 20, text="在吗"),  # waits for a person: no latency
            agent(sender, start + 40),
            handed_back(sender, start + 60, "closed" if kind % 2 else "returned"),
            resumed(sender, start + 60),
        ]
    if kind % 4 == 2:  # not understood: a clarification, then a fallback
        events += [user(sender, start + 5, text="那个东西", intent="nlu_fallback", confidence=0.3)]
        events += [bot(sender, start + 5.2, utter_action="utter_clarify")]
        events += [user(sender, start + 7, text="就是那个", intent="nlu_fallback", confidence=0.2)]
        events += [bot(sender, start + 7.1, utter_action="utter_default")]
    if kind % 3 == 1:
        events += [user(sender, start + 10, text="5分")]
        events += [bot(sender, start + 10.25, utter_action="utter_rating_thanks")]
    events += [session_started(sender, start + 4000), *balance_turn(sender, start + 4001, latency=0.6)]
    return events


def interleaved(conversations: int = 12, seed: int = 7) -> list[dict[str, Any]]:
    """The events of several conversations mixed as they arrive, each conversation's in its own order."""
    rng = random.Random(seed)
    queues = [conversation_events(f"c-{n:02d}", T0 + 7 * n, n) for n in range(conversations)]
    stream = []
    while any(queues):
        chosen = rng.choice([q for q in queues if q])
        stream.append(chosen.pop(0))
    return stream


def expected(
    stream: list[dict[str, Any]],
) -> tuple[dict[str, ConversationState], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The metrics by the pure functions: each distinct relevant event once, in order."""
    states: dict[str, ConversationState] = {}
    latencies = []
    turns = []
    misreads = []
    done = set()
    for item in stream:
        digest = event_digest(item)
        if not is_relevant(item) or digest in done:
            continue
        done.add(digest)
        result = apply_event(states.get(item["sender_id"]), item)
        states[item["sender_id"]] = result.state
        if result.latency is not None:
            latencies.append((item["sender_id"], *result.latency))
        if result.turn is not None:
            t = result.turn
            turns.append((item["sender_id"], t.user_at, t.intent, t.opens_session, t.paused))
        if result.misread is not None:
            m = result.misread
            misreads.append((item["sender_id"], m.user_at, m.kind, m.intent_before))
    return states, latencies, turns, misreads


def snapshot(store: Store) -> dict[str, Any]:
    """Everything the metrics keep: rows, latencies in the order written, digests, the summary."""
    with store.transaction() as session:
        rows = session.execute(select(CONVERSATION).order_by(CONVERSATION.c.conversation_id)).all()
        latency = ResponseLatency
        latencies = session.execute(
            select(latency.conversation_id, latency.user_at, latency.latency_ms).order_by(latency.id)
        ).all()
        turns = session.execute(
            select(
                TurnFact.conversation_id,
                TurnFact.user_at,
                TurnFact.intent,
                TurnFact.opens_session,
                TurnFact.paused,
            ).order_by(TurnFact.id)
        ).all()
        misreads = session.execute(
            select(
                Misunderstanding.conversation_id,
                Misunderstanding.user_at,
                Misunderstanding.kind,
                Misunderstanding.intent_before,
            ).order_by(Misunderstanding.id)
        ).all()
        return {
            "rows": [tuple(row) for row in rows],
            "latencies": [tuple(row) for row in latencies],
            "turns": [tuple(row) for row in turns],
            "misreads": [tuple(row) for row in misreads],
            "digests": sorted(session.scalars(select(SeenEvent.digest))),
            "summary": summary(session, NOW, HOUR),
        }


def forget_everything(store: Store) -> None:
    with store.transaction() as session:
        for table in (ResponseLatency, TurnFact, Misunderstanding, SeenEvent, ConversationMetrics):
            session.execute(delete(table))


def one_at_a_time(store: Store, deliveries: list[dict[str, Any]]) -> int:
    counted = 0
    for item in deliveries:
        with store.transaction() as session:
            try:
                counted += record_event(session, item, NOW)
            except InvalidEvent:
                pass
    return counted


def in_batches(store: Store, batches: list[list[dict[str, Any]]]) -> Counts:
    totals = [0, 0, 0]
    for batch in batches:
        with store.transaction() as session:
            counts = record_events(session, batch, NOW)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    return Counts(*totals)


def deliveries_of(stream: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """Batches of ``size`` as RabbitMQ hands them over, with what goes wrong in real life: a batch
    redelivered whole (its acknowledgement was lost), a stretch redelivered inside a later batch, the
    same event twice in one batch, and a relevant event without a sender."""
    batches = [stream[i : i + size] for i in range(0, len(stream), size)]
    again = min(1, len(batches) - 1)
    batches.insert(again + 1, list(batches[again]))  # the second batch (or the only one) again
    middle = len(batches) // 2
    batches[middle] = [*stream[10:14], *batches[middle]]  # old events redelivered with new ones
    batches[-1] = [*batches[-1], batches[-1][0], {"event": "user", "timestamp": T0}]  # a duplicate, a bad one
    return batches


@pytest.mark.parametrize("size", [1, 5, 40, 500])
def test_a_batch_counts_exactly_what_its_events_count_one_at_a_time(store: Store, size: int) -> None:
    stream = interleaved()
    batches = deliveries_of(stream, size)
    flat = [item for batch in batches for item in batch]

    counted_singly = one_at_a_time(store, flat)
    singly = snapshot(store)
    forget_everything(store)
    counts = in_batches(store, batches)
    batched = snapshot(store)

    assert batched == singly
    assert counts.counted == counted_singly == len(singly["digests"])
    assert counts == (counted_singly, len(flat) - counted_singly - 1, 1)
    states, latencies, turns, misreads = expected(stream)
    fields = [column.name for column in CONVERSATION.columns]
    stored = [ConversationState(**dict(zip(fields, row, strict=True))) for row in batched["rows"]]
    assert {state.conversation_id: state for state in stored} == states
    assert batched["latencies"] == latencies
    assert batched["turns"] == turns and len(turns) > 24
    assert batched["misreads"] == misreads and {m[2] for m in misreads} == {"clarification", "fallback"}
    # the intent before a misunderstanding is the one understood last (the balance query), twice
    assert {m[3] for m in misreads} == {"query_balance"}
    assert batched["summary"]["conversations"] == 12 and batched["summary"]["latency_ms"]["count"] > 20


def test_conversations_interleaved_in_one_batch_each_keep_their_own_order(store: Store) -> None:
    batch = [
        user("a", T0),
        user("b", T0 + 0.1),
        slot("a", T0 + 0.2),
        bot("b", T0 + 0.5),  # b's answer: 400 ms
        bot("a", T0 + 0.3),  # a's answer, after b's in the batch: 300 ms
        session_started("c", T0 + 1),
        user("c", T0 + 2),
        paused("c", T0 + 2.1),
        bot("c", T0 + 2.5),  # paused: a person answers, no latency
    ]
    with store.transaction() as session:
        assert record_events(session, batch, NOW) == (8, 1, 0)
    with store.transaction() as session:
        latencies = session.execute(select(ResponseLatency.conversation_id, ResponseLatency.latency_ms)).all()
        assert sorted(latencies) == [("a", 300), ("b", 400)]
        c = session.get(ConversationMetrics, "c")
        assert c is not None and (c.sessions, c.user_messages, c.handoffs, c.paused) == (1, 1, 1, True)


def test_the_same_event_twice_in_a_batch_and_a_redelivered_batch_count_once(store: Store) -> None:
    turn = [session_started("c1", T0), *balance_turn("c1", T0 + 1, latency=0.2)]
    with store.transaction() as session:
        assert record_events(session, [*turn, turn[1], turn[3]], NOW) == (3, 4, 0)
    with store.transaction() as session:
        assert record_events(session, [*turn, user("c1", T0 + 9)], NOW) == (1, 5, 0)
    with store.transaction() as session:
        row = session.get(ConversationMetrics, "c1")
        assert row is not None and (row.sessions, row.user_messages, row.bot_messages) == (1, 2, 1)
        assert row.pending_user_at == AT0 + timedelta(seconds=9)
        assert session.scalar(select(func.count()).select_from(ResponseLatency)) == 1
        assert session.scalar(select(func.count()).select_from(SeenEvent)) == 4


def test_a_batch_costs_the_same_handful_of_statements_whatever_its_size(store: Store) -> None:
    def statements_for(batch: list[dict[str, Any]]) -> list[str]:
        seen: list[str] = []

        def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(" ".join(statement.split()[:3]))

        event.listen(store.engine, "before_cursor_execute", remember)
        try:
            with store.transaction() as session:
                record_events(session, batch, NOW)
        finally:
            event.remove(store.engine, "before_cursor_execute", remember)
        return seen

    # every conversation known before the batch, and new ones in it: all eight statements
    with store.transaction() as session:
        record_events(session, [user(f"s-{n}", T0) for n in range(60)], NOW)
    small = statements_for([bot("s-0", T0 + 1, utter_action="utter_clarify"), user("n-0", T0)])
    large = statements_for(
        [
            item
            for n in range(60)
            for item in (
                bot(f"s-{n}", T0 + 1, utter_action="utter_default"),
                *balance_turn(f"n-{n}", T0 + n, 0.3),
            )
        ]
    )
    assert small == large
    assert small == [
        "SELECT metrics_seen_events.digest FROM",
        "SELECT conversation_metrics.conversation_id, conversation_metrics.channel,",
        "INSERT INTO conversation_metrics",
        "UPDATE conversation_metrics SET",
        "INSERT INTO response_latencies",
        "INSERT INTO metrics_turns",
        "INSERT INTO metrics_misunderstandings",
        "INSERT INTO metrics_seen_events",
    ]
    assert statements_for([slot("s-0", T0), action("s-0", T0, "action_listen")]) == []
    # counted before: only the look-up of its digest
    assert statements_for([bot("s-0", T0 + 1, utter_action="utter_clarify")]) == [
        "SELECT metrics_seen_events.digest FROM"
    ]


@contextmanager
def failing_before(store: Store, table: str, error: Optional[Exception] = None) -> Iterator[list[int]]:
    """The store fails on the statement that writes ``table``, after the batch's earlier writes."""
    failures: list[int] = []

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith(("INSERT INTO " + table, "UPDATE " + table)):
            failures.append(1)
            raise error or OperationalError(statement, {}, Exception("the disk is full"))

    event.listen(store.engine, "before_cursor_execute", fail)
    try:
        yield failures
    finally:
        event.remove(store.engine, "before_cursor_execute", fail)


def consumer_of(store: Store) -> MetricsConsumer:
    return MetricsConsumer(store, settings_from_env({"BOT_ENV": "test"}), FixedClock(NOW))


def test_a_store_failure_in_the_middle_of_a_batch_leaves_nothing_of_it(store: Store) -> None:
    consumer = consumer_of(store)
    consumer.count_batch([json.dumps(user("c1", T0)).encode()])
    before = snapshot(store)
    batch = [bot("c1", T0 + 0.5), *balance_turn("c2", T0, latency=0.3), session_started("c1", T0 + 9)]
    bodies = [json.dumps(item).encode() for item in batch]
    for table in ("conversation_metrics", "response_latencies", "metrics_seen_events"):
        with failing_before(store, table) as failures, pytest.raises(StoreUnavailable):
            consumer.count_batch(bodies)
        assert failures == [1]
        assert snapshot(store) == before, table
    assert consumer.count_batch(bodies) == (4, 2, 0)  # the redelivery, with the store back
    with store.transaction() as session:
        latencies = session.execute(select(ResponseLatency.conversation_id, ResponseLatency.latency_ms))
        assert sorted(latencies) == [("c1", 500), ("c2", 300)]


def test_a_conversation_added_meanwhile_by_someone_else_fails_the_batch(store: Store) -> None:
    """Two consumers on one queue are not supported, but a row written between our read and our write
    is a constraint error (the batch is retried), not a count silently lost."""
    consumer = consumer_of(store)
    racing = True

    def other_consumer(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal racing
        if racing and statement.lstrip().startswith("INSERT INTO conversation_metrics"):
            racing = False
            with store.engine.begin() as other:
                row = {"conversation_id": "c1", "first_event_at": AT0, "last_event_at": AT0}
                other.execute(insert(CONVERSATION).values(row))

    event.listen(store.engine, "before_cursor_execute", other_consumer)
    try:
        with pytest.raises(StoreUnavailable):
            consumer.count_batch([json.dumps(user("c1", T0)).encode()])
    finally:
        event.remove(store.engine, "before_cursor_execute", other_consumer)
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SeenEvent)) == 0
    assert consumer.count_batch([json.dumps(user("c1", T0)).encode()]) == (1, 0, 0)


def test_unreadable_messages_in_the_middle_of_a_batch_are_dropped_and_the_rest_counted(store: Store) -> None:
    bodies = [
        json.dumps(user("c1", T0)).encode(),
        b"\xff\xfe not utf-8",
        b'{"sender_id": "c1", "event": "bot", "timestamp": "yesterday"}',
        b"null",
        json.dumps(slot("c1", T0 + 0.1)).encode(),
        json.dumps(bot("c1", T0 + 0.25)).encode(),
    ]
    consumer = consumer_of(store)
    assert consumer.count_batch(bodies) == (2, 1, 3)
    assert consumer.count_batch(bodies) == (0, 3, 3)  # redelivered: the readable ones were counted
    with store.transaction() as session:
        assert session.scalars(select(ResponseLatency.latency_ms)).all() == [250]


def test_a_message_with_the_events_of_a_save_reads_as_those_events() -> None:
    from bot.metrics.consumer import _decode

    user = {"event": "user", "timestamp": 1.0, "text": "查余额"}
    bot = {"event": "bot", "timestamp": 2.0, "text": "您的余额"}
    grouped = json.dumps({"sender_id": "c1", "events": [user, bot]}).encode()
    assert _decode(grouped) == [{"sender_id": "c1", **user}, {"sender_id": "c1", **bot}]
    single = json.dumps({"sender_id": "c1", **user}).encode()  # Rasa's own stores: one per event
    assert _decode(single) == [{"sender_id": "c1", **user}]
    assert _decode(json.dumps({"sender_id": "c1", "events": []}).encode()) == []
    for unreadable in (b"not json", b"[1, 2]", json.dumps({"sender_id": "c1", "events": [user, 3]}).encode()):
        assert _decode(unreadable) is None
