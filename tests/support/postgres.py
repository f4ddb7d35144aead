"""Emptying a test database on PostgreSQL between tests."""

from __future__ import annotations

from bot.db import Store
from bot.schema import metadata


def empty_postgres(store: Store) -> None:
    """Empties every table of a migrated store (PostgreSQL), restarting the ids."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with store.transaction() as session:
        session.connection().exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
