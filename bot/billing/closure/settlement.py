"""Carrying out one due closure request: the settlement of the account and the closure itself.

The settlement goes through the ledger (:mod:`bot.billing.ledger`) like every other charge: the
early-termination fee and the refund of what is left of the balance are charges of kind
``other`` (purposes ``termination_fee`` and ``refund``), so the balance, the bill of the period
and the ``charge.posted`` audit entries follow the same rules as the billing feed's, the balance
ends at 0 and, with payments equal to charges, every bill closes ``paid``.

Each settlement charge is published (``ChargePosted`` with its ``purpose``) like any other. The
alert engine, by design, fires nothing on them (see ``bot.alerts.engine.on_charge_posted``): the
【销户完成】 SMS sent here tells the fee and the refund, and a deduction or balance alert ("余额
0.00 元，请及时充值") to a number being closed would be noise. Ordinary charges during the
cooling-off period still fire alerts: the number works normally until the closure.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing import ledger
from bot.billing.closure.checks import money_blockers, refund_channel
from bot.billing.closure.rules import NUMBER_QUARANTINE_DAYS
from bot.billing.closure.state import locked_subscriber
from bot.billing.closure.views import ClosureCompletion
from bot.billing.models import Charge, ClosureRequest, Subscription
from bot.notifications.sms import SmsGateway
from bot.notifications.wechat_bindings import unbind_subscriber
from bot.texts import closure as texts

logger = logging.getLogger("bot.billing.closure")


def _end_subscriptions(session: Session, subscriber_id: int, at: datetime) -> list[str]:
    """Ends every subscription running at ``at`` (or starting later); returns the service names."""
    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.subscriber_id == subscriber_id,
            or_(Subscription.ended_at.is_(None), Subscription.ended_at > at),
        )
        .order_by(Subscription.started_at, Subscription.id)
    ).all()
    names: list[str] = []
    for row in rows:
        row.ended_at = max(at, row.started_at)
        names.append(row.service.name)
    return names


def complete_one(
    session: Session, request_id: int, subscriber_id: int, now: datetime, sms: SmsGateway
) -> Optional[ClosureCompletion]:
    subscriber = locked_subscriber(session, subscriber_id)
    request = session.scalars(
        select(ClosureRequest)
        .where(ClosureRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if request.status != "pending" or request.effective_at > now:
        return None  # another run got there first

    fee = int(request.termination_fee_fen or 0)
    blockers, _, _ = money_blockers(session, subscriber, fee)
    if blockers:
        logger.warning("closure request %s held back: %s", request.id, ", ".join(b.code for b in blockers))
        return ClosureCompletion(
            request_id=request.id,
            subscriber_id=subscriber.id,
            phone=subscriber.phone,
            completed=False,
            blockers=tuple(blockers),
            termination_fee_fen=0,
            refund_fen=0,
            refund_channel=None,
            services_cancelled=(),
            at=now,
        )

    conversation_id = request.conversation_id
    services = _end_subscriptions(session, subscriber.id, now)
    fee_charge: Optional[Charge] = None
    if fee > 0:
        fee_charge = ledger.write_charge(
            session,
            subscriber,
            amount_fen=fee,
            item_kind="other",
            description=texts.termination_fee_line(subscriber.contract_end),
            at=now,
            actor="system",
            purpose="termination_fee",
            conversation_id=conversation_id,
            sms=sms,
        ).charge
    refund = max(0, int(subscriber.balance_fen))
    channel: Optional[str] = None
    refund_charge: Optional[Charge] = None
    if refund > 0:
        channel = refund_channel(session, subscriber.id)
        refund_charge = ledger.write_charge(
            session,
            subscriber,
            amount_fen=refund,
            item_kind="other",
            description=texts.refund_line(channel),
            at=now,
            actor="system",
            purpose="refund",
            conversation_id=conversation_id,
            sms=sms,
        ).charge
    bills_closed = ledger.close_open_bills(session, subscriber.id, at=now)

    request.status = "completed"
    request.refund_fen = refund
    subscriber.status = "closed"
    session.flush()
    unbind_subscriber(
        session, subscriber.id, at=now, actor="system", reason="closure", conversation_id=conversation_id
    )
    audit.record(
        session,
        at=now,
        actor="system",
        action="closure.completed",
        subscriber_id=subscriber.id,
        entity="closure_request",
        entity_id=request.id,
        conversation_id=conversation_id,
        details={
            "effective_at": request.effective_at.isoformat(),
            "termination_fee_fen": fee,
            "refund_fen": refund,
            "refund_method": channel,
            "fee_charge_id": fee_charge.id if fee_charge is not None else None,
            "refund_charge_id": refund_charge.id if refund_charge is not None else None,
            "services_ended": services,
            "bills_closed": bills_closed,
            "balance_fen": subscriber.balance_fen,
        },
    )

    body = texts.completion_sms(
        effective_at=request.effective_at,
        at=now,
        fee_fen=fee,
        refund_fen=refund,
        refund_channel=channel,
        service_names=services,
        quarantine_days=NUMBER_QUARANTINE_DAYS,
    )
    sms.send(
        session,
        phone=subscriber.phone,
        body=body,
        kind="closure",
        subscriber_id=subscriber.id,
        at=now,
    )
    session.flush()
    return ClosureCompletion(
        request_id=request.id,
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        completed=True,
        blockers=(),
        termination_fee_fen=fee,
        refund_fen=refund,
        refund_channel=channel,
        services_cancelled=tuple(services),
        at=now,
    )
