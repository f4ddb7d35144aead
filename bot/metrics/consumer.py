"""The metrics consumer: reads Rasa's events from RabbitMQ and counts them in the billing store.

Rasa's ``pika`` event broker (``rasa.core.brokers.pika``, built on aio-pika) publishes, as JSON, to
a fanout exchange with the queues of ``endpoints.prod.yml`` bound to it: our tracker store
(bot/tracker_store.py) the new events of each save of a conversation as one message
(``{"sender_id": ..., "events": [...]}``), Rasa's own stores one message per event; both are
read. This consumer declares the same exchange and queue (same arguments, so either side may
start first), then takes the messages in order with manual acknowledgement:

* the messages at hand make a batch: up to ``batch_size`` (also the prefetch count), waiting at
  most ``linger`` seconds after the first for the batch to fill (one timer per batch);
* a batch is counted in one transaction with a fixed handful of statements whatever its size
  (:func:`bot.metrics.service.record_events`): events of one conversation in the order received,
  each event once (the digests in ``metrics_seen_events``, and duplicates inside the batch);
* it is acknowledged (``multiple=True``) only after the commit, so a crash between the two
  redelivers it, and the digests make a redelivered event count once;
* in the same transaction, the subscriber messages the assistant misunderstood go to the review
  queue (``bot.review``: captured once per digest, purged after ``BOT_REVIEW_KEEP_DAYS`` with the
  hourly pruning of digests);
* an unreadable message (not JSON, no sender or timestamp) is counted as dropped, logged without
  its content and acknowledged with its batch: it would never become readable;
* when the store fails (or a row the batch adds was added meanwhile), nothing is committed and the
  connection is closed without acknowledging, so RabbitMQ requeues the batch in order, and the
  consumer tries again after a back-off (1, 2, 4 … 30 s); the same back-off applies while RabbitMQ
  is unreachable.

Run one consumer per queue: the latency of a message needs the user event before the bot's, and
two consumers on one queue would interleave them. Nothing personal is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

from sqlalchemy.exc import SQLAlchemyError

from bot.clock import Clock, SystemClock
from bot.db import Store, StoreUnavailable
from bot.metrics.service import prune_seen, prune_turns, record_events
from bot.review.capture import find_misunderstood
from bot.review.queue import purge, record_captured
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Digests of counted events are kept this long (redeliveries come within minutes, not days).
KEEP_DIGESTS = timedelta(days=7)
PRUNE_EVERY_SECONDS = 3600.0
MAX_BACKOFF_SECONDS = 30.0


class _StoreDown(Exception):
    """The store failed while counting a batch: nothing of it was acknowledged."""


@dataclass
class ConsumerStats:
    """What a run of the consumer did."""

    received: int = 0
    counted: int = 0
    ignored: int = 0
    dropped: int = 0


def _decode(body: bytes) -> Optional[list[dict[str, Any]]]:
    """The events of one message, each as Rasa publishes it (``sender_id`` plus ``Event.as_dict()``),
    or None when the message is unreadable.

    A message is one event (Rasa's event brokers) or the new events of one save of a conversation,
    ``{"sender_id": ..., "events": [...]}`` (``bot.tracker_store.LeanSQLTrackerStore``).
    """
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(found, dict):
        return None
    if "event" in found or not isinstance(found.get("events"), list):
        return [found]
    events = found["events"]
    if not all(isinstance(event, dict) for event in events):
        return None
    return [{"sender_id": found.get("sender_id"), **event} for event in events]


class MetricsConsumer:
    """Consumes one queue of Rasa events into the conversation metrics."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Optional[Clock] = None,
        *,
        queue: Optional[str] = None,
        exchange: Optional[str] = None,
        batch_size: int = 200,
        linger: float = 0.25,
    ) -> None:
        """Args:
        store: the billing store the metrics are kept in.
        settings: RabbitMQ address and credentials, queue and exchange names.
        clock: the time digests are stamped with.
        queue: the queue to read (``settings.events_queue`` by default).
        exchange: the fanout exchange the queue is bound to (``settings.events_exchange``).
        batch_size: the most messages counted in one transaction (also the prefetch count).
        linger: how long a batch waits for more messages after its first (seconds).
        """
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.queue = queue or settings.events_queue
        self.exchange = exchange or settings.events_exchange
        self.batch_size = batch_size
        self.linger = linger
        self.stats = ConsumerStats()
        self._last_prune = 0.0

    def count_batch(self, bodies: list[bytes]) -> tuple[int, int, int]:
        """Counts the events of ``bodies``, in the order given, in one transaction.

        Returns:
            (counted, ignored, dropped): events that changed the metrics; events that do not matter
            for them or were counted before (also earlier in ``bodies``); unreadable messages.

        Raises:
            StoreUnavailable: the store could not be reached, failed, or refused a row or digest
                added meanwhile by someone else; nothing was committed.
        """
        now = self.clock.now()
        decoded = [_decode(body) for body in bodies]
        unreadable = decoded.count(None)
        events = [event for message in decoded if message is not None for event in message]
        try:
            with self.store.transaction() as session:
                counts = record_events(session, events, now)
                # the review queue (bot/review): misunderstood messages, in the same transaction
                captured, escalations = find_misunderstood(events, self.settings.review_low_confidence)
                record_captured(session, captured, escalations)
                if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
                    prune_seen(session, now - KEEP_DIGESTS)
                    prune_turns(session, now - timedelta(days=self.settings.metrics_keep_days))
                    purge(session, now - timedelta(days=self.settings.review_keep_days))
                    self._last_prune = time.monotonic()
        except SQLAlchemyError as exc:  # a constraint race or a server error: retry the batch later
            raise StoreUnavailable(exc.__class__.__name__) from exc
        return counts.counted, counts.ignored, counts.dropped + unreadable

    async def run(self, stop: asyncio.Event, *, idle_exit: Optional[float] = None) -> ConsumerStats:
        """Consumes until ``stop`` is set, reconnecting with back-off after failures.

        Args:
            stop: set it to end the run (e.g. from a signal handler).
            idle_exit: end the run once no message came for this many seconds (tests, draining).

        Returns:
            The counts of this run.
        """
        backoff = 1.0
        while not stop.is_set():
            try:
                finished = await self._session(stop, idle_exit)
                if finished:
                    break
                backoff = 1.0
                continue
            except _StoreDown as exc:
                logger.warning("metrics store unavailable (%s); the batch goes back to the queue", exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any broker failure: reconnect after the back-off
                logger.warning(
                    "RabbitMQ at %s:%s unavailable (%s); retrying in %.0f s",
                    self.settings.rabbitmq_host,
                    self.settings.rabbitmq_port,
                    exc.__class__.__name__,
                    backoff,
                )
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            except asyncio.TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        return self.stats

    async def _session(self, stop: asyncio.Event, idle_exit: Optional[float]) -> bool:
        """One connection's worth of consuming. True when the run is over (stop or idle)."""
        import aio_pika

        connection = await aio_pika.connect(
            host=self.settings.rabbitmq_host,
            port=self.settings.rabbitmq_port,
            login=self.settings.rabbitmq_user,
            password=self.settings.rabbitmq_password,
            timeout=10,
        )
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.batch_size)
            # The same declarations as Rasa's broker (PikaEventBroker._set_up_exchange).
            exchange = await channel.declare_exchange(self.exchange, type=aio_pika.ExchangeType.FANOUT)
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(exchange, "")
            inbox: deque[Any] = deque()  # delivered, not yet counted (at most batch_size: the prefetch)
            arrived = asyncio.Event()  # the inbox is not empty
            full = asyncio.Event()  # the inbox holds a whole batch

            def deliver(message: Any) -> None:
                # A plain function, not a coroutine: aio-pika calls it without a task of its own.
                inbox.append(message)
                arrived.set()
                if len(inbox) >= self.batch_size:
                    full.set()

            closed = asyncio.Event()
            connection.close_callbacks.add(lambda *_: closed.set())
            await queue.consume(deliver, no_ack=False)
            logger.info("metrics consumer reading queue %s", self.queue)
            last_message = time.monotonic()
            while not stop.is_set():
                if closed.is_set():
                    raise ConnectionError("connection closed")
                if not inbox:
                    arrived.clear()
                    try:
                        await asyncio.wait_for(arrived.wait(), timeout=0.5)
                    except asyncio.TimeoutError:
                        if idle_exit is not None and time.monotonic() - last_message >= idle_exit:
                            return True
                        continue
                # Events come a few at a time: wait up to ``linger`` seconds for a whole batch, so a
                # busy queue is counted in a few transactions a second rather than one per event.
                # One timer per batch, not one per message.
                if len(inbox) < self.batch_size and self.linger > 0:
                    full.clear()
                    try:
                        await asyncio.wait_for(full.wait(), timeout=self.linger)
                    except asyncio.TimeoutError:
                        pass
                batch = [inbox.popleft() for _ in range(min(len(inbox), self.batch_size))]
                last_message = time.monotonic()
                try:
                    counted, ignored, dropped = await asyncio.to_thread(
                        self.count_batch, [message.body for message in batch]
                    )
                except StoreUnavailable as exc:
                    raise _StoreDown(str(exc)) from exc
                if dropped:
                    logger.warning("dropped %d unreadable message(s) from queue %s", dropped, self.queue)
                await batch[-1].ack(multiple=True)
                self.stats.received += len(batch)
                self.stats.counted += counted
                self.stats.ignored += ignored
                self.stats.dropped += dropped
        return True


def run_forever(store: Store, settings: Settings) -> ConsumerStats:
    """Runs the consumer until SIGINT or SIGTERM (``python -m bot metrics-consumer``)."""
    import signal

    async def main() -> ConsumerStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await MetricsConsumer(store, settings).run(stop)

    return asyncio.run(main())
