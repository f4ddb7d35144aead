"""Conversation metrics in the store (SQLite and PostgreSQL): counting once, the summary, the CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import settings as bot_settings
from bot.cli import main
from bot.clock import FixedClock
from bot.db import Store
from bot.metrics.consumer import MetricsConsumer
from bot.metrics.models import ConversationMetrics, ResponseLatency, SeenEvent, TurnFact
from bot.metrics.service import prune_seen, prune_turns, record_event, summary
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
    user,
)

AT0 = datetime.fromtimestamp(T0, tz=timezone.utc)
NOW = AT0 + timedelta(hours=3)
HOUR = timedelta(minutes=60)


def record_all(store: Store, events: list[dict[str, Any]], now: datetime = NOW) -> int:
    with store.transaction() as session:
        return sum(record_event(session, event, now) for event in events)


def three_conversations() -> list[dict[str, Any]]:
    """c-rated: rated; c-handoff: handed off, closed by an agent; c-quiet: one turn, then nothing."""
    events = [session_started("c-rated", T0), *balance_turn("c-rated", T0 + 1, latency=0.1)]
    events += [
        user("c-rated", T0 + 10, text="5分"),
        bot("c-rated", T0 + 10.2, utter_action="utter_rating_thanks"),
        session_started("c-handoff", T0 + 20),
        user("c-handoff", T0 + 21, text="转人工", channel="rest"),
        action("c-handoff", T0 + 21.1, "action_handoff"),
        bot("c-handoff", T0 + 21.3, utter_action="utter_handoff_queued"),
        paused("c-handoff", T0 + 21.3),
        agent("c-handoff", T0 + 80),
        handed_back("c-handoff", T0 + 120, "closed"),
        resumed("c-handoff", T0 + 120),
        session_started("c-quiet", T0 + 30),
        *balance_turn("c-quiet", T0 + 31, latency=1.5),
    ]
    return events


def test_a_conversation_is_kept_with_its_counters_and_latencies(store: Store) -> None:
    assert record_all(store, [session_started("c1", T0), *balance_turn("c1", T0 + 1, latency=0.35)]) == 3
    with store.transaction() as session:
        row = session.get(ConversationMetrics, "c1")
        assert row is not None
        assert (row.channel, row.sessions, row.user_messages, row.bot_messages) == ("socketio", 1, 1, 1)
        assert row.first_event_at == AT0
        assert row.pending_user_at is None
        latencies = session.execute(select(ResponseLatency.user_at, ResponseLatency.latency_ms)).all()
        assert latencies == [(AT0 + timedelta(seconds=1), 350)]


def test_a_redelivered_event_counts_once_and_other_events_leave_no_trace(store: Store) -> None:
    turn = balance_turn("c1", T0, latency=0.2)
    assert record_all(store, turn) == 2  # the user message and the answer; the actions do not matter
    assert record_all(store, turn) == 0  # RabbitMQ delivers the same messages again
    with store.transaction() as session:
        row = session.get(ConversationMetrics, "c1")
        assert row is not None and (row.user_messages, row.bot_messages) == (1, 1)
        assert session.scalar(select(func.count()).select_from(ResponseLatency)) == 1
        assert session.scalar(select(func.count()).select_from(SeenEvent)) == 2


def test_a_waiting_message_survives_between_transactions(store: Store) -> None:
    record_all(store, [user("c1", T0)])
    record_all(store, [bot("c1", T0 + 0.75)])
    with store.transaction() as session:
        assert session.scalars(select(ResponseLatency.latency_ms)).all() == [750]


def test_the_summary_counts_turns_handoffs_resolutions_and_latency_percentiles(store: Store) -> None:
    record_all(store, three_conversations())
    with store.transaction() as session:
        result = summary(session, NOW, HOUR)
    assert result["conversations"] == 3
    assert result["turns"] == 4
    assert (result["handoff_requests"], result["handoffs"], result["conversations_with_handoff"]) == (1, 1, 1)
    assert result["agent_messages"] == 1
    assert result["resolved_by"] == {"rating": 1, "closed": 1, "session_end": 0, "idle": 1}
    assert (result["resolved"], result["resolved_without_handoff"]) == (3, 2)
    assert result["resolution_rate"] == 1.0
    assert result["handoff_rate"] == pytest.approx(0.3333)
    # answers: 100 ms (balance), 200 ms (rating), 300 ms (handoff line), 1500 ms (quiet's balance)
    assert result["latency_ms"] == {"count": 4, "p50": 200, "p95": 1500, "mean": 525.0, "max": 1500}
    json.dumps(result)


def test_the_summary_of_a_window_and_of_nothing(store: Store) -> None:
    record_all(store, three_conversations())
    record_all(store, balance_turn("c-late", T0 + 7200, latency=0.4))
    with store.transaction() as session:
        late = summary(session, NOW, HOUR, since=AT0 + timedelta(hours=1))
        assert (late["conversations"], late["turns"], late["latency_ms"]["p95"]) == (1, 1, 400)
        empty = summary(session, NOW, HOUR, since=NOW)
    assert empty["conversations"] == 0 and empty["resolution_rate"] is None
    assert empty["latency_ms"] == {"count": 0, "p50": None, "p95": None, "mean": None, "max": None}


def test_old_digests_are_pruned(store: Store) -> None:
    record_all(store, [user("c1", T0)], now=NOW - timedelta(days=8))
    record_all(store, [user("c2", T0)], now=NOW)
    with store.transaction() as session:
        assert prune_seen(session, NOW - timedelta(days=7)) == 1
        assert session.scalar(select(func.count()).select_from(SeenEvent)) == 1


def test_old_turn_rows_are_pruned_and_the_conversations_kept(store: Store) -> None:
    record_all(store, balance_turn("c-old", T0 - 500 * 86400, latency=0.2))
    record_all(store, balance_turn("c-new", T0, latency=0.2))
    with store.transaction() as session:
        assert prune_turns(session, AT0 - timedelta(days=400)) >= 1
        kept = session.scalars(select(TurnFact.conversation_id)).all()
        assert kept and set(kept) == {"c-new"}
        assert session.get(ConversationMetrics, "c-old") is not None
        assert session.scalar(select(func.count()).select_from(ResponseLatency)) == 2


def test_turn_rows_are_kept_at_least_the_dashboards_month() -> None:
    assert settings_from_env({"BOT_ENV": "test"}).metrics_keep_days == 400
    with pytest.raises(bot_settings.SettingsError, match="BOT_METRICS_KEEP_DAYS"):
        settings_from_env({"BOT_ENV": "test", "BOT_METRICS_KEEP_DAYS": "30"})


def test_a_batch_drops_unreadable_messages_and_counts_the_rest(store: Store, clock: FixedClock) -> None:
    consumer = MetricsConsumer(store, settings_from_env({"BOT_ENV": "test"}), clock)
    bodies = [json.dumps(e).encode() for e in balance_turn("c1", T0, latency=0.2)]
    bodies += [b"not json", b"[1, 2]", json.dumps({"event": "user", "timestamp": T0}).encode()]
    assert consumer.count_batch(bodies) == (2, 2, 3)
    assert consumer.count_batch(bodies[:4]) == (0, 4, 0)


@pytest.fixture
def metrics_db(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "billing.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("BOT_ENV", "test")
    bot_settings.get_settings.cache_clear()
    yield path
    bot_settings.get_settings.cache_clear()


def test_the_metrics_command_prints_the_summary_as_json(
    metrics_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store.from_url(f"sqlite:///{metrics_db}")
    try:
        record_all(store, three_conversations())
    finally:
        store.dispose()
    assert main(["metrics"], clock=FixedClock(NOW)) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["conversations"], result["turns"], result["resolved"]) == (3, 4, 3)
    assert main(["metrics", "--hours", "1"], clock=FixedClock(NOW)) == 0
    assert json.loads(capsys.readouterr().out)["conversations"] == 0
