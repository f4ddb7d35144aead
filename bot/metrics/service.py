"""Conversation metrics in the store: counting events (idempotently, a batch at a time) and the summary.

Every function takes an open session (``Store.transaction()``); the caller commits.

:func:`record_events` counts a batch with at most eight statements whatever its size: one
``SELECT`` of the batch's digests already counted, one ``SELECT … FOR UPDATE`` of its conversations'
rows, then one ``INSERT`` of the new conversations, one ``UPDATE`` of the changed ones, one
``INSERT`` each of the latencies, the turns and the misunderstandings, and one of the new
digests (each ``IN`` list holds up to 500 values, so only a larger batch looks up in several).
The events themselves are applied in memory (:func:`bot.metrics.events.apply_event`) in the
order they came. The writes are executemany: with psycopg2, SQLAlchemy sends each ``INSERT`` as one
multi-row statement, and the ``UPDATE`` as one round trip per changed conversation (its executemany
mode batches inserts only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Optional

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from bot.metrics.events import (
    ConversationState,
    InvalidEvent,
    apply_event,
    conversation_of,
    event_digest,
    event_time,
    is_idle_resolved,
    is_relevant,
)
from bot.metrics.models import ConversationMetrics, Misunderstanding, ResponseLatency, SeenEvent, TurnFact

_STATE_FIELDS = tuple(f.name for f in fields(ConversationState))
_CONVERSATIONS = ConversationMetrics.__table__
_LATENCIES = ResponseLatency.__table__
_SEEN = SeenEvent.__table__
_TURNS = TurnFact.__table__
_MISREADS = Misunderstanding.__table__
#: Values bound to one ``IN (…)`` at most (SQLite's limit on parameters is far above it).
_IN_CHUNK = 500
#: The ``UPDATE`` of a changed conversation: its row found by id, every counter set (executemany).
_UPDATE_CONVERSATION = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.conversation_id == bindparam("key", type_=_CONVERSATIONS.c.conversation_id.type))
    .values(
        {
            name: bindparam(f"new_{name}", type_=_CONVERSATIONS.c[name].type)
            for name in _STATE_FIELDS
            if name != "conversation_id"
        }
    )
)


class Counts(NamedTuple):
    """What counting a batch did with its events."""

    counted: int  # changed the metrics
    ignored: int  # do not matter for the metrics, or were counted before (also earlier in the batch)
    dropped: int  # relevant but unusable: no conversation id or timestamp


def _state_of(row: Any) -> ConversationState:
    return ConversationState(**{name: getattr(row, name) for name in _STATE_FIELDS})


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def record_events(session: Session, events: Iterable[dict[str, Any]], now: datetime) -> Counts:
    """Counts the events Rasa published, each once, in the order given.

    Events of one conversation are applied in their order (a latency needs the user event before
    the bot's); events of different conversations are independent. An event whose digest is in
    ``metrics_seen_events``, or that came earlier in ``events``, is ignored.

    Args:
        session: an open unit of work; nothing is committed here.
        events: decoded messages as published (``sender_id`` plus ``Event.as_dict()``).
        now: when they are counted (kept with their digests, for pruning).

    Returns:
        How many events were counted, ignored and dropped.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the store failed, or a row or digest this batch adds was
            added meanwhile by someone else (a second consumer): roll back and count it again.
    """
    ignored = dropped = 0
    todo: list[tuple[str, str, dict[str, Any]]] = []  # (digest, conversation id, event), as they came
    digests: set[str] = set()
    for event in events:
        if not is_relevant(event):
            ignored += 1
            continue
        try:
            conversation_id = conversation_of(event)
            event_time(event)
        except InvalidEvent:
            dropped += 1
            continue
        digest = event_digest(event)
        if digest in digests:
            ignored += 1  # the same event twice in the batch
            continue
        digests.add(digest)
        todo.append((digest, conversation_id, event))
    if not todo:
        return Counts(0, ignored, dropped)

    seen: set[str] = set()
    for chunk in _chunks(sorted(digests)):
        seen.update(session.scalars(select(_SEEN.c.digest).where(_SEEN.c.digest.in_(chunk))))
    if seen:
        ignored += len(seen)
        todo = [item for item in todo if item[0] not in seen]
        if not todo:
            return Counts(0, ignored, dropped)

    states: dict[str, ConversationState] = {}
    # Locked in the order of their ids, so two transactions never wait for each other's rows.
    for chunk in _chunks(sorted({conversation_id for _, conversation_id, _ in todo})):
        rows = session.execute(
            select(_CONVERSATIONS)
            .where(_CONVERSATIONS.c.conversation_id.in_(chunk))
            .order_by(_CONVERSATIONS.c.conversation_id)
            .with_for_update()
        )
        states.update((row.conversation_id, _state_of(row)) for row in rows)
    stored = dict(states)

    latencies: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    misreads: list[dict[str, Any]] = []
    for _, conversation_id, event in todo:
        result = apply_event(states.get(conversation_id), event)
        states[conversation_id] = result.state
        if result.latency is not None:
            user_at, millis = result.latency
            latencies.append({"conversation_id": conversation_id, "user_at": user_at, "latency_ms": millis})
        if result.turn is not None:
            turns.append({"conversation_id": conversation_id, **result.turn.__dict__})
        if result.misread is not None:
            misreads.append({"conversation_id": conversation_id, **result.misread.__dict__})

    added = [
        {name: getattr(state, name) for name in _STATE_FIELDS}
        for conversation_id, state in states.items()
        if conversation_id not in stored
    ]
    changed = [
        {"key": conversation_id, **{f"new_{name}": getattr(state, name) for name in _STATE_FIELDS}}
        for conversation_id, state in states.items()
        if conversation_id in stored and state != stored[conversation_id]
    ]
    if added:  # a plain INSERT: a row someone else added meanwhile is a constraint error, not lost
        session.execute(insert(_CONVERSATIONS), added)
    if changed:
        session.execute(_UPDATE_CONVERSATION, changed)
    if latencies:
        session.execute(insert(_LATENCIES), latencies)
    if turns:
        session.execute(insert(_TURNS), turns)
    if misreads:
        session.execute(insert(_MISREADS), misreads)
    session.execute(insert(_SEEN), [{"digest": digest, "seen_at": now} for digest, _, _ in todo])
    return Counts(len(todo), ignored, dropped)


def record_event(session: Session, event: dict[str, Any], now: datetime) -> bool:
    """Counts one event Rasa published, once (:func:`record_events` of one event).

    Args:
        session: an open unit of work.
        event: the event as published (``sender_id`` plus ``Event.as_dict()``).
        now: when it is counted (kept with its digest, for pruning).

    Returns:
        True when the event changed the metrics; False when it does not matter for them or was
        counted before (a redelivery).

    Raises:
        bot.metrics.events.InvalidEvent: a relevant event without conversation id or timestamp.
    """
    if is_relevant(event):
        conversation_of(event)
        event_time(event)
    return record_events(session, [event], now).counted == 1


def prune_seen(session: Session, before: datetime) -> int:
    """Forgets the digests of events counted before ``before``; returns how many.

    RabbitMQ redelivers only messages that were not acknowledged, so digests older than a few
    days protect nothing.
    """
    result = session.execute(delete(SeenEvent).where(SeenEvent.seen_at < before))
    return int(result.rowcount or 0)


def prune_turns(session: Session, before: datetime) -> int:
    """Forgets the per-turn rows (intents, misunderstandings) of messages before ``before``;
    returns how many. The conversation rows and latencies are kept."""
    found = 0
    for model in (TurnFact, Misunderstanding):
        found += int(session.execute(delete(model).where(model.user_at < before)).rowcount or 0)
    return found


def _percentile(session: Session, since: Optional[datetime], share: float, count: int) -> Optional[int]:
    """Nearest-rank percentile of the response latencies (portable: SQLite and PostgreSQL)."""
    if count == 0:
        return None
    rank = max(1, math.ceil(share * count))
    query = select(ResponseLatency.latency_ms)
    if since is not None:
        query = query.where(ResponseLatency.user_at >= since)
    query = query.order_by(ResponseLatency.latency_ms).offset(rank - 1).limit(1)
    return session.execute(query).scalar_one()


def summary(
    session: Session, now: datetime, idle: timedelta, since: Optional[datetime] = None
) -> dict[str, Any]:
    """The metrics of every conversation active since ``since`` (all when ``None``), as JSON-ready data.

    Args:
        session: an open unit of work.
        now: the current time (for conversations resolved by going quiet).
        idle: how long a quiet session takes to end (Rasa's session expiry).
        since: only conversations whose last event and latencies at or after this time.
    """
    query = select(ConversationMetrics)
    if since is not None:
        query = query.where(ConversationMetrics.last_event_at >= since)
    conversations = 0
    totals = dict.fromkeys(
        ("user_messages", "bot_messages", "agent_messages", "handoff_requests", "handoffs", "ratings"), 0
    )
    resolved = dict.fromkeys(("rating", "closed", "session_end", "idle"), 0)
    with_handoff = paused = resolved_without_handoff = 0
    for row in session.scalars(query):
        state = _state_of(row)
        conversations += 1
        for name in totals:
            totals[name] += getattr(state, name)
        escalated = state.handoff_requests > 0 or state.handoffs > 0
        with_handoff += escalated
        paused += state.paused
        reason = state.resolution or ("idle" if is_idle_resolved(state, now, idle) else None)
        if reason is not None:
            resolved[reason] += 1
            resolved_without_handoff += not escalated
    latencies = select(
        func.count(), func.avg(ResponseLatency.latency_ms), func.max(ResponseLatency.latency_ms)
    )
    if since is not None:
        latencies = latencies.where(ResponseLatency.user_at >= since)
    count, mean, worst = session.execute(latencies).one()
    resolved_total = sum(resolved.values())
    return {
        "since": since.isoformat() if since else None,
        "at": now.isoformat(),
        "conversations": conversations,
        "turns": totals["user_messages"],
        "bot_messages": totals["bot_messages"],
        "agent_messages": totals["agent_messages"],
        "handoff_requests": totals["handoff_requests"],
        "handoffs": totals["handoffs"],
        "conversations_with_handoff": with_handoff,
        "paused_now": paused,
        "ratings": totals["ratings"],
        "resolved": resolved_total,
        "resolved_by": resolved,
        "resolved_without_handoff": resolved_without_handoff,
        "resolution_rate": round(resolved_total / conversations, 4) if conversations else None,
        "handoff_rate": round(with_handoff / conversations, 4) if conversations else None,
        "latency_ms": {
            "count": int(count or 0),
            "p50": _percentile(session, since, 0.50, int(count or 0)),
            "p95": _percentile(session, since, 0.95, int(count or 0)),
            "mean": round(float(mean), 1) if mean is not None else None,
            "max": worst,
        },
    }
