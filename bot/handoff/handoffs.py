"""The handoff queue and an agent's work on it: the API the agent console and the actions call.

Agents and their sign-in are :mod:`bot.handoff.agents`.

Every function takes the caller's unit of work (a ``Session`` from ``Store.transaction()``) and
the current time, and changes nothing outside that transaction; errors are the exceptions of
``bot.handoff.errors``. Rules:

* Agents sign in with a username and password (PBKDF2, peppered, as service passwords are) and
  get a random bearer token, shown once; only its SHA-256 is stored. A token ends after
  ``agent_session_hours``, after ``agent_idle_minutes`` without use (each use slides the idle
  window), when revoked, or when the agent is deactivated.
* A conversation has at most one open handoff (``queued`` or ``claimed``); the database enforces
  it and :func:`enqueue` returns the open one instead of creating a second.
* Claiming is one conditional ``UPDATE … WHERE status = 'queued'``: of two agents racing, exactly
  one wins and the other gets :class:`AlreadyClaimed`. Only the holder may hand back or close.
* Claim, hand back and close are audited as ``agent:<id>``.
* A subscriber who writes while queued is told their place again at most once per
  :data:`WAITING_NOTICE_INTERVAL` (:func:`waiting_notice`); once an agent has claimed the
  conversation, nothing.

Typical console use::

    with store.transaction() as session:
        issued = authenticate(session, "agent1", password, now)       # sign in → token
    with store.transaction() as session:
        agent = agent_for_token(session, token, now)                 # every request
        if agent is None: ...                                        # 401
        handoff = claim(session, handoff_id, agent, now)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import audit
from bot.clock import to_local
from bot.handoff.agents import agents_online
from bot.handoff.errors import (
    AlreadyClaimed,
    HandoffNotFound,
    InvalidText,
    InvalidTransition,
    NotHolder,
)
from bot.handoff.models import CHANNELS, OPEN_STATUSES, REASONS, Agent, Handoff, HandoffNote
from bot.settings import Settings, get_settings

#: Longest internal note, resolution or left message (characters).
MAX_TEXT = 2000
TICKET_PREFIX = "RG"
#: A queued subscriber who keeps writing hears their place in the queue at most this often.
WAITING_NOTICE_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class Wait:
    """Where a queued conversation stands.

    Attributes:
        position: 1 for the next conversation an agent will take.
        minutes: rough wait in whole minutes (at least 1).
        agents_online: agents signed in right now (at least 1 is assumed for the estimate).
    """

    position: int
    minutes: int
    agents_online: int


def _settings(settings: Optional[Settings]) -> Settings:
    return settings or get_settings()


def _text(value: str, what: str) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise InvalidText(f"{what} must not be empty")
    if len(cleaned) > MAX_TEXT:
        raise InvalidText(f"{what} is longer than {MAX_TEXT} characters")
    return cleaned


# --- the queue -------------------------------------------------------------------------------


def open_handoff_for(session: Session, conversation_id: str) -> Optional[Handoff]:
    """The conversation's open handoff (``queued`` or ``claimed``), if any."""
    return session.execute(
        select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATUSES))
    ).scalar_one_or_none()


def _check_kind(channel: str, reason: str) -> tuple[str, str]:
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    return (channel if channel in CHANNELS else "other"), reason


def enqueue(
    session: Session,
    conversation_id: str,
    channel: str,
    reason: str,
    summary: dict[str, Any],
    now: datetime,
    subscriber_id: Optional[int] = None,
) -> Handoff:
    """Queues a conversation for an agent; idempotent.

    Args:
        session: the unit of work.
        conversation_id: Rasa's sender id.
        channel: the input channel's name (``rest``, ``socketio``, ``wechat`` …; unknown → ``other``).
        reason: one of :data:`bot.handoff.models.REASONS`.
        summary: what the agent reads first (``bot.handoff.summary.build_summary``); no secrets.
        now: the current time.
        subscriber_id: the verified subscriber, if any.

    Returns:
        The new handoff, or the conversation's already-open one (unchanged).

    Raises:
        ValueError: unknown reason.
    """
    channel, reason = _check_kind(channel, reason)
    existing = open_handoff_for(session, conversation_id)
    if existing is not None:
        return existing
    handoff = Handoff(
        conversation_id=conversation_id,
        channel=channel,
        status="queued",
        reason=reason,
        subscriber_id=subscriber_id,
        summary=summary,
        queued_at=now,
    )
    try:
        # A concurrent enqueue for the same conversation loses on the partial unique index.
        with session.begin_nested():
            session.add(handoff)
            session.flush()
    except IntegrityError:
        existing = open_handoff_for(session, conversation_id)
        if existing is None:
            raise
        return existing
    audit.record(
        session,
        at=now,
        actor="system",
        action="handoff.queued",
        subscriber_id=subscriber_id,
        entity="handoff",
        entity_id=handoff.id,
        conversation_id=conversation_id,
        details={"reason": reason, "channel": channel},
    )
    return handoff


