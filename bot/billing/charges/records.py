"""The rows every part of the unknown-charges package reads: the subscriber, the service, running
subscriptions; and the audit actor and the aware-time check they share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.billing.errors import UnknownService, UnknownSubscriber
from bot.billing.models import Service, Subscriber, Subscription


def check_aware(when: datetime, name: str = "at") -> None:
    """Raises ``ValueError`` unless ``when`` is a timezone-aware datetime."""
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise ValueError(f"{name!r} must be a timezone-aware datetime")


def actor(subscriber_id: int) -> str:
    """The audit actor of a change the subscriber asked for."""
    return f"subscriber:{subscriber_id}"


def subscriber_row(session: Session, subscriber_id: int, *, lock: bool) -> Subscriber:
    """The subscriber (locked ``FOR UPDATE`` when ``lock``).

    Raises:
        UnknownSubscriber: no subscriber has this id (or it is not an int).
    """
    if isinstance(subscriber_id, bool) or not isinstance(subscriber_id, int):
        raise UnknownSubscriber(str(subscriber_id))
    query = select(Subscriber).where(Subscriber.id == subscriber_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise UnknownSubscriber(subscriber_id)
    return found


def service_row(session: Session, service_code: str) -> Service:
    """The catalogue service with this code.

    Raises:
        UnknownService: no service has this code.
    """
    found = session.scalars(select(Service).where(Service.code == service_code)).one_or_none()
    if found is None:
        raise UnknownService(service_code)
    return found


def running_at(query_at: datetime) -> tuple[Any, Any]:
    """WHERE clauses: a subscription running at ``query_at``."""
    return (
        Subscription.started_at <= query_at,
        or_(Subscription.ended_at.is_(None), Subscription.ended_at > query_at),
    )


def is_running(sub: Subscription, at: datetime) -> bool:
    """Whether a subscription is running at ``at``."""
    return sub.started_at <= at and (sub.ended_at is None or sub.ended_at > at)
