"""Two closure requests at the same time still make one request (PostgreSQL row locks)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from sqlalchemy import func, select

from bot.billing.closure import ClosureResult, request_closure
from bot.billing.models import ClosureRequest
from bot.billing.queries import find_subscriber_by_phone
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway
from bot.seed import seed_demo
from tests.support.demo import LIU
from tests.support.postgres import empty_postgres
from tests.support.settings import SETTINGS


@pytest.mark.postgres
def test_concurrent_requests_make_one(postgres_url: str, clock: FixedClock) -> None:
    store = Store.from_url(postgres_url)
    try:
        empty_postgres(store)
        with store.transaction() as session:
            seed_demo(session, clock.now(), SETTINGS)
            liu = find_subscriber_by_phone(session, LIU)
            assert liu is not None
            sid = liu.id

        first_written = threading.Event()
        release_first = threading.Event()

        def ask(hold: bool) -> ClosureResult:
            with store.transaction() as session:
                result = request_closure(
                    session,
                    subscriber_id=sid,
                    consent_to_fee=False,
                    at=clock.now(),
                    conversation_id="conv-race",
                    sms=OutboxSmsGateway(),
                )
                if hold:
                    first_written.set()
                    assert release_first.wait(10)
            return result

        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(ask, True)
            assert first_written.wait(10)
            second = pool.submit(ask, False)
            with pytest.raises(FutureTimeout):
                second.result(timeout=0.5)  # waits for the first transaction's row lock
            release_first.set()
            results = [first.result(10), second.result(10)]

        assert [r.created for r in results] == [True, False]
        assert results[0].request == results[1].request
        with store.transaction() as session:
            assert session.scalar(select(func.count()).select_from(ClosureRequest)) == 1
            assert session.scalar(select(func.count()).where(Notification.kind == "closure")) == 1
    finally:
        store.dispose()
