"""Tables of human handoff: agents, their sign-in sessions, handoffs (queue and tickets), notes.

No column holds a password or a session token in clear: passwords are PBKDF2 hashes
(``bot.identity.hashing``), tokens are SHA-256 hashes (a token is random and long, so a plain
hash is enough and lets the token be looked up by its hash).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import relationship

from bot.db import UTCDateTime
from bot.models import Base

#: Where the subscriber talks to us (the Rasa input channel's name).
CHANNELS = ("rest", "socketio", "wechat", "cmdline", "other")
#: ``queued`` and ``claimed`` are open: at most one per conversation. ``returned`` (handed back to
#: the bot) and ``closed`` are final; ``ticket`` is a message left outside agent hours, waiting to
#: be closed by an agent.
STATUSES = ("queued", "claimed", "returned", "closed", "ticket")
OPEN_STATUSES = ("queued", "claimed")
REASONS = ("requested", "fallback", "locked", "complaint", "dependency")
#: What an agent account may do: every agent works the queue; a ``supervisor`` also reads the
#: dashboard (``bot.dashboard``).
ROLES = ("agent", "supervisor")

_OPEN = "status IN ('queued', 'claimed')"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Agent(Base):
    """A person who takes over conversations in the agent console."""

    __tablename__ = "agents"
    id = Column(Integer, primary_key=True)
    username = Column(String(40), nullable=False, unique=True)
    display_name = Column(String(60), nullable=False)
    password_hash = Column(String(200), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False)
    role = Column(String(12), nullable=False, default="agent", server_default="agent")
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)


class AgentSession(Base):
    """A signed-in console session. Only the SHA-256 of its bearer token is stored."""

    __tablename__ = "agent_sessions"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)
    last_seen_at = Column(UTCDateTime, nullable=False)
    revoked_at = Column(UTCDateTime, nullable=True)
    agent = relationship(Agent, lazy="joined")


class Handoff(Base):
    """A conversation handed to a person: queued, claimed by one agent, then handed back or closed.

    ``summary`` is what an agent reads first (see ``bot.handoff.summary``): what the subscriber
    wanted, whether they are verified (masked number only), what the bot tried, flagged charges.
    A ``ticket`` is a message left outside agent hours (``message``, ``ticket_no``).
    ``waiting_notice_at`` is when a queued subscriber was last told their place in the queue after
    the queue announcement (``bot.handoff.handoffs.waiting_notice``).
    """

    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False)
    channel = Column(String(20), nullable=False)
    status = Column(String(10), nullable=False, default="queued")
    reason = Column(String(12), nullable=False)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=True)
    summary = Column(JSON, nullable=False, default=dict)
    message = Column(Text, nullable=True)
    ticket_no = Column(String(20), nullable=True, unique=True)
    queued_at = Column(UTCDateTime, nullable=False)
    claimed_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    closed_at = Column(UTCDateTime, nullable=True)
    resolution = Column(Text, nullable=True)
    waiting_notice_at = Column(UTCDateTime, nullable=True)
    agent = relationship(Agent, lazy="joined")
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("reason", REASONS), name="reason"),
        CheckConstraint("status <> 'claimed' OR claimed_by IS NOT NULL", name="claimed_has_agent"),
        # At most one open handoff per conversation, enforced by the database (a partial unique
        # index works the same on SQLite and PostgreSQL).
        Index(
            "uq_handoffs_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text(_OPEN),
            postgresql_where=text(_OPEN),
        ),
        Index("ix_handoffs_status_queued_at", "status", "queued_at"),
        Index("ix_handoffs_conversation_id", "conversation_id"),
    )


class HandoffNote(Base):
    """An internal note an agent wrote on a handoff (never shown to the subscriber)."""

    __tablename__ = "handoff_notes"
    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=False, index=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    agent = relationship(Agent, lazy="joined")
