"""Posting charges and recording payments: balance, bill, audit, hooks, and nothing on bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.audit import AuditLog
from bot.billing import events
from bot.billing.errors import (
    AccountClosed,
    BillingError,
    InvalidAmount,
    InvalidChargeKind,
    InvalidPaymentMethod,
    UnknownService,
    UnknownSubscriber,
)
from bot.billing.events import ChargePosted, PaymentRecorded
from bot.billing.ledger import close_bills_before
from bot.billing.models import Bill, Charge, Payment, Subscriber
from bot.billing.posting import (
    post_charge,
    record_payment,
)
from bot.billing.queries import charges_in_period, find_subscriber_by_phone, get_balance
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import Notification
from bot.schema import metadata
from tests.support.demo import LI, ZHANG


def _snapshot(store: Store) -> dict[str, Any]:
    with store.transaction() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
        balances = dict(session.execute(select(Subscriber.phone, Subscriber.balance_fen)).all())
        bills = sorted(
            session.execute(select(Bill.subscriber_id, Bill.period, Bill.total_fen, Bill.status)).all()
        )
    return {"counts": counts, "balances": balances, "bills": bills}


def _bill(session: Session, subscriber_id: int, period: str) -> Bill:
    return session.scalars(
        select(Bill).where(Bill.subscriber_id == subscriber_id, Bill.period == period)
    ).one()


def test_post_charge_updates_balance_bill_and_audit(seeded: Store, clock: FixedClock) -> None:
    at = clock.advance(minutes=5)
    with seeded.transaction() as session:
        result = post_charge(
            session,
            phone=ZHANG,
            amount_fen=1000,
            item_kind="vas",
            description="",
            service_code="video_ringtone",
            at=at,
            conversation_id="conv-1",
        )
    assert (result.balance_fen, result.bill_period, result.amount_fen) == (2650, "2026-11", 1000)
    assert result.bill_total_fen == 8400 + 1000
    assert result.description == "视频彩铃月功能费"
    assert result.subscription_id is not None
    with seeded.transaction() as session:
        zhang = find_subscriber_by_phone(session, ZHANG)
        assert zhang is not None and zhang.balance_fen == 2650
        bill = _bill(session, zhang.id, "2026-11")
        assert (bill.total_fen, bill.status) == (9400, "open")
        assert sum(c.amount_fen for c in charges_in_period(session, zhang.id, "2026-11")) == bill.total_fen
        charge = session.get(Charge, result.charge_id)
        assert charge is not None and charge.subscription_id == result.subscription_id
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "charge.posted")).one()
        assert (entry.actor, entry.subscriber_id, entry.entity, entry.entity_id) == (
            "billing_feed",
            zhang.id,
            "charge",
            str(result.charge_id),
        )
        assert entry.conversation_id == "conv-1"
        assert entry.details["amount_fen"] == 1000 and entry.details["balance_fen"] == 2650


def test_post_charge_opens_the_bill_of_a_new_period(seeded: Store, clock: FixedClock) -> None:
    at = datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc)  # 2026-12-01 00:30 in Shanghai
    with seeded.transaction() as session:
        result = post_charge(
            session,
            phone="13600136000",
            amount_fen=5900,
            item_kind="plan_fee",
            description="畅享59元套餐月费",
            at=at,
        )
    assert result.bill_period == "2026-12" and result.bill_total_fen == 5900
    with seeded.transaction() as session:
        bill = session.get(Bill, result.bill_id)
        assert bill is not None and bill.status == "open"
        changed = close_bills_before(session, result.subscriber_id, "2026-12", at=at)
        assert changed == {"2026-11": "paid"}
        assert session.get(Bill, result.bill_id).status == "open"  # type: ignore[union-attr]


def test_late_charge_to_a_closed_period_keeps_fifo(seeded: Store, clock: FixedClock) -> None:
    """A charge posted back into October updates October's closed bill and re-settles it."""
    at = datetime(2026, 10, 31, 12, 0, tzinfo=timezone.utc)
    with seeded.transaction() as session:
        post_charge(
            session, phone="13600136000", amount_fen=200, item_kind="sms", description="短信费", at=at
        )
    with seeded.transaction() as session:
        liu = find_subscriber_by_phone(session, "13600136000")
        assert liu is not None
        bill = _bill(session, liu.id, "2026-10")
        assert (bill.total_fen, bill.status) == (6100, "paid")  # 刘洋 has paid in advance


