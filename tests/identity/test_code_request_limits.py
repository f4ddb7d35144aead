"""Issue 13, item 9: limits on who may have codes sent, beyond five an hour per number.

One conversation may ask codes for a few different numbers a day, and one client (address or
WeChat user) for a few codes an hour, whatever the numbers; a refusal sends nothing and is
audited. On both backends, with the controllable clock.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.audit import AuditLog
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.errors import ClientRateLimited, TooManyCodes, TooManyNumbers
from bot.identity.models import VerificationChallenge
from bot.identity.service import VerificationService
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway
from bot.settings import Settings, SettingsError, settings_from_env
from tests.support.identity import SECRET_KEY, add_subscriber, count, received_code
from tests.support.postgres import empty_postgres

NUMBERS = ["13800138000", "13900139000", "13700137000", "13600136000", "13500135000"]
CLIENT = "ip:203.0.113.7"


def make_service(store: Store, clock: FixedClock, **limits: int) -> VerificationService:
    settings = Settings(env="test", secret_key=SECRET_KEY, **limits)  # type: ignore[arg-type]
    return VerificationService(store, OutboxSmsGateway(), clock, settings)


@pytest.fixture
def numbers(store: Store, clock: FixedClock) -> list[str]:
    for number in NUMBERS:
        add_subscriber(store, clock, phone=number)
    return NUMBERS


def refusals(store: Store) -> list[tuple[str | None, dict]]:
    with store.transaction() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == "verification.code_refused").order_by(AuditLog.id)
        ).all()
        return [(row.conversation_id, dict(row.details)) for row in rows]


def test_defaults_are_three_numbers_a_day_and_ten_codes_an_hour() -> None:
    settings = Settings()
    assert (settings.code_numbers_per_conversation, settings.codes_per_client_hour) == (3, 10)


def test_a_conversation_may_ask_codes_for_three_numbers_a_day(
    store: Store, clock: FixedClock, numbers: list[str]
) -> None:
    svc = make_service(store, clock)
    first_at = clock.now()
    for number in numbers[:3]:
        svc.start_sms("conv-1", number, client=CLIENT)
        clock.advance(minutes=1)

    with pytest.raises(TooManyNumbers) as refused:
        svc.start_sms("conv-1", numbers[3], client=CLIENT)

    assert refused.value.limit == 3
    assert refused.value.retry_after == first_at + timedelta(hours=24)
    assert count(store, VerificationChallenge) == 3
    assert count(store, Notification) == 3
    assert refusals(store) == [
        (
            "conv-1",
            {
                "phone": "136****6000",
                "reason": "numbers_per_conversation",
                "retry_after": (first_at + timedelta(hours=24)).isoformat(),
                "client": CLIENT,
            },
        )
    ]
    # A number the conversation already used is still served; another conversation is not limited.
    svc.start_sms("conv-1", numbers[0], client=CLIENT)
    assert svc.submit_secret("conv-1", received_code(store, numbers[0])).result == "ok"
    svc.start_sms("conv-2", numbers[3], client=CLIENT)

    # A number counts for a day after its latest code: numbers[0] was asked for again at +3 minutes,
    # so the slot that frees first is numbers[1]'s, a day after +1 minute.
    clock.set(first_at + timedelta(hours=24))
    with pytest.raises(TooManyNumbers) as still:
        svc.start_sms("conv-1", numbers[4], client=CLIENT)
    assert still.value.retry_after == first_at + timedelta(hours=24, minutes=1)
    clock.set(first_at + timedelta(hours=24, minutes=1))
    svc.start_sms("conv-1", numbers[4], client=CLIENT)


def test_a_client_may_have_ten_codes_sent_an_hour_to_any_numbers(
    store: Store, clock: FixedClock, numbers: list[str]
) -> None:
    svc = make_service(store, clock)
    first_at = clock.now()
    for i in range(10):
        svc.start_sms(f"conv-{i}", numbers[i % 5], client=CLIENT)
        clock.advance(minutes=2)

    with pytest.raises(ClientRateLimited) as refused:
        svc.start_sms("conv-new", numbers[0], client=CLIENT)

    assert refused.value.retry_after == first_at + timedelta(hours=1)
    assert count(store, Notification) == 10
    [(conversation, details)] = refusals(store)
    assert conversation == "conv-new"
    assert details["reason"] == "codes_per_client" and details["client"] == CLIENT
    # Another client, and the same subscriber from elsewhere, are served.
    svc.start_sms("conv-new", numbers[0], client="ip:198.51.100.20")
    # The hour slides: the first code leaves it, the second not yet.
    clock.set(first_at + timedelta(hours=1))
    svc.start_sms("conv-later", numbers[1], client=CLIENT)
    with pytest.raises(ClientRateLimited) as again:
        svc.start_sms("conv-later-2", numbers[2], client=CLIENT)
    assert again.value.retry_after == first_at + timedelta(hours=1, minutes=2)


def test_refused_requests_do_not_count_and_per_number_refusals_are_audited_too(
    store: Store, clock: FixedClock, numbers: list[str]
) -> None:
    svc = make_service(store, clock, codes_per_client_hour=6)
    for i in range(5):
        svc.start_sms(f"conv-{i}", numbers[0], client=CLIENT)
    for _ in range(3):
        with pytest.raises(TooManyCodes):
            svc.start_sms("conv-x", numbers[0], client=CLIENT)
    svc.start_sms("conv-x", numbers[1], client=CLIENT)  # the sixth code of the client
    with pytest.raises(ClientRateLimited):
        svc.start_sms("conv-y", numbers[2], client=CLIENT)
    assert [d["reason"] for _, d in refusals(store)] == ["codes_per_number"] * 3 + ["codes_per_client"]


def test_the_client_is_recorded_with_the_challenge(
    store: Store, clock: FixedClock, numbers: list[str]
) -> None:
    svc = make_service(store, clock)
    svc.start_sms("conv-1", numbers[0], client="wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    svc.start_sms("conv-2", numbers[1])  # the command line and tests name no client: no client limit
    with store.transaction() as session:
        clients = session.scalars(
            select(VerificationChallenge.client).order_by(VerificationChallenge.id)
        ).all()
    assert clients == ["wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M", None]


@pytest.mark.postgres
def test_parallel_requests_of_one_client_cannot_pass_the_limit(postgres_url: str, clock: FixedClock) -> None:
    """Requests for different numbers take different subscriber row locks; the client's lock holds."""
    store = Store.from_url(postgres_url)
    try:
        empty_postgres(store)
        for number in NUMBERS:
            add_subscriber(store, clock, phone=number)
        svc = make_service(store, clock, codes_per_client_hour=3)
        outcomes: list[str] = []
        barrier = threading.Barrier(len(NUMBERS))

        def ask(i: int) -> None:
            barrier.wait()
            try:
                svc.start_sms(f"conv-{i}", NUMBERS[i], client=CLIENT)
                outcomes.append("sent")
            except ClientRateLimited:
                outcomes.append("refused")

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(NUMBERS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["refused", "refused", "sent", "sent", "sent"]
        assert count(store, Notification) == 3
    finally:
        store.dispose()


def test_the_per_number_limit_is_five_an_hour_unless_set(
    store: Store, clock: FixedClock, numbers: list[str]
) -> None:
    assert Settings().codes_per_number_hour == 5
    assert settings_from_env({"BOT_CODES_PER_NUMBER_HOUR": "2"}).codes_per_number_hour == 2
    service = make_service(store, clock, codes_per_number_hour=2)
    service.start_sms("n1", numbers[0], client=CLIENT)
    service.start_sms("n2", numbers[0], client=CLIENT)
    with pytest.raises(TooManyCodes):
        service.start_sms("n3", numbers[0], client=CLIENT)
    with pytest.raises(SettingsError):
        settings_from_env({"BOT_CODES_PER_NUMBER_HOUR": "0"})
