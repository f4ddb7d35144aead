"""Fixtures of the alert tests: the recording SMS gateway (the demo accounts are ``seeded``)."""

from __future__ import annotations

import pytest

from tests.support.sms import RecordingGateway


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()
