"""Billing's events: what the ledger publishes, the tiny registry, and billing never importing alerts."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.billing import events
from bot.billing.events import ChargePosted, PaymentRecorded, Subscribers
from bot.billing.posting import post_charge, record_payment, record_usage
from bot.clock import FixedClock
from bot.db import Store
from bot.schema import metadata
from tests.support.demo import CHEN, ZHANG
from tests.support.events import Note, listening

BILLING = Path(__file__).resolve().parents[2] / "bot" / "billing"
AT = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)


def test_billing_never_imports_the_alerts() -> None:
    offenders = []
    for path in sorted(BILLING.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{path.name}:{node.lineno}" for name in names if name.startswith("bot.alerts")]
    assert offenders == []


def test_the_registry_keeps_order_and_subscribes_once() -> None:
    registry = Subscribers()
    calls: list[str] = []

    def first(session: Any, event: Any, sms: Any) -> tuple[Note, ...]:
        calls.append("first")
        return (Note("a", "1"),)

    def second(session: Any, event: Any, sms: Any) -> tuple[Note, ...]:
        calls.append(f"second:{sms}")
        return (Note("b", "2"), Note("c", "3"))

    registry.subscribe(ChargePosted, first)
    registry.subscribe(ChargePosted, second)
    registry.subscribe(ChargePosted, first)
    assert registry.handlers(ChargePosted) == (first, second)
    assert registry.handlers(PaymentRecorded) == ()

    event = PaymentRecorded(1, 1, ZHANG, 100, "hall", AT, 100, 0, ())
    assert registry.publish(None, event) == ()  # type: ignore[arg-type]
    charge = ChargePosted(1, 1, ZHANG, 100, "other", "x", None, AT, "2026-11", 0)
    notices = registry.publish(None, charge, "gw")  # type: ignore[arg-type]
    assert [n.label for n in notices] == ["a", "b", "c"] and calls == ["first", "second:gw"]
    registry.unsubscribe(ChargePosted, first)
    assert registry.handlers(ChargePosted) == (second,)
    assert not charge.settles_closure
    assert ChargePosted(1, 1, ZHANG, 1, "other", "x", None, AT, "2026-11", 0, "refund").settles_closure


def test_every_write_is_published_with_its_figures(seeded: Store, clock: FixedClock) -> None:
    at = clock.advance(minutes=5)
    with listening(notice=True) as heard, seeded.transaction() as session:
        charge = post_charge(
            session,
            phone=ZHANG,
            amount_fen=1000,
            item_kind="vas",
            description="",
            service_code="tencent_video",
            at=at,
        )
        payment = record_payment(session, phone=ZHANG, amount_fen=500, method="alipay", at=at)
        usage = record_usage(session, phone=CHEN, data_used_mb=100, at=at)
    posted, paid, used = heard
    assert posted == ChargePosted(
        charge_id=charge.charge_id,
        subscriber_id=charge.subscriber_id,
        phone=ZHANG,
        amount_fen=1000,
        item_kind="vas",
        description="腾讯视频会员月功能费",
        service_code="tencent_video",
        charged_at=at,
        bill_period="2026-11",
        balance_fen=2650,
        purpose=None,
    )
    assert charge.alerts_fired == (Note("listener", "ChargePosted"),), "the publisher collects notices"
    assert (paid.payment_id, paid.balance_fen, paid.arrears_fen) == (payment.payment_id, 3150, 0)
    assert (used.period, used.data_used_mb, used.data_before_mb) == ("2026-11", 100, 4864)
    assert used.data_allowance_mb == usage.data_allowance_mb


def test_a_subscriber_that_raises_rolls_the_write_back(seeded: Store, clock: FixedClock) -> None:
    def broken(session: Any, event: Any, sms: Any) -> tuple[Note, ...]:
        raise RuntimeError("subscriber failed")

    def counts() -> dict[str, int]:
        with seeded.transaction() as session:
            return {
                t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables
            }

    before = counts()
    events.subscribe(ChargePosted, broken)
    try:
        with pytest.raises(RuntimeError):
            with seeded.transaction() as session:
                post_charge(
                    session, phone=ZHANG, amount_fen=100, item_kind="other", description="x", at=clock.now()
                )
    finally:
        events.SUBSCRIBERS.unsubscribe(ChargePosted, broken)
    assert counts() == before
