"""The loop of issue 16: a message the model missed is captured, labelled, exported, retrained on,
and understood. Trains the NLU only (config.yml on data/nlu plus the exported file, ~30 s), into a
temporary folder: nothing is written into data/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.events import UserUttered

from bot import settings as bot_settings
from bot.cli import main
from bot.clock import FixedClock
from bot.db import Store
from bot.metrics.consumer import MetricsConsumer
from bot.review.models import ReviewItem
from tests.support.rasa_events import T0, action, bot, published
from tests.support.settings import SETTINGS, TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
#: Made up for this test ("how many days before my line is cut off"): a balance question the
#: shipped training data does not cover well enough (the model falls back on it).
MISSED = "手机还能撑几天不停机"

pytestmark = pytest.mark.model


def _parse(model: str, text: str) -> dict[str, Any]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    return asyncio.run(agent.parse_message(text))


@pytest.fixture(scope="module")
def shipped_model() -> str:
    model = os.environ.get("BOT_TEST_MODEL")
    if not model or not Path(model).exists():
        if os.environ.get("CI"):
            pytest.fail("BOT_TEST_MODEL is not set: run the suite with `make test`")
        pytest.skip("needs a trained model: run `make test` (it sets BOT_TEST_MODEL)")
    return model


def test_a_missed_message_is_labelled_exported_retrained_on_and_understood(
    shipped_model: str, sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _parse(shipped_model, MISSED)
    assert before["intent"]["name"] != "query_balance", before["intent"]

    # what Rasa published for the turn: the message with the model's parse, then the bot's answer
    user = UserUttered(
        MISSED, intent=before["intent"], parse_data=before, input_channel="socketio", timestamp=T0
    )
    events = [published("c1", user), action("c1", T0 + 0.1, "action_fallback"), bot("c1", T0 + 0.2, "……")]
    clock = FixedClock(datetime.fromtimestamp(T0 + 3600, tz=timezone.utc))
    MetricsConsumer(sqlite_store, SETTINGS, clock).count_batch(
        [json.dumps(event, ensure_ascii=False).encode() for event in events]
    )
    with sqlite_store.transaction() as session:
        (item,) = session.query(ReviewItem).all()
        assert item.text == MISSED and item.status == "pending"
        item_id = item.id

    monkeypatch.setenv("BOT_DATABASE_URL", str(sqlite_store.engine.url))
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    bot_settings.get_settings.cache_clear()
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "nlu", data / "nlu")
    exported = data / "nlu" / "reviewed" / "2026-12.yml"
    try:
        assert main(["review", "label", str(item_id), "query_balance"], clock=clock) == 0
        assert main(["export-nlu", str(exported)], clock=clock) == 0
    finally:
        bot_settings.get_settings.cache_clear()
    assert f"- {MISSED}" in exported.read_text(encoding="utf-8")

    trained = subprocess.run(
        [
            str(Path(sys.executable).with_name("rasa")),
            "train",
            "nlu",
            "--config",
            str(ROOT / "config.yml"),
            "--nlu",
            str(data / "nlu"),
            "--domain",
            str(ROOT / "domain.yml"),
            "--out",
            str(tmp_path / "models"),
            "--fixed-model-name",
            "reviewed",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    after = _parse(str(tmp_path / "models" / "reviewed.tar.gz"), MISSED)
    assert after["intent"]["name"] == "query_balance", after["intent_ranking"][:3]
