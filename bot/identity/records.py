"""Verification rows inside the caller's transaction: locks, challenges, attempts, verified
conversations, and the sliding windows the code limits count.

Functions take the caller's session and never commit (``bot.identity.service`` opens the unit of
work). Nothing here reads, stores or logs a secret in clear.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot import audit
from bot.billing.models import Subscriber
from bot.identity.models import (
    NumberLock,
    VerificationAttempt,
    VerificationChallenge,
    VerifiedConversation,
)
from bot.identity.rules import (
    ACTOR,
    IDLE_TIMEOUT,
    LOCK_DURATION,
    MAX_FAILURES_IN_ROW,
    MAX_TRIES_PER_CODE,
    AttemptResult,
    Verified,
)
from bot.texts.formats import mask_phone

logger = logging.getLogger(__name__)


def window_full(
    session: Session, where: ColumnElement[bool], limit: int, window: timedelta, now: datetime
) -> Optional[datetime]:
    """When one more SMS code matching ``where`` may be sent, if ``limit`` were sent in ``window``.

    A sliding window: None while fewer than ``limit`` codes went out in the last ``window``;
    otherwise the moment the oldest of the latest ``limit`` leaves it.
    """
    sent = session.scalars(
        select(VerificationChallenge.created_at)
        .where(
            where, VerificationChallenge.factor == "sms_otp", VerificationChallenge.created_at > now - window
        )
        .order_by(VerificationChallenge.created_at)
    ).all()
    return sent[len(sent) - limit] + window if len(sent) >= limit else None


def active_lock(session: Session, phone: str, now: datetime) -> Optional[NumberLock]:
    lock = session.get(NumberLock, phone)
    if lock is not None and lock.locked_until > now:
        return lock
    return None


def supersede_open(session: Session, conversation_id: str) -> None:
    session.execute(
        update(VerificationChallenge)
        .where(
            VerificationChallenge.conversation_id == conversation_id,
            VerificationChallenge.status == "open",
        )
        .values(status="superseded")
        .execution_options(synchronize_session="fetch")
    )


def succeed(session: Session, challenge: VerificationChallenge, now: datetime) -> AttemptResult:
    challenge.status = "verified"
    level = "basic" if challenge.factor == "sms_otp" else "strong"
    row = session.get(VerifiedConversation, challenge.conversation_id)
    if row is None:
        session.add(
            VerifiedConversation(
                conversation_id=challenge.conversation_id,
                subscriber_id=challenge.subscriber_id,
                level=level,
                verified_at=now,
                last_seen_at=now,
            )
        )
    else:
        row.subscriber_id = challenge.subscriber_id
        row.level = level
        row.verified_at = now
        row.last_seen_at = now
    return AttemptResult(result="ok", factor=challenge.factor, level=level)


def fail(session: Session, challenge: VerificationChallenge, now: datetime) -> AttemptResult:
    challenge.attempts = (challenge.attempts or 0) + 1
    failures = failures_in_row(session, challenge.phone) + 1
    if failures >= MAX_FAILURES_IN_ROW:
        until = now + LOCK_DURATION
        lock = session.get(NumberLock, challenge.phone)
        if lock is None:
            session.add(NumberLock(phone=challenge.phone, locked_at=now, locked_until=until))
        else:
            lock.locked_at = now
            lock.locked_until = until
        challenge.status = "failed"
        # No challenge of the number stays answerable, in any conversation.
        session.execute(
            update(VerificationChallenge)
            .where(VerificationChallenge.phone == challenge.phone, VerificationChallenge.status == "open")
            .values(status="failed")
            .execution_options(synchronize_session="fetch")
        )
        logger.warning("number %s locked after %d failures in a row", mask_phone(challenge.phone), failures)
        return AttemptResult(result="locked", factor=challenge.factor, attempts_left=0, locked_until=until)
    left = min(MAX_TRIES_PER_CODE - challenge.attempts, MAX_FAILURES_IN_ROW - failures)
    if challenge.attempts >= MAX_TRIES_PER_CODE:
        challenge.status = "failed"
        left = 0
    return AttemptResult(result="wrong", factor=challenge.factor, attempts_left=left)


def failures_in_row(session: Session, phone: str) -> int:
    """Wrong answers for ``phone`` since its last success or lock (a ``locked`` attempt)."""
    last_reset = (
        select(func.coalesce(func.max(VerificationAttempt.id), 0))
        .where(VerificationAttempt.phone == phone, VerificationAttempt.result.in_(("ok", "locked")))
        .scalar_subquery()
    )
    return session.execute(
        select(func.count(VerificationAttempt.id)).where(
            VerificationAttempt.phone == phone,
            VerificationAttempt.result == "wrong",
            VerificationAttempt.id > last_reset,
        )
    ).scalar_one()


def record(
    session: Session,
    conversation_id: str,
    subscriber_id: Optional[int],
    phone: str,
    outcome: AttemptResult,
    now: datetime,
) -> None:
    session.add(
        VerificationAttempt(
            conversation_id=conversation_id,
            subscriber_id=subscriber_id,
            phone=phone,
            factor=outcome.factor or "",
            result=outcome.result,
            at=now,
            attempts_left=outcome.attempts_left,
            acknowledged=False,
        )
    )
    action = {"ok": "verification.succeeded", "locked": "verification.locked"}.get(
        outcome.result, "verification.failed"
    )
    details: dict[str, object] = {"result": outcome.result, "factor": outcome.factor or ""}
    if phone:
        details["phone"] = mask_phone(phone)
    if outcome.attempts_left is not None:
        details["attempts_left"] = outcome.attempts_left
    if outcome.locked_until is not None:
        details["locked_until"] = outcome.locked_until.isoformat()
    if outcome.level is not None:
        details["level"] = outcome.level
    audit.record(
        session,
        at=now,
        actor=ACTOR,
        action=action,
        subscriber_id=subscriber_id,
        entity="verification_attempt",
        conversation_id=conversation_id,
        details=details,
    )


def current(session: Session, conversation_id: str, now: datetime, *, touch: bool) -> Optional[Verified]:
    found = session.execute(
        select(VerifiedConversation, Subscriber.phone)
        .join(Subscriber, Subscriber.id == VerifiedConversation.subscriber_id)
        .where(VerifiedConversation.conversation_id == conversation_id)
    ).first()
    if found is None:
        return None
    row, phone = found
    if now - row.last_seen_at > IDLE_TIMEOUT:
        session.execute(
            delete(VerifiedConversation).where(VerifiedConversation.conversation_id == conversation_id)
        )
        return None
    if touch:
        row.last_seen_at = now
    return Verified(
        subscriber_id=row.subscriber_id,
        phone=phone,
        masked_phone=mask_phone(phone),
        level=row.level,
        verified_at=row.verified_at,
    )
