"""Published fee standards (资费标准) read from the catalogue table in the store."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.models import Service
from bot.texts import billing as copy


def published_fee(session: Session, service_code: str) -> Optional[str]:
    """A sentence with a service's published fee, what it is and who provides it (None if unknown)."""
    service = session.scalars(select(Service).where(Service.code == service_code)).one_or_none()
    if service is None:
        return None
    return copy.published_fee(
        service.name, service.billing, service.monthly_fee_fen, service.description, service.provider
    )
