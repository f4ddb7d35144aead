"""Closing an account (销户): the check, the request, its withdrawal and the closure itself.

Everything works inside the caller's unit of work (``with store.transaction() as session:``)
and nothing here commits; an SMS that cannot be sent raises ``SmsGatewayError`` as the last
step, so the caller's transaction rolls back and nothing is left behind.

The rules, as an agent would explain them to a subscriber:

* **欠费须结清.** Arrears block closure. The amount is the larger of the unpaid bills and the
  negative part of the balance (what the account owes, however it arose).
* **未结申诉.** An open refund dispute (退费申诉) blocks closure until it is finished, so a
  refund it grants can still reach the account.
* **合约期内需支付违约金.** A contract (``contract_end``) is still running when the closure
  would take effect on or before ``contract_end``; closing then costs the subscriber's
  ``early_termination_fee_fen``. That is not a blocker, but :func:`request_closure` needs
  ``consent_to_fee=True`` (else :class:`~bot.billing.errors.ConsentRequired`).
* **违约金超过余额.** The fee is taken from the balance. When it is more than the (positive)
  balance, the difference (``fee_due_fen``) must be topped up first: blocker
  ``fee_exceeds_balance``. So a closed account never ends in debt.
* **余额退还.** What is left of a positive balance after the fee is refunded. Refund method
  (one rule): *原路退回* to the channel of the subscriber's most recent top-up when that was
  Alipay, WeChat Pay or a bank card; when the last top-up was cash at a hall, or there was
  none, *凭本人有效身份证件到营业厅领取*. Payments of method ``refund`` are not top-ups.
* **增值业务一并取消.** Every value-added service running when the closure is carried out ends.
* **微信解绑.** The number's WeChat binding (``bot.notifications.wechat_bindings``) ends with the account.
* **冷静期.** A request takes effect at 00:00 Asia/Shanghai :data:`COOLING_OFF_DAYS` calendar
  days after the day it was made (made 2026-11-22 10:00 → effective 2026-11-25 00:00). The
  number works normally until then and the request can be withdrawn at any time before.
* **号码冷冻期.** After closure the number is held for :data:`NUMBER_QUARANTINE_DAYS` days
  before it can be given to someone else (told in the SMS; nothing in the store enforces it).

Settlement (:func:`complete_due_closures`) keeps ``balance == payments - charges``: the fee
is a charge of kind ``other`` (提前解约违约金), and the refund, being money that leaves the
account, is also a charge of kind ``other`` (销户退还余额…). The balance then ends at 0, the
account's open bills are closed and, with payments equal to charges, all settle ``paid``.
These charges are written here, not through ``services.post_charge``, so that alert hooks
(余额/消费提醒) do not fire on a closing account; each still gets a ``charge.posted`` audit entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot import audit
from bot.audit import AuditLog
from bot.billing.errors import (
    ClosureAlreadyEffective,
    ClosureBlocked,
    ConsentRequired,
    NoPendingClosure,
    UnknownSubscriber,
)
from bot.billing.ledger import settle_bills
from bot.billing.models import Bill, Charge, ClosureRequest, Dispute, Payment, Subscriber, Subscription
from bot.billing.queries import SubscriptionView, active_subscriptions, period_spend_fen
from bot.clock import SHANGHAI, local_period, to_local
from bot.notifications.sms import SmsGateway
from bot.notifications.wechat_bindings import unbind_subscriber
from bot.texts.formats import yuan

logger = logging.getLogger(__name__)

#: Calendar days between the day of the request and the 00:00 (Asia/Shanghai) it takes effect.
COOLING_OFF_DAYS = 3
#: Days a closed number is held before it may be given to someone else (told in the SMS).
NUMBER_QUARANTINE_DAYS = 90

#: How the refund reaches the subscriber, by the method of the most recent top-up.
REFUND_METHOD_LABELS = {
    "alipay": "原路退回至支付宝",
    "wechat_pay": "原路退回至微信支付",
    "bank_card": "原路退回至银行卡",
    "hall": "凭本人有效身份证件到营业厅领取",
}
#: The refund channel when the last top-up was cash at a hall or there was none.
HALL_REFUND = "hall"

#: Statuses a cancelled request may restore; anything else restores ``active``.
_RESTORABLE = ("active", "suspended")


@dataclass(frozen=True)
class Blocker:
    """One reason the account cannot be closed yet.

    Attributes:
        code: ``arrears``, ``open_disputes``, ``fee_exceeds_balance`` or ``already_closed``
            (``consent_required`` only inside :class:`~bot.billing.errors.ConsentRequired`).
        message_zh: what to tell the subscriber, in Chinese.
        amount_fen: the money involved (arrears; disputed total; fee still due; the fee), if any.
        count: how many (open disputes), if it applies.
    """

    code: str
    message_zh: str
    amount_fen: Optional[int] = None
    count: Optional[int] = None


@dataclass(frozen=True)
class ContractInfo:
    """The subscriber's contract, as it bears on a closure.

    Attributes:
        end: the last day of the contract (inclusive).
        early_termination_fee_fen: the fee for ending it early, fen.
        in_contract: whether a closure taking effect at the check's ``effective_at`` falls on or
            before ``end`` (then the fee applies).
    """

    end: date
    early_termination_fee_fen: int
    in_contract: bool

    @property
    def termination_fee_fen(self) -> int:
        """The fee this closure costs: the contract's fee inside the contract, else 0."""
        return self.early_termination_fee_fen if self.in_contract else 0

    @property
    def requires_consent(self) -> bool:
        """Whether the subscriber must explicitly agree to pay the fee."""
        return self.termination_fee_fen > 0


