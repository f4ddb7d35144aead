"""Identity verification of a conversation: SMS one-time codes, then an optional second factor.

Rules (the limits are the constants below):

* A code is sent only to a known number whose account is not closed, not while the number is
  locked, and at most ``codes_per_number_hour`` times (:data:`MAX_CODES_PER_HOUR` unless set) per
  sliding hour. One conversation may
  have codes sent to at most ``code_numbers_per_conversation`` different numbers per
  :data:`NUMBERS_WINDOW`, and one client (a web or App user's address, a WeChat OpenID, as the
  channel tells it) at most ``codes_per_client_hour`` codes per sliding hour, to any numbers
  (settings; issue 13: one script must not text codes to thousands of numbers). A refusal is
  audited (``verification.code_refused``) and sends nothing. It is valid for
  :data:`CODE_TTL`; only its keyed hash is stored; a new code supersedes the conversation's
  earlier open challenges. The SMS goes out in the same transaction as the challenge.
* Each challenge allows :data:`MAX_TRIES_PER_CODE` wrong answers, then it fails.
  :data:`MAX_FAILURES_IN_ROW` wrong answers for a number (across challenges and conversations,
  counted since its last success or lock) lock the number for :data:`LOCK_DURATION`.
* A right code verifies the conversation at level ``basic``; the service password or the ID
  number's last six digits, asked for afterwards, raise it to ``strong``. A verification ends
  after :data:`IDLE_TIMEOUT` without activity.

Nothing here logs, audits, stores or returns a code, password or ID digits in clear.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing.models import Subscriber
from bot.clock import Clock
from bot.db import Store
from bot.identity import records
from bot.identity.errors import (
    ClientRateLimited,
    NotVerified,
    NumberLocked,
    TooManyCodes,
    TooManyNumbers,
    UnknownNumber,
)
from bot.identity.hashing import code_hash, code_matches, normalise_id_digits, verify_secret
from bot.identity.models import (
    LEVELS,
    NumberLock,
    VerificationAttempt,
    VerificationChallenge,
    VerifiedConversation,
)
from bot.identity.rules import (
    ACTOR,
    CLIENT_WINDOW,
    CODE_LENGTH,
    CODE_TTL,
    CODE_WINDOW,
    LEVEL_RANK,
    NUMBERS_WINDOW,
    REFUSAL_REASONS,
    SMS_KIND,
    AttemptResult,
    CodeRefusal,
    CodeSent,
    Verified,
    code_context,
    new_code,
    sms_body,
)
from bot.notifications.sms import SmsGateway
from bot.phone import normalise_phone
from bot.settings import Settings
from bot.texts.formats import mask_phone

logger = logging.getLogger(__name__)


class VerificationService:
    """Verifies who is on the other end of a conversation, with the rules of this module."""

    def __init__(self, store: Store, sms: SmsGateway, clock: Clock, settings: Settings) -> None:
        """Creates the service.

        Args:
            store: the billing store; every access is one ``store.transaction()``.
            sms: the gateway that sends codes.
            clock: the source of every time.
            settings: ``secret_key`` keys the code hashes and peppers the secret hashes;
                ``codes_per_number_hour``, ``code_numbers_per_conversation`` and
                ``codes_per_client_hour`` limit who may have codes sent.
        """
        self._store = store
        self._sms = sms
        self._clock = clock
        self._key = settings.secret_key
        self._numbers_per_conversation = settings.code_numbers_per_conversation
        self._codes_per_client = settings.codes_per_client_hour
        self._codes_per_number = settings.codes_per_number_hour

    # --- SMS codes ------------------------------------------------------------------------

    def start_sms(self, conversation_id: str, phone: str, client: Optional[str] = None) -> CodeSent:
        """Sends a one-time code to ``phone`` and opens an ``sms_otp`` challenge.

        Args:
            conversation_id: the conversation the code will verify.
            phone: the number the subscriber gave (``+86``, spaces and dashes are accepted).
            client: who is asking, as the channel identified them (``ip:<address>``,
                ``wechat:<openid>``; see ``bot.channels.client``). None only for callers without
                one (the command line, tests): then no per-client limit applies.

        Returns:
            Where the code went (masked) and until when it is valid. Never the code.

        Raises:
            UnknownNumber: not a subscriber's number, or the account is closed.
            NumberLocked: the number is locked after too many failures.
            TooManyCodes: ``codes_per_number_hour`` codes went to the number in the last hour.
            TooManyNumbers: the conversation had codes sent to as many other numbers as it may.
            ClientRateLimited: ``client`` had as many codes sent in the last hour as it may.
            SmsGatewayError: the SMS could not be sent; nothing was stored.
            StoreUnavailable: the store cannot be reached.
        """
        number = normalise_phone(phone)
        if number is None:
            raise UnknownNumber()
        masked = mask_phone(number)
        now = self._clock.now()
        refused: Optional[CodeRefusal] = None
        with self._store.transaction() as session:
            # Serialise code requests of one client and of one conversation (they span numbers, so
            # the subscriber's row lock below does not cover them).
            self._serialise(session, f"conversation:{conversation_id}")
            if client:
                self._serialise(session, f"client:{client}")
            # The row lock serialises code requests for one number (PostgreSQL; SQLite
            # serialises writers anyway), so the hourly limit cannot be raced.
            subscriber = session.execute(
                select(Subscriber).where(Subscriber.phone == number).with_for_update()
            ).scalar_one_or_none()
            if subscriber is None or subscriber.status == "closed":
                raise UnknownNumber(masked)
            self._refuse_if_locked(session, number, now)
            refused = self._code_limit(session, conversation_id, number, client, now)
            if refused is not None:
                details: dict[str, object] = {
                    "phone": masked,
                    "reason": REFUSAL_REASONS[type(refused)],
                    "retry_after": refused.retry_after.isoformat(),
                }
                if client:
                    details["client"] = client
                audit.record(
                    session,
                    at=now,
                    actor=ACTOR,
                    action="verification.code_refused",
                    subscriber_id=subscriber.id,
                    entity="verification_challenge",
                    conversation_id=conversation_id,
                    details=details,
                )
            else:
                records.supersede_open(session, conversation_id)
                challenge = VerificationChallenge(
                    conversation_id=conversation_id,
                    subscriber_id=subscriber.id,
                    phone=number,
                    factor="sms_otp",
                    created_at=now,
                    expires_at=now + CODE_TTL,
                    attempts=0,
                    status="open",
                    client=client,
                )
                session.add(challenge)
                session.flush()
                code = new_code()
                challenge.code_hash = code_hash(code, key=self._key, context=code_context(challenge))
                self._sms.send(
                    session,
                    phone=number,
                    body=sms_body(code),
                    kind=SMS_KIND,
                    subscriber_id=subscriber.id,
                    at=now,
                )
                audit.record(
                    session,
                    at=now,
                    actor=ACTOR,
                    action="verification.code_sent",
                    subscriber_id=subscriber.id,
                    entity="verification_challenge",
                    entity_id=challenge.id,
                    conversation_id=conversation_id,
                    details={"phone": masked, "expires_at": challenge.expires_at.isoformat()},
                )
                result = CodeSent(masked_phone=masked, expires_at=challenge.expires_at)
        if refused is not None:  # raised after the commit, so that the refusal stays audited
            logger.warning(
                "verification code to %s refused for conversation %s: %s",
                masked,
                conversation_id,
                REFUSAL_REASONS[type(refused)],
            )
            raise refused
        logger.info("verification code sent to %s for conversation %s", masked, conversation_id)
        return result

    def _code_limit(
        self, session: Session, conversation_id: str, number: str, client: Optional[str], now: datetime
    ) -> Optional[CodeRefusal]:
        """Why a code to ``number`` must not be sent now, or None when it may."""
        sms = VerificationChallenge.factor == "sms_otp"
        retry = records.window_full(
            session, VerificationChallenge.phone == number, self._codes_per_number, CODE_WINDOW, now
        )
        if retry:
            return TooManyCodes(retry)

        # A number stays "used" by the conversation until its latest code leaves the window.
        last_by_number = dict(
            session.execute(
                select(VerificationChallenge.phone, func.max(VerificationChallenge.created_at))
                .where(
                    VerificationChallenge.conversation_id == conversation_id,
                    sms,
                    VerificationChallenge.created_at > now - NUMBERS_WINDOW,
                )
                .group_by(VerificationChallenge.phone)
            ).all()
        )
        limit = self._numbers_per_conversation
        if number not in last_by_number and len(last_by_number) >= limit:
            frees = sorted(last_by_number.values())[len(last_by_number) - limit]
            return TooManyNumbers(limit, frees + NUMBERS_WINDOW)

        if client:
            where = VerificationChallenge.client == client
            retry = records.window_full(session, where, self._codes_per_client, CLIENT_WINDOW, now)
            if retry:
                return ClientRateLimited(retry)
        return None

    @staticmethod
    def _serialise(session: Session, key: str) -> None:
        """Holds a transaction-scoped lock on ``key`` (PostgreSQL; SQLite serialises writers anyway)."""
        if session.get_bind().dialect.name != "postgresql":
            return
        digest = hashlib.sha256(f"billing-assistant/verification/{key}".encode()).digest()
        session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))

    # --- second factor --------------------------------------------------------------------

    def request_second_factor(self, conversation_id: str) -> None:
        """Asks for the service password or the ID number's last six digits.

        Opens a ``second_factor`` challenge for the conversation's verified subscriber.

        Args:
            conversation_id: a conversation verified at least at level ``basic``.

        Raises:
            NotVerified: the conversation is not verified (``required_level`` is ``basic``).
            NumberLocked: the subscriber's number is locked.
            StoreUnavailable: the store cannot be reached.
        """
        now = self._clock.now()
        with self._store.transaction() as session:
            verified = records.current(session, conversation_id, now, touch=True)
            if verified is None:
                raise NotVerified("basic")
            self._refuse_if_locked(session, verified.phone, now)
            records.supersede_open(session, conversation_id)
            challenge = VerificationChallenge(
                conversation_id=conversation_id,
                subscriber_id=verified.subscriber_id,
                phone=verified.phone,
                factor="second_factor",
                code_hash=None,
                created_at=now,
                expires_at=now + CODE_TTL,
                attempts=0,
                status="open",
            )
            session.add(challenge)
            session.flush()
            audit.record(
                session,
                at=now,
                actor=ACTOR,
                action="verification.second_factor_requested",
                subscriber_id=verified.subscriber_id,
                entity="verification_challenge",
                entity_id=challenge.id,
                conversation_id=conversation_id,
                details={"phone": verified.masked_phone, "expires_at": challenge.expires_at.isoformat()},
            )

    # --- answers ---------------------------------------------------------------------------

    def pending_factor(self, conversation_id: str) -> Optional[str]:
        """The factor the conversation is being asked for, if any.

        One indexed query, cheap enough for a guard that runs on every incoming message.

        Returns:
            ``sms_otp`` or ``second_factor`` when the conversation has an open challenge (also
            one past its expiry, so that the subscriber can be told it expired), else None.
        """
        with self._store.transaction() as session:
            return session.execute(
                select(VerificationChallenge.factor)
                .where(
                    VerificationChallenge.conversation_id == conversation_id,
                    VerificationChallenge.status == "open",
                )
                .order_by(VerificationChallenge.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def needs_new_code(self, conversation_id: str) -> bool:
        """Whether the conversation's latest SMS code can no longer be answered.

        True when it was voided by wrong tries or has expired (answered late, or past its expiry
        while still open): the subscriber needs a new code, not another try.
        """
        now = self._clock.now()
        with self._store.transaction() as session:
            latest = session.execute(
                select(VerificationChallenge.status, VerificationChallenge.expires_at)
                .where(
                    VerificationChallenge.conversation_id == conversation_id,
                    VerificationChallenge.factor == "sms_otp",
                )
                .order_by(VerificationChallenge.id.desc())
                .limit(1)
            ).one_or_none()
        if latest is None:
            return False
        status, expires_at = latest
        return status in ("failed", "expired") or (status == "open" and now > expires_at)

    def submit_secret(self, conversation_id: str, secret: str) -> AttemptResult:
        """Checks what the subscriber typed against the conversation's latest challenge.

        Args:
            conversation_id: the conversation.
            secret: the code, service password or ID digits as typed; never kept.

        Returns:
            The outcome; it is also recorded for :meth:`take_outcome`.

        Raises:
            StoreUnavailable: the store cannot be reached.
        """
        now = self._clock.now()
        with self._store.transaction() as session:
            challenge = session.execute(
                select(VerificationChallenge)
                .where(VerificationChallenge.conversation_id == conversation_id)
                .order_by(VerificationChallenge.id.desc())
                .limit(1)
                .with_for_update()
            ).scalar_one_or_none()
            if challenge is None:
                outcome = AttemptResult(result="no_challenge", factor=None)
                records.record(session, conversation_id, None, "", outcome, now)
                return outcome

            lock = records.active_lock(session, challenge.phone, now)
            if lock is not None:
                outcome = AttemptResult(
                    result="locked", factor=challenge.factor, attempts_left=0, locked_until=lock.locked_until
                )
            elif challenge.status != "open":
                outcome = AttemptResult(result="no_challenge", factor=challenge.factor)
            elif now > challenge.expires_at:
                challenge.status = "expired"
                outcome = AttemptResult(result="expired", factor=challenge.factor, attempts_left=0)
            elif self._matches(session, challenge, secret):
                outcome = records.succeed(session, challenge, now)
            else:
                outcome = records.fail(session, challenge, now)
            records.record(session, conversation_id, challenge.subscriber_id, challenge.phone, outcome, now)
        logger.info(
            "verification attempt in conversation %s: %s (%s)",
            conversation_id,
            outcome.result,
            outcome.factor,
        )
        return outcome

    def take_outcome(self, conversation_id: str) -> Optional[AttemptResult]:
        """The newest outcome not yet told to the subscriber; marks all of them as told.

        Returns:
            The newest unacknowledged attempt's outcome, or None (also on a second call).
        """
        with self._store.transaction() as session:
            attempts = (
                session.execute(
                    select(VerificationAttempt)
                    .where(
                        VerificationAttempt.conversation_id == conversation_id,
                        VerificationAttempt.acknowledged.is_(False),
                    )
                    .order_by(VerificationAttempt.id.desc())
                    .with_for_update()
                )
                .scalars()
                .all()
            )
            if not attempts:
                return None
            for attempt in attempts:
                attempt.acknowledged = True
            newest = attempts[0]
            locked_until = None
            if newest.result == "locked":
                lock = session.get(NumberLock, newest.phone)
                locked_until = lock.locked_until if lock is not None else None
            level = None
            if newest.result == "ok":
                level = "basic" if newest.factor == "sms_otp" else "strong"
            return AttemptResult(
                result=newest.result,
                factor=newest.factor or None,
                attempts_left=newest.attempts_left,
                locked_until=locked_until,
                level=level,
            )

    # --- the verified state ----------------------------------------------------------------

    def current(self, conversation_id: str, *, touch: bool = True) -> Optional[Verified]:
        """The conversation's verification, if any and not idle for too long.

        Args:
            conversation_id: the conversation.
            touch: count this as activity (refreshes the idle timer).

        Returns:
            The verification, or None when not verified or idle for more than
            :data:`IDLE_TIMEOUT` (the stale verification is then removed).
        """
        now = self._clock.now()
        with self._store.transaction() as session:
            return records.current(session, conversation_id, now, touch=touch)

    def require(self, conversation_id: str, level: str = "basic") -> Verified:
        """The conversation's verification, which must be at least ``level`` (counts as activity).

        Raises:
            NotVerified: not verified, idle too long, or below ``level``.
            ValueError: ``level`` is not ``basic`` or ``strong``.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown verification level {level!r}")
        verified = self.current(conversation_id, touch=True)
        if verified is None or LEVEL_RANK[verified.level] < LEVEL_RANK[level]:
            raise NotVerified(level)
        return verified

    def end(self, conversation_id: str) -> None:
        """Forgets the conversation's verification and withdraws its open challenges."""
        now = self._clock.now()
        with self._store.transaction() as session:
            row = session.get(VerifiedConversation, conversation_id)
            records.supersede_open(session, conversation_id)
            if row is not None:
                session.delete(row)
                audit.record(
                    session,
                    at=now,
                    actor=ACTOR,
                    action="verification.ended",
                    subscriber_id=row.subscriber_id,
                    entity="verified_conversation",
                    entity_id=conversation_id,
                    conversation_id=conversation_id,
                )

    # --- checks that need the service's key --------------------------------------------------

    def _refuse_if_locked(self, session: Session, phone: str, now: datetime) -> None:
        lock = records.active_lock(session, phone, now)
        if lock is not None:
            raise NumberLocked(lock.locked_until)

    def _matches(self, session: Session, challenge: VerificationChallenge, secret: str) -> bool:
        if challenge.factor == "sms_otp":
            typed = "".join((secret or "").split())
            if not challenge.code_hash or len(typed) != CODE_LENGTH or not typed.isdigit():
                return False
            return code_matches(typed, challenge.code_hash, key=self._key, context=code_context(challenge))
        subscriber = session.get(Subscriber, challenge.subscriber_id)
        if subscriber is None:
            return False
        typed = (secret or "").strip()
        password_ok = verify_secret(typed, subscriber.password_hash, pepper=self._key)
        id_ok = verify_secret(normalise_id_digits(typed), subscriber.id_last6_hash, pepper=self._key)
        return password_ok or id_ok
