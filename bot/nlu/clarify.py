"""Clarify instead of guessing: which tasks to offer when the model is unsure.

The FallbackClassifier turns a low or ambiguous top confidence into ``nlu_fallback`` and keeps
the model's ranking behind it. When tasks the assistant can do stand near the top of that
ranking, ``action_fallback`` asks "您是想……？" with them as buttons (plus 转人工), each carrying the
entities already understood; otherwise it asks the subscriber to say it another way. The
benchmark counts a message as right within one clarification when one of the offered tasks is
an acceptable label, so both read the options from here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FALLBACK_INTENT = "nlu_fallback"
# Tasks a button can start; short replies, FAQs, small talk and out_of_scope are not offered.
TASK_INTENTS = frozenset(
    {
        "query_unknown_charge",
        "request_refund",
        "unsubscribe_service",
        "query_balance",
        "query_bill",
        "query_usage",
        "query_plan",
        "query_subscriptions",
        "set_alert",
        "query_alerts",
        "change_alert",
        "cancel_alert",
        "close_account",
        "cancel_closure",
        "complain",
    }
)
MAX_OPTIONS = 3
# An option must have at least this share of the model's belief to be worth a button.
MIN_CONFIDENCE = 0.08
# Entities a button carries on into the task it starts.
CARRIED_ENTITIES = ("period", "amount", "service", "alert_type", "channel", "percent")


def clarification_options(parse_data: Mapping[str, Any]) -> list[str]:
    """The tasks to offer for a message the model was unsure of (empty: nothing worth offering)."""
    if (parse_data.get("intent") or {}).get("name") != FALLBACK_INTENT:
        return []
    options: list[str] = []
    for ranked in parse_data.get("intent_ranking") or []:
        name = ranked.get("name")
        if name in TASK_INTENTS and float(ranked.get("confidence") or 0.0) >= MIN_CONFIDENCE:
            options.append(name)
        if len(options) == MAX_OPTIONS:
            break
    return options


def button_payload(intent: str, parse_data: Mapping[str, Any]) -> str:
    """``/intent{"entity": "value", ...}`` with the entities of the message that was not understood."""
    entities: dict[str, str] = {}
    for entity in parse_data.get("entities") or []:
        name = entity.get("entity")
        if name in CARRIED_ENTITIES and name not in entities and entity.get("value") is not None:
            entities[name] = str(entity["value"])
    return f"/{intent}" + (json.dumps(entities, ensure_ascii=False) if entities else "")