@dataclass(frozen=True)
class ClosureRequestView:
    """A closure request (销户申请).

    Attributes:
        id: the request's id.
        subscriber_id: whose account.
        status: ``pending``, ``cancelled`` or ``completed``.
        requested_at: when it was made (aware UTC).
        effective_at: when it takes (took) effect (aware UTC; 00:00 Asia/Shanghai).
        refund_fen: the refund: expected when pending, paid out when completed.
        termination_fee_fen: the early-termination fee agreed to (0 if none).
        cancelled_at: when it was withdrawn, if it was.
        conversation_id: the conversation it was made in, if any.
    """

    id: int
    subscriber_id: int
    status: str
    requested_at: datetime
    effective_at: datetime
    refund_fen: int
    termination_fee_fen: int
    cancelled_at: Optional[datetime]
    conversation_id: Optional[str]

    @property
    def effective_date(self) -> date:
        """The local (Asia/Shanghai) day it takes effect."""
        return to_local(self.effective_at).date()


@dataclass(frozen=True)
class ClosureCheck:
    """Whether and how the account can be closed, read at one moment.

    Attributes:
        subscriber_id: the subscriber's id.
        phone: the number.
        status: ``active``, ``suspended``, ``closing`` or ``closed``.
        balance_fen: the balance, fen (negative when in debt).
        arrears_fen: what the account owes: max(unpaid bills, -balance), never negative.
        blockers: what must be dealt with first; empty when nothing blocks.
        pending: the pending request, if one exists (asking again returns it; not a blocker).
        contract: the contract, if the subscriber has one (running or not).
        termination_fee_fen: the early-termination fee this closure would cost (0 if none).
        services_to_cancel: value-added services running now; all end with the closure.
        refund_fen: max(0, balance - termination fee): what would be refunded today.
        fee_due_fen: max(0, termination fee - max(balance, 0)): what must be topped up first.
        refund_method: how the refund is paid, in Chinese (see the module); ``None`` if no refund.
        refund_channel: ``alipay``, ``wechat_pay``, ``bank_card`` or ``hall``; ``None`` if no refund.
        effective_at: when a request made now would take effect (see ``pending`` for an
            existing one).
        checked_at: the moment of the check.
    """

    subscriber_id: int
    phone: str
    status: str
    balance_fen: int
    arrears_fen: int
    blockers: tuple[Blocker, ...]
    pending: Optional[ClosureRequestView]
    contract: Optional[ContractInfo]
    termination_fee_fen: int
    services_to_cancel: tuple[SubscriptionView, ...]
    refund_fen: int
    fee_due_fen: int
    refund_method: Optional[str]
    refund_channel: Optional[str]
    effective_at: datetime
    checked_at: datetime

    @property
    def can_close(self) -> bool:
        """Whether nothing blocks (a fee may still need consent; see ``needs_consent``)."""
        return not self.blockers

    @property
    def needs_consent(self) -> bool:
        """Whether the request needs ``consent_to_fee=True``."""
        return self.termination_fee_fen > 0

    @property
    def blocker_codes(self) -> tuple[str, ...]:
        """The blockers' codes, in order."""
        return tuple(b.code for b in self.blockers)

    @property
    def facts(self) -> tuple[tuple[str, str], ...]:
        """What closing means for this account: each fact once, as ``(kind, Chinese sentence)``.

        Kinds: ``blocker``, ``fee``, ``services``, ``refund``, ``effective``, ``quarantine``. A
        conversation states each fact once; what its own questions ask about (the fee, the
        effective date) it leaves out of the summary before them.
        """
        facts = [("blocker", b.message_zh) for b in self.blockers]
        if self.termination_fee_fen > 0 and self.contract is not None:
            facts.append(
                (
                    "fee",
                    f"您的合约期至{self.contract.end.isoformat()}，合约期内销户需支付提前解约违约金"
                    f"{yuan(self.termination_fee_fen)}元，将从余额中扣除。",
                )
            )
        if self.services_to_cancel:
            names = "、".join(s.service_name for s in self.services_to_cancel)
            facts.append(("services", f"已订增值业务（{names}）将一并取消。"))
        if self.refund_fen > 0 and self.refund_method:
            facts.append(("refund", f"账户余额{yuan(self.refund_fen)}元将在销户后{self.refund_method}。"))
        elif self.refund_fen == 0:
            facts.append(("refund", "销户后没有需要退还的余额。"))
        facts.append(
            ("effective", f"销户申请于{_date_zh(self.effective_at, self.checked_at)}生效，生效前可随时撤销。")
        )
        facts.append(("quarantine", f"销户后号码进入{NUMBER_QUARANTINE_DAYS}天冷冻期。"))
        return tuple(facts)

    @property
    def notices(self) -> tuple[str, ...]:
        """What closing means for this account, one Chinese sentence per fact (for the assistant)."""
        return tuple(sentence for _, sentence in self.facts)


