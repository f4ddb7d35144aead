"""Unsubscribing a value-added service (退订): the running subscription ends, audited, confirmed by SMS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing.charges.records import actor, check_aware, running_at, service_row, subscriber_row
from bot.billing.errors import BillingError
from bot.billing.models import Subscription
from bot.notifications.sms import SmsGateway
from bot.texts import charges as texts
from bot.texts.labels import CHANNEL_LABELS

#: Outbox kind of the confirmation.
SMS_KIND_UNSUBSCRIBED = "unsubscribe"


class NotSubscribed(BillingError):
    """The subscriber has no running subscription to the service.

    Attributes:
        code: the service's catalogue code.
        service_name: its name, when known.
    """

    def __init__(self, code: str, service_name: Optional[str] = None) -> None:
        self.code = code
        self.service_name = service_name
        super().__init__(texts.not_subscribed(service_name or code))


@dataclass(frozen=True)
class UnsubscribeResult:
    """A service that was unsubscribed.

    Attributes:
        subscriber_id: whose account.
        subscription_id: the subscription ended (the newest, if several were running).
        service_code: catalogue code.
        service_name: e.g. ``视频彩铃``.
        fee_fen: published monthly fee (or price per use), fen.
        billing: ``monthly`` or ``per_use``.
        channel: how it had been opened.
        channel_label: the channel in Chinese.
        started_at: when it had been opened (aware UTC).
        ended_at: when it ended, i.e. ``at`` (aware).
    """

    subscriber_id: int
    subscription_id: int
    service_code: str
    service_name: str
    fee_fen: int
    billing: str
    channel: str
    channel_label: str
    started_at: datetime
    ended_at: datetime


def unsubscribe(
    session: Session,
    *,
    subscriber_id: int,
    service_code: str,
    at: datetime,
    conversation_id: Optional[str],
    sms: SmsGateway,
) -> UnsubscribeResult:
    """Ends the subscriber's running subscription to a service, in the caller's transaction.

    Every subscription to the service running at ``at`` gets ``ended_at = at`` (normally
    there is one), each is audited (``subscription.cancelled``), and a confirmation SMS
    (``【退订成功】您已退订…``) goes through ``sms``. Charges already made are not touched;
    refunds go through :func:`bot.billing.charges.open_dispute`.

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        service_code: catalogue code of the service.
        at: when (aware).
        conversation_id: the conversation asking for it, for the audit log.
        sms: the gateway the confirmation goes through.

    Returns:
        The subscription that was ended.

    Raises:
        UnknownService: unknown ``service_code``.
        UnknownSubscriber: no subscriber has this id.
        NotSubscribed: no subscription to the service is running at ``at``.
        SmsGatewayError: the confirmation could not be sent (the caller must roll back).
        ValueError: ``at`` is naive.
    """
    check_aware(at)
    service = service_row(session, service_code)
    subscriber = subscriber_row(session, subscriber_id, lock=True)
    running = session.scalars(
        select(Subscription)
        .where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.service_id == service.id,
            *running_at(at),
        )
        .order_by(Subscription.started_at, Subscription.id)
        .with_for_update()
    ).all()
    if not running:
        raise NotSubscribed(service.code, service.name)

    for sub in running:
        sub.ended_at = at
    session.flush()
    for sub in running:
        audit.record(
            session,
            at=at,
            actor=actor(subscriber.id),
            action="subscription.cancelled",
            subscriber_id=subscriber.id,
            entity="subscription",
            entity_id=sub.id,
            conversation_id=conversation_id,
            details={
                "service_code": service.code,
                "channel": sub.channel,
                "started_at": sub.started_at.isoformat(),
                "ended_at": at.isoformat(),
            },
        )
    newest = running[-1]
    sms.send(
        session,
        phone=subscriber.phone,
        body=texts.unsubscribed_sms(service.name, service.monthly_fee_fen, service.billing, at),
        kind=SMS_KIND_UNSUBSCRIBED,
        subscriber_id=subscriber.id,
        at=at,
    )
    session.flush()
    return UnsubscribeResult(
        subscriber_id=subscriber.id,
        subscription_id=newest.id,
        service_code=service.code,
        service_name=service.name,
        fee_fen=service.monthly_fee_fen,
        billing=service.billing,
        channel=newest.channel,
        channel_label=CHANNEL_LABELS.get(newest.channel, newest.channel),
        started_at=newest.started_at,
        ended_at=at,
    )
