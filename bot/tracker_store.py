"""Rasa's SQL tracker store, reading a conversation once per message instead of twice.

Rasa 3.6's ``SQLTrackerStore.save`` first calls ``stream_events``, which reads the whole current
session again (``retrieve``: the query, ``json.loads`` of every row and a tracker replayed from
them) only to learn how many events are stored and publish the others to the event broker; then
it asks the database for the same number once more (``_additional_events``: a ``COUNT`` over the
same query) and inserts the new events. So a message cost two reads of the session and a count.

:class:`LeanSQLTrackerStore` changes three things and keeps Rasa's tables, queries and rows:

* **save** counts the stored events of the current session once (Rasa's ``COUNT``), inserts and
  commits the tracker's events after them, then publishes exactly those events to the broker.
* **one message per save**: ``{"sender_id": ..., "events": [event.as_dict(), ...]}`` rather than
  Rasa's message per event (``{"sender_id": ..., **event.as_dict()}``, ``_stream_new_events``).
  A subscriber's message makes some fifteen events; each AMQP message cost the Rasa process, RabbitMQ
  (a persistent message, a publisher confirm) and the consumer's AMQP client far more than its
  bytes. The metrics consumer (bot/metrics/consumer.py) reads both forms, and each event of a
  message is the body Rasa would have published for it.
* **retrieve** runs Rasa's query for the ``data`` column only. It keeps nothing between reads:
  every read sees what every Rasa process, the agent console and Rasa's HTTP API have stored.
  (Half of what reading a 120-event session cost was Rasa finding each event's class by walking
  every ``Event`` subclass; ``bot/rasa_patches.py``, change 5, keeps a table of them instead, in
  every Rasa process that serves our channels.)

The rows, the published events (one message per save) and the trackers read back are
``SQLTrackerStore``'s for the same saves (``tests/channels/test_tracker_store.py``, on SQLite and PostgreSQL).

**Order: the record, then the stream.** Rasa publishes before it writes; this store publishes only
what it has committed, so an event is never published that the store does not hold. A failed write
publishes nothing (Rasa's ``FailSafeTrackerStore`` then keeps the tracker in memory, and that
in-memory store publishes, as it does behind ``SQLTrackerStore``). A broker that raises after the
commit is logged and does not fail the save: the events are stored, and raising would make
``FailSafeTrackerStore`` save the tracker again in memory and publish its whole session a second
time. (Rasa's ``pika`` broker does not raise there: it publishes in a background task.)

Rasa loads the class from the endpoints file (``tracker_store: type:
bot.tracker_store.LeanSQLTrackerStore`` with ``SQLTrackerStore``'s keys) in
``rasa.core.tracker_store._load_from_module_name_in_endpoint_config``, which passes ``host=url``,
``domain``, ``event_broker`` and the other keys: the constructor is ``SQLTrackerStore``'s. When the
class cannot be imported Rasa only warns and uses an in-memory tracker store instead;
``tests/deploy/test_topology.py`` checks that every endpoints file loads this class, and run-prod
stops when the store it prepares on PostgreSQL is not an SQL one.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)


class LeanSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` whose ``save`` reads one count instead of the session and a count, and
    whose ``retrieve`` deserialises the session's events more cheaply (the module's docstring)."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores the events of ``tracker`` that follow those stored, then publishes them."""
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            # Counted now, as Rasa counts them, not taken from the tracker that was read: what another
            # process appended meanwhile is not stored twice (though, as in Rasa, as many of this
            # tracker's new events are then taken for it; the lock store keeps that from happening).
            stored = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()
            new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            for event in new_events:
                session.add(self._row(sender_id, event))
            session.commit()
        logger.debug(f"Tracker with sender_id '{sender_id}' stored to database")
        if self.event_broker is not None and new_events:
            try:
                self.event_broker.publish(
                    {"sender_id": sender_id, "events": [event.as_dict() for event in new_events]}
                )
            except Exception:  # stored: see the module's docstring
                logger.exception(f"Publishing {len(new_events)} stored events of '{sender_id}' failed")

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        """Rasa's query, reading only the ``data`` column; the events as Rasa deserialises them."""
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions)
            rows = query.with_entities(self.SQLEvent.data).all()
            if not rows:
                return None
            events = deserialise_events([json.loads(data) for (data,) in rows])
            return DialogueStateTracker.from_events(sender_id, events, self.domain.slots)

    def _row(self, sender_id: str, event: Event) -> Any:
        """The row ``SQLTrackerStore.save`` writes for ``event``."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"),
            data=json.dumps(data),
        )