@dataclass(frozen=True)
class ClosureResult:
    """The answer to :func:`request_closure`.

    Attributes:
        request: the pending request (the new one, or the one already there).
        created: ``False`` when a pending request already existed and nothing was written.
        services_to_cancel: value-added services that will end with the closure.
        refund_method: how the expected refund will be paid; ``None`` if none is expected.
    """

    request: ClosureRequestView
    created: bool
    services_to_cancel: tuple[SubscriptionView, ...]
    refund_method: Optional[str]


@dataclass(frozen=True)
class ClosureCancelResult:
    """The answer to :func:`cancel_closure`.

    Attributes:
        request: the request, now ``cancelled``.
        restored_status: the subscriber's status again (what it was before the request).
    """

    request: ClosureRequestView
    restored_status: str


@dataclass(frozen=True)
class ClosureCompletion:
    """What :func:`complete_due_closures` did with one due request.

    Attributes:
        request_id: the request.
        subscriber_id: whose account.
        phone: the number.
        completed: ``True`` if the account is now closed; ``False`` if it was held back.
        blockers: why it was held back (empty when completed). A held request stays pending
            and the account ``closing``; the next run tries again.
        termination_fee_fen: the fee charged (0 if none or held).
        refund_fen: the refund paid out (0 if none or held).
        refund_method: how the refund is paid, if there was one.
        services_cancelled: names of the value-added services that ended.
        at: when the run happened (aware UTC).
    """

    request_id: int
    subscriber_id: int
    phone: str
    completed: bool
    blockers: tuple[Blocker, ...]
    termination_fee_fen: int
    refund_fen: int
    refund_method: Optional[str]
    services_cancelled: tuple[str, ...]
    at: datetime


# --------------------------------------------------------------------------- helpers


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name!r} must be a timezone-aware datetime")


def closure_effective_at(requested_at: datetime) -> datetime:
    """When a request made at ``requested_at`` takes effect: 00:00 Asia/Shanghai, three days on.

    Args:
        requested_at: the moment of the request (aware).

    Returns:
        The moment (aware UTC), e.g. 2026-11-22 10:00 local → 2026-11-25 00:00 local.
    """
    _check_aware(requested_at, "requested_at")
    day = to_local(requested_at).date() + timedelta(days=COOLING_OFF_DAYS)
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _date_zh(moment: datetime, reference: datetime) -> str:
    """``11月25日`` (with the year when it differs from ``reference``'s local year)."""
    local = to_local(moment)
    text = f"{local.month}月{local.day}日"
    if local.year != to_local(reference).year:
        text = f"{local.year}年{text}"
    return text


