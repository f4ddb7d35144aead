"""Exceptions of identity verification.

Messages never carry a code, password or ID digits; at most a masked phone number.
"""

from __future__ import annotations

from datetime import datetime


class VerificationError(Exception):
    """Base class of every refusal or failure of identity verification."""


class UnknownNumber(VerificationError):
    """The number does not belong to a subscriber that can be served (unknown or closed).

    Attributes:
        masked_phone: the number as it may be shown (``138****8000``).
    """

    def __init__(self, masked_phone: str = "") -> None:
        self.masked_phone = masked_phone
        super().__init__(f"no open account for number {masked_phone}".rstrip())


class NumberLocked(VerificationError):
    """The number is locked after too many failed verifications in a row.

    Attributes:
        until: when the lock ends (timezone-aware, UTC).
    """

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"number locked until {until.isoformat()}")


class TooManyCodes(VerificationError):
    """Too many one-time codes were sent to the number in the last hour.

    Attributes:
        retry_after: the earliest time a new code can be sent (timezone-aware, UTC).
    """

    def __init__(self, retry_after: datetime) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many codes sent; retry after {retry_after.isoformat()}")


class TooManyNumbers(VerificationError):
    """The conversation already had codes sent to as many different numbers as it may.

    Attributes:
        limit: how many different numbers one conversation may ask codes for.
        retry_after: when the earliest of those numbers leaves the window, so that another number
            may be tried (timezone-aware, UTC); the numbers already used stay allowed meanwhile.
    """

    def __init__(self, limit: int, retry_after: datetime) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"codes already sent to {limit} numbers; retry after {retry_after.isoformat()}")


class ClientRateLimited(VerificationError):
    """The client (an address, a WeChat user) asked for too many codes in the last hour.

    Attributes:
        retry_after: the earliest time this client can have a new code sent (timezone-aware, UTC).
    """

    def __init__(self, retry_after: datetime) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many codes requested by this client; retry after {retry_after.isoformat()}")


class NotVerified(VerificationError):
    """The conversation has not proven the identity level an operation needs.

    Attributes:
        required_level: ``basic`` or ``strong``.
    """

    def __init__(self, required_level: str) -> None:
        self.required_level = required_level
        super().__init__(f"conversation not verified at level {required_level!r}")
