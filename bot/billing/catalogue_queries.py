"""Published fee standards (资费标准) read from the catalogue table in the store."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.models import Service
from bot.texts.formats import yuan


def published_fee(session: Session, service_code: str) -> Optional[str]:
    """A sentence with a service's published fee, what it is and who provides it (None if unknown)."""
    service = session.scalars(select(Service).where(Service.code == service_code)).one_or_none()
    if service is None:
        return None
    unit = "月" if service.billing == "monthly" else "次"
    return (
        f"{service.name}的公布资费为 {yuan(service.monthly_fee_fen)} 元/{unit}。{service.description}"
        f"（业务提供方：{service.provider}）如需退订，告诉我“退订{service.name}”即可。"
    )
