"""Whether an account can be closed: the blockers, the contract and fee, the refund and its channel."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.blockers import Blocker
from bot.billing.closure.rules import HALL_REFUND, REFUND_CHANNELS, check_aware, closure_effective_at
from bot.billing.closure.state import pending_request
from bot.billing.closure.views import ClosureCheck, ContractInfo, request_view
from bot.billing.errors import UnknownSubscriber
from bot.billing.ledger import unpaid_bills_fen
from bot.billing.models import Dispute, Payment, Subscriber
from bot.billing.queries import active_subscriptions
from bot.clock import to_local


def open_disputes(session: Session, subscriber_id: int) -> list[Dispute]:
    return list(
        session.scalars(
            select(Dispute)
            .where(Dispute.subscriber_id == subscriber_id, Dispute.status == "open")
            .order_by(Dispute.created_at, Dispute.id)
        )
    )


def refund_channel(session: Session, subscriber_id: int) -> str:
    """The method of the most recent top-up if it can be refunded the same way, else ``hall``."""
    method = session.scalar(
        select(Payment.method)
        .where(Payment.subscriber_id == subscriber_id, Payment.method != "refund")
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
        .limit(1)
    )
    return method if method in REFUND_CHANNELS else HALL_REFUND


def money_blockers(
    session: Session, subscriber: Subscriber, termination_fee_fen: int
) -> tuple[list[Blocker], int, int]:
    """Blockers about money and disputes; also the arrears and the fee still due."""
    blockers: list[Blocker] = []
    balance = int(subscriber.balance_fen)
    arrears = max(unpaid_bills_fen(session, subscriber.id), -balance, 0)
    if arrears > 0:
        blockers.append(Blocker(code="arrears", amount_fen=arrears))
    disputes = open_disputes(session, subscriber.id)
    if disputes:
        blockers.append(
            Blocker(
                code="open_disputes",
                amount_fen=sum(d.amount_fen for d in disputes),
                count=len(disputes),
                ticket_nos=tuple(d.ticket_no for d in disputes),
            )
        )
    fee_due = max(0, termination_fee_fen - max(balance, 0))
    if fee_due > 0:
        blockers.append(
            Blocker(
                code="fee_exceeds_balance",
                amount_fen=fee_due,
                fee_fen=termination_fee_fen,
                balance_fen=max(balance, 0),
            )
        )
    return blockers, arrears, fee_due


def contract_info(subscriber: Subscriber, effective_at: datetime) -> Optional[ContractInfo]:
    if subscriber.contract_end is None:
        return None
    return ContractInfo(
        end=subscriber.contract_end,
        early_termination_fee_fen=int(subscriber.early_termination_fee_fen or 0),
        in_contract=to_local(effective_at).date() <= subscriber.contract_end,
    )


def build_check(session: Session, subscriber: Subscriber, now: datetime) -> ClosureCheck:
    effective_at = closure_effective_at(now)
    contract = contract_info(subscriber, effective_at)
    fee = contract.termination_fee_fen if contract is not None else 0
    pending = pending_request(session, subscriber.id)
    if subscriber.status == "closed":
        blockers = [Blocker(code="already_closed")]
        arrears = max(unpaid_bills_fen(session, subscriber.id), -int(subscriber.balance_fen), 0)
        fee_due = 0
        fee = 0
    else:
        blockers, arrears, fee_due = money_blockers(session, subscriber, fee)
    balance = int(subscriber.balance_fen)
    refund = max(0, balance - fee) if subscriber.status != "closed" else 0
    channel = refund_channel(session, subscriber.id) if refund > 0 else None
    return ClosureCheck(
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        status=subscriber.status,
        balance_fen=balance,
        arrears_fen=arrears,
        blockers=tuple(blockers),
        pending=request_view(pending) if pending is not None else None,
        contract=contract,
        termination_fee_fen=fee,
        services_to_cancel=active_subscriptions(session, subscriber.id, now)
        if subscriber.status != "closed"
        else (),
        refund_fen=refund,
        fee_due_fen=fee_due,
        refund_channel=channel,
        effective_at=effective_at,
        checked_at=now,
    )


def check_closure(session: Session, subscriber_id: int, now: datetime) -> ClosureCheck:
    """Whether the account can be closed now, and what closing it would mean. Writes nothing.

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        now: the current moment (aware); it decides the effective date and the services listed.

    Returns:
        The blockers, the pending request, the contract and fee, the services to cancel, the
        refund and its method, and the effective date.

    Raises:
        UnknownSubscriber: no subscriber has this id.
        ValueError: ``now`` is naive.
    """
    check_aware(now, "now")
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise UnknownSubscriber(subscriber_id)
    return build_check(session, subscriber, now)
