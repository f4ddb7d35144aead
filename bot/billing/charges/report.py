"""Explaining the deductions of some bill periods (不明扣费): what each is and what looks wrong.

:func:`explain_charges` reads every charge of the periods with its service and subscription, flags
the suspicious ones (:mod:`bot.billing.charges.flags`), and says which are refundable and which
flagged services are still running. Money is integer fen; times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.billing.charges.flags import FLAG_CODES, ChargeFlag, flags_of
from bot.billing.charges.records import check_aware, is_running, subscriber_row
from bot.billing.models import Charge, Dispute, DisputeCharge, Subscription
from bot.billing.periods import InvalidPeriod, parse_period
from bot.clock import to_local
from bot.texts import charges as texts
from bot.texts.labels import CHANNEL_LABELS, CHARGE_KIND_LABELS


@dataclass(frozen=True)
class ExplainedCharge:
    """One deduction and what it is.

    The service fields are ``None`` for charges without a service (plan fee, usage); the
    subscription fields are ``None`` when no subscription of the service is known.

    Attributes:
        charge_id: the charge's id.
        charged_at: when (aware UTC).
        bill_period: ``YYYY-MM``.
        item_kind: one of ``bot.billing.models.CHARGE_KINDS``.
        item_kind_label: the kind in Chinese, e.g. ``增值业务``.
        amount_fen: amount, fen.
        description: the bill line.
        service_code: catalogue code of the service charged for.
        service_name: its name, e.g. ``视频彩铃``.
        service_description: what the service is (catalogue text).
        published_fee_fen: the published monthly fee, or price per use for ``per_use``.
        provider: who provides the service.
        billing: ``monthly`` or ``per_use``.
        subscription_id: the subscription the charge is for.
        channel: how that subscription was opened (``app``, ``sms_marketing``, ...).
        channel_label: the channel in Chinese, e.g. ``短信营销链接``.
        opened_at: when the subscription was opened (aware UTC).
        subscription_ended_at: when it ended or will end, if set.
        last_used_at: when the service was last used; ``None`` if never.
        flags: why the charge looks wrong; empty when nothing does.
        dispute_ticket_no: the dispute that already holds this charge, if any.
        dispute_status: that dispute's status (``open``, ``refunded``, ``rejected``).
    """

    charge_id: int
    charged_at: datetime
    bill_period: str
    item_kind: str
    item_kind_label: str
    amount_fen: int
    description: str
    service_code: Optional[str]
    service_name: Optional[str]
    service_description: Optional[str]
    published_fee_fen: Optional[int]
    provider: Optional[str]
    billing: Optional[str]
    subscription_id: Optional[int]
    channel: Optional[str]
    channel_label: Optional[str]
    opened_at: Optional[datetime]
    subscription_ended_at: Optional[datetime]
    last_used_at: Optional[datetime]
    flags: tuple[ChargeFlag, ...]
    dispute_ticket_no: Optional[str]
    dispute_status: Optional[str]

    @property
    def billing_label(self) -> Optional[str]:
        """``包月`` or ``按次`` (``bot.texts.charges.BILLING_LABELS``); ``None`` without a service."""
        return texts.billing_label(self.billing) if self.billing is not None else None

    @property
    def flag_codes(self) -> tuple[str, ...]:
        """The reason codes of :attr:`flags`."""
        return tuple(f.code for f in self.flags)

    @property
    def flagged(self) -> bool:
        """Whether anything about the charge looks wrong."""
        return bool(self.flags)

    @property
    def disputed(self) -> bool:
        """Whether a dispute already holds the charge."""
        return self.dispute_ticket_no is not None

    @property
    def refundable(self) -> bool:
        """Flagged and not yet in a dispute: a refund can be asked for."""
        return self.flagged and not self.disputed


@dataclass(frozen=True)
class FlaggedService:
    """A service with flagged charges that is still running: a candidate for unsubscribing.

    Attributes:
        service_code: catalogue code.
        service_name: e.g. ``视频彩铃``.
        subscription_id: the running subscription.
        fee_fen: published monthly fee (or price per use), fen.
        billing: ``monthly`` or ``per_use``.
        channel: how the running subscription was opened.
        channel_label: the channel in Chinese.
        opened_at: when it was opened (aware UTC).
        last_used_at: when it was last used; ``None`` if never.
        flag_codes: the reason codes of its flagged charges in the report, in ``FLAG_CODES`` order.
        flagged_total_fen: the sum of its flagged charges in the report.
        refundable_charge_ids: its flagged charges not yet in a dispute, newest first.
    """

    service_code: str
    service_name: str
    subscription_id: int
    fee_fen: int
    billing: str
    channel: str
    channel_label: str
    opened_at: datetime
    last_used_at: Optional[datetime]
    flag_codes: tuple[str, ...]
    flagged_total_fen: int
    refundable_charge_ids: tuple[int, ...]


@dataclass(frozen=True)
class ChargeReport:
    """The deductions of some bill periods, explained.

    Attributes:
        subscriber_id: whose account.
        periods: the periods asked for, as given (``YYYY-MM``).
        charges: every charge of those periods, newest first.
        total_fen: the sum of all of them.
        flagged_total_fen: the sum of the flagged ones.
        refundable_charge_ids: flagged charges not already in a dispute, newest first.
        refundable_total_fen: their sum.
        active_flagged_services: services with flagged charges still running at ``as_of``.
        as_of: the moment of reading (aware).
    """

    subscriber_id: int
    periods: tuple[str, ...]
    charges: tuple[ExplainedCharge, ...]
    total_fen: int
    flagged_total_fen: int
    refundable_charge_ids: tuple[int, ...]
    refundable_total_fen: int
    active_flagged_services: tuple[FlaggedService, ...]
    as_of: datetime

    @property
    def flagged_charges(self) -> tuple[ExplainedCharge, ...]:
        """The charges with at least one flag, newest first."""
        return tuple(c for c in self.charges if c.flagged)

    def for_service(self, service_code: str) -> ChargeReport:
        """The same report narrowed to one service's charges ("彩铃的钱退给我")."""
        charges = tuple(c for c in self.charges if c.service_code == service_code)
        return replace(
            self,
            charges=charges,
            total_fen=sum(c.amount_fen for c in charges),
            flagged_total_fen=sum(c.amount_fen for c in charges if c.flagged),
            refundable_charge_ids=tuple(c.charge_id for c in charges if c.refundable),
            refundable_total_fen=sum(c.amount_fen for c in charges if c.refundable),
            active_flagged_services=tuple(
                s for s in self.active_flagged_services if s.service_code == service_code
            ),
        )


