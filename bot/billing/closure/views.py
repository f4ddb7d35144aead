"""What the closure functions answer: the check, the request, the results of request, cancel and run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional

from bot.billing.blockers import Blocker
from bot.billing.closure.rules import NUMBER_QUARANTINE_DAYS
from bot.billing.models import ClosureRequest
from bot.billing.queries import SubscriptionView
from bot.clock import to_local
from bot.texts import closure as texts


def _refund_method(channel: Optional[str]) -> Optional[str]:
    return texts.refund_method(channel) if channel is not None else None


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
        refund_channel: ``alipay``, ``wechat_pay``, ``bank_card`` or ``hall``; ``None`` if no refund
            (``refund_method`` says it in Chinese).
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
    refund_channel: Optional[str]
    effective_at: datetime
    checked_at: datetime

    @property
    def refund_method(self) -> Optional[str]:
        """How the refund is paid, in Chinese (e.g. ``原路退回至支付宝``); ``None`` if no refund."""
        return _refund_method(self.refund_channel)

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
            facts.append(("fee", texts.fee_fact(self.contract.end, self.termination_fee_fen)))
        if self.services_to_cancel:
            facts.append(("services", texts.services_fact([s.service_name for s in self.services_to_cancel])))
        if self.refund_fen > 0 and self.refund_channel is not None:
            facts.append(("refund", texts.refund_fact(self.refund_fen, self.refund_channel)))
        elif self.refund_fen == 0:
            facts.append(("refund", texts.no_refund_fact()))
        facts.append(("effective", texts.effective_fact(self.effective_at, self.checked_at)))
        facts.append(("quarantine", texts.quarantine_fact(NUMBER_QUARANTINE_DAYS)))
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
        refund_channel: how the expected refund will be paid (``alipay``, ``wechat_pay``,
            ``bank_card``, ``hall``); ``None`` if none is expected.
    """

    request: ClosureRequestView
    created: bool
    services_to_cancel: tuple[SubscriptionView, ...]
    refund_channel: Optional[str]

    @property
    def refund_method(self) -> Optional[str]:
        """How the expected refund will be paid, in Chinese; ``None`` if none is expected."""
        return _refund_method(self.refund_channel)


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
        refund_channel: how the refund is paid, if there was one (``refund_method`` in Chinese).
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
    refund_channel: Optional[str]
    services_cancelled: tuple[str, ...]
    at: datetime

    @property
    def refund_method(self) -> Optional[str]:
        """How the refund is paid, in Chinese, if there was one."""
        return _refund_method(self.refund_channel)


def request_view(row: ClosureRequest) -> ClosureRequestView:
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
