"""Fixtures of the closure tests: the demo accounts on SQLite and PostgreSQL, and SMS gateways."""

from __future__ import annotations

import pytest

from bot.identity.sms import OutboxSmsGateway
from tests.conftest import FailingGateway as FailingSmsGateway  # noqa: F401 - used by the tests

TEST_SETTINGS = {"BOT_ENV": "test", "BOT_PASSWORD_ITERATIONS": "1000"}


@pytest.fixture
def sms() -> OutboxSmsGateway:
    """The development gateway: messages land in the ``notifications`` table."""
    return OutboxSmsGateway()


@pytest.fixture
def failing_sms() -> FailingSmsGateway:
    """A gateway that raises ``SmsGatewayError`` on every message."""
    return FailingSmsGateway()
