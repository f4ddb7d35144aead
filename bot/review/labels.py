"""What a label may say: the intents the NLU is trained on, ``noise``, and the domain's entities.

An intent label is one the NLU model learns from ``data/nlu`` (a retrieval intent with its key,
``faq/fee_standard``, ``chitchat/insult``) and the domain knows, or ``noise`` (nothing to
understand: it is never written to training data, ``bot.review.export``). Intents the NLU never
predicts from training examples (``nlu_fallback``, ``provide_secret`` set by the channel guard,
``rephrase`` sent by a button) are not offered. ``out_of_scope`` is an ordinary trained intent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from bot.review.capture import NOISE_INTENT

#: Groups messages that differ only in spacing, punctuation, masks and digits (:func:`group_key`).
_NOT_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")


class InvalidLabel(ValueError):
    """A label the queue refuses; ``code`` says why (``bot.texts.review`` words it)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Vocabulary:
    """The intents and entity names a label may use."""

    intents: tuple[str, ...]
    entities: frozenset[str]


@dataclass(frozen=True)
class EntitySpan:
    """An entity a person marked in a message: ``text[start:end]`` is ``entity`` with ``value``."""

    start: int
    end: int
    entity: str
    value: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "entity": self.entity, "value": self.value}


def _names(items: Sequence[Any]) -> list[str]:
    names = []
    for item in items or []:
        names.append(next(iter(item)) if isinstance(item, dict) else str(item))
    return names


def load_vocabulary(root: Path) -> Vocabulary:
    """The label vocabulary of the project at ``root`` (its ``domain.yml`` and ``data/nlu``)."""
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}
    domain_intents = set(_names(domain.get("intents") or []))
    trained: set[str] = set()
    for path in sorted((root / "data" / "nlu").rglob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in content.get("nlu") or []:
            if isinstance(block, dict) and isinstance(block.get("intent"), str):
                trained.add(block["intent"])
    intents = sorted(name for name in trained if name.split("/", 1)[0] in domain_intents)
    if NOISE_INTENT in domain_intents and NOISE_INTENT not in intents:
        intents.append(NOISE_INTENT)
    return Vocabulary(intents=tuple(intents), entities=frozenset(_names(domain.get("entities") or [])))


def check_entities(
    text: str, entities: Sequence[Mapping[str, Any]], vocabulary: Vocabulary
) -> list[EntitySpan]:
    """The entity annotations of ``text``, checked: offsets inside the text, not overlapping, on
    something other than white space, names from the domain, a value given.

    Raises:
        InvalidLabel: ``unknown_entity``, ``bad_offsets`` or ``empty_value``.
    """
    spans = []
    for raw in entities:
        name = raw.get("entity")
        if name not in vocabulary.entities:
            raise InvalidLabel("unknown_entity", str(name))
        start, end = raw.get("start"), raw.get("end")
        if (
            not isinstance(start, int)
            or not isinstance(end, int)
            or isinstance(start, bool)
            or isinstance(end, bool)
            or not 0 <= start < end <= len(text)
            or not text[start:end].strip()
        ):
            raise InvalidLabel("bad_offsets", f"{name} {start}-{end}")
        value = raw.get("value")
        value = text[start:end] if value is None else str(value)
        if not value.strip():
            raise InvalidLabel("empty_value", str(name))
        spans.append(EntitySpan(start, end, str(name), value))
    spans.sort(key=lambda span: span.start)
    for before, after in zip(spans, spans[1:], strict=False):
        if after.start < before.end:
            raise InvalidLabel("bad_offsets", f"{before.entity}/{after.entity} overlap")
    return spans


def group_key(text: str) -> str:
    """The form messages are grouped by: NFKC, lower case, each run of digits as ``0``, and every
    space, punctuation mark, symbol and mask (``*``) dropped. Identical keys make one group."""
    folded = _DIGITS.sub("0", unicodedata.normalize("NFKC", text or "").lower())
    return _NOT_WORD.sub("", folded)
