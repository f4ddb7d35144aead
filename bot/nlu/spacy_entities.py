"""The spaCy side of entity extraction: a ``zh`` pipeline (jieba segmenter) with an EntityRuler.

The ruler holds the catalogue (service and plan names, aliases, common misspellings) with the
canonical code as the pattern id; ``find_entities`` adds the values of ``bot.nlu.values``
(amounts, periods, codes …) around the names it found. Nothing is downloaded: the pipeline is
built from ``spacy.blank("zh")``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bot.nlu.lexicon import catalogue_lexicon, load_into_jieba
from bot.nlu.values import Found, find_values


@lru_cache(maxsize=1)
def telecom_nlp() -> Any:
    """The spaCy pipeline, built once per process."""
    import spacy

    load_into_jieba()
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler: Any = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": t.label, "pattern": t.text, "id": t.code} for t in catalogue_lexicon()])
    return nlp


def _catalogue_by_scan(text: str, found: list[Found]) -> list[Found]:
    """Names the ruler missed because jieba cut them differently in this sentence."""
    lowered = text.lower()
    extra: list[Found] = []
    for term in sorted(catalogue_lexicon(), key=lambda t: -len(t.text)):
        start = lowered.find(term.text.lower())
        while start >= 0:
            candidate = Found(term.label, term.code, start, start + len(term.text))
            if not any(candidate.overlaps(f) for f in found + extra):
                extra.append(candidate)
            start = lowered.find(term.text.lower(), start + 1)
    return extra


def find_entities(text: str) -> list[Found]:
    """All entities of ``docs/nlu.md`` in normalised text, catalogue names first.

    Plan names are found (so that 19元套餐 is not read as an amount) but not returned.
    """
    doc = telecom_nlp()(text)
    names = [Found(ent.label_, ent.ent_id_, ent.start_char, ent.end_char) for ent in doc.ents]
    names += _catalogue_by_scan(text, names)
    values = find_values(text, taken=names)
    services = [n for n in names if n.entity == "service"]
    return sorted(services + values, key=lambda f: f.start)