def _view(row: ClosureRequest) -> ClosureRequestView:
    return ClosureRequestView(
        id=row.id,
        subscriber_id=row.subscriber_id,
        status=row.status,
        requested_at=row.requested_at,
        effective_at=row.effective_at,
        refund_fen=row.refund_fen,
        termination_fee_fen=row.termination_fee_fen,
        cancelled_at=row.cancelled_at,
        conversation_id=row.conversation_id,
    )


def _locked_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The subscriber, freshly read and row-locked until the transaction ends (PostgreSQL)."""
    found = session.scalars(
        select(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if found is None:
        raise UnknownSubscriber(subscriber_id)
    return found


def _pending_request(session: Session, subscriber_id: int, *, lock: bool = False) -> Optional[ClosureRequest]:
    query = (
        select(ClosureRequest)
        .where(ClosureRequest.subscriber_id == subscriber_id, ClosureRequest.status == "pending")
        .order_by(ClosureRequest.requested_at.desc(), ClosureRequest.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def _unpaid_bills_fen(session: Session, subscriber_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Bill.total_fen), 0)).where(
            Bill.subscriber_id == subscriber_id, Bill.status == "unpaid"
        )
    )
    return int(total or 0)


def _open_disputes(session: Session, subscriber_id: int) -> list[Dispute]:
    return list(
        session.scalars(
            select(Dispute)
            .where(Dispute.subscriber_id == subscriber_id, Dispute.status == "open")
            .order_by(Dispute.created_at, Dispute.id)
        )
    )


def _refund_channel(session: Session, subscriber_id: int) -> str:
    """The method of the most recent top-up if it can be refunded the same way, else ``hall``."""
    method = session.scalar(
        select(Payment.method)
        .where(Payment.subscriber_id == subscriber_id, Payment.method != "refund")
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
        .limit(1)
    )
    return method if method in REFUND_METHOD_LABELS else HALL_REFUND


def _money_blockers(
    session: Session, subscriber: Subscriber, termination_fee_fen: int
) -> tuple[list[Blocker], int, int]:
    """Blockers about money and disputes; also the arrears and the fee still due."""
    blockers: list[Blocker] = []
    balance = int(subscriber.balance_fen)
    arrears = max(_unpaid_bills_fen(session, subscriber.id), -balance, 0)
    if arrears > 0:
        blockers.append(
            Blocker(
                code="arrears",
                message_zh=f"账户欠费{yuan(arrears)}元，须先结清欠费才能销户",
                amount_fen=arrears,
            )
        )
    disputes = _open_disputes(session, subscriber.id)
    if disputes:
        tickets = "、".join(d.ticket_no for d in disputes)
        blockers.append(
            Blocker(
                code="open_disputes",
                message_zh=f"有{len(disputes)}笔退费申诉尚未处理完毕（工单号{tickets}），处理完成后才能销户",
                amount_fen=sum(d.amount_fen for d in disputes),
                count=len(disputes),
            )
        )
    fee_due = max(0, termination_fee_fen - max(balance, 0))
    if fee_due > 0:
        blockers.append(
            Blocker(
                code="fee_exceeds_balance",
                message_zh=(
                    f"提前解约违约金{yuan(termination_fee_fen)}元超过账户余额{yuan(max(balance, 0))}元，"
                    f"须先充值{yuan(fee_due)}元才能销户"
                ),
                amount_fen=fee_due,
            )
        )
    return blockers, arrears, fee_due


def _contract(subscriber: Subscriber, effective_at: datetime) -> Optional[ContractInfo]:
    if subscriber.contract_end is None:
        return None
    return ContractInfo(
        end=subscriber.contract_end,
        early_termination_fee_fen=int(subscriber.early_termination_fee_fen or 0),
        in_contract=to_local(effective_at).date() <= subscriber.contract_end,
    )


def _check(session: Session, subscriber: Subscriber, now: datetime) -> ClosureCheck:
    effective_at = closure_effective_at(now)
    contract = _contract(subscriber, effective_at)
    fee = contract.termination_fee_fen if contract is not None else 0
    pending = _pending_request(session, subscriber.id)
    if subscriber.status == "closed":
        blockers = [Blocker(code="already_closed", message_zh="该号码已销户")]
        arrears = max(_unpaid_bills_fen(session, subscriber.id), -int(subscriber.balance_fen), 0)
        fee_due = 0
        fee = 0
    else:
        blockers, arrears, fee_due = _money_blockers(session, subscriber, fee)
    balance = int(subscriber.balance_fen)
    refund = max(0, balance - fee) if subscriber.status != "closed" else 0
    channel = _refund_channel(session, subscriber.id) if refund > 0 else None
    return ClosureCheck(
        subscriber_id=subscriber.id,
        phone=subscriber.phone,
        status=subscriber.status,
        balance_fen=balance,
        arrears_fen=arrears,
        blockers=tuple(blockers),
        pending=_view(pending) if pending is not None else None,
        contract=contract,
        termination_fee_fen=fee,
        services_to_cancel=active_subscriptions(session, subscriber.id, now)
        if subscriber.status != "closed"
        else (),
        refund_fen=refund,
        fee_due_fen=fee_due,
        refund_method=REFUND_METHOD_LABELS[channel] if channel is not None else None,
        refund_channel=channel,
        effective_at=effective_at,
        checked_at=now,
    )


def _actor(subscriber_id: int) -> str:
    return f"subscriber:{subscriber_id}"


# --------------------------------------------------------------------------- public API


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
    _check_aware(now, "now")
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise UnknownSubscriber(subscriber_id)
    return _check(session, subscriber, now)


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
    _check_aware(at, "at")
    subscriber = _locked_subscriber(session, subscriber_id)
    existing = _pending_request(session, subscriber.id, lock=True)
    if existing is not None:
        services = active_subscriptions(session, subscriber.id, at)
        channel = _refund_channel(session, subscriber.id) if existing.refund_fen > 0 else None
        return ClosureResult(
            request=_view(existing),
            created=False,
            services_to_cancel=services,
            refund_method=REFUND_METHOD_LABELS[channel] if channel is not None else None,
        )

    check = _check(session, subscriber, at)
    if check.blockers:
        raise ClosureBlocked(check.blockers)
    if check.termination_fee_fen > 0 and not consent_to_fee:
        raise ConsentRequired(check.termination_fee_fen, check.contract.end if check.contract else None)

    previous_status = subscriber.status if subscriber.status in _RESTORABLE else "active"
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
        actor=_actor(subscriber.id),
        action="closure.requested",
        subscriber_id=subscriber.id,
        entity="closure_request",
        entity_id=request.id,
        conversation_id=conversation_id,
        details={
            "previous_status": previous_status,
            "effective_at": check.effective_at.isoformat(),
            "refund_fen": check.refund_fen,
            "termination_fee_fen": check.termination_fee_fen,
            "consent_to_fee": bool(consent_to_fee) if check.termination_fee_fen > 0 else None,
            "refund_method": check.refund_channel,
            "services": [s.service_code for s in check.services_to_cancel],
        },
    )

    parts = [f"【销户申请】尊敬的客户，您的销户申请已受理，将于{_date_zh(check.effective_at, at)}生效，"]
    parts.append("生效前可随时撤销（联系客服说“撤销销户”即可），生效前号码可正常使用。")
    if check.termination_fee_fen > 0 and check.contract is not None:
        parts.append(
            f"您的合约期至{check.contract.end.isoformat()}，按您的同意将收取提前解约违约金"
            f"{yuan(check.termination_fee_fen)}元。"
        )
    if check.services_to_cancel:
        names = "、".join(s.service_name for s in check.services_to_cancel)
        parts.append(f"已订增值业务（{names}）将一并取消。")
    if check.refund_fen > 0:
        parts.append(
            f"生效后将退还余额{yuan(check.refund_fen)}元（以生效时余额为准，{check.refund_method}）。"
        )
    parts.append(f"销户后号码进入{NUMBER_QUARANTINE_DAYS}天冷冻期。")
    sms.send(
        session,
        phone=subscriber.phone,
        body="".join(parts),
        kind="closure",
        subscriber_id=subscriber.id,
        at=at,
    )
    session.flush()
    return ClosureResult(
        request=_view(request),
        created=True,
        services_to_cancel=check.services_to_cancel,
        refund_method=check.refund_method,
    )


def _previous_status(session: Session, request: ClosureRequest) -> str:
    """The status the subscriber had before the request (from its audit entry); ``active`` if unknown."""
    details = session.scalar(
        select(AuditLog.details)
        .where(
            AuditLog.action == "closure.requested",
            AuditLog.entity == "closure_request",
            AuditLog.entity_id == str(request.id),
        )
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
    previous = (details or {}).get("previous_status") if isinstance(details, dict) else None
    return previous if previous in _RESTORABLE else "active"


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
    _check_aware(at, "at")
    subscriber = _locked_subscriber(session, subscriber_id)
    request = _pending_request(session, subscriber.id, lock=True)
    if request is None:
        raise NoPendingClosure(subscriber.id)
    if at >= request.effective_at:
        raise ClosureAlreadyEffective(subscriber.id, request.effective_at)

    restored = _previous_status(session, request)
    request.status = "cancelled"
    request.cancelled_at = at
    if subscriber.status == "closing":
        subscriber.status = restored
    session.flush()
    audit.record(
        session,
        at=at,
        actor=_actor(subscriber.id),
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
        body=(
            f"【销户撤销】尊敬的客户，您原定于{_date_zh(request.effective_at, at)}生效的销户申请已撤销，"
            "号码及已订业务保持不变。如需再次销户，请重新申请。"
        ),
        kind="closure",
        subscriber_id=subscriber.id,
        at=at,
    )
    session.flush()
    return ClosureCancelResult(request=_view(request), restored_status=subscriber.status)


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


def _complete_one(
    session: Session, request_id: int, subscriber_id: int, now: datetime, sms: SmsGateway
) -> Optional[ClosureCompletion]:
    subscriber = _locked_subscriber(session, subscriber_id)
    request = session.scalars(
        select(ClosureRequest)
        .where(ClosureRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if request.status != "pending" or request.effective_at > now:
        return None  # another run got there first

    fee = int(request.termination_fee_fen or 0)
    blockers, _, _ = _money_blockers(session, subscriber, fee)
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
            refund_method=None,
            services_cancelled=(),
            at=now,
        )

    conversation_id = request.conversation_id
    services = _end_subscriptions(session, subscriber.id, now)
    fee_charge: Optional[Charge] = None
    if fee > 0:
        until = f"（合约期至{subscriber.contract_end.isoformat()}）" if subscriber.contract_end else ""
        fee_charge = _settlement_charge(
            session,
            subscriber,
            amount_fen=fee,
            description=f"提前解约违约金{until}",
            purpose="termination_fee",
            at=now,
            conversation_id=conversation_id,
        )
    refund = max(0, int(subscriber.balance_fen))
    channel: Optional[str] = None
    refund_charge: Optional[Charge] = None
    if refund > 0:
        channel = _refund_channel(session, subscriber.id)
        refund_charge = _settlement_charge(
            session,
            subscriber,
            amount_fen=refund,
            description=f"销户退还余额（{REFUND_METHOD_LABELS[channel]}）",
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
    method = REFUND_METHOD_LABELS[channel] if channel is not None else None
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

    parts = [f"【销户完成】尊敬的客户，您的号码已于{_date_zh(request.effective_at, now)}完成销户。"]
    if fee > 0:
        parts.append(f"已收取提前解约违约金{yuan(fee)}元。")
    if refund > 0:
        parts.append(f"账户余额{yuan(refund)}元将{method}。")
    if services:
        parts.append(f"已取消增值业务：{'、'.join(services)}。")
    parts.append(f"号码将进入{NUMBER_QUARANTINE_DAYS}天冷冻期。感谢您的使用。")
    sms.send(
        session,
        phone=subscriber.phone,
        body="".join(parts),
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
        refund_method=method,
        services_cancelled=tuple(services),
        at=now,
    )


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
    _check_aware(now, "now")
    due = session.execute(
        select(ClosureRequest.id, ClosureRequest.subscriber_id)
        .where(ClosureRequest.status == "pending", ClosureRequest.effective_at <= now)
        .order_by(ClosureRequest.effective_at, ClosureRequest.id)
    ).all()
    results: list[ClosureCompletion] = []
    for request_id, subscriber_id in due:
        outcome = _complete_one(session, request_id, subscriber_id, now, sms)
        if outcome is not None:
            results.append(outcome)
    return results
