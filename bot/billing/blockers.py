"""Why an account cannot be closed yet (one :class:`Blocker` per reason).

Its own module, so that ``bot.billing.errors`` (whose ``ClosureBlocked`` carries blockers) and
``bot.billing.closure`` (which finds them) both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


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
