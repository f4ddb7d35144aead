"""The real-subscriber development set (``../shared/nlu-real-dev/``): where it is, how it scores.

The set is labelled with ``intent`` (the best label) and ``accept`` (every label a reasonable
classifier could defend). A prediction is right when it is in ``accept`` after folding retrieval
intents to their parent (``faq/fee_standard`` → ``faq``); ``nlu_fallback``, ``noise`` and a clarification are
right only where ``accept`` holds ``out_of_scope``; ``inform_phone`` is our ``inform``.

The set is for measuring and studying, never for training: :func:`near_copies` finds training
lines that copy a dev item, whole, in part, or with small edits (a test runs it over ``data/``).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
# The repository is cloned next to ``shared/`` in this workplace; CI clones elsewhere on the same machine.
CANDIDATES = (
    ROOT.parent / "shared" / "nlu-real-dev" / "messages.yml",
    Path("/work/shared/nlu-real-dev/messages.yml"),
)
LABEL_ALIASES = {"inform_phone": "inform"}


@dataclass(frozen=True)
class DevItem:
    """One real message with its labels (aliases already mapped to our intent names)."""

    text: str
    intent: str
    accept: frozenset[str]

    def is_right(self, predicted: str) -> bool:
        """Whether ``predicted`` (an intent, a retrieval key, ``nlu_fallback`` or ``clarify``) counts."""
        base = predicted.split("/", 1)[0]
        if base in ("nlu_fallback", "clarify", "noise"):
            return "out_of_scope" in self.accept
        return base in self.accept


def dev_set_path() -> Optional[Path]:
    """``BOT_NLU_DEV_SET`` if set, else the first candidate that exists (None when there is none)."""
    configured = os.environ.get("BOT_NLU_DEV_SET")
    if configured:
        return Path(configured)
    return next((p for p in CANDIDATES if p.exists()), None)


def load_dev_set(path: Optional[Path] = None) -> list[DevItem]:
    """Reads ``messages.yml``; raises FileNotFoundError when the set is not on this machine."""
    from rasa.shared.utils.io import read_yaml

    path = path or dev_set_path()
    if path is None or not path.exists():
        raise FileNotFoundError("the real-subscriber dev set is not on this machine (set BOT_NLU_DEV_SET)")
    raw = read_yaml(path.read_text(encoding="utf-8"))
    items = []
    for entry in raw["items"]:
        accept = frozenset(LABEL_ALIASES.get(a, a) for a in entry.get("accept") or [entry["intent"]])
        intent = LABEL_ALIASES.get(entry["intent"], entry["intent"])
        items.append(DevItem(text=str(entry["text"]), intent=intent, accept=accept | {intent}))
    return items


def comparable(text: str) -> str:
    """The text as the model sees it, without punctuation, spaces or case: "谢谢！" and "谢谢" are one."""
    from bot.nlu.normalise import normalise_text

    return re.sub(r"[\s\W_]+", "", normalise_text(text)).lower()


def _grams(text: str, n: int = 3) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


# Shorter than this, a text is a common phrase ("谢谢", "对的"), not something somebody wrote.
MIN_EXACT = 6
MIN_CONTAINED = 8
MIN_SIMILAR = 8
MIN_PART = 15


def is_near_copy(line: str, item: str) -> bool:
    """Whether two comparable texts are a copy, one inside the other, or the same text lightly edited.

    - equal, once at least ``MIN_EXACT`` characters long;
    - one contains the other, the shorter at least ``MIN_CONTAINED`` characters long;
    - character trigrams: the two share at least half of their union (a few words changed; the
      shorter at least ``MIN_SIMILAR`` characters long), or at least 70 % of the shorter one's
      trigrams sit in the longer (a sentence taken out of a post, lightly edited; the shorter at
      least ``MIN_PART`` characters long, so that common phrases do not count).
    """
    if not line or not item:
        return False
    if line == item:
        return len(line) >= MIN_EXACT
    shorter, longer = sorted((line, item), key=len)
    if len(shorter) >= MIN_CONTAINED and shorter in longer:
        return True
    if len(shorter) < MIN_SIMILAR:
        return False
    a, b = _grams(shorter), _grams(longer)
    shared = len(a & b)
    return shared >= 0.5 * len(a | b) or (len(shorter) >= MIN_PART and shared >= 0.7 * len(a))


def near_copies(lines: Iterable[str], items: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs (training line, dev text) where the line is a near-copy of the dev text."""
    dev = [(text, comparable(text)) for text in items]
    index: dict[str, set[int]] = defaultdict(set)
    for i, (_, norm) in enumerate(dev):
        for gram in _grams(norm):
            index[gram].add(i)
    found = []
    for line in lines:
        norm = comparable(line)
        candidates: set[int] = set()
        grams = _grams(norm)
        for gram in grams:
            candidates |= index.get(gram, set())
        if len(norm) < MIN_EXACT:  # too short to be anybody's text
            continue
        for i in candidates:
            if is_near_copy(norm, dev[i][1]):
                found.append((line, dev[i][0]))
    return found
