"""Conversation metrics in the store: counting one event (idempotently) and the summary.

Every function takes an open session (``Store.transaction()``); the caller commits.
"""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.metrics.events import (
    ConversationState,
    apply_event,
    event_digest,
    is_idle_resolved,
    is_relevant,
)
from bot.metrics.models import ConversationMetrics, ResponseLatency, SeenEvent

_STATE_FIELDS = tuple(f.name for f in fields(ConversationState))


def _state_of(row: ConversationMetrics) -> ConversationState:
    return ConversationState(**{name: getattr(row, name) for name in _STATE_FIELDS})


def record_event(session: Session, event: dict[str, Any], now: datetime) -> bool:
    """Counts one event Rasa published, once.

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
    if not is_relevant(event):
        return False
    digest = event_digest(event)
    if session.get(SeenEvent, digest) is not None:
        return False
    conversation_id = str(event.get("sender_id") or "")
    row = session.execute(
        select(ConversationMetrics)
        .where(ConversationMetrics.conversation_id == conversation_id)
        .with_for_update()
    ).scalar_one_or_none()
    update = apply_event(_state_of(row) if row is not None else None, event)
    if row is None:
        row = ConversationMetrics(conversation_id=update.state.conversation_id)
        session.add(row)
    for name in _STATE_FIELDS:
        setattr(row, name, getattr(update.state, name))
    if update.latency is not None:
        user_at, millis = update.latency
        session.add(
            ResponseLatency(conversation_id=update.state.conversation_id, user_at=user_at, latency_ms=millis)
        )
    session.add(SeenEvent(digest=digest, seen_at=now))
    session.flush()
    return True


def prune_seen(session: Session, before: datetime) -> int:
    """Forgets the digests of events counted before ``before``; returns how many.

    RabbitMQ redelivers only messages that were not acknowledged, so digests older than a few
    days protect nothing.
    """
    result = session.execute(delete(SeenEvent).where(SeenEvent.seen_at < before))
    return int(result.rowcount or 0)


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
