"""Dispute ticket numbers: ``TS`` + the local date + a 4-digit daily sequence, e.g. ``TS202611220001``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.billing.models import Dispute
from bot.clock import to_local

#: Prefix of dispute ticket numbers; the local date and a 4-digit daily sequence follow.
TICKET_PREFIX = "TS"
#: Key of the PostgreSQL advisory lock that serialises ticket numbering.
_TICKET_LOCK_KEY = 0x54530001


def next_ticket_no(session: Session, at: datetime) -> str:
    """The next free ticket number of ``at``'s local day: ``TS`` + ``YYYYMMDD`` + 4 digits.

    On PostgreSQL a transaction-scoped advisory lock serialises numbering until commit; SQLite
    serialises writers itself. The unique constraint on ``ticket_no`` stays the last guard.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_TICKET_LOCK_KEY)))
    prefix = f"{TICKET_PREFIX}{to_local(at):%Y%m%d}"
    taken = session.scalars(select(Dispute.ticket_no).where(Dispute.ticket_no.like(f"{prefix}%")))
    highest = max((int(t[len(prefix) :]) for t in taken if t[len(prefix) :].isdigit()), default=0)
    return f"{prefix}{highest + 1:04d}"