_BAD_CHARGES: list[tuple[dict[str, Any], type[BillingError]]] = [
    ({"amount_fen": 0}, InvalidAmount),
    ({"amount_fen": -100}, InvalidAmount),
    ({"amount_fen": 10.0}, InvalidAmount),
    ({"amount_fen": True}, InvalidAmount),
    ({"amount_fen": "1000"}, InvalidAmount),
    ({"item_kind": "refund"}, InvalidChargeKind),
    ({"service_code": "no_such_service"}, UnknownService),
    ({"phone": "13000000000"}, UnknownSubscriber),
    ({"phone": "not a phone"}, UnknownSubscriber),
]


def test_post_charge_rejects_bad_input_and_changes_nothing(seeded: Store, clock: FixedClock) -> None:
    before = _snapshot(seeded)
    for kwargs, error in _BAD_CHARGES:
        args: dict[str, Any] = {
            "phone": ZHANG,
            "amount_fen": 1000,
            "item_kind": "vas",
            "description": "x",
            "service_code": "video_ringtone",
            "at": clock.now(),
        }
        args.update(kwargs)
        with pytest.raises(error):
            with seeded.transaction() as session:
                post_charge(session, **args)
        assert _snapshot(seeded) == before, kwargs


def test_post_charge_refuses_a_closed_account(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        sub = find_subscriber_by_phone(session, "13600136000")
        assert sub is not None
        sub.status = "closed"
    before = _snapshot(seeded)
    with pytest.raises(AccountClosed) as info:
        with seeded.transaction() as session:
            post_charge(
                session,
                phone="13600136000",
                amount_fen=100,
                item_kind="other",
                description="x",
                at=clock.now(),
            )
    assert "136****6000" in str(info.value)
    assert _snapshot(seeded) == before


def test_post_charge_refuses_naive_time(seeded: Store) -> None:
    with pytest.raises(ValueError):
        with seeded.transaction() as session:
            post_charge(
                session,
                phone=ZHANG,
                amount_fen=100,
                item_kind="other",
                description="x",
                at=datetime(2026, 11, 22, 10, 0),
            )


def test_a_listener_writes_in_the_charge_transaction(seeded: Store, clock: FixedClock) -> None:
    calls: list[tuple[Any, ...]] = []

    def listener(session: Any, event: ChargePosted, sms: Any) -> tuple[()]:
        calls.append(
            (event.phone, event.balance_fen, event.amount_fen, event.charge_id is not None, event.charged_at)
        )
        session.add(
            Notification(
                subscriber_id=event.subscriber_id,
                phone=event.phone,
                kind="alert",
                body="扣费提醒",
                created_at=event.charged_at,
            )
        )
        return ()

    at = clock.now()
    events.subscribe(ChargePosted, listener)
    try:
        with seeded.transaction() as session:
            post_charge(
                session,
                phone=ZHANG,
                amount_fen=1000,
                item_kind="vas",
                description="",
                service_code="tencent_video",
                at=at,
            )
    finally:
        events.SUBSCRIBERS.unsubscribe(ChargePosted, listener)
    assert calls == [(ZHANG, 2650, 1000, True, at)]
    with seeded.transaction() as session:
        alerts = (
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "alert", Notification.phone == ZHANG, Notification.body == "扣费提醒")
        )
        assert session.scalar(alerts) == 1


