"""Tables of conversation metrics, kept by the metrics consumer from Rasa's event stream.

``conversation_metrics`` has one row per conversation (Rasa's sender id) with its counters and
the little state the next event needs (is the bot paused, which user message waits for an answer).
``response_latencies`` has one row per answered user message, so percentiles can be computed over
any window. ``metrics_turns`` has one row per subscriber message (its intent, whether it opened a
session, whether a person had the conversation), ``metrics_misunderstandings`` one per message the
bot did not understand (answered by a clarification or a fallback) with the intent understood
before it: the supervisors' dashboard (``bot.dashboard``) counts them over any window.
``metrics_seen_events`` holds a digest of every event already counted, so a message
RabbitMQ delivers twice is counted once.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String

from bot.db import UTCDateTime
from bot.models import Base

#: Why a conversation counts as resolved (docs/deployment.md, "Conversation metrics").
RESOLUTIONS = ("rating", "closed", "session_end")


class ConversationMetrics(Base):
    """Counters of one conversation, as seen in Rasa's events."""

    __tablename__ = "conversation_metrics"
    conversation_id = Column(String(100), primary_key=True)
    channel = Column(String(40), nullable=True)
    first_event_at = Column(UTCDateTime, nullable=False)
    last_event_at = Column(UTCDateTime, nullable=False)
    sessions = Column(Integer, nullable=False, default=0)
    user_messages = Column(Integer, nullable=False, default=0)
    bot_messages = Column(Integer, nullable=False, default=0)
    agent_messages = Column(Integer, nullable=False, default=0)
    handoff_requests = Column(Integer, nullable=False, default=0)
    handoffs = Column(Integer, nullable=False, default=0)
    ratings = Column(Integer, nullable=False, default=0)
    paused = Column(Boolean, nullable=False, default=False)
    pending_user_at = Column(UTCDateTime, nullable=True)
    session_user_messages = Column(Integer, nullable=False, default=0)
    session_escalated = Column(Boolean, nullable=False, default=False)
    resolution = Column(String(12), nullable=True)
    resolved_at = Column(UTCDateTime, nullable=True)
    last_intent = Column(String(100), nullable=True)
    pending_intent_before = Column(String(100), nullable=True)

    __table_args__ = (
        CheckConstraint(
            "resolution IS NULL OR resolution IN ('rating', 'closed', 'session_end')", name="resolution"
        ),
        Index("ix_conversation_metrics_last_event_at", "last_event_at"),
    )


class ResponseLatency(Base):
    """The time from a user message to the bot's first answer to it."""

    __tablename__ = "response_latencies"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(100), ForeignKey("conversation_metrics.conversation_id"), nullable=False, index=True
    )
    user_at = Column(UTCDateTime, nullable=False, index=True)
    latency_ms = Column(Integer, nullable=False)

    __table_args__ = (CheckConstraint("latency_ms >= 0", name="latency_not_negative"),)


#: How the bot answered a message it did not understand (``bot.metrics.events``).
MISUNDERSTANDING_KINDS = ("fallback", "clarification")


class TurnFact(Base):
    """A subscriber message: its intent as the NLU read it, and where it stood in the conversation."""

    __tablename__ = "metrics_turns"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(100), ForeignKey("conversation_metrics.conversation_id"), nullable=False, index=True
    )
    user_at = Column(UTCDateTime, nullable=False, index=True)
    intent = Column(String(100), nullable=True)
    opens_session = Column(Boolean, nullable=False, default=False)
    paused = Column(Boolean, nullable=False, default=False)


class Misunderstanding(Base):
    """A subscriber message the bot answered with a clarification or a fallback."""

    __tablename__ = "metrics_misunderstandings"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(100), ForeignKey("conversation_metrics.conversation_id"), nullable=False, index=True
    )
    user_at = Column(UTCDateTime, nullable=False, index=True)
    kind = Column(String(16), nullable=False)
    intent_before = Column(String(100), nullable=True)

    __table_args__ = (CheckConstraint("kind IN ('fallback', 'clarification')", name="kind"),)


class SeenEvent(Base):
    """An event already counted (SHA-256 of its message body); pruned after some days."""

    __tablename__ = "metrics_seen_events"
    digest = Column(String(64), primary_key=True)
    seen_at = Column(UTCDateTime, nullable=False, index=True)
