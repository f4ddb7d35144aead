"""The trained model on our held-out sets and on real subscribers' messages.

Held-out macro-F1 must stay above 0.90 (target 0.95, ``make bench-nlu``); accuracy on the real
dev set may not fall more than 0.03 below the figure the README records.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.nlu.devset import comparable, dev_set_path, load_dev_set
from bot.nlu.evaluate import agent_parser, evaluate, evaluate_dev, load_examples

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = Path(__file__).with_name("held_out.yml")
HELD_OUT_SUBSCRIBERS = Path(__file__).with_name("held_out_subscribers.yml")


@pytest.fixture(scope="module")
def parse() -> Callable[[str], Awaitable[dict[str, Any]]]:
    model = os.environ.get("BOT_TEST_MODEL")
    if not model or not Path(model).exists():
        if os.environ.get("CI"):
            pytest.fail("BOT_TEST_MODEL is not set: run the suite with `make test`")
        pytest.skip("needs a trained model: run `make test` (it sets BOT_TEST_MODEL)")
    return agent_parser(model)


async def test_held_out_macro_f1_stays_above_the_floor(
    parse: Callable[[str], Awaitable[dict[str, Any]]],
) -> None:
    report = await evaluate(parse, load_examples(str(HELD_OUT)))
    assert report["examples"] >= 15 * 26
    assert report["intent_macro_f1"] >= 0.90, report["most_confused"]
    for entity in ("phone_number", "otp_code", "amount", "service"):
        assert report["entities"][entity]["f1"] >= 0.90, (entity, report["entities"][entity])


def _readme_dev_accuracy() -> float:
    """The dev-set accuracy the README records (the line that starts ``Real subscribers (dev set``)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Real subscribers \(dev set[^\n]*?accuracy \*\*(0\.\d+)\*\*", readme)
    assert match, "README.md must record the dev-set accuracy (make bench-nlu)"
    return float(match.group(1))


async def test_real_subscribers_are_understood_as_well_as_the_readme_says(
    parse: Callable[[str], Awaitable[dict[str, Any]]],
) -> None:
    if dev_set_path() is None:
        pytest.skip("the real-subscriber dev set (../shared/nlu-real-dev) is not on this machine")
    recorded = _readme_dev_accuracy()
    report = await evaluate_dev(parse, load_dev_set())
    assert report["accuracy"] >= recorded - 0.03, (report["accuracy"], recorded, report["most_confused"])


@pytest.mark.parametrize(
    "held_out", [HELD_OUT, HELD_OUT_SUBSCRIBERS], ids=["held_out", "held_out_subscribers"]
)
def test_held_out_sets_are_not_training_data(held_out: Path) -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    training = {comparable(m.get("text")) for m in load_data(str(ROOT / "data" / "nlu")).intent_examples}
    texts = [e.text for e in load_examples(str(held_out))]
    overlap = [t for t in texts if comparable(t) and comparable(t) in training]
    assert not overlap, overlap