# ---------------------------------------------------------------------------------------------
# helpers


def _periods(periods: Iterable[str]) -> tuple[str, ...]:
    if isinstance(periods, str):
        periods = (periods,)
    wanted: list[str] = []
    for period in periods:
        parse_period(period)
        if period not in wanted:
            wanted.append(period)
    if not wanted:
        raise InvalidPeriod(tuple(wanted), "none_given")
    return tuple(wanted)


def _subscription_for(
    charge: Charge, by_id: dict[int, Subscription], by_service: dict[int, list[Subscription]]
) -> Optional[Subscription]:
    """The subscription a charge is for: its link, else the one of its service running then."""
    if charge.subscription_id is not None and charge.subscription_id in by_id:
        return by_id[charge.subscription_id]
    if charge.service_id is None:
        return None
    earlier = [s for s in by_service.get(charge.service_id, []) if s.started_at <= charge.charged_at]
    running = [s for s in earlier if is_running(s, charge.charged_at)]
    candidates = running or earlier
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.started_at, s.id))


# ---------------------------------------------------------------------------------------------
# reading


def explain_charges(
    session: Session, subscriber_id: int, periods: Iterable[str], now: datetime
) -> ChargeReport:
    """Every deduction of the periods, newest first, with what it is and what looks wrong.

    Only charges of value-added services (not plan fees, data, voice or SMS usage) are
    flagged, by the rules of :mod:`bot.billing.charges.flags`.

    Args:
        session: the caller's unit of work.
        subscriber_id: the subscriber's id.
        periods: ``YYYY-MM`` periods (e.g. from :func:`bot.billing.periods.resolve_periods`).
        now: the moment of reading (aware); decides which services are still running.

    Returns:
        The explained charges, totals, refundable charges and services to unsubscribe.

    Raises:
        UnknownSubscriber: no subscriber has this id.
        InvalidPeriod: a period is not ``YYYY-MM``, or none is given.
        ValueError: ``now`` is naive.
    """
    check_aware(now, "now")
    wanted = _periods(periods)
    subscriber = subscriber_row(session, subscriber_id, lock=False)

    rows = session.scalars(
        select(Charge)
        .options(selectinload(Charge.service))
        .where(Charge.subscriber_id == subscriber.id, Charge.bill_period.in_(wanted))
        .order_by(Charge.charged_at, Charge.id)
    ).all()
    subs = session.scalars(
        select(Subscription)
        .options(selectinload(Subscription.service))
        .where(Subscription.subscriber_id == subscriber.id)
        .order_by(Subscription.started_at, Subscription.id)
    ).all()
    by_id = {s.id: s for s in subs}
    by_service: dict[int, list[Subscription]] = {}
    for s in subs:
        by_service.setdefault(s.service_id, []).append(s)
    disputed: dict[int, tuple[str, str]] = {}
    if rows:
        for charge_id, ticket_no, status in session.execute(
            select(DisputeCharge.charge_id, Dispute.ticket_no, Dispute.status)
            .join(Dispute, Dispute.id == DisputeCharge.dispute_id)
            .where(DisputeCharge.charge_id.in_([c.id for c in rows]))
        ):
            disputed[charge_id] = (ticket_no, status)

    first_of_day: dict[tuple[int, int, date], Charge] = {}
    explained: list[ExplainedCharge] = []
    for charge in rows:  # oldest first, so the first of a day is seen before its repeats
        service = charge.service
        sub = _subscription_for(charge, by_id, by_service)
        repeat_of: Optional[Charge] = None
        if service is not None:
            key = (service.id, charge.amount_fen, to_local(charge.charged_at).date())
            repeat_of = first_of_day.get(key)
            if repeat_of is None:
                first_of_day[key] = charge
        ticket = disputed.get(charge.id)
        explained.append(
            ExplainedCharge(
                charge_id=charge.id,
                charged_at=charge.charged_at,
                bill_period=charge.bill_period,
                item_kind=charge.item_kind,
                item_kind_label=CHARGE_KIND_LABELS.get(charge.item_kind, charge.item_kind),
                amount_fen=charge.amount_fen,
                description=charge.description,
                service_code=service.code if service is not None else None,
                service_name=service.name if service is not None else None,
                service_description=service.description if service is not None else None,
                published_fee_fen=service.monthly_fee_fen if service is not None else None,
                provider=service.provider if service is not None else None,
                billing=service.billing if service is not None else None,
                subscription_id=sub.id if sub is not None else None,
                channel=sub.channel if sub is not None else None,
                channel_label=CHANNEL_LABELS.get(sub.channel, sub.channel) if sub is not None else None,
                opened_at=sub.started_at if sub is not None else None,
                subscription_ended_at=sub.ended_at if sub is not None else None,
                last_used_at=sub.last_used_at if sub is not None else None,
                flags=flags_of(charge, sub, repeat_of, now),
                dispute_ticket_no=ticket[0] if ticket else None,
                dispute_status=ticket[1] if ticket else None,
            )
        )
    explained.reverse()  # newest first

    refundable = tuple(c.charge_id for c in explained if c.refundable)
    return ChargeReport(
        subscriber_id=subscriber.id,
        periods=wanted,
        charges=tuple(explained),
        total_fen=sum(c.amount_fen for c in explained),
        flagged_total_fen=sum(c.amount_fen for c in explained if c.flagged),
        refundable_charge_ids=refundable,
        refundable_total_fen=sum(c.amount_fen for c in explained if c.refundable),
        active_flagged_services=_active_flagged_services(explained, by_service, now),
        as_of=now,
    )


