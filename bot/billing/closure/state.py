"""A closure's state in the store: the subscriber (locked), the pending request, and the status a
withdrawal restores, read back from the request's audit entry."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.audit import AuditLog
from bot.billing.closure.rules import RESTORABLE_STATUSES
from bot.billing.errors import UnknownSubscriber
from bot.billing.models import ClosureRequest, Subscriber


def locked_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber, freshly read and row-locked until the transaction ends (PostgreSQL)."""
    found = session.scalars(
        select(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if found is None:
        raise UnknownSubscriber(subscriber_id)
    return found


def pending_request(session: Session, subscriber_id: int, *, lock: bool = False) -> Optional[ClosureRequest]:
    query = (
        select(ClosureRequest)
        .where(ClosureRequest.subscriber_id == subscriber_id, ClosureRequest.status == "pending")
        .order_by(ClosureRequest.requested_at.desc(), ClosureRequest.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def previous_status(session: Session, request: ClosureRequest) -> str:
    """The status the subscriber had before the request (from its audit entry); ``active`` if unknown."""
    details = session.scalar(
        select(AuditLog.details)
        .where(
            AuditLog.action == "closure.requested",
            AuditLog.entity == "closure_request",
            AuditLog.entity_id == str(request.id),
        )
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
    previous = (details or {}).get("previous_status") if isinstance(details, dict) else None
    return previous if previous in RESTORABLE_STATUSES else "active"
