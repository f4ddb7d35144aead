"""The audit log: every change to an account, who made it, and in which conversation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, ForeignKey, Integer, String
from sqlalchemy.orm import Session

from bot.db import UTCDateTime
from bot.models import Base


class AuditLog(Base):
    """Who changed what, when, and in which conversation. Never holds a secret."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False)
    actor = Column(String(60), nullable=False)
    action = Column(String(60), nullable=False)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=True, index=True)
    entity = Column(String(40), nullable=False, default="")
    entity_id = Column(String(40), nullable=False, default="")
    conversation_id = Column(String(100), nullable=True)
    details = Column(JSON, nullable=False, default=dict)


# Key words that name a secret; a key is refused when one of its ``_``-separated words is one.
_SECRET_WORDS = frozenset({"code", "otp", "password", "passwd", "pin", "secret", "last6", "idnumber"})
_NOT_SECRET = frozenset({"service_code", "plan_code", "ticket_code"})


def _names_secret(key: str) -> bool:
    lowered = key.lower()
    if lowered in _NOT_SECRET:
        return False
    words = set(lowered.replace("-", "_").split("_"))
    return bool(words & _SECRET_WORDS) or "id_number" in lowered or "id_last" in lowered


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    subscriber_id: Optional[int] = None,
    entity: str = "",
    entity_id: Any = "",
    conversation_id: Optional[str] = None,
    details: Optional[Mapping[str, Any]] = None,
) -> AuditLog:
    """Adds an audit entry in the caller's transaction.

    Args:
        session: the unit of work the change happens in (the entry commits with it).
        at: when (timezone-aware).
        actor: ``subscriber:<id>``, ``agent:<id>``, ``system``, ``billing_feed`` or ``cli``.
        action: what happened, e.g. ``verification.code_sent``.
        subscriber_id: whose account.
        entity: the kind of row changed, e.g. ``charge``.
        entity_id: its id.
        conversation_id: the conversation that caused it.
        details: extra facts; keys naming secrets are refused.

    Raises:
        ValueError: ``details`` has a key that names a secret.
    """
    details = dict(details or {})
    for key in details:
        if _names_secret(key):
            raise ValueError(f"audit details must not carry secrets ({key!r})")
    entry = AuditLog(
        at=at,
        actor=actor,
        action=action,
        subscriber_id=subscriber_id,
        entity=entity,
        entity_id=str(entity_id),
        conversation_id=conversation_id,
        details=details,
    )
    session.add(entry)
    return entry
