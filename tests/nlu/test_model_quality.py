"""The trained model on the held-out set: macro-F1 must stay above 0.90 (target 0.95, bench/nlu.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.nlu.evaluate import agent_parser, evaluate, load_examples
from bot.nlu.normalise import normalise_text

HELD_OUT = Path(__file__).with_name("held_out.yml")


@pytest.fixture(scope="module")
def model_path() -> str:
    model = os.environ.get("BOT_TEST_MODEL")
    if not model or not Path(model).exists():
        if os.environ.get("CI"):
            pytest.fail("BOT_TEST_MODEL is not set: run the suite with `make test`")
        pytest.skip("needs a trained model: run `make test` (it sets BOT_TEST_MODEL)")
    return model


async def test_held_out_macro_f1_stays_above_the_floor(model_path: str) -> None:
    report = await evaluate(agent_parser(model_path), load_examples(str(HELD_OUT)))
    assert report["examples"] >= 15 * 26
    assert report["intent_macro_f1"] >= 0.90, report["most_confused"]
    for entity in ("phone_number", "otp_code", "amount", "service"):
        assert report["entities"][entity]["f1"] >= 0.90, (entity, report["entities"][entity])


def _comparable(text: str) -> str:
    """The text as the model sees it, without punctuation, spaces or case: "谢谢！" and "谢谢" are one."""
    return re.sub(r"[\s\W_]+", "", normalise_text(text)).lower()


def test_held_out_set_is_not_training_data() -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    root = Path(__file__).resolve().parents[2]
    training = {_comparable(m.get("text")) for m in load_data(str(root / "data" / "nlu")).intent_examples}
    held_out = [e.text for e in load_examples(str(HELD_OUT))]
    overlap = [t for t in held_out if _comparable(t) and _comparable(t) in training]
    assert not overlap, overlap
