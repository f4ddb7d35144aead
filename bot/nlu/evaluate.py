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
from typing import Any

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


async def evaluate_dev(parse: Callable[[str], Awaitable[dict[str, Any]]], items: list[Any]) -> dict[str, Any]:
    """Scores real subscribers' messages (``bot.nlu.devset``) as the product owner does.

    ``accuracy``: the prediction is an acceptable label (a clarification counts as not understood,
    like any ``nlu_fallback``); ``macro_accuracy``: the mean of the per-intent accuracies;
    ``right_within_one_clarification``: right, or one of the tasks the clarification offers is
    acceptable.
    """
    from bot.nlu.clarify import clarification_options

    right = within_one = clarified = fallbacks = 0
    per_intent: dict[str, list[int]] = {}
    confusions: Counter = Counter()
    errors: list[dict[str, Any]] = []
    for item in items:
        result = await parse(item.text)
        predicted = _predicted_intent(result)
        options = clarification_options(result)
        ok = item.is_right(predicted)
        clarified += bool(options)
        fallbacks += predicted == "nlu_fallback" and not options
        right += ok
        within_one += ok or any(item.is_right(o) for o in options)
        per_intent.setdefault(item.intent, []).append(int(ok))
        if not ok:
            confusions[(item.intent, predicted.split("/", 1)[0])] += 1
            shown = f"clarify:{'|'.join(options)}" if options else predicted.split("/", 1)[0]
            errors.append(
                {"text": item.text, "intent": item.intent, "accept": sorted(item.accept), "predicted": shown}
            )
    accuracies = {intent: sum(v) / len(v) for intent, v in per_intent.items()}
    n = len(items)
    return {
        "examples": n,
        "accuracy": round(right / n, 4),
        "macro_accuracy": round(sum(accuracies.values()) / len(accuracies), 4),
        "right_within_one_clarification": round(within_one / n, 4),
        "clarified_share": round(clarified / n, 4),
        "fallback_share": round(fallbacks / n, 4),
        "per_intent": {
            intent: {"examples": len(per_intent[intent]), "accuracy": round(accuracies[intent], 4)}
            for intent in sorted(per_intent, key=lambda i: (-len(per_intent[i]), i))
        },
        "most_confused": [
            {"intent": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(10)
        ],
        "errors": errors,
    }