def queue(session: Session) -> list[Handoff]:
    """Open handoffs for the console's live queue: queued first (oldest first), then claimed."""
    rows = session.execute(
        select(Handoff).where(Handoff.status.in_(OPEN_STATUSES)).order_by(Handoff.queued_at, Handoff.id)
    ).scalars()
    return sorted(rows, key=lambda h: (h.status != "queued",))


def tickets(session: Session) -> list[Handoff]:
    """Messages left outside agent hours that no agent has closed yet, oldest first."""
    return list(
        session.execute(
            select(Handoff).where(Handoff.status == "ticket").order_by(Handoff.queued_at, Handoff.id)
        ).scalars()
    )


def get_handoff(session: Session, handoff_id: int) -> Handoff:
    """One handoff by id.

    Raises:
        HandoffNotFound: no such handoff.
    """
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffNotFound(handoff_id)
    return handoff


def position_and_wait(
    session: Session, handoff: Handoff, now: datetime, settings: Optional[Settings] = None
) -> Wait:
    """Position in the queue and a rough wait: position × average handle time ÷ agents online.

    A handoff that is not queued (already claimed) has position 0 and no wait.
    """
    cfg = _settings(settings)
    online = agents_online(session, now, cfg)
    if handoff.status != "queued":
        return Wait(position=0, minutes=0, agents_online=online)
    ahead = session.scalar(
        select(func.count()).select_from(Handoff).where(Handoff.status == "queued", Handoff.id < handoff.id)
    )
    position = int(ahead or 0) + 1
    minutes = max(1, math.ceil(position * cfg.agent_handle_minutes / max(1, online)))
    return Wait(position=position, minutes=minutes, agents_online=online)