def test_payment_clears_arrears_fifo(seeded: Store, clock: FixedClock) -> None:
    at = clock.advance(minutes=1)
    with seeded.transaction() as session:
        partial = record_payment(
            session, phone=LI, amount_fen=3000, method="wechat_pay", at=at, reference="W1"
        )
    assert (partial.balance_fen, partial.arrears_fen, partial.bills_paid) == (-2800, 5800, ())
    with seeded.transaction() as session:
        rest = record_payment(session, phone=LI, amount_fen=2800, method="alipay", at=at)
    assert (rest.balance_fen, rest.arrears_fen, rest.bills_paid) == (0, 0, ("2026-10",))
    with seeded.transaction() as session:
        li = find_subscriber_by_phone(session, LI)
        assert li is not None
        assert get_balance(session, li.id, at).arrears_fen == 0
        assert li.status == "suspended", "restoring service is not record_payment's decision"
        bill = _bill(session, li.id, "2026-10")
        assert bill.status == "paid"
        entries = session.scalars(select(AuditLog).where(AuditLog.action == "payment.recorded")).all()
        assert [e.details["amount_fen"] for e in entries] == [3000, 2800]
        assert entries[1].details["bills_paid"] == ["2026-10"]
        assert session.scalar(select(func.count()).select_from(Payment).where(Payment.reference == "W1")) == 1


def test_payments_are_published(seeded: Store, clock: FixedClock) -> None:
    seen: list[tuple[str, int]] = []

    def listener(session: Any, event: PaymentRecorded, sms: Any) -> tuple[()]:
        seen.append((event.phone, event.amount_fen))
        return ()

    events.subscribe(PaymentRecorded, listener)
    try:
        with seeded.transaction() as session:
            record_payment(session, phone=ZHANG, amount_fen=5000, method="hall", at=clock.now())
    finally:
        events.SUBSCRIBERS.unsubscribe(PaymentRecorded, listener)
    assert seen == [(ZHANG, 5000)]


def test_record_payment_rejects_bad_input_and_changes_nothing(seeded: Store, clock: FixedClock) -> None:
    before = _snapshot(seeded)
    cases: list[tuple[dict[str, Any], type[BillingError]]] = [
        ({"amount_fen": 0}, InvalidAmount),
        ({"amount_fen": 1.5}, InvalidAmount),
        ({"method": "cash"}, InvalidPaymentMethod),
        ({"phone": "13000000000"}, UnknownSubscriber),
    ]
    for kwargs, error in cases:
        args: dict[str, Any] = {"phone": LI, "amount_fen": 5800, "method": "alipay", "at": clock.now()}
        args.update(kwargs)
        with pytest.raises(error):
            with seeded.transaction() as session:
                record_payment(session, **args)
        assert _snapshot(seeded) == before, kwargs


def test_many_charges_keep_the_books(seeded: Store, clock: FixedClock) -> None:
    """Balance stays payments − charges and the bill stays the sum of its charges."""
    with seeded.transaction() as session:
        for i in range(5):
            post_charge(
                session,
                phone="13500135000",
                amount_fen=100 + i,
                item_kind="data",
                description="套餐外流量",
                at=clock.now() + timedelta(minutes=i),
            )
        record_payment(session, phone="13500135000", amount_fen=1000, method="alipay", at=clock.now())
    with seeded.transaction() as session:
        chen = find_subscriber_by_phone(session, "13500135000")
        assert chen is not None
        assert chen.balance_fen == 520 - (100 + 101 + 102 + 103 + 104) + 1000
        paid = session.scalar(select(func.sum(Payment.amount_fen)).where(Payment.subscriber_id == chen.id))
        charged = session.scalar(select(func.sum(Charge.amount_fen)).where(Charge.subscriber_id == chen.id))
        assert chen.balance_fen == paid - charged
        bill = _bill(session, chen.id, "2026-11")
        assert bill.total_fen == sum(c.amount_fen for c in charges_in_period(session, chen.id, "2026-11"))
