"""The nightly job: carry out every closure request whose effective moment has come."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.closure.rules import check_aware
from bot.billing.closure.settlement import complete_one
from bot.billing.closure.views import ClosureCompletion
from bot.billing.models import ClosureRequest
from bot.notifications.sms import SmsGateway


def complete_due_closures(session: Session, now: datetime, sms: SmsGateway) -> list[ClosureCompletion]:
    """Carries out every pending request whose ``effective_at`` has come (the nightly job).

    For each, in ``effective_at`` order, with the subscriber row locked: arrears, open
    disputes and a fee beyond the balance are checked again (the number was in use during the
    cooling-off). If one applies the request is *held*: nothing is written, it stays pending and
    the account ``closing``, and the next run tries again. Otherwise: every running
    subscription ends at ``now``; the agreed fee is charged (kind ``other``, 提前解约违约金); the
    positive balance left is paid out as a charge of kind ``other`` (销户退还余额…), so the balance
    is 0 and ``balance == payments - charges`` still holds; the open bills are closed and
    settled; the request becomes ``completed`` with the refund actually paid; the subscriber
    becomes ``closed``; ``closure.completed`` is audited (actor ``system``, the request's
    conversation id); the SMS 【销户完成】 is sent.

    Everything happens in the caller's transaction: an SMS failure raises and rolls back the
    whole run (run it again later).

    Args:
        session: the caller's unit of work.
        now: the moment of the run (aware).
        sms: the gateway that sends the notices.

    Returns:
        One entry per due request: completed or held (with its blockers).

    Raises:
        SmsGatewayError: a notice could not be sent (the caller's transaction must roll back).
        ValueError: ``now`` is naive.
    """
    check_aware(now, "now")
    due = session.execute(
        select(ClosureRequest.id, ClosureRequest.subscriber_id)
        .where(ClosureRequest.status == "pending", ClosureRequest.effective_at <= now)
        .order_by(ClosureRequest.effective_at, ClosureRequest.id)
    ).all()
    results: list[ClosureCompletion] = []
    for request_id, subscriber_id in due:
        outcome = complete_one(session, request_id, subscriber_id, now, sms)
        if outcome is not None:
            results.append(outcome)
    return results
