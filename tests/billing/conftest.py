"""Fixtures of the billing tests: test settings and a store holding the demo accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clock import FixedClock
from bot.db import Store
from bot.seed import seed_demo
from bot.settings import Settings


@pytest.fixture
def settings() -> Settings:
    """Development settings with cheap hashing."""
    return Settings(env="test", password_iterations=1000)


@pytest.fixture
def seeded(store: Store, clock: FixedClock, settings: Settings) -> Iterator[Store]:
    """The ``store`` (SQLite and PostgreSQL) with the demo accounts, seeded at ``clock.now()``."""
    with store.transaction() as session:
        seed_demo(session, clock.now(), settings)
    yield store
