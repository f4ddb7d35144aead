"""Fixtures of the unknown-charge tests: the demo accounts on SQLite and PostgreSQL, and gateways."""

from __future__ import annotations

import pytest

from bot.db import Store
from bot.notifications.sms import OutboxSmsGateway
from bot.settings import Settings
from tests.support.settings import SETTINGS


@pytest.fixture
def settings() -> Settings:
    """Test settings with cheap hashing."""
    return SETTINGS


@pytest.fixture
def demo(seeded: Store) -> Store:
    """The ``store`` (SQLite and PostgreSQL) holding the demo accounts, seeded at ``clock.now()``."""
    return seeded


@pytest.fixture
def outbox() -> OutboxSmsGateway:
    """The development SMS gateway (writes to the notifications table)."""
    return OutboxSmsGateway()
