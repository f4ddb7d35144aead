"""Local stand-in for the shared ``store`` fixture.

``tests/conftest.py::_empty_postgres`` calls ``Session.exec_driver_sql``, which SQLAlchemy 1.4
sessions do not have (it is a ``Connection`` method), so every PostgreSQL test errors in setup.
That file is shared and not ours to change; this override is identical except that the
TRUNCATE goes through the session's connection. Delete it once the shared fixture is fixed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from bot.db import Store
from bot.schema import metadata


def _empty_postgres(store: Store) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with store.transaction() as session:
        session.connection().exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    """An empty, migrated billing store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "billing.db"
        shutil.copy(sqlite_template, path)
        s = Store.from_url(f"sqlite:///{path}")
    else:
        s = Store.from_url(request.getfixturevalue("postgres_url"))
        _empty_postgres(s)
    try:
        yield s
    finally:
        s.dispose()
