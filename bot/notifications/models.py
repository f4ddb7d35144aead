"""Tables of outgoing messages: the outbox (SMS and WeChat) and WeChat followers' bindings.

They reference ``subscribers`` by key only; nothing here imports the billing package.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text

from bot.db import UTCDateTime
from bot.models import Base

NOTIFY_CHANNELS = ("sms", "wechat")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Notification(Base):
    """An outgoing message (the SMS outbox). The development gateway only writes here."""

    __tablename__ = "notifications"
    id = Column(Integer, primary_key=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=True)
    phone = Column(String(11), nullable=False, index=True)
    channel = Column(String(10), nullable=False, default="sms")
    kind = Column(String(20), nullable=False)
    body = Column(Text, nullable=False)
    status = Column(String(10), nullable=False, default="sent")
    created_at = Column(UTCDateTime, nullable=False)
    #: WeChat deliveries tried without a final answer (``bot.notifications.wechat_delivery``).
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    #: When a queued WeChat message is tried again; ``None``: at once.
    next_attempt_at = Column(UTCDateTime, nullable=True)
    __table_args__ = (
        CheckConstraint(_in("channel", NOTIFY_CHANNELS), name="channel"),
        CheckConstraint(_in("status", ("queued", "sent", "failed")), name="status"),
        Index("ix_notifications_channel_status", "channel", "status"),
    )


class WeChatBinding(Base):
    """A number bound to the OpenID of the WeChat user who verified it in the Official Account.

    One OpenID per number and one number per OpenID; unbinding deletes the row (the audit log
    keeps the history). Alerts by WeChat go to ``openid`` (``bot.notifications.wechat_delivery``).
    """

    __tablename__ = "wechat_bindings"
    id = Column(Integer, primary_key=True)
    openid = Column(String(64), nullable=False, unique=True)
    subscriber_id = Column(Integer, ForeignKey("subscribers.id"), nullable=False, unique=True)
    bound_at = Column(UTCDateTime, nullable=False)
    conversation_id = Column(String(100), nullable=True)
