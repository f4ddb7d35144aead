"""The supervisors' dashboard: how the assistant did over a period, computed from the store.

Everything here is read from the billing store: what the metrics consumer keeps of Rasa's events
(``bot.metrics``: turns, misunderstandings, response latencies), the handoff queue
(``bot.handoff``), and what subscribers got done (disputes, alerts, closure requests, ratings in
``bot.billing``). Days and hours are Beijing time (Asia/Shanghai). Returns plain data (codes,
counts, ISO times); the agent console adds the Chinese labels.

A period is ``today`` (from Beijing midnight), ``7d`` or ``30d`` (the last 7 or 30 Beijing days,
today included), always up to ``now``. The figures, by key of :func:`dashboard`:

* ``conversations``: a conversation is a Rasa session with at least one subscriber message,
  counted in the hour of that first message (``per_hour``: every hour of the period). It was
  ``handed_over`` when a handoff (queue or message left outside agent hours) was made for it
  before the conversation's next session began; otherwise it was ``contained``.
* ``handoffs``: every handoff made in the period, by reason; ``queue_wait_seconds`` (queued to
  claimed) and ``handling_seconds`` (claimed to handed back or closed) of live chats (tickets
  excluded), as count, mean, p50 and p95 (nearest rank).
* ``misunderstood``: subscriber messages answered by a clarification or a fallback, per day and
  kind, and the intents understood just before them (``None``: the first message of a session).
* ``intents``: the intents of subscriber messages the bot handled (not while a person had the
  conversation; neither ``nlu_fallback`` nor ``noise``), most frequent first.
* ``tasks``: refund disputes opened, alerts set (new alert rules), closures requested and
  closures cancelled in the period.
* ``ratings``: satisfaction scores 1–5 (distribution) and their average per day.
* ``latency_ms``: count, p50, p95 (nearest rank) of the time from a subscriber message to the
  bot's first answer, as the Rasa servers stamped the two events.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.billing.models import AlertRule, ClosureRequest, Dispute, SatisfactionRating
from bot.clock import SHANGHAI, to_local
from bot.handoff.models import Handoff
from bot.metrics.models import Misunderstanding, ResponseLatency, TurnFact

#: The periods a dashboard covers, in Beijing days.
PERIODS = {"today": 1, "7d": 7, "30d": 30}
#: How many intents the lists of intents keep.
TOP = 10
#: Intents that say a message was not understood; they are not "top intents".
NOT_INTENTS = ("nlu_fallback", "noise")


class InvalidPeriod(ValueError):
    """A period other than ``today``, ``7d`` or ``30d``."""

    code = "invalid_period"


@dataclass(frozen=True)
class Period:
    """A dashboard's window: ``start`` (a Beijing midnight, in UTC) to ``end`` (now), and its days."""

    name: str
    start: datetime
    end: datetime
    days: tuple[str, ...]  # the Beijing dates, ``YYYY-MM-DD``, oldest first


def period_of(name: str, now: datetime) -> Period:
    """The window of ``today``, ``7d`` or ``30d`` ending at ``now``.

    Raises:
        InvalidPeriod: any other name.
    """
    if name not in PERIODS:
        raise InvalidPeriod(name)
    days = PERIODS[name]
    midnight = to_local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight.date() - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    dates = tuple((first + timedelta(days=n)).isoformat() for n in range(days))
    return Period(name, start.astimezone(now.tzinfo), now, dates)


def _day(when: datetime) -> str:
    return to_local(when).date().isoformat()


def _hour(when: datetime) -> str:
    return to_local(when).replace(minute=0, second=0, microsecond=0).isoformat()


def _hours(period: Period) -> list[str]:
    """Every Beijing hour of the period, up to the one ``end`` falls in."""
    hours = []
    at = to_local(period.start)
    while at <= to_local(period.end):
        hours.append(at.isoformat())
        at = (at + timedelta(hours=1)).astimezone(SHANGHAI)
    return hours


def _nearest_rank(values: Sequence[float], share: float) -> Optional[float]:
    """The nearest-rank percentile of sorted ``values``, or None when there are none."""
    if not values:
        return None
    return values[max(1, math.ceil(share * len(values))) - 1]


def _durations(values: list[float]) -> dict[str, Any]:
    values = sorted(values)
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 1) if values else None,
        "p50": _nearest_rank(values, 0.50),
        "p95": _nearest_rank(values, 0.95),
    }


def _in(column: Any, period: Period) -> Any:
    return (column >= period.start) & (column <= period.end)


def _conversations(session: Session, period: Period) -> dict[str, Any]:
    openings = session.execute(
        select(TurnFact.conversation_id, TurnFact.user_at).where(
            TurnFact.opens_session.is_(True), _in(TurnFact.user_at, period)
        )
    ).all()
    per_hour = Counter(_hour(at) for _, at in openings)
    started: dict[str, list[datetime]] = defaultdict(list)
    for conversation_id, at in openings:
        started[conversation_id].append(at)
    for times in started.values():
        times.sort()
    handed: set[tuple[str, datetime]] = set()
    queued = session.execute(
        select(Handoff.conversation_id, Handoff.queued_at).where(_in(Handoff.queued_at, period))
    ).all()
    for conversation_id, at in queued:
        times = started.get(conversation_id, [])
        index = bisect.bisect_right(times, at)  # the session the handoff was made in
        if index:
            handed.add((conversation_id, times[index - 1]))
    return {
        "total": len(openings),
        "handed_over": len(handed),
        "contained": len(openings) - len(handed),
        "per_hour": [{"hour": hour, "count": per_hour.get(hour, 0)} for hour in _hours(period)],
    }


