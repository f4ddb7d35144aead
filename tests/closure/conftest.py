"""Fixtures of the closure tests: the demo accounts on SQLite and PostgreSQL, and SMS gateways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Optional

import pytest
from sqlalchemy.orm import Session

from bot.billing.seed import seed_demo
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.errors import SmsGatewayError
from bot.identity.sms import OutboxSmsGateway
from bot.settings import settings_from_env

TEST_SETTINGS = {"BOT_ENV": "test", "BOT_PASSWORD_ITERATIONS": "1000"}


class FailingSmsGateway:
    """A gateway that is always unreachable (after the caller wrote everything else)."""

    def __init__(self) -> None:
        self.calls = 0

    def send(
        self,
        session: Session,
        *,
        phone: str,
        body: str,
        kind: str,
        subscriber_id: Optional[int] = None,
        at: datetime,
    ) -> None:
        self.calls += 1
        raise SmsGatewayError("SMS gateway unreachable (test)")


@pytest.fixture
def seeded(store: Store, clock: FixedClock) -> Iterator[Store]:
    """The ``store`` (SQLite and PostgreSQL) with the demo accounts, seeded at ``clock.now()``."""
    with store.transaction() as session:
        seed_demo(session, clock.now(), settings_from_env(TEST_SETTINGS))
    yield store


@pytest.fixture
def sms() -> OutboxSmsGateway:
    """The development gateway: messages land in the ``notifications`` table."""
    return OutboxSmsGateway()


@pytest.fixture
def failing_sms() -> FailingSmsGateway:
    """A gateway that raises ``SmsGatewayError`` on every message."""
    return FailingSmsGateway()
