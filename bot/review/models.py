"""The ``review_items`` table: one misunderstood subscriber message, and its label once a person gives it."""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, Float, Index, Integer, String, Text

from bot.db import UTCDateTime
from bot.models import Base

#: Why a message was kept (``bot.review.capture``).
REASONS = ("fallback", "clarification", "low_confidence", "handoff")
#: Where it stands: waiting for a label, labelled, written to training data.
STATUSES = ("pending", "labelled", "exported")


class ReviewItem(Base):
    """A subscriber message the assistant misunderstood (text masked)."""

    __tablename__ = "review_items"
    id = Column(Integer, primary_key=True)
    digest = Column(String(64), nullable=False, unique=True)
    conversation_id = Column(String(100), nullable=False, index=True)
    channel = Column(String(40), nullable=True)
    text = Column(Text, nullable=False)
    predicted_intent = Column(String(100), nullable=True)
    confidence = Column(Float, nullable=True)
    reason = Column(String(20), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, index=True)
    status = Column(String(10), nullable=False, default="pending")
    label_intent = Column(String(100), nullable=True)
    label_entities = Column(JSON, nullable=True)
    labelled_by = Column(String(100), nullable=True)
    labelled_at = Column(UTCDateTime, nullable=True)
    exported_at = Column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint(
            "reason IN ('fallback', 'clarification', 'low_confidence', 'handoff')", name="reason"
        ),
        CheckConstraint("status IN ('pending', 'labelled', 'exported')", name="status"),
        Index("ix_review_items_status_created_at", "status", "created_at"),
    )
