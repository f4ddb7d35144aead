"""Shared fixtures: a migrated billing store on SQLite and, when reachable, on PostgreSQL.

PostgreSQL gets a fresh database per test run (created here, migrated with Alembic, dropped at
the end); each test starts from empty tables. Under CI an unreachable PostgreSQL is an error,
not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

os.environ.setdefault("BOT_ENV", "test")
# PBKDF2 at full strength makes every seeded subscriber cost a second; tests don't need it.
os.environ.setdefault("BOT_PASSWORD_ITERATIONS", "1000")

from bot.app import wire_events  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.db import Store  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.seed import seed_demo  # noqa: E402
from tests.support.postgres import empty_postgres  # noqa: E402
from tests.support.settings import SETTINGS  # noqa: E402

PG_ADMIN_URL = os.environ.get("BOT_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _pg_admin_connection():  # type: ignore[no-untyped-def]
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN_URL)
    conn = psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, connect_timeout=3
    )
    conn.autocommit = True
    return conn, url


@pytest.fixture(scope="session", autouse=True)
def billing_events() -> None:
    """Billing's events reach the alert engine, as ``bot.app`` wires them in every process: tests
    that post charges, payments or usage without building ``Services`` see alerts fire too."""
    wire_events()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "billing.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this run, dropped afterwards."""
    try:
        conn, url = _pg_admin_connection()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"bot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    db_url = str(url.set(database=name))
    try:
        upgrade(db_url)
        yield db_url
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    """An empty, migrated billing store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "billing.db"
        shutil.copy(sqlite_template, path)
        s = Store.from_url(f"sqlite:///{path}")
    else:
        s = Store.from_url(request.getfixturevalue("postgres_url"))
        empty_postgres(s)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    """An empty, migrated SQLite store, for tests that need only one backend."""
    path = tmp_path / "billing.db"
    shutil.copy(sqlite_template, path)
    s = Store.from_url(f"sqlite:///{path}")
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """A controllable clock at a fixed instant (2026-11-22 10:00 Asia/Shanghai)."""
    return FixedClock(datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc))


@pytest.fixture
def seeded(store: Store, clock: FixedClock) -> Iterator[Store]:
    """The ``store`` (SQLite and PostgreSQL) with the demo accounts, seeded at ``clock.now()``."""
    with store.transaction() as session:
        seed_demo(session, clock.now(), SETTINGS)
    yield store
