"""The lean tracker store (bot/tracker_store.py) against Rasa's ``SQLTrackerStore``: the same
conversation saved through each, on SQLite and on PostgreSQL, leaves the same rows and publishes the
same messages; trackers read back are the same; reads still fail loudly inside a message."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from sqlalchemy.engine import make_url

import bot.channels  # noqa: F401 - installs bot/rasa_patches.py, as in every Rasa process serving our channels
from bot.metrics.consumer import _decode
from bot.rasa_patches import ACTION_FAILURES
from bot.tracker_store import LeanSQLTrackerStore

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_795_312_800.0  # 2026-11-22 02:00:00 UTC
Rows = list[tuple[Any, ...]]


class RecordingBroker:
    """An event broker that keeps what it is given (Rasa's brokers serialise it as JSON)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any], headers: Any = None) -> None:
        self.bodies.append(json.loads(json.dumps(event)))

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events published, each as the metrics consumer reads it from its message."""
        found = []
        for body in self.bodies:
            events = _decode(json.dumps(body).encode())
            assert events is not None, body
            found += events
        return found


class FailingBroker(RecordingBroker):
    def publish(self, event: dict[str, Any], headers: Any = None) -> None:
        raise ConnectionError("the broker is down")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], dict[str, Any]]]:
    """A factory of empty tracker databases, as the tracker store's keyword arguments."""
    if request.param == "sqlite":
        names = iter(range(100))
        yield lambda: {"dialect": "sqlite", "db": str(tmp_path / f"tracker-{next(names)}.db")}
        return
    url = make_url(request.getfixturevalue("postgres_url"))
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create() -> dict[str, Any]:
        name = f"rasa_events_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return {
            "dialect": "postgresql",
            "host": url.host,
            "port": url.port,
            "db": name,
            "username": url.username,
        }

    try:
        yield create
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def user(text: str, intent: str, at: float) -> UserUttered:
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.93},
        "entities": [
            {"entity": "period", "start": 0, "end": 2, "value": "上月", "extractor": "RegexEntityExtractor"}
        ],
        "intent_ranking": [{"name": intent, "confidence": 0.93}, {"name": "greet", "confidence": 0.04}],
        "message_id": f"m-{at}",
        "metadata": {"channel": "rest"},
    }
    return UserUttered(
        text,
        intent=parse_data["intent"],
        entities=parse_data["entities"],
        parse_data=parse_data,
        input_channel="rest",
        message_id=parse_data["message_id"],
        timestamp=at,
    )


def turn(at: float, text: str = "上月账单多少", intent: str = "query_bill") -> list[Event]:
    """A subscriber's message and the bot's answer, ending with a listen."""
    return [
        user(text, intent, at),
        ActionExecuted("action_query_bill", policy="RulePolicy", confidence=1.0, timestamp=at + 0.1),
        SlotSet("period", "上月", timestamp=at + 0.2),
        BotUttered(
            "上月账单 36.50 元。",
            data={"buttons": None},
            metadata={"utter_action": "utter_bill"},
            timestamp=at + 0.3,
        ),
        ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0, timestamp=at + 0.4),
    ]


def session_start(at: float) -> list[Event]:
    return [
        ActionExecuted("action_session_start", timestamp=at),
        SessionStarted(timestamp=at),
        ActionExecuted("action_listen", timestamp=at + 0.01),
    ]


def rows(store: SQLTrackerStore) -> Rows:
    with store.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT id, sender_id, type_name, timestamp, intent_name, action_name, data"
                    " FROM events ORDER BY id"
                )
            )
        ]


def dump(tracker: Any) -> Any:
    """A tracker's events and its state (slots, active loop, paused, latest message ...)."""
    if tracker is None:
        return None
    return [e.as_dict() for e in tracker.events], tracker.current_state(EventVerbosity.NONE)


async def converse(cls: type[SQLTrackerStore], domain: Domain, database: dict[str, Any]) -> dict[str, Any]:
    """One sequence of reads and saves through ``cls``; what it stored, published and read back."""
    broker = RecordingBroker()
    store = cls(domain, event_broker=broker, **database)
    other = cls(domain, event_broker=broker, **database)  # another Rasa process on the same database
    seen: list[Any] = []

    async def update(sender: str, events: list[Event], by: SQLTrackerStore = store) -> DialogueStateTracker:
        tracker = await by.get_or_create_tracker(sender, append_action_listen=False)
        for event in events:
            tracker.update(event, domain)
        await by.save(tracker)
        seen.append(dump(await by.retrieve(sender)))
        return tracker

    # Two new conversations, interleaved (Rasa saves an empty tracker for a new one).
    await update("c1", session_start(T0) + turn(T0 + 1))
    await update("c2", session_start(T0 + 2) + turn(T0 + 3, "查一下我的余额", "query_balance"))
    tracker = await update("c1", turn(T0 + 10))
    await store.save(tracker)  # saved twice without new events
    await store.save(tracker)
    # A form and a handoff, handled by the other process.
    await update(
        "c1",
        [ActiveLoop("verification_form", timestamp=T0 + 20), ConversationPaused(timestamp=T0 + 21)],
        other,
    )
    # The agent console (another process) appends between this process's read and its save.
    mine = await store.retrieve("c1")
    assert mine is not None
    await update(
        "c1", [BotUttered("您好，我是客服小王。", metadata={"agent_id": 1}, timestamp=T0 + 30)], other
    )
    for event in turn(T0 + 31):
        mine.update(event, domain)
    await store.save(mine)
    seen.append(dump(await store.retrieve("c1")))
    # A new session: Rasa restarts it on the next message after the expiry.
    await update("c1", session_start(T0 + 4000) + turn(T0 + 4001))
    await update("c1", turn(T0 + 4010), other)
    await update("c2", turn(T0 + 4020, "我还剩多少流量", "query_usage"))
    full = [dump(await s.retrieve_full_tracker(c)) for s in (store, other) for c in ("c1", "c2", "c3")]
    stored = rows(store)
    for s in (store, other):
        s.engine.dispose()
    return {
        "rows": stored,
        "published": broker.events,
        "messages": len(broker.bodies),
        "retrieved": seen,
        "full": full,
    }


