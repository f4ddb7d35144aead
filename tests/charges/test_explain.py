"""Explaining the deductions of the demo accounts: what each is, and what looks wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.billing.charges import ChargeReport, explain_charges
from bot.billing.errors import UnknownSubscriber
from bot.billing.models import Charge, Subscription
from bot.billing.periods import InvalidPeriod, resolve_periods
from bot.billing.posting import post_charge
from bot.clock import FixedClock, to_local
from bot.db import Store
from tests.support.demo import CHEN, LI, LIU, ZHANG, subscriber_id


def _report(store: Store, phone: str, value: str | None, clock: FixedClock) -> ChargeReport:
    sid = subscriber_id(store, phone)
    with store.transaction() as session:
        return explain_charges(session, sid, resolve_periods(value, clock.now()), clock.now())


def test_zhang_video_ringtone_is_flagged_marketing_channel_and_unused(demo: Store, clock: FixedClock) -> None:
    report = _report(demo, ZHANG, "recent:3", clock)
    assert report.periods == ("2026-11", "2026-10", "2026-09")
    ringtone = [c for c in report.charges if c.service_code == "video_ringtone"]
    # Opened on 13 September (opening month charged in full), then on each 1st.
    assert [c.bill_period for c in ringtone] == ["2026-11", "2026-10", "2026-09"]
    opened = clock.now() - timedelta(days=70, hours=2)
    for charge in ringtone:
        assert charge.flag_codes == ("marketing_channel", "unused")
        assert charge.channel == "sms_marketing"
        assert charge.channel_label == "短信营销链接"
        assert charge.opened_at == opened
        assert to_local(charge.opened_at).date().isoformat() == "2026-09-13"
        assert charge.last_used_at is None
        assert (charge.amount_fen, charge.published_fee_fen, charge.billing) == (1000, 1000, "monthly")
        assert charge.service_name == "视频彩铃"
        assert charge.service_description and charge.provider
        assert charge.item_kind == "vas" and charge.item_kind_label == "增值业务"
        assert charge.refundable and not charge.disputed
        texts = {f.code: f.explanation for f in charge.flags}
        assert "2026年9月13日" in texts["marketing_channel"] and "短信营销链接" in texts["marketing_channel"]
        assert "从未使用" in texts["unused"]

    assert report.refundable_charge_ids == tuple(c.charge_id for c in ringtone)
    assert report.flagged_total_fen == report.refundable_total_fen == 3000
    assert report.total_fen == sum(c.amount_fen for c in report.charges)
    (candidate,) = report.active_flagged_services
    assert candidate.service_code == "video_ringtone"
    assert candidate.channel_label == "短信营销链接"
    assert candidate.opened_at == opened
    assert candidate.flag_codes == ("marketing_channel", "unused")
    assert candidate.flagged_total_fen == 3000
    assert candidate.refundable_charge_ids == report.refundable_charge_ids


def test_zhang_tencent_video_plan_fee_are_explained_not_flagged(demo: Store, clock: FixedClock) -> None:
    report = _report(demo, ZHANG, None, clock)
    assert report.periods == ("2026-11",)
    by_kind = {(c.item_kind, c.service_code): c for c in report.charges}
    tencent = by_kind[("vas", "tencent_video")]
    assert tencent.flags == ()
    assert (tencent.channel, tencent.channel_label) == ("app", "手机App")
    assert tencent.last_used_at is not None
    plan = by_kind[("plan_fee", None)]
    assert plan.flags == () and plan.item_kind_label == "套餐月费"
    assert plan.service_code is None and plan.channel is None
    assert report.total_fen == 8400
    assert report.flagged_total_fen == 1000


def test_charges_come_newest_first(demo: Store, clock: FixedClock) -> None:
    report = _report(demo, ZHANG, "recent:6", clock)
    keys = [(c.charged_at, c.charge_id) for c in report.charges]
    assert keys == sorted(keys, reverse=True)
    assert {c.bill_period for c in report.charges} == set(resolve_periods("recent:6", clock.now()))


def test_chen_second_game_boost_is_a_duplicate_not_the_first(demo: Store, clock: FixedClock) -> None:
    report = _report(demo, CHEN, "relative:0", clock)
    boosts = [c for c in report.charges if c.service_code == "game_boost"]
    assert len(boosts) == 2
    second, first = boosts  # newest first
    assert first.charged_at < second.charged_at
    assert to_local(first.charged_at).date() == to_local(second.charged_at).date()
    assert first.flags == ()
    assert second.flag_codes == ("duplicate",)
    assert "重复扣费" in second.flags[0].explanation
    assert (second.billing, second.billing_label, second.published_fee_fen) == ("per_use", "按次", 600)
    assert report.refundable_charge_ids == (second.charge_id,)
    assert report.flagged_total_fen == 600
    assert [s.service_code for s in report.active_flagged_services] == ["game_boost"]


def test_price_mismatch_monthly_and_per_use(demo: Store, clock: FixedClock) -> None:
    at = clock.advance(hours=1)
    with demo.transaction() as session:
        monthly = post_charge(
            session,
            phone=ZHANG,
            amount_fen=2500,
            item_kind="vas",
            description="腾讯视频会员月功能费",
            service_code="tencent_video",
            at=at,
        )
        per_use = post_charge(
            session,
            phone=CHEN,
            amount_fen=900,
            item_kind="vas",
            description="游戏加速包按次订购",
            service_code="game_boost",
            at=at,
        )
    zhang = {c.charge_id: c for c in _report(demo, ZHANG, None, clock).charges}
    assert zhang[monthly.charge_id].flag_codes == ("price_mismatch",)
    assert "25.00元" in zhang[monthly.charge_id].flags[0].explanation
    assert "15.00元/月" in zhang[monthly.charge_id].flags[0].explanation
    chen = {c.charge_id: c for c in _report(demo, CHEN, None, clock).charges}
    assert chen[per_use.charge_id].flag_codes == ("price_mismatch",)
    assert "6.00元/次" in chen[per_use.charge_id].flags[0].explanation


def test_a_service_not_used_since_before_the_period_is_unused(demo: Store, clock: FixedClock) -> None:
    sid = subscriber_id(demo, ZHANG)
    with demo.transaction() as session:
        sub = session.scalars(
            select(Subscription).join(Subscription.service).where(Subscription.subscriber_id == sid)
        ).all()
        tencent = next(s for s in sub if s.service.code == "tencent_video")
        tencent.last_used_at = clock.now() - timedelta(days=40)  # 2026-10-13
    report = _report(demo, ZHANG, "recent:2", clock)
    tencent_charges = {c.bill_period: c for c in report.charges if c.service_code == "tencent_video"}
    assert tencent_charges["2026-11"].flag_codes == ("unused",)
    assert "2026年10月13日" in tencent_charges["2026-11"].flags[0].explanation
    assert tencent_charges["2026-10"].flag_codes == ()


def test_liu_has_nothing_suspicious(demo: Store, clock: FixedClock) -> None:
    report = _report(demo, LIU, "recent:6", clock)
    assert len(report.charges) == 6
    assert all(c.item_kind == "plan_fee" and c.flags == () for c in report.charges)
    assert report.flagged_total_fen == 0
    assert report.refundable_charge_ids == ()
    assert report.active_flagged_services == ()
    assert report.total_fen == 6 * 5900


def test_a_period_without_charges_is_an_empty_report(demo: Store, clock: FixedClock) -> None:
    report = _report(demo, LI, "relative:0", clock)  # suspended since the 1st: nothing charged
    assert report.charges == () and report.total_fen == 0


def test_bad_input(demo: Store, clock: FixedClock) -> None:
    sid = subscriber_id(demo, ZHANG)
    with demo.transaction() as session:
        with pytest.raises(UnknownSubscriber):
            explain_charges(session, 999_999, ("2026-11",), clock.now())
        with pytest.raises(InvalidPeriod):
            explain_charges(session, sid, ("2026-13",), clock.now())
        with pytest.raises(InvalidPeriod):
            explain_charges(session, sid, (), clock.now())
        with pytest.raises(ValueError):
            explain_charges(session, sid, ("2026-11",), clock.now().replace(tzinfo=None))
        assert session.scalars(select(Charge).where(Charge.subscriber_id == sid)).first() is not None
