"""Scores a trained model on labelled utterances: intents, retrieval responses, entities, latency.

Used by ``bench/nlu.py`` (the benchmark) and by the test that guards held-out macro-F1.
Entities are scored by value, not by span: a prediction counts when the entity type and its
canonical value match an annotation of the same utterance (``10块`` must become ``1000``).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Optional

RETRIEVAL_INTENTS = ("faq", "chitchat")
TARGET_ENTITIES = ("phone_number", "otp_code", "amount", "service")


@dataclass(frozen=True)
class Example:
    """One labelled utterance."""

    text: str
    intent: str  # the full name, e.g. ``faq/closure_requirements``
    entities: tuple[tuple[str, str], ...]

    @property
    def base_intent(self) -> str:
        return self.intent.split("/", 1)[0]


def load_examples(path: str) -> list[Example]:
    """Reads Rasa NLU YAML; annotated values are the canonical values."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(path)
    examples = []
    for message in data.intent_examples:
        intent = message.get("intent")
        if message.get("intent_response_key"):
            intent = message.get("intent_response_key")
        entities = tuple(sorted((e["entity"], str(e["value"])) for e in message.get("entities") or []))
        examples.append(Example(text=message.get("text"), intent=intent, entities=entities))
    return examples


def _predicted_intent(parse: dict[str, Any]) -> str:
    name = (parse.get("intent") or {}).get("name") or "None"
    if name in RETRIEVAL_INTENTS:
        selectors = parse.get("response_selector") or {}
        selected = selectors.get(name) or selectors.get("default") or {}
        key = (selected.get("response") or {}).get("intent_response_key")
        if key:
            return key
    return name


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def evaluate(
    parse: Callable[[str], Awaitable[dict[str, Any]]], examples: list[Example]
) -> dict[str, Any]:
    """Parses every example one at a time and returns the report (a JSON-ready dict)."""
    from sklearn.metrics import f1_score

    gold_intents: list[str] = []
    predicted_intents: list[str] = []
    retrieval_hits = retrieval_total = 0
    latencies: list[float] = []
    entity_counts: dict[str, Counter] = {}
    errors: list[dict[str, Any]] = []

    for example in examples:
        started = time.perf_counter()
        result = await parse(example.text)
        latencies.append((time.perf_counter() - started) * 1000)
        predicted_full = _predicted_intent(result)
        predicted_base = predicted_full.split("/", 1)[0]
        gold_intents.append(example.base_intent)
        predicted_intents.append(predicted_base)
        if example.base_intent in RETRIEVAL_INTENTS:
            retrieval_total += 1
            retrieval_hits += predicted_full == example.intent
        gold = Counter(example.entities)
        predicted = Counter((e["entity"], str(e["value"])) for e in result.get("entities") or [])
        for entity in {e for e, _ in gold} | {e for e, _ in predicted}:
            counts = entity_counts.setdefault(entity, Counter())
            g = Counter({k: v for k, v in gold.items() if k[0] == entity})
            p = Counter({k: v for k, v in predicted.items() if k[0] == entity})
            tp = sum((g & p).values())
            counts["tp"] += tp
            counts["fp"] += sum(p.values()) - tp
            counts["fn"] += sum(g.values()) - tp
        if predicted_base != example.base_intent or gold != predicted:
            errors.append(
                {
                    "text": example.text,
                    "intent": example.intent,
                    "predicted": predicted_full,
                    "missing": sorted(gold - predicted),
                    "extra": sorted(predicted - gold),
                }
            )

    labels = sorted(set(gold_intents))
    per_intent = f1_score(gold_intents, predicted_intents, labels=labels, average=None, zero_division=0)
    confusions = Counter((g, p) for g, p in zip(gold_intents, predicted_intents, strict=False) if g != p)
    entities = {}
    for entity, c in sorted(entity_counts.items()):
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
        entities[entity] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(_f1(precision, recall), 4),
            "support": c["tp"] + c["fn"],
        }
    return {
        "examples": len(examples),
        "intent_accuracy": round(
            sum(g == p for g, p in zip(gold_intents, predicted_intents, strict=False)) / len(examples), 4
        ),
        "intent_macro_f1": round(
            float(f1_score(gold_intents, predicted_intents, labels=labels, average="macro", zero_division=0)),
            4,
        ),
        "per_intent_f1": {
            label: round(float(score), 4) for label, score in zip(labels, per_intent, strict=False)
        },
        "retrieval_accuracy": round(retrieval_hits / retrieval_total, 4) if retrieval_total else None,
        "entities": entities,
        "most_confused": [
            {"intent": g, "predicted": p, "count": n} for (g, p), n in confusions.most_common(5)
        ],
        "parse_latency_ms": {
            "p50": round(_percentile(latencies, 0.5), 2),
            "p95": round(_percentile(latencies, 0.95), 2),
            "mean": round(statistics.fmean(latencies), 2) if latencies else 0.0,
        },
        "errors": errors,
    }


def agent_parser(model_path: str) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """An in-process parser over a trained model (NLU only is enough)."""
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)

    async def parse(text: str) -> dict[str, Any]:
        return await agent.parse_message(text)

    return parse


def targets_met(
    report: dict[str, Any], min_macro_f1: float = 0.95, min_entity_f1: float = 0.95
) -> Optional[list[str]]:
    """The targets of the NLU issue that the report misses (empty list when all are met)."""
    misses = []
    if report["intent_macro_f1"] < min_macro_f1:
        misses.append(f"intent macro-F1 {report['intent_macro_f1']} < {min_macro_f1}")
    for entity in TARGET_ENTITIES:
        f1 = report["entities"].get(entity, {}).get("f1", 0.0)
        if f1 < min_entity_f1:
            misses.append(f"{entity} F1 {f1} < {min_entity_f1}")
    if report["parse_latency_ms"]["p50"] > 15:
        misses.append(f"parse p50 {report['parse_latency_ms']['p50']} ms > 15 ms")
    return misses