async def test_the_lean_store_stores_publishes_and_reads_what_rasas_does(
    domain: Domain, databases: Callable[[], dict[str, Any]]
) -> None:
    stock = await converse(SQLTrackerStore, domain, databases())
    lean = await converse(LeanSQLTrackerStore, domain, databases())
    assert len(stock["rows"]) > 30 and len(stock["published"]) > 30
    assert lean["rows"] == stock["rows"]  # ids, timestamps and data included
    assert lean["published"] == stock["published"]
    assert lean["retrieved"] == stock["retrieved"]
    assert lean["full"] == stock["full"]
    # Every stored event was published once, in the order of the rows, and nothing else: one
    # message per save that stored events (Rasa: one per event).
    assert lean["published"] == [{"sender_id": row[1], **json.loads(row[6])} for row in lean["rows"]]
    assert stock["messages"] == len(stock["rows"]) and lean["messages"] == 9  # nine saves
    # The read after the restart holds the new session only.
    after_restart, state = lean["retrieved"][-3]
    assert [e["event"] for e in after_restart[:3]] == ["action", "session_started", "action"]
    assert state["paused"] is False and state["slots"]["period"] == "上月"


async def test_the_rows_appended_meanwhile_count_as_rasa_counts_them(
    domain: Domain, databases: Callable[[], dict[str, Any]]
) -> None:
    """Rasa's save stores the tracker's events after as many as the session holds. When another process
    appended since this one read (the lock store prevents it for messages), the tracker's first new
    events are taken for those and not stored: Rasa's behaviour, kept as it is."""
    for cls in (SQLTrackerStore, LeanSQLTrackerStore):
        database = databases()
        store, other = cls(domain, **database), cls(domain, **database)
        tracker = DialogueStateTracker.from_events("c", session_start(T0), domain.slots)
        await store.save(tracker)
        read = await store.retrieve("c")
        assert read is not None
        appended = await other.retrieve("c")
        assert appended is not None
        appended.update(BotUttered("客服的话", timestamp=T0 + 1), domain)
        await other.save(appended)
        for event in turn(T0 + 2):
            read.update(event, domain)
        await store.save(read)
        stored = [json.loads(row[6])["event"] for row in rows(store)]
        assert stored == [
            "action",
            "session_started",
            "action",
            "bot",
            "action",
            "slot",
            "bot",
            "action",
        ], cls
        for s in (store, other):
            s.engine.dispose()


async def test_events_are_published_only_once_stored(domain: Domain, tmp_path: Path) -> None:
    tracker = DialogueStateTracker.from_events("c", session_start(T0) + turn(T0 + 1), domain.slots)
    published = {}
    for cls in (SQLTrackerStore, LeanSQLTrackerStore):
        broker = RecordingBroker()
        store = cls(domain, event_broker=broker, db=str(tmp_path / f"{cls.__name__}.db"))

        def refuse_inserts(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                raise RuntimeError("the disk is full")

        sa.event.listen(store.engine, "before_cursor_execute", refuse_inserts)
        with pytest.raises(RuntimeError, match="disk is full"):
            await store.save(tracker)
        assert rows(store) == []
        published[cls] = len(broker.bodies)
        store.engine.dispose()
    assert published == {SQLTrackerStore: 8, LeanSQLTrackerStore: 0}  # Rasa publishes first


async def test_a_broker_failing_after_the_commit_does_not_fail_the_save(
    domain: Domain, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LeanSQLTrackerStore(domain, event_broker=FailingBroker(), db=str(tmp_path / "tracker.db"))
    tracker = DialogueStateTracker.from_events("c", session_start(T0) + turn(T0 + 1), domain.slots)
    await FailSafeTrackerStore(store).save(tracker)
    assert len(rows(store)) == 8
    assert "Publishing 8 stored events of 'c' failed" in caplog.text
    store.engine.dispose()


@pytest.fixture
async def unreadable(domain: Domain, tmp_path: Path) -> AsyncIterator[FailSafeTrackerStore]:
    """The store as Rasa wraps it, on a database whose reads fail."""
    store = LeanSQLTrackerStore(domain, db=str(tmp_path / "tracker.db"))
    await store.save(DialogueStateTracker.from_events("c", session_start(T0), domain.slots))

    def refuse_reads(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            raise RuntimeError("the database is down")

    sa.event.listen(store.engine, "before_cursor_execute", refuse_reads)
    yield FailSafeTrackerStore(store)
    store.engine.dispose()


async def test_a_failing_read_still_fails_a_subscribers_message(unreadable: FailSafeTrackerStore) -> None:
    token = ACTION_FAILURES.set([])  # inside a subscriber's message, as the channel guard sets it
    try:
        with pytest.raises(RuntimeError, match="the database is down"):
            await unreadable.get_or_create_tracker("c")
    finally:
        ACTION_FAILURES.reset(token)
    assert await unreadable.retrieve("c") is None  # outside a message: Rasa's fallback
