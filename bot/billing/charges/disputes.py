"""Refund disputes (退费申请): some of a subscriber's charges under one ticket, audited, confirmed by SMS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing.charges.records import actor, check_aware, subscriber_row
from bot.billing.charges.tickets import next_ticket_no
from bot.billing.errors import BillingError
from bot.billing.models import Charge, Dispute, DisputeCharge
from bot.notifications.sms import SmsGateway
from bot.texts import charges as texts

#: Outbox kind of the confirmation.
SMS_KIND_DISPUTE = "dispute"


class UnknownCharge(BillingError):
    """Charges that do not exist or do not belong to the subscriber (the two are not told apart).

    Attributes:
        charge_ids: the ids that were refused.
    """

    def __init__(self, charge_ids: Sequence[int]) -> None:
        self.charge_ids = tuple(charge_ids)
        super().__init__(texts.unknown_charges(self.charge_ids))


@dataclass(frozen=True)
class DisputeResult:
    """A refund dispute that was opened, or the one that already held the charges.

    Attributes:
        ticket_no: e.g. ``TS202611220001``.
        amount_fen: the dispute's amount (the sum of its charges, from the store).
        charge_ids: the charges in this dispute, ascending.
        created: ``False`` when every charge asked for was already disputed and this is the
            existing dispute (nothing was written, no SMS sent).
        status: the dispute's status (``open`` for a new one).
        skipped_charge_ids: charges asked for that are not in this dispute because another
            dispute already holds them, ascending.
    """

    ticket_no: str
    amount_fen: int
    charge_ids: tuple[int, ...]
    created: bool
    status: str = "open"
    skipped_charge_ids: tuple[int, ...] = ()


def _charge_ids(charge_ids: Iterable[int]) -> tuple[int, ...]:
    ids: list[int] = []
    for charge_id in charge_ids:
        if isinstance(charge_id, bool) or not isinstance(charge_id, int):
            raise ValueError(f"charge ids must be ints, not {charge_id!r}")
        if charge_id not in ids:
            ids.append(charge_id)
    if not ids:
        raise ValueError("no charge to dispute")
    return tuple(ids)


def open_dispute(
    session: Session,
    *,
    subscriber_id: int,
    charge_ids: Iterable[int],
    reason: str,
    at: datetime,
    conversation_id: Optional[str],
    sms: SmsGateway,
) -> DisputeResult:
    """Opens a refund dispute (退费申请) for some of the subscriber's charges.

    The amount is the sum of the charges as stored, never a figure from the caller. A charge
    is disputed at most once: charges some dispute already holds are left out. When all of
    them are held already, nothing is written and the existing dispute comes back with
    ``created=False`` (the newest one, if they are spread over several), so asking twice opens
    one dispute. Otherwise the dispute gets a ticket number ``TS`` + local date + a 4-digit
    daily sequence, is audited (``dispute.opened``) and confirmed by SMS
    (``【退费申请】工单号…``).

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        charge_ids: the charges to dispute (duplicates are ignored).
        reason: why, in words (stored with the dispute).
        at: when (aware).
        conversation_id: the conversation asking for it, for the audit log.
        sms: the gateway the confirmation goes through.

    Returns:
        The new dispute, or the existing one (``created=False``).

    Raises:
        UnknownSubscriber: no subscriber has this id.
        UnknownCharge: a charge does not exist or belongs to someone else (nothing is written).
        SmsGatewayError: the confirmation could not be sent (the caller must roll back).
        ValueError: ``at`` is naive, no charge id, a charge id is not an int, or no reason.
    """
    check_aware(at)
    ids = _charge_ids(charge_ids)
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValueError("a dispute needs a reason")
    subscriber = subscriber_row(session, subscriber_id, lock=True)

    amounts = dict(
        session.execute(
            select(Charge.id, Charge.amount_fen).where(
                Charge.id.in_(ids), Charge.subscriber_id == subscriber.id
            )
        ).all()
    )
    missing = [i for i in ids if i not in amounts]
    if missing:
        raise UnknownCharge(missing)
    held = dict(
        session.execute(
            select(DisputeCharge.charge_id, DisputeCharge.dispute_id).where(DisputeCharge.charge_id.in_(ids))
        ).all()
    )
    new = tuple(sorted(i for i in ids if i not in held))

    if not new:
        existing = session.get(Dispute, max(held.values()))
        assert existing is not None  # the foreign key guarantees it
        its = tuple(
            sorted(
                session.scalars(
                    select(DisputeCharge.charge_id).where(DisputeCharge.dispute_id == existing.id)
                )
            )
        )
        return DisputeResult(
            ticket_no=existing.ticket_no,
            amount_fen=existing.amount_fen,
            charge_ids=its,
            created=False,
            status=existing.status,
            skipped_charge_ids=tuple(sorted(i for i in ids if held[i] != existing.id)),
        )

    amount = sum(int(amounts[i]) for i in new)
    skipped = tuple(sorted(held))
    dispute = Dispute(
        ticket_no=next_ticket_no(session, at),
        subscriber_id=subscriber.id,
        status="open",
        reason=text,
        amount_fen=amount,
        created_at=at,
        conversation_id=conversation_id,
    )
    session.add(dispute)
    session.flush()
    for charge_id in new:
        session.add(DisputeCharge(dispute_id=dispute.id, charge_id=charge_id))
    session.flush()
    audit.record(
        session,
        at=at,
        actor=actor(subscriber.id),
        action="dispute.opened",
        subscriber_id=subscriber.id,
        entity="dispute",
        entity_id=dispute.id,
        conversation_id=conversation_id,
        details={
            "ticket_no": dispute.ticket_no,
            "amount_fen": amount,
            "charge_ids": list(new),
            "skipped_charge_ids": list(skipped),
            "reason": text,
        },
    )
    sms.send(
        session,
        phone=subscriber.phone,
        body=texts.dispute_sms(dispute.ticket_no, amount),
        kind=SMS_KIND_DISPUTE,
        subscriber_id=subscriber.id,
        at=at,
    )
    session.flush()
    return DisputeResult(
        ticket_no=dispute.ticket_no,
        amount_fen=amount,
        charge_ids=new,
        created=True,
        status="open",
        skipped_charge_ids=skipped,
    )
