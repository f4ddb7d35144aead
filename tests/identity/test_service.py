"""The verification rules, on both backends, with the controllable clock."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.audit import AuditLog
from bot.clock import FixedClock
from bot.db import Store
from bot.identity import service as service_module
from bot.identity.errors import NotVerified, NumberLocked, TooManyCodes, UnknownNumber
from bot.identity.models import NumberLock, VerificationAttempt, VerificationChallenge, VerifiedConversation
from bot.identity.rules import (
    CODE_TTL,
    IDLE_TIMEOUT,
    LOCK_DURATION,
    MAX_CODES_PER_HOUR,
    AttemptResult,
    CodeSent,
    Verified,
)
from bot.identity.service import VerificationService
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway
from bot.settings import Settings
from tests.support.identity import ID_LAST6, PASSWORD, PHONE, SECRET_KEY, add_subscriber, count, received_code
from tests.support.sms import FailingGateway

OTHER_PHONE = "13900139000"
CONV = "conv-1"


def make_service(store: Store, clock: FixedClock, sms=None) -> VerificationService:  # type: ignore[no-untyped-def]
    settings = Settings(env="test", secret_key=SECRET_KEY)
    return VerificationService(store, sms or OutboxSmsGateway(), clock, settings)


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def challenges(store: Store) -> list[VerificationChallenge]:
    with store.transaction() as session:
        return list(
            session.execute(select(VerificationChallenge).order_by(VerificationChallenge.id)).scalars()
        )


@dataclass
class World:
    store: Store
    clock: FixedClock
    svc: VerificationService
    subscriber_id: int

    def send(self, conv: str = CONV, phone: str = PHONE) -> str:
        self.svc.start_sms(conv, phone)
        return received_code(self.store, phone)

    def verify_basic(self, conv: str = CONV, phone: str = PHONE) -> None:
        code = self.send(conv, phone)
        assert self.svc.submit_secret(conv, code).result == "ok"


@pytest.fixture
def world(store: Store, clock: FixedClock) -> World:
    sub_id = add_subscriber(store, clock)
    return World(store, clock, make_service(store, clock), sub_id)


# --- sending codes -------------------------------------------------------------------------


def test_right_code_gives_basic_level(world: World) -> None:
    sent = world.svc.start_sms(CONV, PHONE)
    assert sent == CodeSent(masked_phone="138****8000", expires_at=world.clock.now() + CODE_TTL)
    assert world.svc.pending_factor(CONV) == "sms_otp"
    code = received_code(world.store)
    assert len(code) == 6 and code.isdigit()

    result = world.svc.submit_secret(CONV, code)

    assert result == AttemptResult(
        result="ok", factor="sms_otp", attempts_left=None, locked_until=None, level="basic"
    )
    assert world.svc.pending_factor(CONV) is None
    assert world.svc.current(CONV) == Verified(
        subscriber_id=world.subscriber_id,
        phone=PHONE,
        masked_phone="138****8000",
        level="basic",
        verified_at=world.clock.now(),
    )
    [challenge] = challenges(world.store)
    assert challenge.status == "verified"
    with world.store.transaction() as session:
        actions = session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()
        outbox = session.execute(select(Notification)).scalars().all()
    assert actions == ["verification.code_sent", "verification.succeeded"]
    assert [(n.channel, n.status, n.kind, n.subscriber_id) for n in outbox] == [
        ("sms", "sent", "verification_code", world.subscriber_id)
    ]


def test_phone_is_normalised(world: World) -> None:
    sent = world.svc.start_sms(CONV, "+86 138-0013-8000")
    assert sent.masked_phone == "138****8000"
    assert world.svc.submit_secret(CONV, f" {received_code(world.store)} ").result == "ok"


def test_wrong_code_three_times_fails_the_challenge(world: World) -> None:
    code = world.send()
    bad = wrong_code(code)

    first = world.svc.submit_secret(CONV, bad)
    second = world.svc.submit_secret(CONV, bad)
    third = world.svc.submit_secret(CONV, "abc")

    assert (first.result, first.attempts_left) == ("wrong", 2)
    assert (second.result, second.attempts_left) == ("wrong", 1)
    assert (third.result, third.attempts_left) == ("wrong", 0)
    assert challenges(world.store)[0].status == "failed"
    assert world.svc.pending_factor(CONV) is None
    # The right code is no use now: a new one must be requested.
    assert world.svc.submit_secret(CONV, code).result == "no_challenge"
    assert world.svc.current(CONV) is None
    assert world.svc.submit_secret(CONV, world.send()).result == "ok"


def test_code_is_valid_for_five_minutes(world: World) -> None:
    code = world.send()
    world.clock.advance(minutes=4, seconds=59)
    assert world.svc.submit_secret(CONV, code).result == "ok"


def test_code_expires_after_five_minutes(world: World) -> None:
    code = world.send()
    world.clock.advance(minutes=5, seconds=1)
    # Still pending, so that the subscriber's answer is caught and told it expired.
    assert world.svc.pending_factor(CONV) == "sms_otp"

    result = world.svc.submit_secret(CONV, code)

    assert (result.result, result.factor) == ("expired", "sms_otp")
    assert challenges(world.store)[0].status == "expired"
    assert world.svc.pending_factor(CONV) is None
    assert world.svc.current(CONV) is None


def test_new_code_supersedes_the_old_one(world: World) -> None:
    old = world.send()
    new = world.send()
    assert [c.status for c in challenges(world.store)] == ["superseded", "open"]
    if old != new:
        assert world.svc.submit_secret(CONV, old).result == "wrong"
    assert world.svc.submit_secret(CONV, new).result == "ok"


def test_sixth_code_within_an_hour_is_refused(world: World) -> None:
    first_at = world.clock.now()
    for i in range(MAX_CODES_PER_HOUR):
        world.svc.start_sms(f"conv-{i}", PHONE)
        world.clock.advance(minutes=1)
    world.clock.advance(minutes=30)

    with pytest.raises(TooManyCodes) as refused:
        world.svc.start_sms("conv-x", PHONE)

    assert refused.value.retry_after == first_at + timedelta(hours=1)
    assert count(world.store, VerificationChallenge) == MAX_CODES_PER_HOUR
    assert count(world.store, Notification) == MAX_CODES_PER_HOUR

    world.clock.set(first_at + timedelta(minutes=59, seconds=59))
    with pytest.raises(TooManyCodes):
        world.svc.start_sms("conv-x", PHONE)

    world.clock.set(first_at + timedelta(hours=1))
    world.svc.start_sms("conv-x", PHONE)
    assert world.svc.submit_secret("conv-x", received_code(world.store)).result == "ok"
    # The window slides: the second code is still within the hour.
    with pytest.raises(TooManyCodes) as again:
        world.svc.start_sms("conv-y", PHONE)
    assert again.value.retry_after == first_at + timedelta(hours=1, minutes=1)


def test_code_limit_is_per_number(world: World) -> None:
    add_subscriber(world.store, world.clock, phone=OTHER_PHONE)
    for _ in range(MAX_CODES_PER_HOUR):
        world.svc.start_sms(CONV, PHONE)
    world.svc.start_sms(CONV, OTHER_PHONE)


# --- locking -------------------------------------------------------------------------------


def test_five_failures_in_a_row_lock_the_number(world: World) -> None:
    code = world.send()
    for _ in range(3):
        world.svc.submit_secret(CONV, wrong_code(code))
    code = world.send()
    fourth = world.svc.submit_secret(CONV, wrong_code(code))
    assert (fourth.result, fourth.attempts_left) == ("wrong", 1)  # one more and the number locks

    locked = world.svc.submit_secret(CONV, wrong_code(code))

    until = world.clock.now() + LOCK_DURATION
    assert locked == AttemptResult(result="locked", factor="sms_otp", attempts_left=0, locked_until=until)
    assert challenges(world.store)[-1].status == "failed"
    assert world.svc.pending_factor(CONV) is None
    # Even the right code is refused while locked.
    world.clock.advance(minutes=1)
    assert world.svc.submit_secret(CONV, code).result == "locked"
    with pytest.raises(NumberLocked) as refused:
        world.svc.start_sms(CONV, PHONE)
    assert refused.value.until == until
    with pytest.raises(NumberLocked):
        world.svc.start_sms("another-conversation", PHONE)
    world.clock.set(until - timedelta(seconds=1))
    with pytest.raises(NumberLocked):
        world.svc.start_sms(CONV, PHONE)
    assert count(world.store, VerifiedConversation) == 0

    world.clock.set(until)
    code = world.send()
    # The count starts again after a lock: one wrong answer does not lock again.
    assert world.svc.submit_secret(CONV, wrong_code(code)).result == "wrong"
    assert world.svc.submit_secret(CONV, code).result == "ok"
    assert world.svc.require(CONV).level == "basic"


def test_lock_fails_open_challenges_of_the_number_in_other_conversations(world: World) -> None:
    other_code = world.send("other")
    code = world.send()
    for _ in range(3):
        world.svc.submit_secret(CONV, wrong_code(code))
    code = world.send()
    world.svc.submit_secret(CONV, wrong_code(code))
    assert world.svc.submit_secret(CONV, wrong_code(code)).result == "locked"

    assert world.svc.pending_factor("other") is None
    assert world.svc.submit_secret("other", other_code).result == "locked"


def test_success_resets_the_failure_count(world: World) -> None:
    code = world.send()
    world.svc.submit_secret(CONV, wrong_code(code))
    world.svc.submit_secret(CONV, wrong_code(code))
    assert world.svc.submit_secret(CONV, code).result == "ok"

    code = world.send()
    for expected_left in (2, 1, 0):
        assert world.svc.submit_secret(CONV, wrong_code(code)).attempts_left == expected_left
    code = world.send()
    # Six wrong answers in all, but only four since the success.
    result = world.svc.submit_secret(CONV, wrong_code(code))
    assert (result.result, result.attempts_left) == ("wrong", 1)
    assert count(world.store, NumberLock) == 0


# --- second factor -------------------------------------------------------------------------


def test_second_factor_needs_basic_verification(world: World) -> None:
    with pytest.raises(NotVerified) as refused:
        world.svc.request_second_factor(CONV)
    assert refused.value.required_level == "basic"
    assert count(world.store, VerificationChallenge) == 0


@pytest.mark.parametrize("secret", [PASSWORD, ID_LAST6, "10001x", " 10001x "])
def test_second_factor_gives_strong_level(world: World, secret: str) -> None:
    world.verify_basic()
    with pytest.raises(NotVerified) as refused:
        world.svc.require(CONV, "strong")
    assert refused.value.required_level == "strong"

    world.svc.request_second_factor(CONV)
    assert world.svc.pending_factor(CONV) == "second_factor"
    result = world.svc.submit_secret(CONV, secret)

    assert result == AttemptResult(result="ok", factor="second_factor", level="strong")
    assert world.svc.pending_factor(CONV) is None
    assert world.svc.require(CONV, "strong").level == "strong"
    assert world.svc.require(CONV, "basic").level == "strong"  # strong satisfies basic
    challenge = challenges(world.store)[-1]
    assert (challenge.factor, challenge.status, challenge.code_hash) == ("second_factor", "verified", None)


def test_wrong_second_factor_counts_as_a_failure(world: World) -> None:
    world.verify_basic()
    world.svc.request_second_factor(CONV)
    first = world.svc.submit_secret(CONV, "000000")
    assert (first.result, first.factor, first.attempts_left) == ("wrong", "second_factor", 2)
    world.svc.submit_secret(CONV, "10001Y")
    world.svc.submit_secret(CONV, "135791")
    assert challenges(world.store)[-1].status == "failed"
    assert world.svc.require(CONV).level == "basic"  # the basic verification stays

    world.svc.request_second_factor(CONV)
    world.svc.submit_secret(CONV, "000000")
    locked = world.svc.submit_secret(CONV, "000000")
    assert locked.result == "locked"
    with pytest.raises(NumberLocked):
        world.svc.request_second_factor(CONV)
    assert world.svc.submit_secret(CONV, PASSWORD).result == "locked"


def test_second_factor_expires(world: World) -> None:
    world.verify_basic()
    world.svc.request_second_factor(CONV)
    world.clock.advance(minutes=6)
    assert world.svc.submit_secret(CONV, PASSWORD).result == "expired"
    assert world.svc.require(CONV).level == "basic"


def test_a_new_sms_verification_starts_at_basic(world: World) -> None:
    world.verify_basic()
    world.svc.request_second_factor(CONV)
    world.svc.submit_secret(CONV, PASSWORD)
    world.verify_basic()
    assert world.svc.require(CONV).level == "basic"


# --- the verified state --------------------------------------------------------------------


def test_verification_ends_after_fifteen_idle_minutes(world: World) -> None:
    world.verify_basic()
    world.clock.advance(minutes=14, seconds=59)
    assert world.svc.current(CONV) is not None  # touches
    world.clock.advance(minutes=14, seconds=59)
    assert world.svc.require(CONV).level == "basic"  # still alive thanks to the touch
    world.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() + 1)

    assert world.svc.current(CONV) is None
    assert count(world.store, VerifiedConversation) == 0
    with pytest.raises(NotVerified):
        world.svc.require(CONV)


def test_current_without_touch_does_not_extend(world: World) -> None:
    world.verify_basic()
    world.clock.advance(minutes=10)
    assert world.svc.current(CONV, touch=False) is not None
    world.clock.advance(minutes=5, seconds=1)
    assert world.svc.current(CONV, touch=False) is None


def test_end_forgets_the_verification(world: World) -> None:
    world.verify_basic()
    world.svc.request_second_factor(CONV)
    world.svc.end(CONV)
    assert world.svc.current(CONV) is None
    assert world.svc.pending_factor(CONV) is None
    assert world.svc.submit_secret(CONV, PASSWORD).result == "no_challenge"
    world.svc.end(CONV)  # ending twice is harmless


def test_require_rejects_unknown_level(world: World) -> None:
    with pytest.raises(ValueError):
        world.svc.require(CONV, "platinum")


# --- outcomes ------------------------------------------------------------------------------


def test_take_outcome_is_one_shot(world: World) -> None:
    assert world.svc.take_outcome(CONV) is None
    code = world.send()
    world.svc.submit_secret(CONV, wrong_code(code))
    world.svc.submit_secret(CONV, code)

    assert world.svc.take_outcome(CONV) == AttemptResult(result="ok", factor="sms_otp", level="basic")
    assert world.svc.take_outcome(CONV) is None
    with world.store.transaction() as session:
        flags = session.execute(select(VerificationAttempt.acknowledged)).scalars().all()
    assert flags == [True, True]


def test_take_outcome_reports_wrong_and_locked(world: World) -> None:
    code = world.send()
    world.svc.submit_secret(CONV, wrong_code(code))
    assert world.svc.take_outcome(CONV) == AttemptResult(result="wrong", factor="sms_otp", attempts_left=2)
    world.svc.submit_secret(CONV, wrong_code(code))
    world.svc.submit_secret(CONV, wrong_code(code))
    code = world.send()
    world.svc.submit_secret(CONV, wrong_code(code))
    world.svc.submit_secret(CONV, wrong_code(code))
    outcome = world.svc.take_outcome(CONV)
    assert outcome == AttemptResult(
        result="locked", factor="sms_otp", attempts_left=0, locked_until=world.clock.now() + LOCK_DURATION
    )


def test_submit_without_challenge(world: World) -> None:
    result = world.svc.submit_secret(CONV, "123456")
    assert result == AttemptResult(result="no_challenge", factor=None)
    assert world.svc.take_outcome(CONV) == result
    with world.store.transaction() as session:
        action = session.execute(select(AuditLog.action)).scalar_one()
    assert action == "verification.failed"


# --- refusals ------------------------------------------------------------------------------


def test_gateway_failure_leaves_nothing_behind(store: Store, clock: FixedClock) -> None:
    add_subscriber(store, clock)
    svc = make_service(store, clock, sms=FailingGateway())
    svc_ok = make_service(store, clock)
    svc_ok.start_sms("earlier", PHONE)
    before = challenges(store)

    with pytest.raises(SmsGatewayError):
        svc.start_sms(CONV, PHONE)
    # The earlier challenge of another conversation is untouched, nothing new exists.
    assert [(c.conversation_id, c.status) for c in challenges(store)] == [
        (c.conversation_id, c.status) for c in before
    ]
    assert count(store, Notification) == 1
    assert svc.pending_factor(CONV) is None

    svc_ok.start_sms(CONV, PHONE)
    with pytest.raises(SmsGatewayError):
        svc.start_sms(CONV, PHONE)  # a failed resend does not supersede the open code
    assert svc.pending_factor(CONV) == "sms_otp"
    assert svc.submit_secret(CONV, received_code(store)).result == "ok"
    with store.transaction() as session:
        actions = session.execute(select(AuditLog.action)).scalars().all()
    assert actions.count("verification.code_sent") == 2


def test_unknown_closed_or_malformed_number_is_refused(world: World) -> None:
    add_subscriber(world.store, world.clock, phone="13700137000", status="closed")
    for number in ("13911112222", "13700137000", "12345", ""):
        with pytest.raises(UnknownNumber) as refused:
            world.svc.start_sms(CONV, number)
        assert "1391111" not in str(refused.value)
    assert count(world.store, VerificationChallenge) == 0
    assert count(world.store, Notification) == 0


def test_suspended_subscriber_can_verify(world: World) -> None:
    add_subscriber(world.store, world.clock, phone=OTHER_PHONE, status="suspended")
    world.verify_basic(phone=OTHER_PHONE)


def test_generated_codes_are_six_random_digits() -> None:
    codes = {service_module.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190


# --- secrets stay secret -------------------------------------------------------------------


def _column_values(row: object) -> list[str]:
    table = row.__table__  # type: ignore[attr-defined]
    return [repr(getattr(row, column.key)) for column in table.columns]


def test_secrets_appear_nowhere(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A fixed code that cannot turn up by chance in a timestamp, id or hash.
    code = "739146"
    monkeypatch.setattr(service_module, "new_code", lambda: code)
    secrets_ = [code, PASSWORD, ID_LAST6, ID_LAST6.lower()]
    caplog.set_level(logging.DEBUG)
    returned: list[object] = []
    svc = world.svc

    returned.append(svc.start_sms(CONV, PHONE))
    assert received_code(world.store) == code
    returned.append(svc.submit_secret(CONV, "739147"))
    returned.append(svc.take_outcome(CONV))
    returned.append(svc.submit_secret(CONV, code))
    returned.append(svc.take_outcome(CONV))
    returned.append(svc.request_second_factor(CONV))
    returned.append(svc.submit_secret(CONV, "999999"))
    returned.append(svc.submit_secret(CONV, PASSWORD))
    returned.append(svc.request_second_factor(CONV))
    returned.append(svc.submit_secret(CONV, ID_LAST6.lower()))
    returned.append(svc.take_outcome(CONV))
    returned.append(svc.current(CONV))
    returned.append(svc.require(CONV, "strong"))
    returned.append(svc.pending_factor(CONV))
    world.clock.advance(minutes=1)
    returned.append(svc.start_sms("conv-2", PHONE))
    world.clock.advance(minutes=6)
    returned.append(svc.submit_secret("conv-2", code))
    returned.append(svc.end(CONV))

    with world.store.transaction() as session:
        rows: list[object] = []
        for model in (AuditLog, VerificationAttempt, VerificationChallenge, VerifiedConversation, NumberLock):
            rows.extend(session.execute(select(model)).scalars())
        outbox = session.execute(select(Notification.body)).scalars().all()
    assert len(rows) > 20
    texts = [v for row in rows for v in _column_values(row)]
    texts += [repr(value) for value in returned]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    for secret in secrets_:
        leaks = [text for text in texts if secret in text]
        assert leaks == [], secret
    # The outbox, the subscriber's phone in development, is the one place the code is.
    assert all(code in body for body in outbox)
