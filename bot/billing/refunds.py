"""The refund a subscriber asks for after the charges were explained: one use case, one transaction.

"退订并申请退费" (or "钱退给我"): every flagged charge of the periods not yet disputed goes into one
dispute, and every service with flagged charges still running is unsubscribed first; naming a
service ("彩铃的钱退给我") narrows both to that service. The caller's transaction holds it all, so a
failing SMS confirmation (``SmsGatewayError``) rolls back the unsubscriptions and the dispute
together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot.billing.charges import explain_charges, open_dispute, unsubscribe
from bot.notifications.sms import SmsGateway
from bot.texts import charges as texts

#: What became of a refund request: a new dispute, one already open for those charges, or nothing
#: to refund (no flagged charge in the periods).
OPENED, EXISTS, NOTHING = "opened", "exists", "nothing"


@dataclass(frozen=True)
class RefundOutcome:
    """The answer to :func:`refund_flagged_charges`.

    Attributes:
        kind: :data:`OPENED`, :data:`EXISTS` or :data:`NOTHING`.
        ticket_no: the dispute's ticket number (None for :data:`NOTHING`).
        amount_fen: the dispute's amount (0 for :data:`NOTHING`).
        unsubscribed: the names of the services ended now, in the report's order.
    """

    kind: str
    ticket_no: Optional[str] = None
    amount_fen: int = 0
    unsubscribed: tuple[str, ...] = ()


def refund_flagged_charges(
    session: Session,
    *,
    subscriber_id: int,
    periods: Iterable[str],
    at: datetime,
    conversation_id: Optional[str],
    sms: SmsGateway,
    service_code: Optional[str] = None,
) -> RefundOutcome:
    """Unsubscribes the flagged services still running and disputes the flagged charges.

    Args:
        session: the caller's unit of work.
        subscriber_id: the verified subscriber.
        periods: ``YYYY-MM`` periods whose flagged charges are disputed.
        at: when (aware).
        conversation_id: the conversation asking, for the audit log.
        sms: the gateway the confirmations go through.
        service_code: only this service's charges and subscription, when the subscriber named one.

    Returns:
        What was done; a second request for the same charges opens nothing new (:data:`EXISTS`).

    Raises:
        SmsGatewayError: a confirmation could not be sent (the caller must roll back).
        InvalidPeriod, UnknownSubscriber, ValueError: as :func:`bot.billing.charges.explain_charges`.
    """
    report = explain_charges(session, subscriber_id, tuple(periods), at)
    if service_code:
        report = report.for_service(service_code)
    if not report.refundable_charge_ids:
        disputed = [c for c in report.flagged_charges if c.dispute_ticket_no]
        if not disputed:
            return RefundOutcome(NOTHING)
        ticket = disputed[0].dispute_ticket_no
        amount = sum(c.amount_fen for c in disputed if c.dispute_ticket_no == ticket)
        return RefundOutcome(EXISTS, ticket_no=ticket, amount_fen=amount)
    stopped = [
        unsubscribe(
            session,
            subscriber_id=subscriber_id,
            service_code=service.service_code,
            at=at,
            conversation_id=conversation_id,
            sms=sms,
        ).service_name
        for service in report.active_flagged_services
    ]
    reason = texts.dispute_reason(
        (flag.service_name, flag.explanation) for c in report.flagged_charges for flag in c.flags
    )
    dispute = open_dispute(
        session,
        subscriber_id=subscriber_id,
        charge_ids=report.refundable_charge_ids,
        reason=reason[:500],
        at=at,
        conversation_id=conversation_id,
        sms=sms,
    )
    return RefundOutcome(
        OPENED if dispute.created else EXISTS,
        ticket_no=dispute.ticket_no,
        amount_fen=dispute.amount_fen,
        unsubscribed=tuple(stopped),
    )
