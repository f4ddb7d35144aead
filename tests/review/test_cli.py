"""``python -m bot review list|label|purge`` and ``export-nlu`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select

from bot import settings as bot_settings
from bot.cli import main
from bot.clock import FixedClock
from bot.db import Store
from bot.review.capture import Captured, review_digest
from bot.review.labels import load_vocabulary
from bot.review.models import ReviewItem
from bot.review.queue import label, record_captured
from bot.settings import PROJECT_ROOT
from tests.support.settings import TEST_ENV

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def cli_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """``store`` as the settings' database."""
    monkeypatch.setenv("BOT_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    bot_settings.get_settings.cache_clear()
    yield store
    bot_settings.get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), clock=FixedClock(NOW))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def add(
    store: Store, text: str, at: datetime = NOW, conversation: str = "c1", reason: str = "fallback"
) -> int:
    item = Captured(
        review_digest(conversation, at.timestamp(), text),
        conversation,
        "socketio",
        text,
        "query_usage",
        0.42,
        reason,
        at,
    )
    with store.transaction() as session:
        record_captured(session, [item], [])
        return session.scalars(select(ReviewItem.id).where(ReviewItem.digest == item.digest)).one()


def test_list_prints_the_pending_messages_grouped(
    cli_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    first = add(cli_store, "卡里还剩多少大洋？", NOW - timedelta(hours=2), "c1", "clarification")
    add(cli_store, "卡里 还剩多少大洋", NOW - timedelta(hours=1), "c2")
    add(cli_store, "帮138****8000查", NOW, "c3", "low_confidence")
    code, out, _ = run(capsys, "review", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "相似消息 2 条："
    assert lines[1] == f"#{first}  12月05日 08:00  socketio  query_usage 0.42  需澄清  卡里还剩多少大洋？"
    assert "低置信度  帮138****8000查" in lines[3]
    assert lines[-1] == "待标注 3 条（2 组）。"
    code, out, _ = run(capsys, "review", "list", "--flat")
    assert code == 0 and len(out.splitlines()) == 4


def test_purge_deletes_what_is_older_than_the_retention(
    cli_store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli_store, "旧的", NOW - timedelta(days=31))
    add(cli_store, "新的", NOW - timedelta(days=29))
    monkeypatch.setenv("BOT_REVIEW_KEEP_DAYS", "30")
    bot_settings.get_settings.cache_clear()
    assert run(capsys, "review", "purge") == (0, "已删除 30 天前记录的待审消息 1 条。\n", "")
    with cli_store.transaction() as session:
        assert list(session.scalars(select(ReviewItem.text))) == ["新的"]


def test_label_from_the_command_line(cli_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = (
        add(cli_store, "卡里还剩多少大洋", conversation="c1"),
        add(cli_store, "还剩几个子儿", conversation="c2"),
    )
    assert run(capsys, "review", "label", f"{first},{second}", "query_balance")[:2] == (
        0,
        "已标注 2 条为 query_balance。\n",
    )
    code, _, err = run(capsys, "review", "label", str(first), "query_money")
    assert code == 1 and "意图不在可选列表中" in err
    with cli_store.transaction() as session:
        assert set(session.scalars(select(ReviewItem.label_intent))) == {"query_balance"}


def test_export_writes_training_data_once(
    cli_store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vocabulary = load_vocabulary(PROJECT_ROOT)
    ids = {
        text: add(cli_store, text, conversation=f"c{n}")
        for n, text in enumerate(
            ["卡里还剩多少大洋", "把彩铃停了", "把咪咕那个停了", "今天天气咋样", "******", "哈哈哈哈"]
        )
    }
    with cli_store.transaction() as session:
        label(session, [ids["卡里还剩多少大洋"]], "query_balance", vocabulary, by="sup1", now=NOW)
        label(
            session,
            [ids["把彩铃停了"], ids["把咪咕那个停了"]],
            "unsubscribe_service",
            vocabulary,
            by="sup1",
            now=NOW,
            entities={
                ids["把彩铃停了"]: [{"start": 1, "end": 3, "entity": "service", "value": "video_ringtone"}],
                ids["把咪咕那个停了"]: [{"start": 1, "end": 3, "entity": "service", "value": "咪咕"}],
            },
        )
        label(session, [ids["今天天气咋样"], ids["******"]], "out_of_scope", vocabulary, by="sup1", now=NOW)
        label(session, [ids["哈哈哈哈"]], "noise", vocabulary, by="sup1", now=NOW)
    path = tmp_path / "data" / "nlu" / "reviewed" / "2026-12.yml"
    code, out, _ = run(capsys, "export-nlu", str(path))
    assert code == 0
    assert out == f"已导出 6 条已标注消息（新写入训练样例 4 条）：{path}\n"
    content = path.read_text(encoding="utf-8")
    assert yaml.safe_load(content)["version"] == "3.1"
    assert '[彩铃]{"entity": "service", "value": "video_ringtone"}' in content
    assert "[咪咕](service)" in content
    assert "******" not in content and "哈哈哈哈" not in content  # nothing left after masking; noise
    data = load_data(str(path))
    examples = {m.get("text"): m for m in data.training_examples}
    assert {t: m.get("intent") for t, m in examples.items()} == {
        "卡里还剩多少大洋": "query_balance",
        "把彩铃停了": "unsubscribe_service",
        "把咪咕那个停了": "unsubscribe_service",
        "今天天气咋样": "out_of_scope",
    }
    assert [
        (e["entity"], e["value"], e["start"], e["end"]) for e in examples["把彩铃停了"].get("entities")
    ] == [("service", "video_ringtone", 1, 3)]
    with cli_store.transaction() as session:
        assert set(session.scalars(select(ReviewItem.status))) == {"exported"}
    # again: nothing left to export, the file is unchanged
    assert run(capsys, "export-nlu", str(path))[:2] == (0, "没有待导出的已标注消息。\n")
    assert path.read_text(encoding="utf-8") == content
    # a new label of the same text into the same file adds no duplicate line
    again = add(cli_store, "卡里还剩多少大洋", conversation="c9")
    extra = add(cli_store, "兜里还有几个钢镚", conversation="c10")
    with cli_store.transaction() as session:
        label(session, [again, extra], "query_balance", vocabulary, by="sup1", now=NOW)
    assert run(capsys, "export-nlu", str(path))[:2] == (
        0,
        f"已导出 2 条已标注消息（新写入训练样例 1 条）：{path}\n",
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines.count("    - 卡里还剩多少大洋") == 1 and "    - 兜里还有几个钢镚" in lines
    assert len(load_data(str(path)).training_examples) == 5
