"""Errors of the billing store, each with a meaning the caller can act on.

Every error derives from :class:`BillingError`, so the edge (actions, CLI) can answer kindly
for any expected problem. ``str(error)`` is a short Chinese sentence fit to show an operator;
phone numbers in it are masked, so an error can be logged without leaking a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Optional

from bot.billing.blockers import Blocker
from bot.texts import billing as copy
from bot.texts import closure as closure_texts


class BillingError(Exception):
    """Base class of every expected billing problem."""


class UnknownSubscriber(BillingError):
    """No subscriber has this phone number (or id).

    Attributes:
        phone: the phone number (or the id, as text) that was looked up.
    """

    def __init__(self, phone: str | int) -> None:
        self.phone = str(phone)
        super().__init__(copy.unknown_subscriber(phone))


class AccountClosed(BillingError):
    """The account is closed (已销户); nothing more can be posted to it.

    Attributes:
        phone: the account's phone number.
    """

    def __init__(self, phone: str) -> None:
        self.phone = phone
        super().__init__(copy.account_closed(phone))


class UnknownService(BillingError):
    """The code names no value-added service of the catalogue.

    Attributes:
        code: the code that was given.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(copy.unknown_service(code))


class UnknownPlan(BillingError):
    """The code names no tariff plan of the catalogue.

    Attributes:
        code: the code that was given.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(copy.unknown_plan(code))


class InvalidAmount(BillingError):
    """An amount of money is not a positive whole number of fen (or not a valid yuan amount).

    Attributes:
        amount: what was given.
    """

    def __init__(self, amount: Any, reason: Optional[str] = None) -> None:
        self.amount = amount
        super().__init__(reason or copy.invalid_amount(amount))


class InvalidChargeKind(BillingError):
    """The charge kind is not one of ``bot.billing.models.CHARGE_KINDS``.

    Attributes:
        kind: what was given.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(copy.invalid_charge_kind(kind))


class InvalidPaymentMethod(BillingError):
    """The payment method is not one the store accepts.

    Attributes:
        method: what was given.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(copy.invalid_payment_method(method))


class ClosureBlocked(BillingError):
    """Closing the account (销户) is refused: something must be dealt with first.

    Attributes:
        blockers: the reasons, each a ``bot.billing.blockers.Blocker`` with ``code``,
            ``amount_fen`` and (made by ``bot.texts.closure``) ``message_zh``; never empty.
    """

    def __init__(self, blockers: Sequence[Blocker]) -> None:
        self.blockers: tuple[Blocker, ...] = tuple(blockers)
        super().__init__(closure_texts.closure_blocked([b.message_zh for b in self.blockers]))

    @property
    def codes(self) -> tuple[str, ...]:
        """The blockers' codes, in order (e.g. ``('arrears',)``)."""
        return tuple(b.code for b in self.blockers)


class ConsentRequired(ClosureBlocked):
    """Closing inside the contract costs an early-termination fee the subscriber has not agreed to.

    Its only blocker has the code ``consent_required`` and the fee as ``amount_fen``.

    Attributes:
        fee_fen: the early-termination fee (提前解约违约金), fen.
        contract_end: the last day of the contract.
    """

    def __init__(self, fee_fen: int, contract_end: Optional[date] = None) -> None:
        self.fee_fen = fee_fen
        self.contract_end = contract_end
        super().__init__(
            [Blocker(code="consent_required", amount_fen=fee_fen, fee_fen=fee_fen, contract_end=contract_end)]
        )


class NoPendingClosure(BillingError):
    """There is no closure request that can still be withdrawn.

    Attributes:
        subscriber_id: whose account.
    """

    def __init__(self, subscriber_id: int, message: Optional[str] = None) -> None:
        self.subscriber_id = subscriber_id
        super().__init__(message or closure_texts.NO_PENDING_CLOSURE)


class ClosureAlreadyEffective(NoPendingClosure):
    """The closure request has already taken effect, so it can no longer be withdrawn.

    Attributes:
        subscriber_id: whose account.
        effective_at: when it took effect (aware UTC).
    """

    def __init__(self, subscriber_id: int, effective_at: datetime) -> None:
        self.effective_at = effective_at
        super().__init__(subscriber_id, closure_texts.closure_already_effective(effective_at))
