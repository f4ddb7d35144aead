"""The test settings: the development defaults with cheap password hashing."""

from __future__ import annotations

from bot.settings import Settings, settings_from_env

#: The environment of the test settings. PBKDF2 at full strength makes every seeded subscriber cost
#: a second; the tests don't need it.
TEST_ENV = {"BOT_ENV": "test", "BOT_PASSWORD_ITERATIONS": "1000"}

#: ``settings_from_env(TEST_ENV)`` (settings are frozen: one object serves every test).
SETTINGS: Settings = settings_from_env(TEST_ENV)
