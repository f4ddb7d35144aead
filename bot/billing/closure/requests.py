"""Asking for a closure (销户申请) and withdrawing it before it takes effect (撤销销户)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy.orm import Session

from bot import audit
from bot.billing.closure.checks import build_check, refund_channel
from bot.billing.closure.rules import (
    NUMBER_QUARANTINE_DAYS,
    RESTORABLE_STATUSES,
    check_aware,
    subscriber_actor,
)
from bot.billing.closure.state import locked_subscriber, pending_request, previous_status
from bot.billing.closure.views import ClosureCancelResult, ClosureResult, request_view
from bot.billing.errors import ClosureAlreadyEffective, ClosureBlocked, ConsentRequired, NoPendingClosure
from bot.billing.models import ClosureRequest
from bot.billing.queries import active_subscriptions
from bot.notifications.sms import SmsGateway
from bot.texts import closure as texts


def request_closure(
    session: Session,
    *,
    subscriber_id: int,
    consent_to_fee: bool,
    at: datetime,
    conversation_id: Optional[str],
    sms: SmsGateway,
) -> ClosureResult:
    """Makes a closure request (销户申请) that takes effect after the cooling-off period.

    The subscriber row is locked first, then everything is checked again in this transaction.
    If a pending request exists it is returned as it is (``created=False``) and nothing is
    written, so asking twice makes one request. Otherwise a pending request is written with the
    expected refund and the agreed fee, the subscriber becomes ``closing``, an audit entry
    ``closure.requested`` is added (with the previous status, which a withdrawal restores) and,
    last, the SMS 【销户申请】 is sent.

    Args:
        session: the caller's unit of work.
        subscriber_id: whose account (the caller has verified the identity).
        consent_to_fee: whether the subscriber explicitly agreed to pay the early-termination
            fee; needed only when a fee applies.
        at: the moment of the request (aware).
        conversation_id: the conversation it is made in, for the request and the audit log.
        sms: the gateway that sends the confirmation.

    Returns:
        The request, whether it was created now, the services that will end and the refund
        method.

    Raises:
        UnknownSubscriber: no subscriber has this id.
        ClosureBlocked: arrears, open disputes, a fee beyond the balance, or already closed.
        ConsentRequired: a fee applies and ``consent_to_fee`` is false (a ``ClosureBlocked``).
        SmsGatewayError: the SMS could not be sent (the caller's transaction must roll back).
        ValueError: ``at`` is naive.
    """
    check_aware(at, "at")
    subscriber = locked_subscriber(session, subscriber_id)
    existing = pending_request(session, subscriber.id, lock=True)
    if existing is not None:
        services = active_subscriptions(session, subscriber.id, at)
        channel = refund_channel(session, subscriber.id) if existing.refund_fen > 0 else None
        return ClosureResult(
            request=request_view(existing),
            created=False,
            services_to_cancel=services,
            refund_channel=channel,
        )

    check = build_check(session, subscriber, at)
    if check.blockers:
        raise ClosureBlocked(check.blockers)
    if check.termination_fee_fen > 0 and not consent_to_fee:
        raise ConsentRequired(check.termination_fee_fen, check.contract.end if check.contract else None)

    status_before = subscriber.status if subscriber.status in RESTORABLE_STATUSES else "active"
    request = ClosureRequest(
        subscriber_id=subscriber.id,
        status="pending",
        requested_at=at,
        effective_at=check.effective_at,
        refund_fen=check.refund_fen,
        termination_fee_fen=check.termination_fee_fen,
        conversation_id=conversation_id,
    )
    session.add(request)
    subscriber.status = "closing"
    session.flush()

    audit.record(
        session,
        at=at,
        actor=subscriber_actor(subscriber.id),
        action="closure.requested",
        subscriber_id=subscriber.id,
        entity="closure_request",
        entity_id=request.id,
        conversation_id=conversation_id,
        details={
            "previous_status": status_before,
            "effective_at": check.effective_at.isoformat(),
            "refund_fen": check.refund_fen,
            "termination_fee_fen": check.termination_fee_fen,
            "consent_to_fee": bool(consent_to_fee) if check.termination_fee_fen > 0 else None,
            "refund_method": check.refund_channel,
            "services": [s.service_code for s in check.services_to_cancel],
        },
    )

    body = texts.request_sms(
        effective_at=check.effective_at,
        at=at,
        fee_fen=check.termination_fee_fen,
        contract_end=check.contract.end if check.contract is not None else None,
        service_names=[s.service_name for s in check.services_to_cancel],
        refund_fen=check.refund_fen,
        refund_channel=check.refund_channel,
        quarantine_days=NUMBER_QUARANTINE_DAYS,
    )
    sms.send(
        session,
        phone=subscriber.phone,
        body=body,
        kind="closure",
        subscriber_id=subscriber.id,
        at=at,
    )
    session.flush()
    return ClosureResult(
        request=request_view(request),
        created=True,
        services_to_cancel=check.services_to_cancel,
        refund_channel=check.refund_channel,
    )


def cancel_closure(
    session: Session,
    *,
    subscriber_id: int,
    at: datetime,
    conversation_id: Optional[str],
    sms: SmsGateway,
) -> ClosureCancelResult:
    """Withdraws the pending closure request before it takes effect (撤销销户).

    The request becomes ``cancelled``, the subscriber gets back the status it had before the
    request (``active`` normally, ``suspended`` if it was), an audit entry ``closure.cancelled``
    is added and, last, the SMS 【销户撤销】 is sent.

    Args:
        session: the caller's unit of work.
        subscriber_id: whose account.
        at: the moment of the withdrawal (aware); must be before the request's ``effective_at``.
        conversation_id: the conversation it is made in, for the audit log.
        sms: the gateway that sends the confirmation.

    Returns:
        The cancelled request and the restored status.

    Raises:
        UnknownSubscriber: no subscriber has this id.
        NoPendingClosure: there is no pending request.
        ClosureAlreadyEffective: the request has taken effect already (a ``NoPendingClosure``).
        SmsGatewayError: the SMS could not be sent (the caller's transaction must roll back).
        ValueError: ``at`` is naive.
    """
    check_aware(at, "at")
    subscriber = locked_subscriber(session, subscriber_id)
    request = pending_request(session, subscriber.id, lock=True)
    if request is None:
        raise NoPendingClosure(subscriber.id)
    if at >= request.effective_at:
        raise ClosureAlreadyEffective(subscriber.id, request.effective_at)

    restored = previous_status(session, request)
    request.status = "cancelled"
    request.cancelled_at = at
    if subscriber.status == "closing":
        subscriber.status = restored
    session.flush()
    audit.record(
        session,
        at=at,
        actor=subscriber_actor(subscriber.id),
        action="closure.cancelled",
        subscriber_id=subscriber.id,
        entity="closure_request",
        entity_id=request.id,
        conversation_id=conversation_id,
        details={"restored_status": subscriber.status, "effective_at": request.effective_at.isoformat()},
    )
    sms.send(
        session,
        phone=subscriber.phone,
        body=texts.cancel_sms(request.effective_at, at),
        kind="closure",
        subscriber_id=subscriber.id,
        at=at,
    )
    session.flush()
    return ClosureCancelResult(request=request_view(request), restored_status=subscriber.status)
