"""The rules of verification in one place: limits, lifetimes, levels, and what a step returns.

``bot.identity.service`` applies them; ``bot.identity.records`` reads and writes the rows they
count. Nothing here touches the store.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional, Union

from bot.identity.errors import (
    ClientRateLimited,
    TooManyCodes,
    TooManyNumbers,
)
from bot.identity.models import (
    VerificationChallenge,
)
from bot.settings import Settings
from bot.texts import identity as copy

# --- The limits, in one place. -------------------------------------------------------------
#: How long a challenge (SMS code or second-factor question) can be answered.
CODE_TTL = timedelta(minutes=5)
#: Wrong answers allowed per challenge before it fails and a new one must be requested.
MAX_TRIES_PER_CODE = 3
#: Codes that may be sent to one number within :data:`CODE_WINDOW` (``BOT_CODES_PER_NUMBER_HOUR``).
MAX_CODES_PER_HOUR = Settings.codes_per_number_hour
#: The sliding window of :data:`MAX_CODES_PER_HOUR`.
CODE_WINDOW = timedelta(hours=1)
#: The window of the settings' ``code_numbers_per_conversation`` (distinct numbers asked for).
NUMBERS_WINDOW = timedelta(hours=24)
#: The sliding window of the settings' ``codes_per_client_hour``.
CLIENT_WINDOW = timedelta(hours=1)
#: Wrong answers in a row (since the last success or lock) that lock the number.
MAX_FAILURES_IN_ROW = 5
#: How long a locked number stays locked.
LOCK_DURATION = timedelta(minutes=30)
#: Inactivity after which a verified conversation must verify again.
IDLE_TIMEOUT = timedelta(minutes=15)
#: Digits in a one-time code.
CODE_LENGTH = 6

SMS_KIND = "verification_code"
#: A limit that refused to send a code.
CodeRefusal = Union[TooManyCodes, TooManyNumbers, ClientRateLimited]
#: The audit ``reason`` of each refusal to send a code.
REFUSAL_REASONS: dict[type, str] = {
    TooManyCodes: "codes_per_number",
    TooManyNumbers: "numbers_per_conversation",
    ClientRateLimited: "codes_per_client",
}
ACTOR = "system"
LEVEL_RANK = {"basic": 1, "strong": 2}


@dataclass(frozen=True)
class CodeSent:
    """A code was sent.

    Attributes:
        masked_phone: the number it went to, masked (``138****8000``).
        expires_at: when the code stops being accepted (UTC).
    """

    masked_phone: str
    expires_at: datetime


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one secret the subscriber typed.

    Attributes:
        result: ``ok``, ``wrong``, ``expired``, ``locked`` or ``no_challenge``.
        factor: ``sms_otp`` or ``second_factor``; None when the conversation never had a challenge.
        attempts_left: wrong answers still allowed before the challenge fails or the number is
            locked, whichever comes first (0 when the challenge is spent); None after ``ok`` and
            ``no_challenge``.
        locked_until: the end of the number's lock when ``result`` is ``locked``.
        level: the level reached (``basic`` or ``strong``) when ``result`` is ``ok``.
    """

    result: str
    factor: Optional[str]
    attempts_left: Optional[int] = None
    locked_until: Optional[datetime] = None
    level: Optional[str] = None


@dataclass(frozen=True)
class Verified:
    """A conversation whose subscriber proved who they are.

    Attributes:
        subscriber_id: the subscriber's id.
        phone: the subscriber's number.
        masked_phone: the number, masked for display.
        level: ``basic`` (SMS code) or ``strong`` (plus password or ID digits).
        verified_at: when the current level was reached (UTC).
    """

    subscriber_id: int
    phone: str
    masked_phone: str
    level: str
    verified_at: datetime


def code_context(challenge: VerificationChallenge) -> str:
    """What a code's hash is bound to: the challenge's stable identity.

    The table has no nonce column, so the context is made of columns that never change once the
    challenge exists: its id (known after a flush), conversation, number and creation instant.
    A hash copied to another challenge row therefore never matches there.
    """
    created = challenge.created_at.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return f"challenge:{challenge.id}:{challenge.conversation_id}:{challenge.phone}:{created}"


def new_code() -> str:
    """A uniformly random code of :data:`CODE_LENGTH` digits."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def sms_body(code: str) -> str:
    minutes = int(CODE_TTL.total_seconds() // 60)
    return copy.code_sms(code, minutes)
