"""The metrics consumer against the real RabbitMQ, fed by Rasa's own pika event broker.

Each test publishes through ``rasa.core.brokers.pika.PikaEventBroker`` to a queue and exchange of
its own (deleted afterwards), runs the consumer until the queue is quiet, and reads the store.
RabbitMQ comes from ``RABBITMQ_HOST``/``RABBITMQ_PORT`` (127.0.0.1:5672, guest/guest by default);
when it is unreachable the tests are skipped, except under ``CI``, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.db import Store
from bot.metrics.consumer import MetricsConsumer
from bot.metrics.models import ConversationMetrics, ResponseLatency
from bot.settings import Settings, settings_from_env
from tests.support.rasa_events import T0, action, balance_turn, bot, paused, session_started, user


@pytest.fixture(scope="module")
def rabbit_settings() -> Iterator[Settings]:
    settings = settings_from_env({**os.environ, "BOT_ENV": "test"})
    try:
        with socket.create_connection((settings.rabbitmq_host, settings.rabbitmq_port), timeout=2):
            pass
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ is not reachable under CI: {exc}")
        pytest.skip(f"RabbitMQ not reachable: {exc}")
    yield settings


@pytest.fixture
async def names(rabbit_settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """A queue and an exchange for this test only, deleted afterwards."""
    import aio_pika

    suffix = uuid.uuid4().hex[:10]
    queue, exchange = f"metrics_test_{suffix}", f"metrics-test-{suffix}"
    yield queue, exchange
    connection = await aio_pika.connect(
        host=rabbit_settings.rabbitmq_host,
        port=rabbit_settings.rabbitmq_port,
        login=rabbit_settings.rabbitmq_user,
        password=rabbit_settings.rabbitmq_password,
        timeout=5,
    )
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


async def publish(settings: Settings, queue: str, exchange: str, events: list[dict[str, Any]]) -> None:
    """Publishes as Rasa does: its broker, its exchange declaration, one message per event."""
    from rasa.core.brokers.pika import PikaEventBroker

    broker = PikaEventBroker(
        settings.rabbitmq_host,
        settings.rabbitmq_user,
        settings.rabbitmq_password,
        port=settings.rabbitmq_port,
        queues=[queue],
        exchange_name=exchange,
        connection_attempts=1,
        retry_delay_in_seconds=0.1,
        event_loop=asyncio.get_running_loop(),
    )
    await broker.connect()
    try:
        for event in events:
            broker.publish(event)
        while broker._background_tasks:
            await asyncio.sleep(0.01)
    finally:
        await broker.close()


async def publish_raw(settings: Settings, exchange: str, body: bytes) -> None:
    """A message Rasa would never send (to the exchange ``publish`` declared), confirmed by RabbitMQ."""
    import aio_pika

    connection = await aio_pika.connect(
        host=settings.rabbitmq_host,
        port=settings.rabbitmq_port,
        login=settings.rabbitmq_user,
        password=settings.rabbitmq_password,
        timeout=5,
    )
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "")


def conversation() -> list[dict[str, Any]]:
    return [
        session_started("rmq-1", T0),
        *balance_turn("rmq-1", T0 + 1, latency=0.3),
        user("rmq-1", T0 + 10, text="转人工"),
        action("rmq-1", T0 + 10.1, "action_handoff"),
        bot("rmq-1", T0 + 10.2, utter_action="utter_handoff_queued"),
        paused("rmq-1", T0 + 10.2),
    ]


async def test_events_published_by_rasa_are_counted_once(
    store: Store, rabbit_settings: Settings, names: tuple[str, str]
) -> None:
    queue, exchange = names
    events = conversation()
    # the first turn twice: a redelivery (a consumer that died before acknowledging) is counted once
    await publish(rabbit_settings, queue, exchange, [*events, *events[:5]])
    consumer = MetricsConsumer(store, rabbit_settings, queue=queue, exchange=exchange)
    stats = await asyncio.wait_for(consumer.run(asyncio.Event(), idle_exit=1.0), timeout=20)
    assert (stats.received, stats.counted, stats.dropped) == (len(events) + 5, 7, 0)
    with store.transaction() as session:
        row = session.get(ConversationMetrics, "rmq-1")
        assert row is not None
        assert (row.user_messages, row.bot_messages, row.handoff_requests, row.handoffs) == (2, 2, 1, 1)
        assert row.paused is True
        latencies = sorted(session.scalars(select(ResponseLatency.latency_ms)).all())
        assert latencies == [200, 300]


async def test_a_batch_the_store_refused_is_counted_when_the_store_is_back(
    sqlite_store: Store, rabbit_settings: Settings, names: tuple[str, str]
) -> None:
    queue, exchange = names
    await publish(rabbit_settings, queue, exchange, balance_turn("rmq-2", T0, latency=0.5))
    broken = Store.from_url("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    consumer = MetricsConsumer(broken, rabbit_settings, queue=queue, exchange=exchange)
    run = asyncio.create_task(consumer.run(asyncio.Event(), idle_exit=1.0))
    await asyncio.sleep(0.7)  # the first batch fails; nothing is acknowledged
    assert consumer.stats.received == 0
    consumer.store = sqlite_store  # the store comes back before the next attempt (after 1 s)
    stats = await asyncio.wait_for(run, timeout=20)
    broken.dispose()
    assert (stats.received, stats.counted) == (4, 2)
    with sqlite_store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ResponseLatency)) == 1


async def test_an_unreachable_broker_is_retried_until_stopped(sqlite_store: Store) -> None:
    settings = settings_from_env({"BOT_ENV": "test", "RABBITMQ_PORT": "1"})
    stop = asyncio.Event()
    run = asyncio.create_task(MetricsConsumer(sqlite_store, settings).run(stop))
    await asyncio.sleep(0.3)
    assert not run.done()  # still trying, not crashed
    stop.set()
    stats = await asyncio.wait_for(run, timeout=5)
    assert stats.received == 0


@pytest.mark.parametrize("linger, most_batches", [(1.5, 1), (0.0, None)])
async def test_events_that_trickle_in_are_counted_in_few_transactions(
    store: Store, rabbit_settings: Settings, names: tuple[str, str], linger: float, most_batches: Any
) -> None:
    queue, exchange = names
    consumer = MetricsConsumer(store, rabbit_settings, queue=queue, exchange=exchange, linger=linger)
    batches: list[int] = []
    count_batch = consumer.count_batch

    def counting(bodies: list[bytes]) -> tuple[int, int, int]:
        batches.append(len(bodies))
        return count_batch(bodies)

    consumer.count_batch = counting  # type: ignore[method-assign]
    run = asyncio.create_task(consumer.run(asyncio.Event(), idle_exit=2.0))
    events = balance_turn("rmq-3", T0, latency=0.4)
    for event in events:  # one at a time, as a conversation produces them
        await publish(rabbit_settings, queue, exchange, [event])
        await asyncio.sleep(0.1)
    stats = await asyncio.wait_for(run, timeout=20)
    assert stats.received == len(events) and sum(batches) == len(events)
    if most_batches is not None:
        assert len(batches) <= most_batches, batches  # gathered for up to 1.5 s: one transaction
    else:
        assert len(batches) > 1, batches  # no lingering: each trickle is its own transaction
    with store.transaction() as session:
        assert session.get(ConversationMetrics, "rmq-3") is not None


async def test_a_batch_that_failed_half_written_is_redelivered_in_order_and_counted_once(
    store: Store, rabbit_settings: Settings, names: tuple[str, str]
) -> None:
    queue, exchange = names
    # two conversations interleaved, with an unreadable message in the middle
    first = [user("rmq-a", T0), user("rmq-b", T0 + 0.1), bot("rmq-b", T0 + 0.5)]
    then = [action("rmq-a", T0 + 0.6, "action_listen"), bot("rmq-a", T0 + 0.7)]
    await publish(rabbit_settings, queue, exchange, first)
    await publish_raw(rabbit_settings, exchange, b"\x00 not an event")
    await publish(rabbit_settings, queue, exchange, then)
    failures: list[str] = []

    def fail_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # the conversations are written, then the store fails before the latencies
        if not failures and statement.lstrip().startswith("INSERT INTO response_latencies"):
            failures.append(statement)
            raise OperationalError(statement, {}, Exception("the server went away"))

    sql_event.listen(store.engine, "before_cursor_execute", fail_once)
    try:
        consumer = MetricsConsumer(store, rabbit_settings, queue=queue, exchange=exchange, linger=0.5)
        stats = await asyncio.wait_for(consumer.run(asyncio.Event(), idle_exit=2.0), timeout=20)
    finally:
        sql_event.remove(store.engine, "before_cursor_execute", fail_once)
    assert len(failures) == 1
    assert (stats.received, stats.counted, stats.ignored, stats.dropped) == (6, 4, 1, 1)
    with store.transaction() as session:
        latencies = session.execute(select(ResponseLatency.conversation_id, ResponseLatency.latency_ms)).all()
        assert sorted(latencies) == [("rmq-a", 700), ("rmq-b", 400)]  # rmq-a's answer came after the bad one
        row = session.get(ConversationMetrics, "rmq-a")
        assert row is not None and (row.user_messages, row.bot_messages) == (1, 1)


async def test_a_full_batch_is_counted_without_waiting_out_the_linger(
    store: Store, rabbit_settings: Settings, names: tuple[str, str]
) -> None:
    queue, exchange = names
    events = [*balance_turn("rmq-4", T0, latency=0.2), *balance_turn("rmq-4", T0 + 5, latency=0.3)]
    await publish(rabbit_settings, queue, exchange, [*events, session_started("rmq-4", T0 + 4000)] * 2)
    consumer = MetricsConsumer(
        store, rabbit_settings, queue=queue, exchange=exchange, batch_size=6, linger=30.0
    )
    batches: list[int] = []
    count_batch = consumer.count_batch

    def counting(bodies: list[bytes]) -> tuple[int, int, int]:
        batches.append(len(bodies))
        return count_batch(bodies)

    consumer.count_batch = counting  # type: ignore[method-assign]
    started = time.monotonic()
    stats = await asyncio.wait_for(consumer.run(asyncio.Event(), idle_exit=1.0), timeout=20)
    assert batches == [6, 6, 6]  # prefetch 6: each batch as soon as it is whole, not after 30 s
    assert time.monotonic() - started < 10
    assert (stats.received, stats.counted) == (18, 5)


async def test_the_events_of_a_save_in_one_message_count_as_rasas_messages_do(
    store: Store, rabbit_settings: Settings, names: tuple[str, str]
) -> None:
    """Our tracker store publishes the new events of a save as one message (bot/tracker_store.py)."""
    queue, exchange = names
    events = conversation()

    def save(part: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "sender_id": "rmq-1",
            "events": [{k: v for k, v in e.items() if k != "sender_id"} for e in part],
        }

    # three saves, the first delivered twice, and one event as Rasa's own stores publish it
    saves = [save(events[:5]), save(events[5:8]), save(events[8:-1])]
    await publish(rabbit_settings, queue, exchange, [*saves, saves[0], events[-1]])
    consumer = MetricsConsumer(store, rabbit_settings, queue=queue, exchange=exchange)
    stats = await asyncio.wait_for(consumer.run(asyncio.Event(), idle_exit=1.0), timeout=20)
    assert (stats.received, stats.counted, stats.dropped) == (5, 7, 0)
    with store.transaction() as session:
        row = session.get(ConversationMetrics, "rmq-1")
        assert row is not None
        assert (row.user_messages, row.bot_messages, row.handoff_requests, row.handoffs) == (2, 2, 1, 1)
        assert row.paused is True
        assert sorted(session.scalars(select(ResponseLatency.latency_ms)).all()) == [200, 300]
