"""The benchmarks' harness (bench/harness.py): what their figures rest on.

Cloned accounts must be the demo accounts again under new numbers (or the scripted conversations
would not hear what they expect), the loss check must find a message without its reply in the
tracker store, and the percentiles must be the nearest-rank ones the JSON promises.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, func, select, text

from bench.harness import PROFILES, Outbox, Turn, clone_accounts, percentile, summarise, tracker_losses
from bot.billing.models import Charge, Subscriber, Subscription
from bot.db import Store
from bot.identity.hashing import verify_secret
from bot.seed import DEMO_PASSWORD, seed_demo
from tests.support.postgres import empty_postgres
from tests.support.settings import SETTINGS

pytestmark = pytest.mark.postgres


@pytest.fixture
def seeded_postgres(postgres_url: str) -> Iterator[str]:
    store = Store.from_url(postgres_url)
    empty_postgres(store)
    with store.transaction() as session:
        seed_demo(session, datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc), SETTINGS)
    store.dispose()
    yield postgres_url


def test_cloned_accounts_are_the_demo_accounts_under_new_numbers(seeded_postgres: str) -> None:
    numbers = clone_accounts(seeded_postgres, copies=2)
    assert set(numbers) == set(PROFILES)
    phones = [p for group in numbers.values() for p in group]
    assert len(set(phones)) == 8 and all(p.startswith("199") and len(p) == 11 for p in phones)
    settings = SETTINGS
    store = Store.from_url(seeded_postgres)
    with store.transaction() as session:
        for script, source_phone in PROFILES.items():
            source = session.scalars(select(Subscriber).where(Subscriber.phone == source_phone)).one()
            for phone in numbers[script]:
                clone = session.scalars(select(Subscriber).where(Subscriber.phone == phone)).one()
                assert (clone.name, clone.balance_fen, clone.plan_id) == (
                    source.name,
                    source.balance_fen,
                    source.plan_id,
                )
                assert verify_secret(
                    DEMO_PASSWORD, clone.password_hash, pepper=settings.secret_key
                )  # the service password works
                for model in (Subscription, Charge):
                    count = func.count()
                    mine = session.scalar(
                        select(count).select_from(model).where(model.subscriber_id == clone.id)
                    )
                    theirs = session.scalar(
                        select(count).select_from(model).where(model.subscriber_id == source.id)
                    )
                    assert mine == theirs
                # a cloned charge points at the clone's own subscription, never at the source's
                linked = session.scalars(
                    select(Subscription.subscriber_id)
                    .join(Charge, Charge.subscription_id == Subscription.id)
                    .where(Charge.subscriber_id == clone.id)
                ).all()
                assert set(linked) <= {clone.id}
    store.dispose()


def test_outbox_reads_only_a_code_sent_after_the_mark(seeded_postgres: str) -> None:
    outbox = Outbox(seeded_postgres)
    engine = create_engine(seeded_postgres, future=True)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    insert = text(
        "INSERT INTO notifications (phone, kind, channel, body, status, created_at)"
        " VALUES ('19900000001', 'verification_code', 'sms', :body, 'sent', :at)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"body": "【营业厅】验证码 111111，5分钟内有效。", "at": now})
        mark = outbox.last_id("19900000001")
        assert outbox.code_after("19900000001", mark) is None  # nothing newer yet
        with engine.begin() as conn:
            conn.execute(insert, {"body": "【营业厅】验证码 222222，5分钟内有效。", "at": now})
        assert outbox.code_after("19900000001", mark) == "222222"
    finally:
        outbox.dispose()
        engine.dispose()


@pytest.fixture
def tracker_db(postgres_url: str) -> Iterator[str]:
    engine = create_engine(postgres_url, future=True, isolation_level="AUTOCOMMIT")
    name = f"bench_tracker_{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


async def test_the_loss_check_finds_a_message_without_its_reply(tracker_db: str) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    rest, db = tracker_db.rsplit("/", 1)
    store = SQLTrackerStore(
        Domain.empty(), dialect="postgresql", host="127.0.0.1", db=db, username="postgres"
    )
    answered = DialogueStateTracker.from_events("answered", [UserUttered("查余额"), BotUttered("36.50 元")])
    half = DialogueStateTracker.from_events(
        "half", [UserUttered("查余额"), BotUttered("36.50 元"), UserUttered("查流量")]
    )
    await store.save(answered)
    await store.save(half)
    store.engine.dispose()
    assert tracker_losses(tracker_db, {"answered": 1, "half": 1}) == {"lost": 0, "senders_missing": 0}
    assert tracker_losses(tracker_db, {"answered": 1, "half": 2}) == {"lost": 1, "senders_missing": 0}
    assert tracker_losses(tracker_db, {"answered": 1, "never-seen": 3}) == {"lost": 3, "senders_missing": 1}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None
    turns = [Turn("s", "x", ["ok"], 10.0), Turn("s", "x", [], 900.0, "http 502")]
    figures = summarise(turns, elapsed=2.0)
    assert (figures["messages"], figures["answered"], figures["errors"]) == (2, 1, 1)
    assert figures["latency_ms"]["p95"] == 10.0  # failed turns are counted, not timed
