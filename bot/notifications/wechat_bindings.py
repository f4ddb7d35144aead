"""Binding a number to the OpenID of the WeChat follower who verified it.

A subscriber who passes SMS verification in the Official Account's chat gets the verified number
bound to their OpenID (the conversation id of the WeChat channel): from then on alerts set to
微信 are sent to that OpenID as template messages. One number per OpenID and one OpenID per
number: a later verification moves the binding (the number to the new follower, or the follower
to the new number), since whoever proved they hold the number last is the one to tell.

A binding ends when the subscriber asks (解除微信绑定), when the account is closed, or when WeChat
says the follower unsubscribed (errcode 43004). Alerts set to 微信 without a binding go by SMS.
Every change writes an audit entry (``wechat.bound`` / ``wechat.unbound``); the OpenID itself is
not copied into the audit log.

Functions take the caller's session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.notifications.models import WeChatBinding

#: Why a binding ended (the audit entry's ``reason``).
UNBIND_REASONS = ("request", "closure", "unsubscribed", "rebound")


@dataclass(frozen=True)
class BindResult:
    """What :func:`bind` did.

    Attributes:
        changed: False when this OpenID was already bound to this number.
        replaced: the number's or the OpenID's previous binding was moved.
    """

    changed: bool
    replaced: bool


def binding_of(session: Session, subscriber_id: int) -> Optional[WeChatBinding]:
    """The number's binding, if any."""
    return session.scalars(
        select(WeChatBinding).where(WeChatBinding.subscriber_id == subscriber_id)
    ).one_or_none()


def is_bound(session: Session, subscriber_id: int) -> bool:
    """Whether alerts of this subscriber can go by WeChat."""
    return binding_of(session, subscriber_id) is not None


def _remove(
    session: Session,
    binding: WeChatBinding,
    *,
    at: datetime,
    actor: str,
    reason: str,
    conversation_id: Optional[str],
) -> None:
    audit.record(
        session,
        at=at,
        actor=actor,
        action="wechat.unbound",
        subscriber_id=binding.subscriber_id,
        entity="wechat_binding",
        entity_id=binding.id,
        conversation_id=conversation_id,
        details={"reason": reason},
    )
    session.delete(binding)
    session.flush()


def record_binding(
    session: Session, *, openid: str, subscriber_id: int, at: datetime, conversation_id: Optional[str]
) -> BindResult:
    """Binds the subscriber's number to ``openid``; whether the account may be bound is the caller's
    rule (``bot.identity.wechat.bind`` checks it is open).

    Args:
        session: the caller's unit of work.
        openid: the follower's OpenID (the WeChat conversation's sender id).
        subscriber_id: the verified subscriber.
        at: when (aware).
        conversation_id: the conversation, for the audit log.

    Returns:
        Whether anything changed, and whether an earlier binding was moved.

    Raises:
        ValueError: an empty OpenID or a naive time.
    """
    if not openid or len(openid) > 64:
        raise ValueError("an OpenID is 1-64 characters")
    if at.tzinfo is None:
        raise ValueError("'at' must be a timezone-aware datetime")
    existing = session.scalars(
        select(WeChatBinding)
        .where((WeChatBinding.openid == openid) | (WeChatBinding.subscriber_id == subscriber_id))
        .with_for_update()
    ).all()
    if any(b.openid == openid and b.subscriber_id == subscriber_id for b in existing):
        return BindResult(changed=False, replaced=False)
    actor = f"subscriber:{subscriber_id}"
    for old in existing:
        _remove(session, old, at=at, actor=actor, reason="rebound", conversation_id=conversation_id)
    binding = WeChatBinding(
        openid=openid, subscriber_id=subscriber_id, bound_at=at, conversation_id=conversation_id
    )
    session.add(binding)
    session.flush()
    audit.record(
        session,
        at=at,
        actor=actor,
        action="wechat.bound",
        subscriber_id=subscriber_id,
        entity="wechat_binding",
        entity_id=binding.id,
        conversation_id=conversation_id,
        details={"replaced": bool(existing)},
    )
    return BindResult(changed=True, replaced=bool(existing))


def unbind_openid(
    session: Session, openid: str, *, at: datetime, reason: str, conversation_id: Optional[str] = None
) -> Optional[int]:
    """Ends the binding of ``openid`` (the follower asked in WeChat, or unsubscribed).

    Returns:
        The id of the subscriber whose number was unbound; ``None`` when nothing was bound.
    """
    binding = session.scalars(
        select(WeChatBinding).where(WeChatBinding.openid == openid).with_for_update()
    ).one_or_none()
    if binding is None:
        return None
    subscriber_id = int(binding.subscriber_id)
    actor = f"subscriber:{subscriber_id}" if reason == "request" else "system"
    _remove(session, binding, at=at, actor=actor, reason=reason, conversation_id=conversation_id)
    return subscriber_id


def unbind_subscriber(
    session: Session,
    subscriber_id: int,
    *,
    at: datetime,
    actor: str,
    reason: str,
    conversation_id: Optional[str] = None,
) -> bool:
    """Ends the binding of a number (asked from another channel, or the account closed).

    Returns:
        True when a binding was removed; False when the number was not bound.
    """
    binding = session.scalars(
        select(WeChatBinding).where(WeChatBinding.subscriber_id == subscriber_id).with_for_update()
    ).one_or_none()
    if binding is None:
        return False
    _remove(session, binding, at=at, actor=actor, reason=reason, conversation_id=conversation_id)
    return True
