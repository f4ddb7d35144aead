"""Labelled messages as Rasa NLU training data: ``version: "3.1"``, one block per intent.

Each message is an example line; a marked entity is written inline, ``[彩铃](service)`` when its
value is the marked text, ``[彩铃]{"entity": "service", "value": "video_ringtone"}`` otherwise.
Not written (though marked exported): messages labelled ``noise`` (the ``NoiseDetector`` sets that
intent by rule; the classifier is not taught it), and messages with nothing left but masks,
spaces and punctuation. Brackets in a message are written full-width (``［］``) so that Rasa does
not read them as entity markup; line breaks become spaces.

When the file exists, its examples are kept and a line already in it is not written twice, so
exporting into one file again and again never duplicates an example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import yaml  # type: ignore[import-untyped]

from bot.review.capture import NOISE_INTENT

_MARKUP = str.maketrans({"[": "［", "]": "］", "\n": " ", "\r": " "})
_NOTHING_LEFT = re.compile(r"^[\W_]*$")


@dataclass(frozen=True)
class Example:
    """A labelled message to write."""

    text: str
    intent: str
    entities: Sequence[Mapping[str, Any]] = ()


def has_words(text: str) -> bool:
    """False for a message that is nothing but masks, spaces and punctuation."""
    return not _NOTHING_LEFT.match(text or "")


def annotate(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """The example line: ``text`` with its entities written inline (offsets are into ``text``)."""
    parts: list[str] = []
    at = 0
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        marked = text[start:end].translate(_MARKUP)
        parts.append(text[at:start].translate(_MARKUP))
        value = str(entity.get("value") if entity.get("value") is not None else text[start:end])
        if value == text[start:end]:
            parts.append(f"[{marked}]({entity['entity']})")
        else:
            attributes = json.dumps({"entity": entity["entity"], "value": value}, ensure_ascii=False)
            parts.append(f"[{marked}]{attributes}")
        at = end
    parts.append(text[at:].translate(_MARKUP))
    return "".join(parts).strip()


def _existing(content: Optional[str]) -> dict[str, list[str]]:
    if not content:
        return {}
    data = yaml.safe_load(content) or {}
    found: dict[str, list[str]] = {}
    for block in data.get("nlu") or []:
        if isinstance(block, dict) and isinstance(block.get("intent"), str):
            lines = [
                line.strip()[2:].strip()
                for line in str(block.get("examples") or "").splitlines()
                if line.strip().startswith("- ")
            ]
            found.setdefault(block["intent"], []).extend(lines)
    return found


def render(examples: Sequence[Example], existing: Optional[str] = None) -> tuple[str, int]:
    """The training-data file with ``examples`` added to the ``existing`` file's content.

    Returns:
        The YAML text, and how many example lines are new.
    """
    blocks = _existing(existing)
    new = 0
    for example in examples:
        if example.intent == NOISE_INTENT or not has_words(example.text):
            continue
        line = annotate(example.text, example.entities)
        lines = blocks.setdefault(example.intent, [])
        if line and line not in lines:
            lines.append(line)
            new += 1
    out = ['version: "3.1"', "nlu:"]
    for intent in sorted(blocks):
        if not blocks[intent]:
            continue
        out.append(f"- intent: {intent}")
        out.append("  examples: |")
        out.extend(f"    - {line}" for line in blocks[intent])
    return "\n".join(out) + "\n", new
