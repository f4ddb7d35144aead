"""Read-side queries return plain frozen views."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.billing.errors import UnknownSubscriber
from bot.billing.queries import (
    AccountSummary,
    AlertRuleView,
    account_summary,
    charges_in_period,
    find_subscriber_by_phone,
    get_balance,
    list_bills,
    list_outbox,
)
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import Notification
from bot.texts.labels import describe_alert


def test_find_subscriber_by_phone(seeded: Store) -> None:
    with seeded.transaction() as session:
        found = find_subscriber_by_phone(session, "+86 138 0013 8000")
        assert found is not None and found.name == "张伟"
        assert find_subscriber_by_phone(session, "13000000000") is None
        assert find_subscriber_by_phone(session, "garbage") is None


def test_account_summary_is_a_frozen_snapshot(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        summary = account_summary(session, "13700137000", clock.now())
        by_id = account_summary(session, summary.subscriber_id, clock.now())
    assert isinstance(summary, AccountSummary) and summary == by_id
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.balance_fen = 0  # type: ignore[misc]
    assert summary.masked_phone == "137****7000"
    assert (summary.plan_name, summary.plan_fee_fen, summary.is_contract) == (
        "5G畅享129元合约套餐",
        12900,
        True,
    )
    assert (summary.balance_fen, summary.arrears_fen, summary.period) == (21000, 0, "2026-11")
    assert summary.early_termination_fee_fen == 30000
    assert [s.channel_label for s in summary.subscriptions] == ["手机App"]
    assert sorted(describe_alert(a) for a in summary.alerts) == [
        "余额低于30.00元时短信提醒",
        "当月消费超过150.00元时短信提醒",
    ]
    assert summary.data_usage is not None and summary.data_usage.data_allowance_mb == 60 * 1024


def test_unknown_subscriber(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        with pytest.raises(UnknownSubscriber) as info:
            account_summary(session, "13000000000", clock.now())
        assert "130****0000" in str(info.value)
        with pytest.raises(UnknownSubscriber):
            account_summary(session, 999_999, clock.now())
        with pytest.raises(UnknownSubscriber):
            get_balance(session, 999_999, clock.now())


def test_bills_and_charges(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        li = find_subscriber_by_phone(session, "13900139000")
        assert li is not None
        bills = list_bills(session, li.id)
        assert [b.period for b in bills][:2] == ["2026-11", "2026-10"]
        assert list_bills(session, li.id, limit=1)[0].status == "open"
        october = charges_in_period(session, li.id, "2026-10")
        assert sum(c.amount_fen for c in october) == 5800
        assert [c.charged_at for c in october] == sorted(c.charged_at for c in october)
        assert {c.item_kind for c in october} == {"plan_fee", "vas", "voice"}
        assert charges_in_period(session, li.id, "2026-11") == ()


def test_outbox_newest_first_with_limit(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        for i in range(3):
            session.add(
                Notification(
                    phone="13600136000",
                    kind="otp",
                    body=f"验证码{i}",
                    created_at=clock.now() + timedelta(minutes=i),
                )
            )
    with seeded.transaction() as session:
        messages = list_outbox(session, "13600136000")
        assert [m.body for m in messages] == ["验证码2", "验证码1", "验证码0"]
        assert [m.body for m in list_outbox(session, "136 0013 6000", limit=2)] == ["验证码2", "验证码1"]
        assert list_outbox(session, "bad") == ()
        zhang = list_outbox(session, "13800138000")
        assert len(zhang) == 1 and "视频彩铃" in zhang[0].body


def test_describe_alert_variants() -> None:
    assert describe_alert(AlertRuleView(1, "data", 80, "wechat", True, True)) == "本月流量用到80%时微信提醒"
    deduction = AlertRuleView(2, "deduction", None, "sms", False, True)
    assert describe_alert(deduction) == "每次扣费时短信提醒（已关闭）"
