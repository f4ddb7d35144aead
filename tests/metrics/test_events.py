"""Rasa events → conversation metrics, as pure functions, on events built with Rasa's own classes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from bot.metrics.events import (
    ConversationState,
    InvalidEvent,
    apply_event,
    event_digest,
    is_idle_resolved,
    is_relevant,
)
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


def run(events: list[dict[str, Any]]) -> tuple[Optional[ConversationState], list[tuple[datetime, int]]]:
    state: Optional[ConversationState] = None
    latencies = []
    for event in events:
        if not is_relevant(event):
            continue
        update = apply_event(state, event)
        state = update.state
        if update.latency is not None:
            latencies.append(update.latency)
    return state, latencies


def test_a_turn_counts_the_user_message_the_answer_and_its_latency() -> None:
    state, latencies = run([session_started("c1", T0), *balance_turn("c1", T0 + 1, latency=0.25)])
    assert state is not None
    assert (state.conversation_id, state.channel) == ("c1", "socketio")
    assert (state.sessions, state.user_messages, state.bot_messages) == (1, 1, 1)
    assert latencies == [(AT0 + timedelta(seconds=1), 250)]
    assert state.pending_user_at is None
    assert state.first_event_at == AT0
    assert state.last_event_at == AT0 + timedelta(seconds=1.25)


def test_only_the_first_answer_to_a_message_is_its_latency() -> None:
    state, latencies = run(
        [user("c1", T0), bot("c1", T0 + 0.4), bot("c1", T0 + 0.5, text="还有什么可以帮您？")]
    )
    assert latencies == [(AT0, 400)]
    assert state is not None and state.bot_messages == 2


def test_a_message_answered_by_nothing_then_a_new_message_measures_from_the_new_one() -> None:
    _, latencies = run([user("c1", T0), user("c1", T0 + 5), bot("c1", T0 + 5.3)])
    assert latencies == [(AT0 + timedelta(seconds=5), 300)]


def test_events_that_do_not_matter_are_not_relevant() -> None:
    assert not is_relevant(slot("c1", T0))
    assert not is_relevant(action("c1", T0, "action_listen"))
    assert is_relevant(action("c1", T0, "action_handoff"))
    assert is_relevant(user("c1", T0))


def test_a_handoff_pauses_the_bot_and_agent_messages_are_not_bot_answers() -> None:
    state, latencies = run(
        [
            user("c1", T0, text="转人工"),
            action("c1", T0 + 0.1, "action_handoff"),
            bot("c1", T0 + 0.2, utter_action="utter_handoff_queued"),
            paused("c1", T0 + 0.2),
            user("c1", T0 + 30, text="有人吗"),
            agent("c1", T0 + 60),
            user("c1", T0 + 70, text="好的谢谢"),
        ]
    )
    assert state is not None
    assert (state.handoff_requests, state.handoffs, state.paused) == (1, 1, True)
    assert (state.user_messages, state.bot_messages, state.agent_messages) == (3, 1, 1)
    assert latencies == [(AT0, 200)]  # messages while paused wait for a person, not for the bot
    assert state.pending_user_at is None
    assert state.resolution is None


def test_closing_a_handoff_resolves_and_handing_back_does_not() -> None:
    start = [user("c1", T0), action("c1", T0 + 0.1, "action_handoff"), paused("c1", T0 + 0.2)]
    back, _ = run([*start, handed_back("c1", T0 + 50, "returned"), resumed("c1", T0 + 50)])
    assert back is not None and (back.paused, back.resolution) == (False, None)
    closed, _ = run([*start, handed_back("c1", T0 + 90, "closed"), resumed("c1", T0 + 90)])
    assert closed is not None
    assert (closed.resolution, closed.resolved_at) == ("closed", AT0 + timedelta(seconds=90))
    assert closed.bot_messages == 0  # the hand-back line is not an answer of the bot


def test_a_rating_resolves_once() -> None:
    state, _ = run(
        [
            *balance_turn("c1", T0, latency=0.2),
            user("c1", T0 + 10, text="5分"),
            bot("c1", T0 + 10.3, text="感谢您的评价", utter_action="utter_rating_thanks"),
            user("c1", T0 + 20, text="4分"),
            bot("c1", T0 + 20.3, text="感谢您的评价", utter_action="utter_rating_thanks"),
        ]
    )
    assert state is not None
    assert state.ratings == 2
    assert (state.resolution, state.resolved_at) == ("rating", AT0 + timedelta(seconds=10.3))


def test_a_session_that_ended_without_handoff_resolves_at_its_last_event() -> None:
    state, _ = run(
        [
            session_started("c1", T0),
            *balance_turn("c1", T0 + 1, latency=0.3),
            session_started("c1", T0 + 7200),
            user("c1", T0 + 7201),
        ]
    )
    assert state is not None
    assert state.sessions == 2
    assert state.resolution == "session_end"
    assert state.resolved_at == AT0 + timedelta(seconds=1.3)  # the answer, its last counted event
    assert state.session_user_messages == 1


def test_a_session_with_a_handoff_or_without_messages_does_not_resolve() -> None:
    handed, _ = run(
        [
            session_started("c1", T0),
            user("c1", T0 + 1),
            action("c1", T0 + 1.1, "action_handoff"),  # outside agent hours: no pause, a ticket
            session_started("c1", T0 + 7200),
        ]
    )
    assert handed is not None and handed.resolution is None
    assert handed.session_escalated is False  # a new session starts clean
    empty, _ = run([session_started("c1", T0), session_started("c1", T0 + 7200)])
    assert empty is not None and empty.resolution is None


def test_a_quiet_session_without_handoff_counts_as_resolved_after_the_expiry() -> None:
    state, _ = run(balance_turn("c1", T0, latency=0.2))
    assert state is not None
    hour = timedelta(minutes=60)
    assert not is_idle_resolved(state, AT0 + timedelta(minutes=30), hour)
    assert is_idle_resolved(state, AT0 + timedelta(minutes=61), hour)
    handed, _ = run([user("c1", T0), action("c1", T0 + 1, "action_handoff"), paused("c1", T0 + 1)])
    assert handed is not None and not is_idle_resolved(handed, AT0 + timedelta(days=1), hour)


def test_an_answer_stamped_before_its_question_gives_no_latency() -> None:
    _, latencies = run([user("c1", T0 + 1), bot("c1", T0)])
    assert latencies == []


@pytest.mark.parametrize(
    "event",
    [
        {"event": "user", "timestamp": T0, "text": "hi"},
        {"event": "user", "sender_id": "", "timestamp": T0},
        {"event": "user", "sender_id": "c1"},
        {"event": "user", "sender_id": "c1", "timestamp": "yesterday"},
        {"event": "user", "sender_id": "c1", "timestamp": float("nan")},
        {"event": "user", "sender_id": "x" * 101, "timestamp": T0},
    ],
)
def test_an_event_without_conversation_or_time_is_invalid(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent):
        apply_event(None, event)


def test_the_digest_is_stable_and_tells_events_apart() -> None:
    first = user("c1", T0)
    reordered = dict(reversed(list(first.items())))
    assert event_digest(first) == event_digest(reordered)
    assert event_digest(first) != event_digest(user("c1", T0 + 0.000001))
    assert event_digest(first) != event_digest(user("c2", T0))


def facts(events: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    state: Optional[ConversationState] = None
    turns, misreads = [], []
    for event in events:
        if not is_relevant(event):
            continue
        result = apply_event(state, event)
        state = result.state
        turns += [result.turn] if result.turn else []
        misreads += [result.misread] if result.misread else []
    return turns, misreads


def test_each_subscriber_message_is_a_turn_with_its_intent_and_place_in_the_session() -> None:
    turns, misreads = facts(
        [
            session_started("c", T0),
            *balance_turn("c", T0 + 1, latency=0.2),
            user("c", T0 + 5, intent="request_human"),
            paused("c", T0 + 5.2),
            user("c", T0 + 9, text="在吗", intent="greet"),
            session_started("c", T0 + 5000),
            user("c", T0 + 5001, intent="query_bill"),
        ]
    )
    assert [(t.intent, t.opens_session, t.paused) for t in turns] == [
        ("query_balance", True, False),
        ("request_human", False, False),
        ("greet", False, True),
        ("query_bill", True, False),
    ]
    assert turns[0].user_at == AT0 + timedelta(seconds=1) and misreads == []


def test_a_clarification_or_a_fallback_answer_is_a_misunderstanding_with_the_intent_understood_before() -> (
    None
):
    _, misreads = facts(
        [
            user("c", T0, text="我要开发票", intent="ask_invoice"),
            bot("c", T0 + 0.2, utter_action="utter_invoice"),
            user("c", T0 + 3, text="😀", intent="noise"),
            bot("c", T0 + 3.1, utter_action="utter_noise"),
            user("c", T0 + 5, text="那个", intent="nlu_fallback", confidence=0.3),
            bot("c", T0 + 5.3, utter_action="utter_clarify"),
            bot("c", T0 + 5.4, utter_action="utter_default"),  # a second answer to the same message
            user("c", T0 + 8, text="嗯嗯", intent="nlu_fallback", confidence=0.2),
            bot("c", T0 + 8.1, utter_action="utter_offer_human"),
            session_started("c", T0 + 5000),
            user("c", T0 + 5001, text="啊", intent="nlu_fallback", confidence=0.1),
            bot("c", T0 + 5001.1, utter_action="utter_default"),
        ]
    )
    assert [(m.user_at - AT0, m.kind, m.intent_before) for m in misreads] == [
        (timedelta(seconds=5), "clarification", "ask_invoice"),
        (timedelta(seconds=8), "fallback", "ask_invoice"),
        (timedelta(seconds=5001), "fallback", None),  # the first message of a session
    ]


def test_a_message_waiting_for_a_person_is_never_a_misunderstanding() -> None:
    _, misreads = facts(
        [
            user("c", T0, intent="request_human"),
            paused("c", T0 + 0.1),
            user("c", T0 + 2, intent="nlu_fallback"),
            bot("c", T0 + 3, utter_action="utter_default"),
        ]
    )
    assert misreads == []
