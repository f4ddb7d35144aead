"""``python -m bot complete-closures`` against a temporary SQLite store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import settings as bot_settings
from bot.billing.closure import request_closure
from bot.billing.models import ClosureRequest, Subscriber
from bot.billing.queries import find_subscriber_by_phone
from bot.cli import main
from bot.clock import SHANGHAI, FixedClock
from bot.db import Store
from bot.notifications.sms import OutboxSmsGateway
from tests.support.demo import LIU
from tests.support.settings import TEST_ENV

EFFECTIVE = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.fixture
def demo_db(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, clock: FixedClock
) -> Iterator[Path]:
    """The settings' SQLite store, migrated and seeded through the CLI."""
    path = tmp_path / "var" / "billing.db"
    path.parent.mkdir(parents=True)
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{path}")
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOT_SMS_GATEWAY", "outbox")
    bot_settings.get_settings.cache_clear()
    assert main(["seed-demo"], clock=clock) == 0
    yield path
    bot_settings.get_settings.cache_clear()


def _request_liu(path: Path, clock: FixedClock) -> None:
    store = Store.from_url(f"sqlite:///{path}")
    try:
        with store.transaction() as session:
            liu = find_subscriber_by_phone(session, LIU)
            assert liu is not None
            request_closure(
                session,
                subscriber_id=liu.id,
                consent_to_fee=False,
                at=clock.now(),
                conversation_id="conv-cli",
                sms=OutboxSmsGateway(),
            )
    finally:
        store.dispose()


def _liu_status(path: Path) -> tuple[str, int, str]:
    store = Store.from_url(f"sqlite:///{path}")
    try:
        with store.transaction() as session:
            liu = session.scalars(select(Subscriber).where(Subscriber.phone == LIU)).one()
            request = session.scalars(select(ClosureRequest)).one()
            return liu.status, liu.balance_fen, request.status
    finally:
        store.dispose()


def test_complete_closures_command(
    demo_db: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    _request_liu(demo_db, clock)
    capsys.readouterr()
    assert main(["complete-closures"], clock=clock) == 0
    assert "没有到期的销户申请" in capsys.readouterr().out
    assert _liu_status(demo_db) == ("closing", 12000, "pending")

    clock.set(EFFECTIVE + timedelta(minutes=1))
    assert main(["complete-closures"], clock=clock) == 0
    out = capsys.readouterr().out
    assert "已销户：136****6000" in out and "退还余额 120.00 元" in out and LIU not in out
    assert _liu_status(demo_db) == ("closed", 0, "completed")

    assert main(["outbox", LIU], clock=clock) == 0
    assert "【销户完成】" in capsys.readouterr().out


def test_complete_closures_with_an_unreachable_gateway_changes_nothing(
    demo_db: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _request_liu(demo_db, clock)
    monkeypatch.setenv("BOT_SMS_GATEWAY", "http")
    monkeypatch.setenv("BOT_SMS_GATEWAY_URL", "http://127.0.0.1:9/send")
    monkeypatch.setenv("BOT_SMS_GATEWAY_TIMEOUT", "2")
    bot_settings.get_settings.cache_clear()
    clock.set(EFFECTIVE + timedelta(minutes=1))
    capsys.readouterr()
    assert main(["complete-closures"], clock=clock) == 1
    err = capsys.readouterr().err
    assert "短信发送失败" in err and "Traceback" not in err
    assert _liu_status(demo_db) == ("closing", 12000, "pending")
