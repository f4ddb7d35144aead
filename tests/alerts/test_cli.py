"""``python -m bot post-charge`` / ``post-usage`` fire alerts into the outbox (SQLite via the settings)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import settings as bot_settings
from bot.alerts.rules import create_alert
from bot.billing.models import Charge, Subscriber
from bot.cli import main
from bot.clock import FixedClock
from bot.db import Store
from tests.support.alerts import alert_messages
from tests.support.demo import CHEN, WANG
from tests.support.settings import TEST_ENV


@pytest.fixture
def demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path, clock: FixedClock
) -> Iterator[Store]:
    """The settings' SQLite store with the demo accounts (seeded through the CLI)."""
    path = tmp_path / "billing.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{path}")
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_SMS_GATEWAY", raising=False)
    bot_settings.get_settings.cache_clear()
    assert main(["seed-demo"], clock=clock) == 0
    store = Store.from_url(f"sqlite:///{path}")
    yield store
    store.dispose()
    bot_settings.get_settings.cache_clear()


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], clock: FixedClock) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv, clock=clock)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_post_charge_fires_the_balance_alert_into_the_outbox(
    demo: Store, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, ["post-charge", WANG, "--amount", "185.00", "--kind", "other"], clock)
    assert code == 0, err
    assert "当前余额：25.00 元" in out and "已触发提醒 2 条" in out
    assert "余额提醒（短信）：【余额提醒】尊敬的客户，您的账户余额为25.00元" in out
    bodies = [body for _, _, body in alert_messages(demo, WANG)]
    assert [b[:6] for b in bodies] == ["【余额提醒】", "【消费提醒】"]
    code, out, _ = _run(capsys, ["outbox", WANG, "--limit", "2"], clock)
    assert code == 0 and "【余额提醒】尊敬的客户，您的账户余额为25.00元，已低于您设置的30.00元" in out

    # The next charge does not fire again.
    code, out, _ = _run(capsys, ["post-charge", WANG, "--amount", "1", "--kind", "other"], clock)
    assert code == 0 and "已触发提醒" not in out
    assert len(alert_messages(demo, WANG)) == 2


def test_post_charge_rolls_back_when_the_sms_gateway_is_down(
    demo: Store, clock: FixedClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_SMS_GATEWAY", "http")
    monkeypatch.setenv("BOT_SMS_GATEWAY_URL", "http://127.0.0.1:9/sms")  # nothing listens there
    monkeypatch.setenv("BOT_SMS_GATEWAY_TIMEOUT", "2")
    bot_settings.get_settings.cache_clear()
    code, _, err = _run(capsys, ["post-charge", WANG, "--amount", "185.00", "--kind", "other"], clock)
    assert code == 1 and "短信未能发出" in err and "Traceback" not in err
    with demo.transaction() as session:
        assert session.scalars(select(Subscriber.balance_fen).where(Subscriber.phone == WANG)).one() == 21000
        assert (
            session.scalar(select(func.count()).select_from(Charge).where(Charge.description == "其他费用"))
            == 0
        )
    assert alert_messages(demo, WANG) == []


def test_post_usage_fires_a_data_alert(
    demo: Store, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    with demo.transaction() as session:
        chen = session.scalars(select(Subscriber.id).where(Subscriber.phone == CHEN)).one()
        create_alert(
            session,
            subscriber_id=chen,
            alert_type="data",
            threshold=90,
            channel="sms",
            at=clock.now(),
            conversation_id="conv-cli",
        )
    code, out, err = _run(capsys, ["post-usage", CHEN, "--data-mb", "4900"], clock)
    assert code == 0, err
    assert "已更新流量：135****5000" in out and "账期 2026-11" in out and "（95%）" in out
    assert "流量提醒（短信）：【流量提醒】" in out
    [(channel, status, body)] = alert_messages(demo, CHEN)
    assert (channel, status) == ("sms", "sent") and "您设置的90%" in body


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["post-usage", CHEN, "--data-mb", "-1"], "参数错误"),
        (["post-usage", CHEN, "--data-mb", "1.5"], "参数错误"),
        (["post-usage", CHEN], "参数错误"),
        (["post-usage", "12345", "--data-mb", "10"], "号码格式不正确"),
        (["post-usage", "13000000000", "--data-mb", "10"], "未找到"),
    ],
)
def test_post_usage_errors(
    demo: Store, clock: FixedClock, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, argv, clock)
    assert code == 1 and message in err and "Traceback" not in err
