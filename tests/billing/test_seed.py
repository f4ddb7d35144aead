"""The demo accounts: the books balance, each story holds, seeding is idempotent, no secret in clear."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.billing.models import (
    AlertRule,
    Bill,
    Charge,
    ClosureRequest,
    DataUsage,
    Dispute,
    Payment,
    Service,
    Subscriber,
    Subscription,
)
from bot.billing.queries import account_summary, get_balance
from bot.clock import FixedClock, local_period, to_local
from bot.db import Store
from bot.identity.hashing import verify_secret
from bot.schema import metadata
from bot.seed import DEMO_PASSWORD, DEMO_PHONES, DEMO_STORIES, is_seeded, seed_demo
from bot.settings import Settings


def _sum(session: Session, column, *where) -> int:  # type: ignore[no-untyped-def]
    return int(session.scalar(select(func.coalesce(func.sum(column), 0)).where(*where)) or 0)


def _subscriber(session: Session, phone: str) -> Subscriber:
    return session.scalars(select(Subscriber).where(Subscriber.phone == phone)).one()


def _check_books(session: Session, subscriber: Subscriber, now: datetime) -> None:
    """Balance, bill totals, FIFO statuses and arrears of one account agree with its history."""
    sid = subscriber.id
    payments = _sum(session, Payment.amount_fen, Payment.subscriber_id == sid)
    charges = _sum(session, Charge.amount_fen, Charge.subscriber_id == sid)
    assert subscriber.balance_fen == payments - charges, subscriber.phone

    current = local_period(now)
    bills = session.scalars(select(Bill).where(Bill.subscriber_id == sid).order_by(Bill.period)).all()
    charge_periods = set(session.scalars(select(Charge.bill_period).where(Charge.subscriber_id == sid)))
    assert charge_periods <= {b.period for b in bills}, "every charged period has a bill"
    cumulative = 0
    for bill in bills:
        assert bill.total_fen == _sum(
            session, Charge.amount_fen, Charge.subscriber_id == sid, Charge.bill_period == bill.period
        ), (subscriber.phone, bill.period)
        if bill.period == current:
            assert bill.status == "open"
            continue
        assert bill.period < current
        cumulative += bill.total_fen
        expected = "paid" if payments >= cumulative else "unpaid"
        assert bill.status == expected, (subscriber.phone, bill.period)
        assert bill.issued_at is not None and bill.issued_at <= now
    assert current in {b.period for b in bills}

    unpaid = sum(b.total_fen for b in bills if b.status == "unpaid")
    view = get_balance(session, sid, now)
    assert (view.balance_fen, view.arrears_fen) == (subscriber.balance_fen, unpaid)

    for charge in session.scalars(select(Charge).where(Charge.subscriber_id == sid)):
        assert charge.charged_at <= now
        assert charge.bill_period == local_period(charge.charged_at)
    for payment in session.scalars(select(Payment).where(Payment.subscriber_id == sid)):
        assert payment.paid_at <= now


def test_books_balance_for_every_demo_account(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        subscribers = session.scalars(select(Subscriber)).all()
        assert {s.phone for s in subscribers} == set(DEMO_PHONES)
        for story in DEMO_STORIES:
            subscriber = _subscriber(session, story.phone)
            assert subscriber.name == story.name
            assert subscriber.plan.code == story.plan_code
            assert subscriber.balance_fen == story.balance_fen
            _check_books(session, subscriber, clock.now())
        # a few months of history: a plan fee on the 1st of each month
        zhang = _subscriber(session, "13800138000")
        fees = session.scalars(
            select(Charge).where(Charge.subscriber_id == zhang.id, Charge.item_kind == "plan_fee")
        ).all()
        assert len(fees) >= 4
        assert all(to_local(c.charged_at).day == 1 for c in fees)
        assert len({c.bill_period for c in fees}) == len(fees)


def test_zhang_wei_ringtone_from_sms_marketing(seeded: Store, clock: FixedClock) -> None:
    now = clock.now()
    with seeded.transaction() as session:
        zhang = _subscriber(session, "13800138000")
        assert (zhang.plan.name, zhang.balance_fen) == ("畅享59元套餐", 3650)
        subs = {
            s.service.code: s
            for s in session.scalars(select(Subscription).where(Subscription.subscriber_id == zhang.id))
        }
        ringtone = subs["video_ringtone"]
        assert ringtone.channel == "sms_marketing"
        assert ringtone.last_used_at is None and ringtone.ended_at is None
        assert timedelta(days=69) <= now - ringtone.started_at <= timedelta(days=71)
        charges = session.scalars(
            select(Charge).where(Charge.subscription_id == ringtone.id).order_by(Charge.charged_at)
        ).all()
        periods = [c.bill_period for c in charges]
        assert periods == ["2026-09", "2026-10", "2026-11"], "charged every month since it was opened"
        assert all(c.amount_fen == 1000 and c.item_kind == "vas" for c in charges)
        assert all(c.service.code == "video_ringtone" for c in charges)

        tencent = subs["tencent_video"]
        assert tencent.channel == "app"
        assert timedelta(days=364) <= now - tencent.started_at <= timedelta(days=366)
        assert tencent.last_used_at is not None and now - tencent.last_used_at < timedelta(days=7)

        summary = account_summary(session, "13800138000", now)
        assert summary.month_spend_fen == 5900 + 1500 + 1000
        assert [s.service_code for s in summary.subscriptions] == ["tencent_video", "video_ringtone"]
        assert summary.masked_phone == "138****8000"


def test_li_na_arrears_and_suspension(seeded: Store, clock: FixedClock) -> None:
    now = clock.now()
    with seeded.transaction() as session:
        li = _subscriber(session, "13900139000")
        assert (li.status, li.balance_fen, li.plan.name) == ("suspended", -5800, "畅享39元套餐")
        bills = {b.period: b for b in session.scalars(select(Bill).where(Bill.subscriber_id == li.id))}
        assert (bills["2026-10"].total_fen, bills["2026-10"].status) == (5800, "unpaid")
        assert [p for p, b in bills.items() if b.status == "unpaid"] == ["2026-10"]
        assert bills["2026-11"].status == "open" and bills["2026-11"].total_fen == 0
        assert not session.scalars(
            select(Charge).where(Charge.subscriber_id == li.id, Charge.bill_period == "2026-11")
        ).all()
        assert get_balance(session, li.id, now).arrears_fen == 5800
        summary = account_summary(session, li.id, now)
        assert (summary.arrears_fen, summary.month_spend_fen, summary.status_label) == (5800, 0, "停机")


def test_wang_qiang_contract_and_alerts(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        wang = _subscriber(session, "13700137000")
        assert wang.plan.name == "5G畅享129元合约套餐" and wang.plan.is_contract
        assert wang.contract_end == date(2027, 6, 30)
        assert wang.early_termination_fee_fen == 30000
        assert wang.balance_fen == 21000
        rules = session.scalars(select(AlertRule).where(AlertRule.subscriber_id == wang.id)).all()
        assert sorted((r.alert_type, r.threshold, r.channel, r.active, r.armed) for r in rules) == [
            ("balance", 3000, "sms", True, True),
            ("spend", 15000, "sms", True, True),
        ]
        summary = account_summary(session, "13700137000", clock.now())
        assert len(summary.alerts) == 2
        assert summary.month_spend_fen < 15000, "the spend alert is not crossed this month"


def test_liu_yang_is_clean(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        liu = _subscriber(session, "13600136000")
        assert (liu.status, liu.balance_fen, liu.plan.name) == ("active", 12000, "畅享59元套餐")
        assert liu.contract_end is None and liu.early_termination_fee_fen == 0 and not liu.plan.is_contract
        assert get_balance(session, liu.id, clock.now()).arrears_fen == 0
        assert not session.scalars(
            select(Bill).where(Bill.subscriber_id == liu.id, Bill.status == "unpaid")
        ).all()
        assert not session.scalars(select(Dispute).where(Dispute.subscriber_id == liu.id)).all()
        assert not session.scalars(select(ClosureRequest).where(ClosureRequest.subscriber_id == liu.id)).all()


def test_chen_jing_data_and_duplicate_game_boost(seeded: Store, clock: FixedClock) -> None:
    now = clock.now()
    with seeded.transaction() as session:
        chen = _subscriber(session, "13500135000")
        assert (chen.balance_fen, chen.plan.name) == (520, "畅享19元套餐")
        usage = session.scalars(
            select(DataUsage).where(DataUsage.subscriber_id == chen.id, DataUsage.period == "2026-11")
        ).one()
        assert usage.data_used_mb * 100 // chen.plan.data_mb == 95
        summary = account_summary(session, chen.id, now)
        assert summary.data_usage is not None and summary.data_usage.data_percent == 95

        boost = session.scalars(select(Service).where(Service.code == "game_boost")).one()
        charges = session.scalars(
            select(Charge).where(Charge.subscriber_id == chen.id, Charge.service_id == boost.id)
        ).all()
        assert len(charges) == 2
        a, b = sorted(charges, key=lambda c: c.charged_at)
        assert (a.amount_fen, a.description, a.item_kind) == (b.amount_fen, b.description, b.item_kind)
        assert a.amount_fen == 600 and a.bill_period == b.bill_period == "2026-11"
        assert to_local(a.charged_at).date() == to_local(b.charged_at).date()
        assert timedelta(0) < b.charged_at - a.charged_at <= timedelta(minutes=10)


def test_seeding_twice_changes_nothing(seeded: Store, clock: FixedClock, settings: Settings) -> None:
    def counts() -> dict[str, int]:
        with seeded.transaction() as session:
            assert is_seeded(session)
            return {
                t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables
            }

    before = counts()
    clock.advance(days=3)
    with seeded.transaction() as session:
        report = seed_demo(session, clock.now(), settings)
    assert not report.seeded and report.created == () and set(report.skipped) == set(DEMO_PHONES)
    assert not report.catalogue.changed
    assert counts() == before


def test_is_seeded_on_an_empty_store(store: Store) -> None:
    with store.transaction() as session:
        assert not is_seeded(session)


def test_no_secret_in_clear_anywhere(seeded: Store, settings: Settings) -> None:
    forbidden = [DEMO_PASSWORD] + [s.id_last6 for s in DEMO_STORIES]
    forbidden += [s.id_last6.lower() for s in DEMO_STORIES]
    with seeded.transaction() as session:
        for table in metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                blob = " ".join(str(value) for value in row)
                for secret in forbidden:
                    assert secret not in blob, f"{secret!r} in clear in {table.name}"
        # ... but the hashes verify
        for story in DEMO_STORIES:
            sub = _subscriber(session, story.phone)
            assert verify_secret(DEMO_PASSWORD, sub.password_hash, pepper=settings.secret_key)
            assert verify_secret(story.id_last6.upper(), sub.id_last6_hash, pepper=settings.secret_key)
            assert not verify_secret("000000", sub.password_hash, pepper=settings.secret_key)
        raw = session.execute(text("SELECT password_hash, id_last6_hash FROM subscribers")).all()
        assert all(p.startswith("pbkdf2_sha256$1000$") and i.startswith("pbkdf2_sha256$") for p, i in raw)


@pytest.mark.parametrize(
    "local_now",
    [
        datetime(2026, 12, 1, 0, 3),  # minutes into a month
        datetime(2026, 12, 1, 23, 50),  # the 1st, late
        datetime(2027, 1, 2, 0, 20),  # a new year, just after midnight
        datetime(2027, 3, 31, 23, 59),  # month end, history through February
        datetime(2028, 2, 29, 12, 0),  # leap day
    ],
)
def test_stories_hold_whatever_the_date(sqlite_store: Store, settings: Settings, local_now: datetime) -> None:
    from bot.clock import SHANGHAI

    now = local_now.replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
    with sqlite_store.transaction() as session:
        seed_demo(session, now, settings)
    with sqlite_store.transaction() as session:
        for story in DEMO_STORIES:
            sub = _subscriber(session, story.phone)
            assert sub.balance_fen == story.balance_fen
            _check_books(session, sub, now)
        li = _subscriber(session, "13900139000")
        assert get_balance(session, li.id, now).arrears_fen == 5800
        chen = account_summary(session, "13500135000", now)
        assert chen.data_usage is not None and chen.data_usage.data_percent == 95
        boosts = session.scalars(
            select(Charge).where(Charge.subscriber_id == chen.subscriber_id, Charge.item_kind == "vas")
        ).all()
        assert len(boosts) == 2 and len({to_local(c.charged_at).date() for c in boosts}) == 1
        assert all(c.bill_period == local_period(now) for c in boosts)
        zhang = _subscriber(session, "13800138000")
        ringtone = session.scalars(
            select(Subscription)
            .join(Service)
            .where(Subscription.subscriber_id == zhang.id, Service.code == "video_ringtone")
        ).one()
        ring_periods = sorted(
            session.scalars(select(Charge.bill_period).where(Charge.subscription_id == ringtone.id))
        )
        assert ring_periods[0] == local_period(ringtone.started_at)
        assert ring_periods[-1] == local_period(now)
        assert len(ring_periods) == len(set(ring_periods))
