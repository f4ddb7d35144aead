"""Training data may not copy the real-subscriber dev set, whole, in part or lightly edited."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.devset import comparable, dev_set_path, is_near_copy, load_dev_set, near_copies

ROOT = Path(__file__).resolve().parents[2]


def _training_lines() -> list[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [m.get("text") for m in load_data(str(ROOT / "data" / "nlu")).intent_examples]


@pytest.fixture(scope="module")
def dev_texts() -> list[str]:
    if dev_set_path() is None:
        pytest.skip("the real-subscriber dev set (../shared/nlu-real-dev) is not on this machine")
    return [item.text for item in load_dev_set()]


def test_no_training_line_copies_a_dev_item(dev_texts: list[str]) -> None:
    copies = near_copies(_training_lines(), dev_texts)
    assert not copies, "\n".join(f"{line!r} copies {item!r}" for line, item in copies[:20])


def test_the_check_finds_copies_that_were_dressed_up(dev_texts: list[str]) -> None:
    long_items = [t for t in dev_texts if len(comparable(t)) >= 40][:25]
    assert len(long_items) == 25
    for text in long_items:
        norm = comparable(text)
        # the same post with other punctuation, spaces and full-width characters
        assert near_copies(["！" + " ".join(text) + "。。"], [text]), text
        # a sentence lifted out of it
        assert near_copies([text[5:30]], [text]), text
        # a few characters changed
        edited = norm[:10] + "我" + norm[11:20] + "了" + norm[21:]
        assert is_near_copy(edited, norm), text
        # inside a longer composition
        assert near_copies(["喂你好," + text + ",快点给我处理"], [text]), text


def test_common_phrases_and_other_writing_are_not_copies() -> None:
    assert not is_near_copy(comparable("好的谢谢"), comparable("好的~谢谢"))
    assert not is_near_copy(
        comparable("上个月一共花了多少"),
        comparable("我看了账单,我这个月一共花了差不多一千块的话费,电话也不常打"),
    )
    assert not is_near_copy(
        comparable("为什么扣我流量费"), comparable("联通你们为什么半夜扣我流量,还扣了我三十块话费")
    )
