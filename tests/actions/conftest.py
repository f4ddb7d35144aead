"""The services every action test runs against: the demo store on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.app import Services
from bot.clock import FixedClock
from bot.db import Store
from bot.seed import seed_demo
from tests.support.actions import services_on
from tests.support.settings import SETTINGS


@pytest.fixture
def services(store: Store, clock: FixedClock) -> Services:
    """The demo store (seeded at ``clock.now()``, 10:00 in Shanghai: inside agent hours)."""
    with store.transaction() as session:
        seed_demo(session, clock.now(), SETTINGS)
    return services_on(store, clock)
