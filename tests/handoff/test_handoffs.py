"""The handoff service on a real store (SQLite and PostgreSQL): sign-in, queue, claim, hand back, close."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.audit import AuditLog
from bot.clock import FixedClock
from bot.db import Store
from bot.handoff import agents, handoffs
from bot.handoff.errors import (
    AlreadyClaimed,
    InvalidAgent,
    InvalidCredentials,
    InvalidText,
    InvalidTransition,
    NotHolder,
)
from bot.handoff.models import Agent, AgentSession, Handoff
from bot.seed import DEMO_AGENT_USERNAME, seed_demo_agent
from bot.settings import DEV_AGENT_PASSWORD, SettingsError, settings_from_env
from tests.support.settings import SETTINGS

SUMMARY = {"wanted": ["查询余额"], "verified": False, "masked_phone": "", "tried": [], "flagged_charges": []}
PASSWORD = "correct horse battery"


def add_agent(store: Store, clock: FixedClock, username: str) -> int:
    with store.transaction() as session:
        return agents.create_agent(session, username, username.upper(), PASSWORD, clock.now(), SETTINGS).id


def sign_in(store: Store, clock: FixedClock, username: str) -> str:
    with store.transaction() as session:
        return agents.authenticate(session, username, PASSWORD, clock.now(), SETTINGS).token


def agent(store: Store, clock: FixedClock, token: str) -> Agent:
    with store.transaction() as session:
        found = agents.agent_for_token(session, token, clock.now(), SETTINGS)
    assert found is not None
    return found


def queued(store: Store, clock: FixedClock, conversation: str = "c1", reason: str = "requested") -> int:
    with store.transaction() as session:
        return handoffs.enqueue(session, conversation, "socketio", reason, SUMMARY, clock.now()).id


def status(store: Store, handoff_id: int) -> str:
    with store.transaction() as session:
        return session.get(Handoff, handoff_id).status


def audited(store: Store) -> list[tuple[str, str]]:
    with store.transaction() as session:
        rows = session.execute(select(AuditLog.actor, AuditLog.action).order_by(AuditLog.id)).all()
    return [tuple(r) for r in rows if r[1].startswith("handoff.")]


# --- sign-in ---------------------------------------------------------------------------------


def test_sign_in_issues_a_token_stored_only_as_a_hash(store: Store, clock: FixedClock) -> None:
    agent_id = add_agent(store, clock, "agent2")
    with store.transaction() as session:
        issued = agents.authenticate(session, "agent2", PASSWORD, clock.now(), SETTINGS)
    assert issued.agent_id == agent_id and issued.display_name == "AGENT2"
    assert issued.expires_at == clock.now() + timedelta(hours=SETTINGS.agent_session_hours)
    assert len(issued.token) >= 40
    with store.transaction() as session:
        stored = session.execute(select(AgentSession.token_hash)).scalar_one()
        password_hash = session.execute(select(Agent.password_hash)).scalar_one()
    assert issued.token not in stored and len(stored) == 64
    assert PASSWORD not in password_hash and password_hash.startswith("pbkdf2_sha256$")
    assert agent(store, clock, issued.token).id == agent_id


@pytest.mark.parametrize(
    "username,password", [("agent2", "wrong password!"), ("nobody", PASSWORD), ("agent2", "")]
)
def test_wrong_password_or_unknown_user_is_refused_alike(
    store: Store, clock: FixedClock, username: str, password: str
) -> None:
    add_agent(store, clock, "agent2")
    with pytest.raises(InvalidCredentials) as raised:
        with store.transaction() as session:
            agents.authenticate(session, username, password, clock.now(), SETTINGS)
    assert str(raised.value) == "invalid username or password"
    with store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AgentSession)) == 0


def test_inactive_agent_cannot_sign_in_and_loses_its_sessions(store: Store, clock: FixedClock) -> None:
    add_agent(store, clock, "agent2")
    token = sign_in(store, clock, "agent2")
    with store.transaction() as session:
        session.execute(select(Agent)).scalar_one().active = False
    with pytest.raises(InvalidCredentials):
        sign_in(store, clock, "agent2")
    with store.transaction() as session:
        assert agents.agent_for_token(session, token, clock.now(), SETTINGS) is None


def test_missing_unknown_expired_idle_and_revoked_tokens_are_refused(store: Store, clock: FixedClock) -> None:
    add_agent(store, clock, "agent2")
    token = sign_in(store, clock, "agent2")
    with store.transaction() as session:
        assert agents.agent_for_token(session, "", clock.now(), SETTINGS) is None
        assert agents.agent_for_token(session, token + "x", clock.now(), SETTINGS) is None

    # used every 20 minutes, it stays valid (sliding idle window) until the absolute expiry
    for _ in range(int(SETTINGS.agent_session_hours * 3) - 1):
        clock.advance(minutes=20)
        agent(store, clock, token)
    clock.advance(minutes=20)
    with store.transaction() as session:
        assert agents.agent_for_token(session, token, clock.now(), SETTINGS) is None

    idle = sign_in(store, clock, "agent2")
    clock.advance(minutes=SETTINGS.agent_idle_minutes)
    with store.transaction() as session:
        assert agents.agent_for_token(session, idle, clock.now(), SETTINGS) is None

    revoked = sign_in(store, clock, "agent2")
    with store.transaction() as session:
        assert agents.revoke(session, revoked, clock.now()) is True
        assert agents.revoke(session, revoked, clock.now()) is False
    with store.transaction() as session:
        assert agents.agent_for_token(session, revoked, clock.now(), SETTINGS) is None


def test_agent_accounts_need_a_sane_username_and_a_long_password(store: Store, clock: FixedClock) -> None:
    for username, password in (
        ("a", PASSWORD),
        ("agent 2", PASSWORD),
        ("客服", PASSWORD),
        ("agent2", "short"),
    ):
        with pytest.raises(InvalidAgent):
            with store.transaction() as session:
                agents.create_agent(session, username, "", password, clock.now(), SETTINGS)


def test_demo_agent_is_seeded_once_in_development_only(store: Store, clock: FixedClock) -> None:
    with store.transaction() as session:
        assert seed_demo_agent(session, clock.now(), SETTINGS) is True
        assert seed_demo_agent(session, clock.now(), SETTINGS) is False
    with store.transaction() as session:
        issued = agents.authenticate(session, DEMO_AGENT_USERNAME, DEV_AGENT_PASSWORD, clock.now(), SETTINGS)
    assert issued.display_name
    production = settings_from_env(
        {
            "BOT_ENV": "production",
            "BOT_SECRET_KEY": "k" * 40,
            "RASA_API_TOKEN": "t" * 30,
            "BOT_SMS_GATEWAY": "http",
            "BOT_SMS_GATEWAY_URL": "https://sms.example",
        }
    )
    with pytest.raises(SettingsError):
        with store.transaction() as session:
            seed_demo_agent(session, clock.now(), production)


# --- the queue -------------------------------------------------------------------------------


def test_enqueue_is_idempotent_per_conversation(store: Store, clock: FixedClock) -> None:
    first = queued(store, clock, "c1")
    clock.advance(minutes=1)
    assert queued(store, clock, "c1", reason="fallback") == first
    with store.transaction() as session:
        handoff = handoffs.open_handoff_for(session, "c1")
        assert handoff is not None and handoff.reason == "requested" and handoff.summary == SUMMARY
        assert handoffs.open_handoff_for(session, "c2") is None
        assert session.scalar(select(func.count()).select_from(Handoff)) == 1
    assert audited(store) == [("system", "handoff.queued")]


def test_the_database_refuses_a_second_open_handoff(store: Store, clock: FixedClock) -> None:
    queued(store, clock, "c1")
    with pytest.raises(IntegrityError):
        with store.transaction() as session:
            session.add(
                Handoff(
                    conversation_id="c1",
                    channel="rest",
                    status="queued",
                    reason="requested",
                    summary={},
                    queued_at=clock.now(),
                )
            )
            session.flush()


def test_a_handed_back_conversation_can_be_queued_again(store: Store, clock: FixedClock) -> None:
    add_agent(store, clock, "agent2")
    me = agent(store, clock, sign_in(store, clock, "agent2"))
    first = queued(store, clock, "c1")
    with store.transaction() as session:
        handoffs.claim(session, first, me, clock.now())
        handoffs.hand_back(session, first, me, clock.now())
    second = queued(store, clock, "c1")
    assert second != first and status(store, second) == "queued"


def test_position_and_wait_follow_the_queue_and_the_agents_online(store: Store, clock: FixedClock) -> None:
    ids = [queued(store, clock, f"c{i}") for i in range(3)]
    with store.transaction() as session:
        waits = [
            handoffs.position_and_wait(session, session.get(Handoff, i), clock.now(), SETTINGS) for i in ids
        ]
    minutes = SETTINGS.agent_handle_minutes
    assert [(w.position, w.minutes, w.agents_online) for w in waits] == [
        (1, minutes, 0),
        (2, 2 * minutes, 0),
        (3, 3 * minutes, 0),
    ]
    for name in ("agent2", "agent3"):
        add_agent(store, clock, name)
        sign_in(store, clock, name)
    me = agent(store, clock, sign_in(store, clock, "agent2"))
    with store.transaction() as session:
        handoffs.claim(session, ids[0], me, clock.now())
    with store.transaction() as session:
        claimed = handoffs.position_and_wait(session, session.get(Handoff, ids[0]), clock.now(), SETTINGS)
        last = handoffs.position_and_wait(session, session.get(Handoff, ids[2]), clock.now(), SETTINGS)
        assert [h.id for h in handoffs.queue(session)] == [ids[1], ids[2], ids[0]]
    assert (claimed.position, claimed.minutes) == (0, 0)
    assert (last.position, last.minutes, last.agents_online) == (2, minutes, 2)


def notice(store: Store, clock: FixedClock, conversation: str) -> tuple[int, int] | None:
    with store.transaction() as session:
        wait = handoffs.waiting_notice(session, conversation, clock.now(), SETTINGS)
    return None if wait is None else (wait.position, wait.minutes)


def test_a_waiting_subscriber_hears_the_queue_at_most_once_a_minute(store: Store, clock: FixedClock) -> None:
    minutes = SETTINGS.agent_handle_minutes
    first, second = queued(store, clock, "c1"), queued(store, clock, "c2")
    assert notice(store, clock, "c2") is None  # the queue announcement was just said
    clock.advance(seconds=59)
    assert notice(store, clock, "c2") is None
    clock.advance(seconds=1)
    assert notice(store, clock, "c2") == (2, 2 * minutes)
    clock.advance(seconds=30)
    assert notice(store, clock, "c2") is None  # told 30 s ago
    add_agent(store, clock, "agent2")
    me = agent(store, clock, sign_in(store, clock, "agent2"))
    with store.transaction() as session:
        handoffs.claim(session, first, me, clock.now())
    clock.advance(seconds=30)
    assert notice(store, clock, "c2") == (1, minutes)  # moved up, and one agent is online
    assert notice(store, clock, "c2") is None  # a second Rasa process in the same minute: nothing
    # an agent has it, or it is not queued at all: nothing
    clock.advance(minutes=5)
    assert notice(store, clock, "c1") is None
    assert notice(store, clock, "nobody") is None
    with store.transaction() as session:
        handoffs.claim(session, second, me, clock.now())
    assert notice(store, clock, "c2") is None


@pytest.mark.parametrize(
    "local,inside",
    [("07:59", False), ("08:00", True), ("13:30", True), ("21:59", True), ("22:00", False), ("03:00", False)],
)
def test_agent_hours_are_read_in_shanghai_time(local: str, inside: bool) -> None:
    hour, minute = map(int, local.split(":"))
    shanghai = timezone(timedelta(hours=8))
    now = datetime(2026, 11, 22, hour, minute, tzinfo=shanghai)
    assert agents.within_agent_hours(now, SETTINGS) is inside
    night_shift = settings_from_env({"BOT_ENV": "test", "BOT_AGENT_HOURS": "00:00-08:00"})
    assert agents.within_agent_hours(now, night_shift) is (hour < 8)


def test_agent_hours_must_be_a_range() -> None:
    for value in ("8-22", "22:00-08:00", "08:00", "nonsense"):
        with pytest.raises(SettingsError):
            settings_from_env({"BOT_ENV": "test", "BOT_AGENT_HOURS": value})


# --- claim, notes, hand back, close ---------------------------------------------------------


def test_one_agent_claims_the_other_is_told_who_holds_it(store: Store, clock: FixedClock) -> None:
    add_agent(store, clock, "agent2")
    add_agent(store, clock, "agent3")
    alice = agent(store, clock, sign_in(store, clock, "agent2"))
    bob = agent(store, clock, sign_in(store, clock, "agent3"))
    handoff_id = queued(store, clock)
    with store.transaction() as session:
        claimed = handoffs.claim(session, handoff_id, alice, clock.now())
        assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == ("claimed", alice.id, clock.now())
    with pytest.raises(AlreadyClaimed) as raised:
        with store.transaction() as session:
            handoffs.claim(session, handoff_id, bob, clock.now())
    assert (raised.value.agent_id, raised.value.agent_name) == (alice.id, "AGENT2")
    with store.transaction() as session:
        assert handoffs.claim(session, handoff_id, alice, clock.now()).claimed_by == alice.id
    for operation in (
        lambda s: handoffs.hand_back(s, handoff_id, bob, clock.now()),
        lambda s: handoffs.close(s, handoff_id, bob, "已处理", clock.now()),
    ):
        with pytest.raises(NotHolder):
            with store.transaction() as session:
                operation(session)
    assert status(store, handoff_id) == "claimed"
    assert audited(store) == [("system", "handoff.queued"), (f"agent:{alice.id}", "handoff.claimed")]


def test_two_agents_racing_to_claim_one_wins(store: Store, clock: FixedClock) -> None:
    """Two real sessions in two threads, released together: exactly one claim succeeds."""
    add_agent(store, clock, "agent2")
    add_agent(store, clock, "agent3")
    agents = [agent(store, clock, sign_in(store, clock, n)) for n in ("agent2", "agent3")]
    handoff_id = queued(store, clock)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []
    lock = threading.Lock()

    def race(who: Agent) -> None:
        try:
            with store.transaction() as session:
                barrier.wait(timeout=10)
                handoffs.claim(session, handoff_id, who, clock.now())
            result: object = who.id
        except Exception as exc:  # noqa: BLE001 - the outcome is what we check
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=race, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = [o for o in outcomes if isinstance(o, int)]
    losers = [o for o in outcomes if isinstance(o, AlreadyClaimed)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    with store.transaction() as session:
        assert session.get(Handoff, handoff_id).claimed_by == winners[0]
        assert (
            session.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "handoff.claimed")
            )
            == 1
        )


def test_hand_back_and_close_transitions(store: Store, clock: FixedClock) -> None:
    add_agent(store, clock, "agent2")
    me = agent(store, clock, sign_in(store, clock, "agent2"))
    back, done = queued(store, clock, "c1"), queued(store, clock, "c2")

    with pytest.raises(InvalidTransition):  # not claimed yet
        with store.transaction() as session:
            handoffs.hand_back(session, back, me, clock.now())
    with store.transaction() as session:
        handoffs.claim(session, back, me, clock.now())
        handoffs.claim(session, done, me, clock.now())
    clock.advance(minutes=4)
    with store.transaction() as session:
        returned = handoffs.hand_back(session, back, me, clock.now())
        assert (returned.status, returned.closed_at) == ("returned", clock.now())
    with pytest.raises(InvalidText):
        with store.transaction() as session:
            handoffs.close(session, done, me, "   ", clock.now())
    with store.transaction() as session:
        closed = handoffs.close(session, done, me, "已为用户核实扣费并申请退费", clock.now())
        assert (closed.status, closed.resolution) == ("closed", "已为用户核实扣费并申请退费")
    for handoff_id in (back, done):
        with pytest.raises(InvalidTransition):
            with store.transaction() as session:
                handoffs.claim(session, handoff_id, me, clock.now())
    with store.transaction() as session:
        assert handoffs.open_handoff_for(session, "c1") is None and handoffs.queue(session) == []
    assert audited(store)[-3:] == [
        (f"agent:{me.id}", "handoff.claimed"),
        (f"agent:{me.id}", "handoff.returned"),
        (f"agent:{me.id}", "handoff.closed"),
    ]


def test_notes_are_kept_in_order_and_must_say_something(store: Store, clock: FixedClock) -> None:
    add_agent(store, clock, "agent2")
    me = agent(store, clock, sign_in(store, clock, "agent2"))
    handoff_id = queued(store, clock)
    with store.transaction() as session:
        handoffs.add_note(session, handoff_id, me, "用户称未订购视频彩铃", clock.now())
        handoffs.add_note(session, handoff_id, me, "已转计费核查", clock.now())
    for body in ("", "x" * (handoffs.MAX_TEXT + 1)):
        with pytest.raises(InvalidText):
            with store.transaction() as session:
                handoffs.add_note(session, handoff_id, me, body, clock.now())
    with store.transaction() as session:
        kept = [(n.body, n.agent.username) for n in handoffs.notes(session, handoff_id)]
    assert kept == [("用户称未订购视频彩铃", "agent2"), ("已转计费核查", "agent2")]


def test_a_message_left_out_of_hours_becomes_a_ticket_any_agent_can_close(
    store: Store, clock: FixedClock
) -> None:
    add_agent(store, clock, "agent2")
    me = agent(store, clock, sign_in(store, clock, "agent2"))
    with store.transaction() as session:
        ticket = handoffs.leave_message(
            session, "c9", "wechat", "requested", SUMMARY, "  视频彩铃我没订过，请回电  ", clock.now()
        )
        ticket_id, ticket_no = ticket.id, ticket.ticket_no
        assert ticket.status == "ticket" and ticket.message == "视频彩铃我没订过，请回电"
        assert handoffs.open_handoff_for(session, "c9") is None
    assert ticket_no == f"RG20261122-{ticket_id:06d}"
    with pytest.raises(InvalidText):
        with store.transaction() as session:
            handoffs.leave_message(session, "c9", "wechat", "requested", SUMMARY, " ", clock.now())
    with store.transaction() as session:
        assert [t.id for t in handoffs.tickets(session)] == [ticket_id]
        handoffs.close(session, ticket_id, me, "已回电处理", clock.now())
    with store.transaction() as session:
        assert handoffs.tickets(session) == [] and status(store, ticket_id) == "closed"
