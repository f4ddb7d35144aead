"""``python -m bot``: run in-process against a temporary SQLite store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import settings as bot_settings
from bot.audit import AuditLog
from bot.billing.errors import InvalidAmount
from bot.billing.models import Subscriber
from bot.cli import main, parse_yuan
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import Notification
from tests.support.settings import TEST_ENV


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A SQLite path (not created yet) that the settings point to."""
    path = tmp_path / "var" / "billing.db"
    monkeypatch.setenv("BOT_DATABASE_URL", f"sqlite:///{path}")
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    bot_settings.get_settings.cache_clear()
    yield path
    bot_settings.get_settings.cache_clear()


@pytest.fixture
def migrated(db_path: Path, sqlite_template: Path) -> Path:
    """The settings' SQLite store, migrated (a copy of the session's template)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sqlite_template, db_path)
    return db_path


@pytest.fixture
def demo(migrated: Path, clock: FixedClock) -> Path:
    assert main(["seed-demo"], clock=clock) == 0
    return migrated


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], clock: FixedClock) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv, clock=clock)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("text", "fen"),
    [("10", 1000), ("10.00", 1000), ("10.5", 1050), ("0.01", 1), (" 36.50元 ", 3650), ("¥6", 600)],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["0", "0.00", "-1", "10.001", "1e3", "abc", "", "10.", ".5", "1,000"])
def test_parse_yuan_rejects(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_yuan(text)


def test_db_upgrade_creates_the_store(
    db_path: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, ["db", "upgrade"], clock)
    assert code == 0 and "数据库已升级" in out
    assert db_path.exists()
    code, _, _ = _run(capsys, ["db", "upgrade"], clock)
    assert code == 0


def test_seed_demo_and_if_empty(
    migrated: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, ["seed-demo", "--if-empty"], clock)
    assert code == 0 and "13800138000" in out and "张伟" in out
    code, out, _ = _run(capsys, ["seed-demo", "--if-empty"], clock)
    assert code == 0 and "跳过" in out
    code, out, _ = _run(capsys, ["seed-demo"], clock)
    assert code == 0 and "未做任何改动" in out
    store = Store.from_url(f"sqlite:///{migrated}")
    with store.transaction() as session:
        assert len(session.scalars(select(Subscriber)).all()) == 6
    store.dispose()


def test_seed_demo_refused_in_production(
    migrated: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_ENV", "production")
    monkeypatch.setenv("BOT_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("RASA_API_TOKEN", "y" * 30)
    monkeypatch.setenv("BOT_SMS_GATEWAY", "http")
    monkeypatch.setenv("BOT_SMS_GATEWAY_URL", "https://sms.example.invalid/send")
    bot_settings.get_settings.cache_clear()
    code, _, err = _run(capsys, ["seed-demo"], clock)
    assert code == 1 and "演示数据" in err and "Traceback" not in err


def test_show(demo: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, ["show", "13800138000"], clock)
    assert code == 0
    assert "138****8000" in out and "13800138000" not in out
    for expected in (
        "张伟",
        "畅享59元套餐",
        "余额：36.50 元",
        "欠费：0.00 元",
        "本月消费（2026-11）：84.00 元",
        "视频彩铃",
        "短信营销链接开通",
        "2026-09-13 起",
        "从未使用",
        "腾讯视频会员",
        "手机App开通",
        "本月流量",
    ):
        assert expected in out, expected
    code, out, _ = _run(capsys, ["show", "13700137000"], clock)
    assert code == 0
    for expected in (
        "至 2027-06-30",
        "违约金 300.00 元",
        "余额低于30.00元时短信提醒",
        "当月消费超过150.00元时短信提醒",
    ):
        assert expected in out, expected
    code, out, _ = _run(capsys, ["show", "13900139000"], clock)
    assert code == 0 and "停机" in out and "余额：-58.00 元" in out and "欠费：58.00 元" in out
    code, out, _ = _run(capsys, ["show", "13500135000"], clock)
    assert code == 0 and "（95%）" in out


def test_show_unknown_or_malformed_number(
    demo: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, ["show", "13000000000"], clock)
    assert code == 1 and "未找到" in err and "Traceback" not in err and out == ""
    code, _, err = _run(capsys, ["show", "12345"], clock)
    assert code == 1 and "号码格式不正确" in err


def test_outbox(demo: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.from_url(f"sqlite:///{demo}")
    with store.transaction() as session:
        session.add(
            Notification(phone="13800138000", kind="otp", body="【验证码】123456", created_at=clock.now())
        )
    store.dispose()
    code, out, _ = _run(capsys, ["outbox", "13800138000"], clock)
    assert code == 0
    lines = out.strip().splitlines()
    assert "共 2 条" in lines[0]
    assert lines[1].startswith("2026-11-22 10:00:00") and "123456" in lines[1]
    assert "视频彩铃" in lines[2]
    code, out, _ = _run(capsys, ["outbox", "13800138000", "--limit", "1"], clock)
    assert code == 0 and "共 1 条" in out and "视频彩铃" not in out
    code, out, _ = _run(capsys, ["outbox", "13600136000"], clock)
    assert code == 0 and "没有发往 136****6000 的消息" in out
    code, _, _ = _run(capsys, ["outbox", "13600136000", "--limit", "0"], clock)
    assert code == 1


def test_post_charge(demo: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        ["post-charge", "13800138000", "--amount", "10.00", "--kind", "vas", "--service", "video_ringtone"],
        clock,
    )
    assert code == 0
    assert "视频彩铃月功能费" in out and "10.00 元" in out and "当前余额：26.50 元" in out
    store = Store.from_url(f"sqlite:///{demo}")
    with store.transaction() as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "charge.posted")).one()
        assert entry.actor == "cli" and entry.details["amount_fen"] == 1000
    store.dispose()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["post-charge", "13800138000", "--amount", "abc", "--kind", "vas"], "金额无效"),
        (["post-charge", "13800138000", "--amount", "-5", "--kind", "vas"], "金额无效"),
        (["post-charge", "13800138000", "--amount", "1.001", "--kind", "vas"], "金额无效"),
        (
            ["post-charge", "13800138000", "--amount", "1", "--kind", "vas", "--service", "nope"],
            "未知的增值业务",
        ),
        (["post-charge", "13000000000", "--amount", "1", "--kind", "vas"], "未找到"),
        (["post-charge", "13800138000", "--amount", "1", "--kind", "bogus"], "参数错误"),
        (["post-charge", "13800138000", "--kind", "vas"], "参数错误"),
    ],
)
def test_post_charge_errors(
    demo: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, argv, clock)
    assert code == 1 and message in err and "Traceback" not in err
    store = Store.from_url(f"sqlite:///{demo}")
    with store.transaction() as session:
        zhang = session.scalars(select(Subscriber).where(Subscriber.phone == "13800138000")).one()
        assert zhang.balance_fen == 3650
    store.dispose()


def test_missing_store_is_explained(
    db_path: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, ["show", "13800138000"], clock)
    assert code == 1 and "db upgrade" in err
    assert not db_path.exists(), "a read command must not create an empty database"


def test_unreachable_database(
    monkeypatch: pytest.MonkeyPatch, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_DATABASE_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    bot_settings.get_settings.cache_clear()
    try:
        for argv in (["show", "13800138000"], ["seed-demo"], ["db", "upgrade"]):
            code, _, err = _run(capsys, argv, clock)
            assert code == 1, argv
            assert "数据库" in err and "Traceback" not in err
    finally:
        bot_settings.get_settings.cache_clear()


def test_help_and_usage_errors(clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], clock=clock) == 0
    assert main([], clock=clock) == 1
    assert main(["db"], clock=clock) == 1
    assert main(["nonsense"], clock=clock) == 1
