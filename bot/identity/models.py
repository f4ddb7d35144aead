"""Tables of identity verification. No column ever holds a code, password or ID digits in clear."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String

from bot.db import UTCDateTime
from bot.models import Base

FACTORS = ("sms_otp", "second_factor")
CHALLENGE_STATUSES = ("open", "verified", "failed", "expired", "superseded")
ATTEMPT_RESULTS = ("ok", "wrong", "expired", "locked", "no_challenge")
LEVELS = ("basic", "strong")


class VerificationChallenge(Base):
    """A request for a secret in one conversation.

    ``sms_otp``: a code was sent by SMS; ``code_hash`` is its keyed hash.
    ``second_factor``: the subscriber is asked for the service password or the ID number's
    last six digits (checked against the subscriber's hashes; ``code_hash`` is empty).
    ``client`` is who asked for an ``sms_otp`` code (``ip:<address>``, ``wechat:<openid>``), set
    by the channel (``bot.channels.client``); empty for rows from before it was recorded.
    """

    __tablename__ = "verification_challenges"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False)
    phone = Column(String(11), nullable=False)
    factor = Column(String(20), nullable=False)
    code_hash = Column(String(128), nullable=True)
    created_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    status = Column(String(12), nullable=False, default="open")
    client = Column(String(160), nullable=True)
    __table_args__ = (
        CheckConstraint("factor IN ('sms_otp', 'second_factor')", name="factor"),
        CheckConstraint("status IN ('open', 'verified', 'failed', 'expired', 'superseded')", name="status"),
        Index("ix_verification_challenges_conversation", "conversation_id", "status"),
        Index("ix_verification_challenges_phone_created", "phone", "created_at"),
        Index("ix_verification_challenges_client_created", "client", "created_at"),
    )


class VerificationAttempt(Base):
    """One secret a subscriber typed, and its result (never the secret itself).

    The channel guard records an attempt; the conversation's action reads it once
    (``acknowledged``) to tell the subscriber the outcome.
    """

    __tablename__ = "verification_attempts"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(100), nullable=False)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=True)
    phone = Column(String(11), nullable=False)
    factor = Column(String(20), nullable=False)
    result = Column(String(12), nullable=False)
    at = Column(UTCDateTime, nullable=False)
    attempts_left = Column(Integer, nullable=True)
    acknowledged = Column(Boolean, nullable=False, default=False)
    __table_args__ = (
        CheckConstraint("result IN ('ok', 'wrong', 'expired', 'locked', 'no_challenge')", name="result"),
        Index("ix_verification_attempts_phone_at", "phone", "at"),
        Index("ix_verification_attempts_conversation", "conversation_id", "acknowledged"),
    )


class VerifiedConversation(Base):
    """A conversation whose subscriber proved who they are, until idle expiry."""

    __tablename__ = "verified_conversations"
    conversation_id = Column(String(100), primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False)
    level = Column(String(10), nullable=False)
    verified_at = Column(UTCDateTime, nullable=False)
    last_seen_at = Column(UTCDateTime, nullable=False)
    __table_args__ = (CheckConstraint("level IN ('basic', 'strong')", name="level"),)


class NumberLock(Base):
    """A phone number locked after too many failures in a row."""

    __tablename__ = "number_locks"
    phone = Column(String(11), primary_key=True)
    locked_at = Column(UTCDateTime, nullable=False)
    locked_until = Column(UTCDateTime, nullable=False)
