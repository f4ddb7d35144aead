"""A seeded week for the supervisors' dashboard: conversations, handoffs, ratings, disputes, alerts,
closures and latencies at fixed times, written through the real functions and tables.

:func:`seed_week` writes the demo accounts (``bot.seed``), then, for each of the 7 Beijing days up to
``end``, conversations at fixed hours: their Rasa events counted by the metrics consumer
(``MetricsConsumer.count_batch``, one message per tracker save as ``bot/tracker_store.py``
publishes them), handoffs queued, claimed, handed back or closed by agents
(``bot.handoff.handoffs``), satisfaction ratings (``bot.feedback``), and tasks the subscribers got
done (``open_dispute``, ``create_alert``, ``request_closure`` / ``cancel_closure``). It returns a
:class:`Week` saying what it wrote, so a test can compute the figures without ``bot.dashboard``.

The browser test of the dashboard page reuses it (with ``SUPERVISOR`` / ``AGENT`` and
``PASSWORD`` to sign in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import select

from bot.alerts.rules import create_alert
from bot.billing.charges.disputes import open_dispute
from bot.billing.closure.requests import cancel_closure, request_closure
from bot.billing.models import Charge, Service, Subscriber
from bot.clock import SHANGHAI, FixedClock, to_local
from bot.db import Store
from bot.feedback import record_rating
from bot.handoff import agents, handoffs
from bot.handoff.models import Agent
from bot.metrics.consumer import MetricsConsumer
from bot.seed import seed_demo
from tests.support.demo import CHEN, LIU, ZHANG
from tests.support.rasa_events import action, bot, paused, resumed, session_started, user
from tests.support.settings import SETTINGS
from tests.support.sms import RecordingGateway

#: The end of the seeded week: 2026-11-22 10:00 Beijing time (the tests' ``clock`` fixture).
WEEK_END = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
SUPERVISOR = "supervisor1"
AGENT = "agent2"
PASSWORD = "dashboard-password-1"

#: Conversations of every day, as (hour, minute) Beijing time; today's stop before 10:00.
EVERY_DAY = ((0, 30), (8, 10), (9, 20))
#: Conversations of the days before today (the last of them, at 23:50, is the previous UTC day's).
BEFORE_TODAY = ((14, 0), (20, 45), (23, 50))
#: What happens in the n-th conversation of the week, by n % 5.
KINDS = ("contained", "clarified", "requested", "complaint", "alert")
#: The intent of each kind's first message.
FIRST_INTENT = {
    "contained": "query_balance",
    "clarified": "query_bill",
    "requested": "request_human",
    "complaint": "query_usage",
    "alert": "set_alert",
}


@dataclass
class Conversation:
    """One seeded conversation (one Rasa session) and what it did."""

    id: str
    kind: str
    start: datetime  # its first subscriber message (UTC)
    intents: list[str] = field(default_factory=list)  # of messages the bot handled
    misread: list[tuple[datetime, str, Optional[str]]] = field(default_factory=list)  # (at, kind, before)
    latencies_ms: list[int] = field(default_factory=list)
    handoff: Optional[dict[str, Any]] = None  # reason, queued, claimed, ended
    rating: Optional[tuple[datetime, int]] = None


@dataclass
class Week:
    """What :func:`seed_week` wrote."""

    end: datetime
    conversations: list[Conversation]
    ticket_at: datetime  # a message left outside agent hours (a ticket, never claimed)
    disputes: list[datetime]
    alerts: list[datetime]  # alerts set by subscribers in the week (the demo's own are older)
    closures_requested: list[datetime]
    closures_cancelled: list[datetime]


def _local(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _publish(consumer: MetricsConsumer, sender: str, saves: list[list[dict[str, Any]]]) -> None:
    """Each save of the tracker as one message, all counted in one batch."""
    bodies = []
    for events in saves:
        stripped = [{k: v for k, v in event.items() if k != "sender_id"} for event in events]
        bodies.append(json.dumps({"sender_id": sender, "events": stripped}).encode())
    consumer.count_batch(bodies)


def _conversation(n: int, start: datetime) -> tuple[Conversation, list[list[dict[str, Any]]]]:
    kind = KINDS[n % len(KINDS)]
    conv = Conversation(id=f"week-{n:03d}", kind=kind, start=start)
    t = start.timestamp()
    sid = conv.id
    saves: list[list[dict[str, Any]]] = [
        [action(sid, t - 1, "action_session_start"), session_started(sid, t - 1)]
    ]
    latency = 100 + 40 * (n % 9)  # milliseconds

    def turn(at: float, intent: str, answer: str, ms: int, confidence: float = 0.9) -> None:
        saves.append(
            [
                user(sid, at, intent=intent, confidence=confidence),
                bot(sid, at + ms / 1000, utter_action=answer),
                action(sid, at + ms / 1000 + 0.001, "action_listen"),
            ]
        )
        conv.latencies_ms.append(ms)

    first = FIRST_INTENT[kind]
    if kind == "requested":
        saves.append(
            [
                user(sid, t, intent=first),
                action(sid, t + 0.05, "action_handoff"),
                bot(sid, t + latency / 1000, utter_action="utter_handoff_queued"),
                paused(sid, t + latency / 1000),
            ]
        )
        conv.intents.append(first)
        conv.latencies_ms.append(latency)
        saves.append([user(sid, t + 60, text="在吗", intent="greet")])  # waits for a person
    else:
        turn(t, first, "utter_answer", latency)
        conv.intents.append(first)
    if kind == "clarified":
        turn(t + 30, "nlu_fallback", "utter_clarify", latency + 5, confidence=0.3)
        conv.misread.append((start + timedelta(seconds=30), "clarification", first))
        turn(t + 50, "query_bill", "utter_bill", latency + 7)
        conv.intents.append("query_bill")
    if kind == "complaint":
        turn(t + 20, "nlu_fallback", "utter_default", latency + 3, confidence=0.2)
        conv.misread.append((start + timedelta(seconds=20), "fallback", first))
        saves.append(
            [
                user(sid, t + 40, intent="complain"),
                action(sid, t + 40.05, "action_handoff"),
                bot(sid, t + 40 + latency / 1000, utter_action="utter_handoff_queued"),
                paused(sid, t + 40 + latency / 1000),
            ]
        )
        conv.intents.append("complain")
        conv.latencies_ms.append(latency)
    if kind in ("contained", "clarified"):
        end = t + 120
        saves.append(
            [
                user(sid, end, text="5分", intent="rate_service"),
                bot(sid, end + 0.2, utter_action="utter_rating_thanks"),
            ]
        )
        conv.intents.append("rate_service")
        conv.latencies_ms.append(200)
    return conv, saves


def _charges_of(session: Any, phone: str, service: str) -> list[int]:
    return list(
        session.scalars(
            select(Charge.id)
            .join(Subscriber, Subscriber.id == Charge.subscriber_id)
            .join(Service, Service.id == Charge.service_id)
            .where(Subscriber.phone == phone, Service.code == service)
        )
    )


def _subscriber(session: Any, phone: str) -> int:
    return int(session.scalars(select(Subscriber.id).where(Subscriber.phone == phone)).one())


def seed_week(store: Store, end: datetime = WEEK_END) -> Week:
    """Writes a week of activity ending at ``end`` (see the module docstring); returns what it wrote."""
    clock = FixedClock(end)
    consumer = MetricsConsumer(store, SETTINGS, clock)
    sms = RecordingGateway()
    with store.transaction() as session:
        seed_demo(session, end, SETTINGS)
        agents.create_agent(session, SUPERVISOR, "主管老周", PASSWORD, end, SETTINGS, role="supervisor")
        worker = agents.create_agent(session, AGENT, "客服小陈", PASSWORD, end, SETTINGS)
        worker_id = worker.id

    today = to_local(end).date()
    conversations: list[Conversation] = []
    n = 0
    for back in range(6, -1, -1):
        day = today - timedelta(days=back)
        times = EVERY_DAY + (BEFORE_TODAY if back else ())
        for hour, minute in times:
            start = _local(day, hour, minute)
            conv, saves = _conversation(n, start)
            _publish(consumer, conv.id, saves)
            conversations.append(conv)
            n += 1

    for index, conv in enumerate(conversations):
        if conv.kind in ("requested", "complaint"):
            reason = "requested" if conv.kind == "requested" else "complaint"
            queued = conv.start + timedelta(seconds=1 if conv.kind == "requested" else 41)
            claimed = queued + timedelta(seconds=30 + 15 * (index % 4))
            ended = claimed + timedelta(minutes=3 + index % 5)
            with store.transaction() as session:
                worker = session.get(Agent, worker_id)
                made = handoffs.enqueue(session, conv.id, "socketio", reason, {"headline": ""}, queued)
                handoffs.claim(session, made.id, worker, claimed)
                if conv.kind == "requested":
                    handoffs.close(session, made.id, worker, "已为用户处理", ended)
                else:
                    handoffs.hand_back(session, made.id, worker, ended)
            resume = ended.timestamp()
            _publish(
                consumer, conv.id, [[resumed(conv.id, resume), action(conv.id, resume, "action_listen")]]
            )
            conv.handoff = {"reason": reason, "queued": queued, "claimed": claimed, "ended": ended}
        if conv.kind in ("contained", "clarified"):
            at = conv.start + timedelta(seconds=120)
            score = 5 if conv.kind == "contained" else 1 + (index // 5) % 5
            with store.transaction() as session:
                record_rating(session, conversation_id=conv.id, score=score, at=at, task="query")
            conv.rating = (at, score)

    # A message left outside agent hours, three days ago at 23:55 (never claimed).
    ticket_at = _local(today - timedelta(days=3), 23, 55)
    with store.transaction() as session:
        handoffs.leave_message(session, "week-ticket", "wechat", "requested", {}, "请回电", ticket_at)

    disputes = [_local(today - timedelta(days=4), 15, 0)]
    alerts = [_local(today - timedelta(days=5), 11, 0), _local(today, 9, 30)]
    requested = [_local(today - timedelta(days=2), 16, 0)]
    cancelled = [_local(today - timedelta(days=1), 10, 0)]
    with store.transaction() as session:
        open_dispute(
            session,
            subscriber_id=_subscriber(session, ZHANG),
            charge_ids=_charges_of(session, ZHANG, "video_ringtone"),
            reason="未订购视频彩铃",
            at=disputes[0],
            conversation_id="week-002",
            sms=sms,
        )
        create_alert(
            session,
            subscriber_id=_subscriber(session, LIU),
            alert_type="balance",
            threshold=3000,
            channel="sms",
            at=alerts[0],
            conversation_id="week-004",
        )
        create_alert(
            session,
            subscriber_id=_subscriber(session, CHEN),
            alert_type="data",
            threshold=90,
            channel="sms",
            at=alerts[1],
            conversation_id="week-009",
        )
    with store.transaction() as session:
        request_closure(
            session,
            subscriber_id=_subscriber(session, LIU),
            consent_to_fee=False,
            at=requested[0],
            conversation_id="week-010",
            sms=sms,
        )
    with store.transaction() as session:
        cancel_closure(
            session,
            subscriber_id=_subscriber(session, LIU),
            at=cancelled[0],
            conversation_id="week-011",
            sms=sms,
        )
    return Week(end, conversations, ticket_at, disputes, alerts, requested, cancelled)
