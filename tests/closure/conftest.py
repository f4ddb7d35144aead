"""Fixtures of the closure tests: the demo accounts on SQLite and PostgreSQL, and SMS gateways."""

from __future__ import annotations

import pytest

from bot.notifications.sms import OutboxSmsGateway
from tests.support.sms import FailingGateway


@pytest.fixture
def sms() -> OutboxSmsGateway:
    """The development gateway: messages land in the ``notifications`` table."""
    return OutboxSmsGateway()


@pytest.fixture
def failing_sms() -> FailingGateway:
    """A gateway that raises ``SmsGatewayError`` on every message."""
    return FailingGateway()
