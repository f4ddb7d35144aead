"""Unknown charges (不明扣费): explain them, unsubscribe the service, dispute the money.

:func:`explain_charges` reads every deduction of some bill periods and says, for each, what it
is and whether something about it looks wrong (``flags``). :func:`unsubscribe` ends a
value-added service, :func:`open_dispute` opens a refund dispute (退费申请) with a ticket number;
both together, in one transaction, are :func:`bot.billing.refunds.refund_flagged_charges`.

Every change runs in the caller's unit of work, is audited with the actor ``subscriber:<id>``
and the conversation id, and is confirmed by SMS through the gateway given; a gateway that
raises (``SmsGatewayError``) makes the caller's transaction roll back, so nothing is left
half-done. Money is integer fen; times are aware UTC (shown in Asia/Shanghai).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot import audit
from bot.billing.errors import BillingError, UnknownService, UnknownSubscriber
from bot.billing.models import Charge, Dispute, DisputeCharge, Service, Subscriber, Subscription
from bot.billing.periods import InvalidPeriod, describe_period, parse_period, period_start
from bot.clock import to_local
from bot.notifications.sms import SmsGateway
from bot.texts.formats import yuan
from bot.texts.labels import CHANNEL_LABELS, CHARGE_KIND_LABELS

#: Reason codes of a suspicious charge, in the order they are listed, with a short Chinese label.
FLAG_LABELS = {
    "marketing_channel": "经短信营销链接开通",
    "third_party": "经第三方渠道开通",
    "unused": "未使用",
    "duplicate": "疑似重复扣费",
    "price_mismatch": "金额与资费标准不符",
}
#: How a service's billing kind reads in Chinese.
BILLING_LABELS = {"monthly": "包月", "per_use": "按次"}
#: Charge kinds that are explained but never flagged (plan fee and usage).
UNFLAGGED_KINDS = frozenset({"plan_fee", "data", "voice", "sms"})
#: Prefix of dispute ticket numbers; the local date and a 4-digit daily sequence follow.
TICKET_PREFIX = "TS"
#: Key of the PostgreSQL advisory lock that serialises ticket numbering.
_TICKET_LOCK_KEY = 0x54530001
#: Outbox kinds of the confirmations.
SMS_KIND_UNSUBSCRIBED = "unsubscribe"
SMS_KIND_DISPUTE = "dispute"


class NotSubscribed(BillingError):
    """The subscriber has no running subscription to the service.

    Attributes:
        code: the service's catalogue code.
        service_name: its name, when known.
    """

    def __init__(self, code: str, service_name: Optional[str] = None) -> None:
        self.code = code
        self.service_name = service_name
        super().__init__(f"当前没有开通该业务：{service_name or code}")


class UnknownCharge(BillingError):
    """Charges that do not exist or do not belong to the subscriber (the two are not told apart).

    Attributes:
        charge_ids: the ids that were refused.
    """

    def __init__(self, charge_ids: Sequence[int]) -> None:
        self.charge_ids = tuple(charge_ids)
        super().__init__(f"未找到您名下的扣费记录：{', '.join(str(i) for i in self.charge_ids)}")


@dataclass(frozen=True)
class ChargeFlag:
    """Why a charge looks wrong.

    Attributes:
        code: one of :data:`FLAG_LABELS`.
        explanation: one Chinese sentence for the subscriber.
    """

    code: str
    explanation: str

    @property
    def label(self) -> str:
        """The short Chinese label of the code."""
        return FLAG_LABELS.get(self.code, self.code)


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
        billing_label: ``包月`` or ``按次``.
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
    billing_label: Optional[str]
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
        flag_codes: the reason codes of its flagged charges in the report, in label order.
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


# ---------------------------------------------------------------------------------------------
# helpers


def _check_aware(when: datetime, name: str = "at") -> None:
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise ValueError(f"{name!r} must be a timezone-aware datetime")


def _actor(subscriber_id: int) -> str:
    return f"subscriber:{subscriber_id}"


def _cn_date(when: datetime) -> str:
    local = to_local(when)
    return f"{local.year}年{local.month}月{local.day}日"


def _cn_minute(when: datetime) -> str:
    local = to_local(when)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def _fee_unit(billing: str) -> str:
    return "次" if billing == "per_use" else "月"


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


def _subscriber(session: Session, subscriber_id: int, *, lock: bool) -> Subscriber:
    if isinstance(subscriber_id, bool) or not isinstance(subscriber_id, int):
        raise UnknownSubscriber(str(subscriber_id))
    query = select(Subscriber).where(Subscriber.id == subscriber_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise UnknownSubscriber(subscriber_id)
    return found


def _service(session: Session, service_code: str) -> Service:
    found = session.scalars(select(Service).where(Service.code == service_code)).one_or_none()
    if found is None:
        raise UnknownService(service_code)
    return found


def _running(query_at: datetime) -> tuple[Any, Any]:
    """WHERE clauses: a subscription running at ``query_at``."""
    return (
        Subscription.started_at <= query_at,
        or_(Subscription.ended_at.is_(None), Subscription.ended_at > query_at),
    )


def _is_running(sub: Subscription, at: datetime) -> bool:
    return sub.started_at <= at and (sub.ended_at is None or sub.ended_at > at)


def _subscription_for(
    charge: Charge, by_id: dict[int, Subscription], by_service: dict[int, list[Subscription]]
) -> Optional[Subscription]:
    """The subscription a charge is for: its link, else the one of its service running then."""
    if charge.subscription_id is not None and charge.subscription_id in by_id:
        return by_id[charge.subscription_id]
    if charge.service_id is None:
        return None
    earlier = [s for s in by_service.get(charge.service_id, []) if s.started_at <= charge.charged_at]
    running = [s for s in earlier if _is_running(s, charge.charged_at)]
    candidates = running or earlier
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.started_at, s.id))


def _flags(
    charge: Charge,
    sub: Optional[Subscription],
    first_same_day: Optional[Charge],
    now: datetime,
) -> tuple[ChargeFlag, ...]:
    service = charge.service
    if service is None or charge.item_kind in UNFLAGGED_KINDS:
        return ()
    flags: list[ChargeFlag] = []
    if sub is not None:
        label = CHANNEL_LABELS.get(sub.channel, sub.channel)
        if sub.channel == "sms_marketing":
            flags.append(
                ChargeFlag(
                    "marketing_channel",
                    f"该业务于{_cn_date(sub.started_at)}经{label}开通，可能并非您本人主动订购",
                )
            )
        elif sub.channel == "third_party":
            flags.append(
                ChargeFlag(
                    "third_party",
                    f"该业务于{_cn_date(sub.started_at)}经{label}开通，可能并非您本人主动订购",
                )
            )
        if sub.last_used_at is None:
            flags.append(ChargeFlag("unused", f"该业务自{_cn_date(sub.started_at)}开通以来从未使用过"))
        elif sub.last_used_at < period_start(charge.bill_period):
            flags.append(
                ChargeFlag(
                    "unused",
                    f"该业务最后一次使用是在{_cn_date(sub.last_used_at)}，"
                    f"{describe_period(charge.bill_period, now)}没有使用记录",
                )
            )
    if first_same_day is not None:
        flags.append(
            ChargeFlag(
                "duplicate",
                f"同一天{_cn_minute(first_same_day.charged_at)}已扣过一笔相同金额"
                f"（{yuan(charge.amount_fen)}元）的{service.name}费用，这笔疑似重复扣费",
            )
        )
    if charge.amount_fen != service.monthly_fee_fen:
        unit = _fee_unit(service.billing)
        flags.append(
            ChargeFlag(
                "price_mismatch",
                f"扣费{yuan(charge.amount_fen)}元，与公布资费{yuan(service.monthly_fee_fen)}元/{unit}不符",
            )
        )
    return tuple(flags)


# ---------------------------------------------------------------------------------------------
# reading


def explain_charges(
    session: Session, subscriber_id: int, periods: Iterable[str], now: datetime
) -> ChargeReport:
    """Every deduction of the periods, newest first, with what it is and what looks wrong.

    Only charges of value-added services (not plan fees, data, voice or SMS usage) are
    flagged:

    * ``marketing_channel`` / ``third_party``: the subscription was opened through an SMS
      marketing link / a third party;
    * ``unused``: the service was never used, or not since before the charge's period began;
    * ``duplicate``: the same service and amount was already charged earlier the same local
      day (the first charge is not flagged, each repeat is);
    * ``price_mismatch``: the amount differs from the published monthly fee (``monthly``) or
      the price of one use (``per_use``).

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
    _check_aware(now, "now")
    wanted = _periods(periods)
    subscriber = _subscriber(session, subscriber_id, lock=False)

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
        billing_label = BILLING_LABELS.get(service.billing, service.billing) if service is not None else None
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
                billing_label=billing_label,
                subscription_id=sub.id if sub is not None else None,
                channel=sub.channel if sub is not None else None,
                channel_label=CHANNEL_LABELS.get(sub.channel, sub.channel) if sub is not None else None,
                opened_at=sub.started_at if sub is not None else None,
                subscription_ended_at=sub.ended_at if sub is not None else None,
                last_used_at=sub.last_used_at if sub is not None else None,
                flags=_flags(charge, sub, repeat_of, now),
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
            s for subs in by_service.values() for s in subs if s.service.code == code and _is_running(s, now)
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
                flag_codes=tuple(k for k in FLAG_LABELS if k in codes),
                flagged_total_fen=sum(c.amount_fen for c in charges),
                refundable_charge_ids=tuple(c.charge_id for c in charges if c.refundable),
            )
        )
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# changing


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
    refunds go through :func:`open_dispute`.

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
    _check_aware(at)
    service = _service(session, service_code)
    subscriber = _subscriber(session, subscriber_id, lock=True)
    running = session.scalars(
        select(Subscription)
        .where(
            Subscription.subscriber_id == subscriber.id,
            Subscription.service_id == service.id,
            *_running(at),
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
            actor=_actor(subscriber.id),
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
    unit = _fee_unit(service.billing)
    local = to_local(at)
    sms.send(
        session,
        phone=subscriber.phone,
        body=(
            f"【退订成功】您已退订{service.name}业务（{yuan(service.monthly_fee_fen)}元/{unit}），"
            f"{local.year}年{local.month}月{local.day}日{local:%H:%M}起生效，此后不再收取该业务费用。"
        ),
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


def _next_ticket_no(session: Session, at: datetime) -> str:
    """The next free ticket number of ``at``'s local day: ``TS`` + ``YYYYMMDD`` + 4 digits.

    On PostgreSQL a transaction-scoped advisory lock serialises numbering until commit; SQLite
    serialises writers itself. The unique constraint on ``ticket_no`` stays the last guard.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_TICKET_LOCK_KEY)))
    prefix = f"{TICKET_PREFIX}{to_local(at):%Y%m%d}"
    taken = session.scalars(select(Dispute.ticket_no).where(Dispute.ticket_no.like(f"{prefix}%")))
    highest = max((int(t[len(prefix) :]) for t in taken if t[len(prefix) :].isdigit()), default=0)
    return f"{prefix}{highest + 1:04d}"


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
    _check_aware(at)
    ids = _charge_ids(charge_ids)
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ValueError("a dispute needs a reason")
    subscriber = _subscriber(session, subscriber_id, lock=True)

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
        ticket_no=_next_ticket_no(session, at),
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
        actor=_actor(subscriber.id),
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
        body=(
            f"【退费申请】工单号{dispute.ticket_no}，涉及金额{yuan(amount)}元，"
            "我们将在3个工作日内处理，处理结果将以短信通知您。"
        ),
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