def _active_flagged_services(
    explained: Sequence[ExplainedCharge], by_service: dict[int, list[Subscription]], now: datetime
) -> tuple[FlaggedService, ...]:
    flagged_by_code: dict[str, list[ExplainedCharge]] = {}
    for c in explained:  # newest first: services in the order of their newest flagged charge
        if c.flagged and c.service_code is not None:
            flagged_by_code.setdefault(c.service_code, []).append(c)
    result: list[FlaggedService] = []
    for code, charges in flagged_by_code.items():
        running = [
            s for subs in by_service.values() for s in subs if s.service.code == code and is_running(s, now)
        ]
        if not running:
            continue
        sub = max(running, key=lambda s: (s.started_at, s.id))
        codes = {f.code for c in charges for f in c.flags}
        result.append(
            FlaggedService(
                service_code=code,
                service_name=sub.service.name,
                subscription_id=sub.id,
                fee_fen=sub.service.monthly_fee_fen,
                billing=sub.service.billing,
                channel=sub.channel,
                channel_label=CHANNEL_LABELS.get(sub.channel, sub.channel),
                opened_at=sub.started_at,
                last_used_at=sub.last_used_at,
                flag_codes=tuple(k for k in FLAG_CODES if k in codes),
                flagged_total_fen=sum(c.amount_fen for c in charges),
                refundable_charge_ids=tuple(c.charge_id for c in charges if c.refundable),
            )
        )
    return tuple(result)
