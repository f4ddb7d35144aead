"""Fixtures of the unknown-charge tests: the demo accounts on SQLite and PostgreSQL, and gateways."""

from __future__ import annotations

import pytest

from bot.billing.queries import find_subscriber_by_phone
from bot.db import Store
from bot.identity.sms import OutboxSmsGateway
from bot.settings import Settings, settings_from_env
from tests.conftest import FailingGateway  # noqa: F401 - used by the tests of this folder

ZHANG = "13800138000"
LI = "13900139000"
LIU = "13600136000"
CHEN = "13500135000"


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
def demo(seeded: Store) -> Store:
    """The ``store`` (SQLite and PostgreSQL) holding the demo accounts, seeded at ``clock.now()``."""
    return seeded


@pytest.fixture
def outbox() -> OutboxSmsGateway:
    """The development SMS gateway (writes to the notifications table)."""
    return OutboxSmsGateway()