def waiting_notice(
    session: Session, conversation_id: str, now: datetime, settings: Optional[Settings] = None
) -> Optional[Wait]:
    """Where a subscriber who wrote while waiting stands, at most once a minute; else None.

    The queue announcement (when the handoff was queued) counts as the first notice, so a message
    in the first minute gets none. The time of the notice is recorded by one conditional
    ``UPDATE``: when several Rasa processes handle messages of one conversation at once, exactly one
    of them tells the subscriber.

    Args:
        session: the unit of work (the notice's time commits with it).
        conversation_id: Rasa's sender id.
        now: the current time.
        settings: the handle time for the estimate (the process's settings when not given).

    Returns:
        The position and wait to tell; None when the conversation is not waiting in the queue (no
        open handoff, or an agent has it) or was told less than :data:`WAITING_NOTICE_INTERVAL` ago.
    """
    handoff = open_handoff_for(session, conversation_id)
    if handoff is None or handoff.status != "queued":
        return None
    told_before = now - WAITING_NOTICE_INTERVAL
    result = session.execute(
        update(Handoff)
        .where(
            Handoff.id == handoff.id,
            Handoff.status == "queued",
            Handoff.queued_at <= told_before,
            or_(Handoff.waiting_notice_at.is_(None), Handoff.waiting_notice_at <= told_before),
        )
        .values(waiting_notice_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return position_and_wait(session, handoff, now, settings)


# --- an agent's work -------------------------------------------------------------------------


def _audit(
    session: Session, handoff: Handoff, agent: Agent, action: str, now: datetime, **details: Any
) -> None:
    audit.record(
        session,
        at=now,
        actor=f"agent:{agent.id}",
        action=action,
        subscriber_id=handoff.subscriber_id,
        entity="handoff",
        entity_id=handoff.id,
        conversation_id=handoff.conversation_id,
        details=details,
    )


def claim(session: Session, handoff_id: int, agent: Agent, now: datetime) -> Handoff:
    """Takes a queued conversation; one agent at a time.

    Claiming a conversation the same agent already holds returns it unchanged.

    Raises:
        HandoffNotFound: no such handoff.
        AlreadyClaimed: another agent holds it.
        InvalidTransition: it is not queued (handed back, closed, or a ticket).
    """
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == "queued")
        .values(status="claimed", claimed_by=agent.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    handoff = session.get(Handoff, handoff_id, populate_existing=True)
    if handoff is None:
        raise HandoffNotFound(handoff_id)
    if result.rowcount != 1:
        if handoff.status == "claimed" and handoff.claimed_by == agent.id:
            return handoff
        if handoff.status == "claimed":
            holder = session.get(Agent, handoff.claimed_by)
            raise AlreadyClaimed(handoff_id, handoff.claimed_by, holder.display_name if holder else "")
        raise InvalidTransition(handoff_id, handoff.status, "claim")
    _audit(session, handoff, agent, "handoff.claimed", now)
    return handoff


def _held(session: Session, handoff_id: int, agent: Agent, operation: str) -> Handoff:
    handoff = session.execute(
        select(Handoff).where(Handoff.id == handoff_id).with_for_update(of=Handoff)
    ).scalar_one_or_none()
    if handoff is None:
        raise HandoffNotFound(handoff_id)
    if handoff.status != "claimed":
        raise InvalidTransition(handoff_id, handoff.status, operation)
    if handoff.claimed_by != agent.id:
        raise NotHolder(handoff_id)
    return handoff


def hand_back(session: Session, handoff_id: int, agent: Agent, now: datetime) -> Handoff:
    """Gives the conversation back to the bot (status ``returned``).

    The caller then appends ``ConversationResumed`` to the conversation's tracker; the bot
    answers the subscriber's next message.

    Raises:
        HandoffNotFound, InvalidTransition: not a claimed handoff.
        NotHolder: another agent holds it.
    """
    handoff = _held(session, handoff_id, agent, "hand back")
    handoff.status = "returned"
    handoff.closed_at = now
    session.flush()
    _audit(session, handoff, agent, "handoff.returned", now)
    return handoff


def close(session: Session, handoff_id: int, agent: Agent, resolution: str, now: datetime) -> Handoff:
    """Closes a claimed conversation, or a ticket, with a resolution.

    A claimed handoff can be closed only by its holder; a ticket by any agent. The conversation
    stays paused in Rasa until the caller resumes it (the console does when it closes a chat).

    Raises:
        HandoffNotFound: no such handoff.
        InvalidTransition: it is queued, handed back or closed already.
        NotHolder: another agent holds it.
        InvalidText: empty or overlong resolution.
    """
    text = _text(resolution, "resolution")
    handoff = session.execute(
        select(Handoff).where(Handoff.id == handoff_id).with_for_update(of=Handoff)
    ).scalar_one_or_none()
    if handoff is None:
        raise HandoffNotFound(handoff_id)
    if handoff.status == "claimed":
        if handoff.claimed_by != agent.id:
            raise NotHolder(handoff_id)
    elif handoff.status == "ticket":
        handoff.claimed_by = agent.id
        handoff.claimed_at = now
    else:
        raise InvalidTransition(handoff_id, handoff.status, "close")
    handoff.status = "closed"
    handoff.resolution = text
    handoff.closed_at = now
    session.flush()
    _audit(session, handoff, agent, "handoff.closed", now)
    return handoff


def add_note(session: Session, handoff_id: int, agent: Agent, body: str, now: datetime) -> HandoffNote:
    """Adds an internal note (any agent may write one; the subscriber never sees it).

    Raises:
        HandoffNotFound: no such handoff.
        InvalidText: empty or overlong note.
    """
    text = _text(body, "note")
    get_handoff(session, handoff_id)
    note = HandoffNote(handoff_id=handoff_id, agent_id=agent.id, body=text, created_at=now)
    session.add(note)
    session.flush()
    return note


def notes(session: Session, handoff_id: int) -> list[HandoffNote]:
    """A handoff's internal notes, oldest first."""
    return list(
        session.execute(
            select(HandoffNote).where(HandoffNote.handoff_id == handoff_id).order_by(HandoffNote.id)
        ).scalars()
    )


# --- out of agent hours ----------------------------------------------------------------------


def leave_message(
    session: Session,
    conversation_id: str,
    channel: str,
    reason: str,
    summary: dict[str, Any],
    message: str,
    now: datetime,
    subscriber_id: Optional[int] = None,
) -> Handoff:
    """Records a message left outside agent hours as a ticket for the agents.

    Args:
        message: the subscriber's text (the channel guard already masked any secret in it).
        (the others as in :func:`enqueue`)

    Returns:
        The ticket (``status == 'ticket'``, ``ticket_no`` such as ``RG20261122-000042``).

    Raises:
        InvalidText: empty or overlong message.
        ValueError: unknown reason.
    """
    text = _text(message, "message")
    channel, reason = _check_kind(channel, reason)
    handoff = Handoff(
        conversation_id=conversation_id,
        channel=channel,
        status="ticket",
        reason=reason,
        subscriber_id=subscriber_id,
        summary=summary,
        message=text,
        queued_at=now,
    )
    session.add(handoff)
    session.flush()
    handoff.ticket_no = f"{TICKET_PREFIX}{to_local(now):%Y%m%d}-{handoff.id:06d}"
    session.flush()
    audit.record(
        session,
        at=now,
        actor="system",
        action="handoff.ticket",
        subscriber_id=subscriber_id,
        entity="handoff",
        entity_id=handoff.id,
        conversation_id=conversation_id,
        details={"reason": reason, "channel": channel, "ticket_no": handoff.ticket_no},
    )
    return handoff
