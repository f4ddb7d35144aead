"""Binding a verified WeChat follower to their account: only an existing, open account is bound.

The binding itself (one number per OpenID, audit entries) is :mod:`bot.notifications.wechat_bindings`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.models import Subscriber
from bot.notifications.wechat_bindings import BindResult, record_binding


def bind(
    session: Session, *, openid: str, subscriber_id: int, at: datetime, conversation_id: Optional[str]
) -> BindResult:
    """Binds the verified subscriber's number to the follower ``openid`` (after a verification in
    the WeChat channel), as :func:`bot.notifications.wechat_bindings.record_binding` does.

    Raises:
        ValueError: an empty OpenID, a naive time, or an account that is unknown or closed.
    """
    status = session.scalar(select(Subscriber.status).where(Subscriber.id == subscriber_id))
    if status is None or status == "closed":
        raise ValueError("only an existing, open account can be bound")
    return record_binding(
        session, openid=openid, subscriber_id=subscriber_id, at=at, conversation_id=conversation_id
    )
