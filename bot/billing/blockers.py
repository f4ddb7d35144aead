"""Why an account cannot be closed yet (one :class:`Blocker` per reason).

Its own module, so that ``bot.billing.errors`` (whose ``ClosureBlocked`` carries blockers) and
``bot.billing.closure`` (which finds them) both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional

from bot.texts import closure as texts


@dataclass(frozen=True)
class Blocker:
    """One reason the account cannot be closed yet: a code and the values that explain it.

    Attributes:
        code: ``arrears``, ``open_disputes``, ``fee_exceeds_balance`` or ``already_closed``
            (``consent_required`` only inside :class:`~bot.billing.errors.ConsentRequired`).
        amount_fen: the money involved (arrears; disputed total; fee still due; the fee), if any.
        count: how many (open disputes), if it applies.
        ticket_nos: the open disputes' ticket numbers (``open_disputes``).
        fee_fen: the early-termination fee (``fee_exceeds_balance``, ``consent_required``).
        balance_fen: the balance the fee is taken from, never negative (``fee_exceeds_balance``).
        contract_end: the last day of the contract (``consent_required``), if known.
    """

    code: str
    amount_fen: Optional[int] = None
    count: Optional[int] = None
    ticket_nos: tuple[str, ...] = ()
    fee_fen: Optional[int] = None
    balance_fen: Optional[int] = None
    contract_end: Optional[date] = None

    @property
    def message_zh(self) -> str:
        """What to tell the subscriber, in Chinese (made by :func:`bot.texts.closure.blocker`)."""
        return texts.blocker(
            self.code,
            amount_fen=self.amount_fen,
            count=self.count,
            ticket_nos=self.ticket_nos,
            fee_fen=self.fee_fen,
            balance_fen=self.balance_fen,
            contract_end=self.contract_end,
        )
