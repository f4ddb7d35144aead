"""Fixtures of the unknown-charge tests: the demo accounts on SQLite and PostgreSQL, and gateways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Optional

import pytest
from sqlalchemy.orm import Session

from bot.billing.queries import find_subscriber_by_phone
from bot.billing.seed import seed_demo
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.errors import SmsGatewayError
from bot.identity.sms import OutboxSmsGateway
from bot.settings import Settings, settings_from_env

ZHANG = "13800138000"
LI = "13900139000"
LIU = "13600136000"
CHEN = "13500135000"


class FailingGateway:
    """An SMS gateway that writes the first ``succeed`` messages to the outbox, then fails."""

    def __init__(self, succeed: int = 0) -> None:
        self.succeed = succeed
        self.calls = 0
        self._outbox = OutboxSmsGateway()

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
        if self.calls > self.succeed:
            raise SmsGatewayError("gateway down")
        self._outbox.send(session, phone=phone, body=body, kind=kind, subscriber_id=subscriber_id, at=at)


def subscriber_id(store: Store, phone: str) -> int:
    """The id of the subscriber with this number."""
    with store.transaction() as session:
        found = find_subscriber_by_phone(session, phone)
        assert found is not None
        return found.id


@pytest.fixture
def settings() -> Settings:
    """Test settings with cheap hashing."""
    return settings_from_env({"BOT_ENV": "test", "BOT_PASSWORD_ITERATIONS": "1000"})


@pytest.fixture
def demo(store: Store, clock: FixedClock, settings: Settings) -> Iterator[Store]:
    """The ``store`` (SQLite and PostgreSQL) holding the demo accounts, seeded at ``clock.now()``."""
    with store.transaction() as session:
        seed_demo(session, clock.now(), settings)
    yield store


@pytest.fixture
def outbox() -> OutboxSmsGateway:
    """The development SMS gateway (writes to the notifications table)."""
    return OutboxSmsGateway()
