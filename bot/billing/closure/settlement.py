"""Carrying out one due closure request: the settlement of the account and the closure itself."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing.closure.checks import money_blockers, refund_channel
from bot.billing.closure.rules import NUMBER_QUARANTINE_DAYS
from bot.billing.closure.state import locked_subscriber
from bot.billing.closure.views import ClosureCompletion
from bot.billing.ledger import settle_bills
from bot.billing.models import Bill, Charge, ClosureRequest, Subscriber, Subscription
from bot.billing.queries import period_spend_fen
from bot.clock import local_period
from bot.notifications.sms import SmsGateway
from bot.notifications.wechat_bindings import unbind_subscriber
from bot.texts import closure as texts

logger = logging.getLogger("bot.billing.closure")


def _settlement_charge(
    session: Session,
    subscriber: Subscriber,
    *,
    amount_fen: int,
    description: str,
    purpose: str,
    at: datetime,
    conversation_id: Optional[str],
) -> Charge:
    """Writes one settlement charge (kind ``other``), lowers the balance, audits ``charge.posted``."""
    charge = Charge(
        subscriber_id=subscriber.id,
        charged_at=at,
        item_kind="other",
        amount_fen=amount_fen,
        bill_period=local_period(at),
        description=description,
    )
    session.add(charge)
    subscriber.balance_fen = Subscriber.balance_fen - amount_fen
    session.flush()
    session.refresh(subscriber, ["balance_fen"])
    audit.record(
        session,
        at=at,
        actor="system",
        action="charge.posted",
        subscriber_id=subscriber.id,
        entity="charge",
        entity_id=charge.id,
        conversation_id=conversation_id,
        details={
            "amount_fen": amount_fen,
            "item_kind": "other",
            "purpose": purpose,
            "bill_period": charge.bill_period,
            "balance_fen": subscriber.balance_fen,
        },
    )
    return charge


def _close_final_bills(session: Session, subscriber_id: int, at: datetime) -> list[str]:
    """Brings the period's bill up to date, closes every open bill and settles them (FIFO)."""
    session.flush()
    period = local_period(at)
    bill = session.scalars(
        select(Bill).where(Bill.subscriber_id == subscriber_id, Bill.period == period)
    ).one_or_none()
    total = period_spend_fen(session, subscriber_id, period)
    if bill is None and total > 0:
        session.add(Bill(subscriber_id=subscriber_id, period=period, total_fen=total, status="open"))
    elif bill is not None:
        bill.total_fen = total
    session.flush()
    closed: list[str] = []
    for open_bill in session.scalars(
        select(Bill).where(Bill.subscriber_id == subscriber_id, Bill.status == "open").order_by(Bill.period)
    ):
        open_bill.status = "unpaid"
        if open_bill.issued_at is None:
            open_bill.issued_at = at
        closed.append(open_bill.period)
    settle_bills(session, subscriber_id)
    return closed


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
        fee_charge = _settlement_charge(
            session,
            subscriber,
            amount_fen=fee,
            description=texts.termination_fee_line(subscriber.contract_end),
            purpose="termination_fee",
            at=now,
            conversation_id=conversation_id,
        )
    refund = max(0, int(subscriber.balance_fen))
    channel: Optional[str] = None
    refund_charge: Optional[Charge] = None
    if refund > 0:
        channel = refund_channel(session, subscriber.id)
        refund_charge = _settlement_charge(
            session,
            subscriber,
            amount_fen=refund,
            description=texts.refund_line(channel),
            purpose="refund",
            at=now,
            conversation_id=conversation_id,
        )
    bills_closed = _close_final_bills(session, subscriber.id, now)

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
