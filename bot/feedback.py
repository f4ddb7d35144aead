"""Satisfaction ratings (满意度评价) offered when a task ends."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot.billing.models import SatisfactionRating


class InvalidRating(ValueError):
    """A score outside 1–5."""


def record_rating(
    session: Session,
    *,
    conversation_id: str,
    score: int,
    at: datetime,
    subscriber_id: Optional[int] = None,
    task: str = "",
) -> SatisfactionRating:
    """Stores a 1–5 score for the conversation.

    Raises:
        InvalidRating: the score is not a whole number from 1 to 5.
    """
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidRating(score)
    rating = SatisfactionRating(
        conversation_id=conversation_id,
        subscriber_id=subscriber_id,
        score=score,
        task=task[:40],
        created_at=at,
    )
    session.add(rating)
    return rating
