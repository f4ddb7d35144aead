"""The supervisors' dashboard (``bot.dashboard``) over a seeded week (tests/support/dashboard.py), on
SQLite and PostgreSQL: every figure against what the seed says it wrote, computed here without
``bot.dashboard``."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from bot.clock import SHANGHAI
from bot.dashboard import InvalidPeriod, dashboard, period_of
from bot.db import Store
from tests.support.dashboard import Week, seed_week


@pytest.fixture
def week(store: Store) -> Week:
    return seed_week(store)


def figures(store: Store, period: str, now: datetime) -> dict[str, Any]:
    with store.transaction() as session:
        return dashboard(session, period, now)


def beijing_day(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def since(week: Week, days: int) -> datetime:
    """Beijing midnight ``days - 1`` days before the week's last day, in UTC."""
    last = week.end.astimezone(SHANGHAI)
    midnight = datetime(last.year, last.month, last.day, tzinfo=SHANGHAI) - timedelta(days=days - 1)
    return midnight.astimezone(timezone.utc)


def rank(values: list[float], share: float) -> Optional[float]:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1] if ordered else None


def test_periods_are_beijing_days_ending_now() -> None:
    now = datetime(2026, 11, 21, 17, 30, tzinfo=timezone.utc)  # 01:30 on the 22nd in Beijing
    today = period_of("today", now)
    assert today.start == datetime(2026, 11, 21, 16, 0, tzinfo=timezone.utc) and today.end == now
    assert today.days == ("2026-11-22",)
    week = period_of("7d", now)
    assert week.start == datetime(2026, 11, 15, 16, 0, tzinfo=timezone.utc)
    assert week.days[0] == "2026-11-16" and week.days[-1] == "2026-11-22" and len(week.days) == 7
    assert len(period_of("30d", now).days) == 30
    for bad in ("", "week", "7", "TODAY", "1d"):
        with pytest.raises(InvalidPeriod):
            period_of(bad, now)


@pytest.mark.parametrize(("period", "days"), [("today", 1), ("7d", 7), ("30d", 30)])
def test_every_figure_matches_the_seeded_week(store: Store, week: Week, period: str, days: int) -> None:
    start = since(week, days)
    found = figures(store, period, week.end)
    inside = [c for c in week.conversations if c.start >= start]
    assert inside, "the seed has conversations in every period"

    # conversations per Beijing hour, contained vs handed over
    per_hour = Counter(c.start.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H") for c in inside)
    shown = {row["hour"][:13]: row["count"] for row in found["conversations"]["per_hour"]}
    assert {hour: n for hour, n in shown.items() if n} == dict(per_hour)
    assert len(shown) == math.floor((week.end - start) / timedelta(hours=1)) + 1
    handed = [c for c in inside if c.handoff]
    assert found["conversations"]["total"] == len(inside)
    assert found["conversations"]["handed_over"] == len(handed)
    assert found["conversations"]["contained"] == len(inside) - len(handed)

    # handoffs: reasons (the ticket counts), queue wait and handling of live chats
    reasons = Counter(c.handoff["reason"] for c in handed)
    reasons["requested"] += week.ticket_at >= start
    assert {r["reason"]: r["count"] for r in found["handoffs"]["reasons"]} == +reasons
    assert found["handoffs"]["tickets"] == int(week.ticket_at >= start)
    waits = [(c.handoff["claimed"] - c.handoff["queued"]).total_seconds() for c in handed]
    handling = [(c.handoff["ended"] - c.handoff["claimed"]).total_seconds() for c in handed]
    for key, values in (("queue_wait_seconds", waits), ("handling_seconds", handling)):
        assert found["handoffs"][key]["count"] == len(values)
        assert found["handoffs"][key]["p50"] == rank(values, 0.5)
        assert found["handoffs"][key]["p95"] == rank(values, 0.95)
        if values:
            assert found["handoffs"][key]["mean"] == round(sum(values) / len(values), 1)

    # misunderstood turns per day and kind, and the intents before them
    misread = [m for c in inside for m in c.misread]
    per_day = {day: {"fallback": 0, "clarification": 0} for day in found["period"]["days"]}
    for at, kind, _ in misread:
        per_day[beijing_day(at)][kind] += 1
    assert found["misunderstood"]["per_day"] == [{"day": d, **k} for d, k in per_day.items()]
    assert found["misunderstood"]["total"] == len(misread)
    before = Counter(b for _, _, b in misread)
    assert {r["intent"]: r["count"] for r in found["misunderstood"]["intents_before"]} == dict(before)

    # top intents of messages the bot handled
    intents = Counter(i for c in inside for i in c.intents)
    assert [(r["intent"], r["count"]) for r in found["intents"]] == sorted(
        intents.items(), key=lambda item: (-item[1], item[0])
    )[:10]

    # tasks
    def within(times: list[datetime]) -> int:
        return sum(t >= start for t in times)

    assert found["tasks"] == {
        "disputes_opened": within(week.disputes),
        "alerts_set": within(week.alerts),
        "closures_requested": within(week.closures_requested),
        "closures_cancelled": within(week.closures_cancelled),
    }

    # ratings: distribution and average per day
    ratings = [c.rating for c in inside if c.rating]
    scores = Counter(score for _, score in ratings)
    assert found["ratings"]["distribution"] == [{"score": s, "count": scores[s]} for s in range(1, 6)]
    assert found["ratings"]["count"] == len(ratings)
    for row in found["ratings"]["per_day"]:
        values = [score for at, score in ratings if beijing_day(at) == row["day"]]
        assert row["count"] == len(values)
        assert row["average"] == (round(sum(values) / len(values), 2) if values else None)

    # turn latency as the servers stamped the events
    latencies = [ms for c in inside for ms in c.latencies_ms]
    assert found["latency_ms"] == {
        "count": len(latencies),
        "p50": rank(latencies, 0.5),
        "p95": rank(latencies, 0.95),
    }


def test_the_seeded_week_has_something_in_every_figure(store: Store, week: Week) -> None:
    found = figures(store, "7d", week.end)
    assert found["conversations"]["total"] == 39
    assert 0 < found["conversations"]["handed_over"] < found["conversations"]["contained"]
    assert found["tasks"] == {
        "disputes_opened": 1,
        "alerts_set": 2,
        "closures_requested": 1,
        "closures_cancelled": 1,
    }
    assert all(row["fallback"] + row["clarification"] for row in found["misunderstood"]["per_day"])
    assert len({row["score"] for row in found["ratings"]["distribution"] if row["count"]}) >= 3
    # the conversation at 23:50 Beijing time belongs to that Beijing day, not to the UTC one
    late = [c for c in week.conversations if c.start.astimezone(SHANGHAI).hour == 23]
    assert late and all(c.start.hour == 15 for c in late)


def test_a_day_without_anything_has_zeros_and_no_averages(store: Store, week: Week) -> None:
    later = week.end + timedelta(days=2)
    found = figures(store, "today", later)
    assert found["conversations"]["total"] == 0 and found["handoffs"]["total"] == 0
    assert found["ratings"]["average"] is None and found["ratings"]["per_day"][0]["average"] is None
    assert found["latency_ms"] == {"count": 0, "p50": None, "p95": None}
    assert found["handoffs"]["queue_wait_seconds"] == {"count": 0, "mean": None, "p50": None, "p95": None}
