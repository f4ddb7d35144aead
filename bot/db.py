"""Engine and unit of work for the billing store (SQLAlchemy 1.4, 2.0 style).

Nothing here runs at import time: a :class:`Store` is built by whoever needs it
(``Store.from_settings()``), so tests can hand in a store on their own database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import DateTime, TypeDecorator


class StoreUnavailable(RuntimeError):
    """The billing store cannot be reached or answered with an error."""


class UTCDateTime(TypeDecorator):
    """Stores timezone-aware datetimes as naive UTC and returns them aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use timezone-aware datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Creates an engine; SQLite gets foreign keys, WAL and a busy timeout.

    Args:
        url: SQLAlchemy database URL.
        **kwargs: passed to ``create_engine``.
    """
    # Bound parameters can carry an outbox body with a one-time code: never print them in errors or logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 15})
        engine = create_engine(url, future=True, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, future=True, **kwargs)


class Store:
    """The billing store: an engine and the transactions opened on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, future=True, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    @classmethod
    def from_settings(cls) -> Store:
        from bot.settings import get_settings

        return cls.from_url(get_settings().database_url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back on any error.

        Database errors are re-raised as :class:`StoreUnavailable`, so callers at the edge
        can answer kindly without knowing SQLAlchemy.
        """
        from sqlalchemy.exc import InterfaceError, OperationalError

        try:
            with self._sessions() as session:
                with session.begin():
                    yield session
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(str(exc.__class__.__name__)) from exc

    def dispose(self) -> None:
        self.engine.dispose()
