"""Listening to billing's events in a test (after the alert engine, which the root conftest wires)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.billing import events
from bot.billing.events import ChargePosted, PaymentRecorded, UsageRecorded

KINDS = (ChargePosted, PaymentRecorded, UsageRecorded)


@dataclass(frozen=True)
class Note:
    """A notice a test listener returns (what ``alerts_fired`` collects)."""

    label: str
    body: str


@contextmanager
def listening(notice: bool = False) -> Iterator[list[Any]]:
    """Every event billing publishes inside the block, in order; with ``notice``, the listener
    also answers each ``ChargePosted`` with ``Note('listener', 'ChargePosted')``."""
    heard: list[Any] = []

    def listener(session: Any, event: Any, sms: Any) -> tuple[Note, ...]:
        heard.append(event)
        return (Note("listener", type(event).__name__),) if notice and isinstance(event, ChargePosted) else ()

    for kind in KINDS:
        events.subscribe(kind, listener)
    try:
        yield heard
    finally:
        for kind in KINDS:
            events.SUBSCRIBERS.unsubscribe(kind, listener)