def _handoffs(session: Session, period: Period) -> dict[str, Any]:
    rows = session.execute(
        select(
            Handoff.reason, Handoff.ticket_no, Handoff.queued_at, Handoff.claimed_at, Handoff.closed_at
        ).where(_in(Handoff.queued_at, period))
    ).all()
    reasons = Counter(row.reason for row in rows)
    waits, handling = [], []
    for row in rows:
        if row.ticket_no is not None or row.claimed_at is None:
            continue
        waits.append((row.claimed_at - row.queued_at).total_seconds())
        if row.closed_at is not None:
            handling.append((row.closed_at - row.claimed_at).total_seconds())
    return {
        "total": len(rows),
        "tickets": sum(row.ticket_no is not None for row in rows),
        "reasons": [{"reason": reason, "count": count} for reason, count in reasons.most_common()],
        "queue_wait_seconds": _durations(waits),
        "handling_seconds": _durations(handling),
    }


def _misunderstood(session: Session, period: Period) -> dict[str, Any]:
    rows = session.execute(
        select(Misunderstanding.user_at, Misunderstanding.kind, Misunderstanding.intent_before).where(
            _in(Misunderstanding.user_at, period)
        )
    ).all()
    per_day = {day: {"fallback": 0, "clarification": 0} for day in period.days}
    for row in rows:
        per_day[_day(row.user_at)][row.kind] += 1
    before = Counter(row.intent_before for row in rows)
    return {
        "total": len(rows),
        "per_day": [{"day": day, **counts} for day, counts in per_day.items()],
        "intents_before": [
            {"intent": intent, "count": count}
            for intent, count in sorted(before.items(), key=lambda item: (-item[1], item[0] or ""))[:TOP]
        ],
    }


def _intents(session: Session, period: Period) -> list[dict[str, Any]]:
    count = func.count().label("count")
    rows = session.execute(
        select(TurnFact.intent, count)
        .where(
            _in(TurnFact.user_at, period),
            TurnFact.paused.is_(False),
            TurnFact.intent.is_not(None),
            TurnFact.intent.not_in(NOT_INTENTS),
        )
        .group_by(TurnFact.intent)
        .order_by(count.desc(), TurnFact.intent)
        .limit(TOP)
    ).all()
    return [{"intent": intent, "count": int(n)} for intent, n in rows]


def _tasks(session: Session, period: Period) -> dict[str, int]:
    def counted(column: Any) -> int:
        return int(session.scalar(select(func.count()).where(_in(column, period))) or 0)

    return {
        "disputes_opened": counted(Dispute.created_at),
        "alerts_set": counted(AlertRule.created_at),
        "closures_requested": counted(ClosureRequest.requested_at),
        "closures_cancelled": counted(ClosureRequest.cancelled_at),
    }


def _ratings(session: Session, period: Period) -> dict[str, Any]:
    rows = session.execute(
        select(SatisfactionRating.created_at, SatisfactionRating.score).where(
            _in(SatisfactionRating.created_at, period)
        )
    ).all()
    scores = Counter(score for _, score in rows)
    by_day: dict[str, list[int]] = {day: [] for day in period.days}
    for at, score in rows:
        by_day[_day(at)].append(score)
    return {
        "count": len(rows),
        "average": round(sum(scores.elements()) / len(rows), 2) if rows else None,
        "distribution": [{"score": score, "count": scores.get(score, 0)} for score in range(1, 6)],
        "per_day": [
            {
                "day": day,
                "count": len(values),
                "average": round(sum(values) / len(values), 2) if values else None,
            }
            for day, values in by_day.items()
        ],
    }


def _latency(session: Session, period: Period) -> dict[str, Any]:
    where = _in(ResponseLatency.user_at, period)
    count = int(session.scalar(select(func.count()).where(where)) or 0)

    def rank(share: float) -> Optional[int]:
        if count == 0:
            return None
        offset = max(1, math.ceil(share * count)) - 1
        query = select(ResponseLatency.latency_ms).where(where).order_by(ResponseLatency.latency_ms)
        return int(session.execute(query.offset(offset).limit(1)).scalar_one())

    return {"count": count, "p50": rank(0.50), "p95": rank(0.95)}


def dashboard(session: Session, period_name: str, now: datetime) -> dict[str, Any]:
    """Every figure of the dashboard over the period ``period_name`` ending at ``now``.

    Args:
        session: an open unit of work (read only).
        period_name: ``today``, ``7d`` or ``30d``.
        now: the current time (aware).

    Raises:
        InvalidPeriod: an unknown period.
    """
    period = period_of(period_name, now)
    return {
        "period": {
            "name": period.name,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "days": list(period.days),
            "timezone": "Asia/Shanghai",
        },
        "conversations": _conversations(session, period),
        "handoffs": _handoffs(session, period),
        "misunderstood": _misunderstood(session, period),
        "intents": _intents(session, period),
        "tasks": _tasks(session, period),
        "ratings": _ratings(session, period),
        "latency_ms": _latency(session, period),
    }
