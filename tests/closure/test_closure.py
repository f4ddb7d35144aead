"""Account closure (销户): the check, the request, its withdrawal and the nightly completion."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.audit import AuditLog
from bot.billing.closure import (
    COOLING_OFF_DAYS,
    ClosureCancelResult,
    ClosureCheck,
    ClosureResult,
    cancel_closure,
    check_closure,
    closure_effective_at,
    complete_due_closures,
    request_closure,
)
from bot.billing.errors import (
    BillingError,
    ClosureAlreadyEffective,
    ClosureBlocked,
    ConsentRequired,
    NoPendingClosure,
    UnknownSubscriber,
)
from bot.billing.models import Bill, Charge, ClosureRequest, Dispute, Payment, Subscriber, Subscription
from bot.billing.posting import post_charge, record_payment
from bot.billing.queries import active_subscriptions, find_subscriber_by_phone
from bot.clock import SHANGHAI, FixedClock
from bot.db import Store
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway, SmsGateway
from bot.schema import metadata
from tests.support.demo import CHEN, LI, LIU, WANG, ZHANG
from tests.support.sms import FailingGateway

#: 2026-11-22 10:00 local + three days → 2026-11-25 00:00 Asia/Shanghai.
EFFECTIVE = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _id(store: Store, phone: str) -> int:
    with store.transaction() as session:
        found = find_subscriber_by_phone(session, phone)
        assert found is not None
        return found.id


def _check(store: Store, phone: str, now: datetime) -> ClosureCheck:
    with store.transaction() as session:
        return check_closure(session, _id(store, phone), now)


def _request(
    store: Store,
    phone: str,
    clock: FixedClock,
    sms: SmsGateway,
    *,
    consent: bool = False,
    conv: str = "conv-1",
) -> ClosureResult:
    sid = _id(store, phone)
    with store.transaction() as session:
        return request_closure(
            session, subscriber_id=sid, consent_to_fee=consent, at=clock.now(), conversation_id=conv, sms=sms
        )


def _cancel(
    store: Store, phone: str, at: datetime, sms: SmsGateway, conv: str = "conv-2"
) -> ClosureCancelResult:
    sid = _id(store, phone)
    with store.transaction() as session:
        return cancel_closure(session, subscriber_id=sid, at=at, conversation_id=conv, sms=sms)


def _closure_sms(session: Session, phone: str) -> list[str]:
    return list(
        session.scalars(
            select(Notification.body)
            .where(Notification.phone == phone, Notification.kind == "closure")
            .order_by(Notification.id)
        )
    )


def _snapshot(store: Store) -> dict[str, Any]:
    with store.transaction() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
        subscribers = sorted(
            session.execute(select(Subscriber.phone, Subscriber.status, Subscriber.balance_fen)).all()
        )
        requests = sorted(session.execute(select(ClosureRequest.id, ClosureRequest.status)).all())
        subs = sorted(session.execute(select(Subscription.id, Subscription.ended_at)).all())
        bills = sorted(session.execute(select(Bill.id, Bill.total_fen, Bill.status)).all())
    return {"counts": counts, "subscribers": subscribers, "requests": requests, "subs": subs, "bills": bills}


def _assert_reconciles(session: Session) -> None:
    """``balance == payments - charges`` for every subscriber."""
    for sub in session.scalars(select(Subscriber)):
        paid = session.scalar(
            select(func.coalesce(func.sum(Payment.amount_fen), 0)).where(Payment.subscriber_id == sub.id)
        )
        charged = session.scalar(
            select(func.coalesce(func.sum(Charge.amount_fen), 0)).where(Charge.subscriber_id == sub.id)
        )
        assert sub.balance_fen == paid - charged, sub.phone
        billed = session.scalar(
            select(func.coalesce(func.sum(Bill.total_fen), 0)).where(Bill.subscriber_id == sub.id)
        )
        assert billed == charged, f"bills of {sub.phone} add up to its charges"


# --------------------------------------------------------------------------- the check


def test_effective_at_is_midnight_shanghai_three_days_later() -> None:
    assert COOLING_OFF_DAYS == 3
    assert closure_effective_at(datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)) == EFFECTIVE
    # 23:30 local on the 22nd is still the 22nd; 00:30 local on the 23rd is the 23rd.
    assert closure_effective_at(datetime(2026, 11, 22, 15, 30, tzinfo=timezone.utc)) == EFFECTIVE
    assert closure_effective_at(datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc)) == EFFECTIVE + timedelta(
        days=1
    )
    with pytest.raises(ValueError):
        closure_effective_at(datetime(2026, 11, 22, 10, 0))


def test_li_na_is_blocked_by_arrears(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    check = _check(seeded, LI, clock.now())
    assert not check.can_close
    assert check.blocker_codes == ("arrears",)
    (blocker,) = check.blockers
    assert blocker.amount_fen == 5800 and "58.00元" in blocker.message_zh
    assert check.arrears_fen == 5800 and check.refund_fen == 0 and check.refund_method is None
    assert check.status == "suspended"

    before = _snapshot(seeded)
    with pytest.raises(ClosureBlocked) as raised:
        _request(seeded, LI, clock, sms, consent=True)
    assert raised.value.codes == ("arrears",)
    assert raised.value.blockers[0].amount_fen == 5800
    assert "58.00元" in str(raised.value) and isinstance(raised.value, BillingError)
    assert not isinstance(raised.value, ConsentRequired)
    assert _snapshot(seeded) == before


def test_li_na_can_close_after_paying_and_a_withdrawal_restores_suspended(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    with seeded.transaction() as session:
        record_payment(session, phone=LI, amount_fen=5800, method="alipay", at=clock.advance(minutes=1))
    check = _check(seeded, LI, clock.now())
    assert check.can_close and check.blockers == () and check.refund_fen == 0

    result = _request(seeded, LI, clock, sms)
    assert result.created and result.request.refund_fen == 0
    with seeded.transaction() as session:
        assert session.get(Subscriber, result.request.subscriber_id).status == "closing"  # type: ignore[union-attr]
    cancelled = _cancel(seeded, LI, clock.advance(hours=1), sms)
    assert cancelled.restored_status == "suspended", "the status before the request comes back"
    with seeded.transaction() as session:
        assert session.get(Subscriber, result.request.subscriber_id).status == "suspended"  # type: ignore[union-attr]


def test_wang_qiang_contract_fee_beyond_balance_then_consent(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    check = _check(seeded, WANG, clock.now())
    assert check.contract is not None
    assert check.contract.end == date(2027, 6, 30) and check.contract.in_contract
    assert check.contract.early_termination_fee_fen == 30000 and check.contract.requires_consent
    assert check.termination_fee_fen == 30000 and check.needs_consent
    # Rule: the fee comes out of the balance; 210.00 does not cover 300.00, so 90.00 is due first.
    assert check.balance_fen == 21000 and check.refund_fen == 0 and check.fee_due_fen == 9000
    assert check.blocker_codes == ("fee_exceeds_balance",)
    assert check.blockers[0].amount_fen == 9000 and "90.00元" in check.blockers[0].message_zh
    assert any("违约金300.00元" in line for line in check.notices)

    before = _snapshot(seeded)
    for consent in (False, True):
        with pytest.raises(ClosureBlocked) as raised:
            _request(seeded, WANG, clock, sms, consent=consent)
        assert raised.value.codes == ("fee_exceeds_balance",)
    assert _snapshot(seeded) == before

    with seeded.transaction() as session:
        record_payment(session, phone=WANG, amount_fen=9000, method="bank_card", at=clock.advance(minutes=1))
    check = _check(seeded, WANG, clock.now())
    assert check.can_close and check.needs_consent and check.fee_due_fen == 0 and check.refund_fen == 0

    before = _snapshot(seeded)
    with pytest.raises(ConsentRequired) as consent_needed:
        _request(seeded, WANG, clock, sms, consent=False)
    assert consent_needed.value.fee_fen == 30000
    assert consent_needed.value.contract_end == date(2027, 6, 30)
    assert consent_needed.value.codes == ("consent_required",)
    assert isinstance(consent_needed.value, ClosureBlocked) and "300.00元" in str(consent_needed.value)
    assert _snapshot(seeded) == before

    result = _request(seeded, WANG, clock, sms, consent=True)
    assert result.created
    assert (result.request.termination_fee_fen, result.request.refund_fen) == (30000, 0)
    with seeded.transaction() as session:
        (body,) = _closure_sms(session, WANG)
        assert "违约金300.00元" in body and "11月25日生效" in body and "退还余额" not in body
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "closure.requested")).one()
        assert entry.details["consent_to_fee"] is True and entry.details["termination_fee_fen"] == 30000


def test_contract_ending_before_the_effective_date_costs_nothing(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    sid = _id(seeded, WANG)
    with seeded.transaction() as session:
        session.get(Subscriber, sid).contract_end = date(2026, 11, 24)  # type: ignore[union-attr]
    check = _check(seeded, WANG, clock.now())
    assert check.contract is not None and not check.contract.in_contract
    assert check.termination_fee_fen == 0 and not check.needs_consent
    assert check.can_close and check.refund_fen == 21000
    with seeded.transaction() as session:
        session.get(Subscriber, sid).contract_end = date(2026, 11, 25)  # type: ignore[union-attr]
    assert _check(seeded, WANG, clock.now()).termination_fee_fen == 30000, "the effective day is inside"


def test_liu_yang_closes_with_refund_and_sms(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    check = _check(seeded, LIU, clock.now())
    assert check.can_close and check.blockers == () and check.pending is None
    assert check.contract is None and check.termination_fee_fen == 0 and not check.needs_consent
    assert check.refund_fen == 12000 and check.fee_due_fen == 0
    assert check.refund_channel == "alipay" and check.refund_method == "原路退回至支付宝"
    assert check.services_to_cancel == ()
    assert check.effective_at == EFFECTIVE

    result = _request(seeded, LIU, clock, sms, conv="conv-liu")
    assert result.created and result.refund_method == "原路退回至支付宝"
    request = result.request
    assert (request.status, request.refund_fen, request.termination_fee_fen) == ("pending", 12000, 0)
    assert request.effective_at == EFFECTIVE and request.effective_date == date(2026, 11, 25)
    assert request.requested_at == clock.now() and request.conversation_id == "conv-liu"
    with seeded.transaction() as session:
        liu = session.get(Subscriber, request.subscriber_id)
        assert liu is not None and liu.status == "closing" and liu.balance_fen == 12000
        row = session.scalars(select(ClosureRequest)).one()
        assert row.id == request.id and row.status == "pending"
        (body,) = _closure_sms(session, LIU)
        assert body.startswith("【销户申请】")
        for expected in (
            "11月25日生效",
            "生效前可随时撤销",
            "退还余额120.00元",
            "原路退回至支付宝",
            "冷冻期",
        ):
            assert expected in body, expected
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "closure.requested")).one()
        assert entry.actor == f"subscriber:{liu.id}" and entry.conversation_id == "conv-liu"
        assert (entry.entity, entry.entity_id) == ("closure_request", str(request.id))
        assert entry.details["previous_status"] == "active" and entry.details["refund_fen"] == 12000

    check = _check(seeded, LIU, clock.now())
    assert check.status == "closing" and check.pending == request and check.can_close


def test_refund_method_follows_the_last_top_up(seeded: Store, clock: FixedClock) -> None:
    with seeded.transaction() as session:
        record_payment(session, phone=LIU, amount_fen=100, method="hall", at=clock.advance(minutes=1))
    check = _check(seeded, LIU, clock.now())
    assert check.refund_channel == "hall" and "营业厅领取" in (check.refund_method or "")
    with seeded.transaction() as session:
        record_payment(session, phone=LIU, amount_fen=100, method="wechat_pay", at=clock.advance(minutes=1))
        record_payment(session, phone=LIU, amount_fen=100, method="refund", at=clock.advance(minutes=1))
    check = _check(seeded, LIU, clock.now())
    assert check.refund_channel == "wechat_pay" and check.refund_method == "原路退回至微信支付"
    assert check.refund_fen == 12300


def test_zhang_wei_services_are_listed_for_cancellation(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    check = _check(seeded, ZHANG, clock.now())
    assert check.can_close and check.refund_fen == 3650
    listed = {(s.service_code, s.service_name, s.fee_fen) for s in check.services_to_cancel}
    assert listed == {("video_ringtone", "视频彩铃", 1000), ("tencent_video", "腾讯视频会员", 1500)}
    assert any("视频彩铃" in line and "一并取消" in line for line in check.notices)

    result = _request(seeded, ZHANG, clock, sms)
    assert {s.service_name for s in result.services_to_cancel} == {"视频彩铃", "腾讯视频会员"}
    with seeded.transaction() as session:
        (body,) = _closure_sms(session, ZHANG)
        assert "视频彩铃" in body and "腾讯视频会员" in body and "一并取消" in body
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "closure.requested")).one()
        assert sorted(entry.details["services"]) == ["tencent_video", "video_ringtone"]


def test_open_dispute_blocks_until_finished(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    sid = _id(seeded, LIU)
    with seeded.transaction() as session:
        session.add(
            Dispute(
                ticket_no="TS20261122001",
                subscriber_id=sid,
                status="open",
                reason="不认可的扣费",
                amount_fen=1500,
                created_at=clock.now(),
            )
        )
        session.add(
            Dispute(
                ticket_no="TS20261001001",
                subscriber_id=sid,
                status="rejected",
                reason="已处理",
                amount_fen=900,
                created_at=clock.now() - timedelta(days=50),
                resolved_at=clock.now() - timedelta(days=45),
            )
        )
    check = _check(seeded, LIU, clock.now())
    assert check.blocker_codes == ("open_disputes",)
    (blocker,) = check.blockers
    assert blocker.count == 1 and blocker.amount_fen == 1500 and "TS20261122001" in blocker.message_zh
    with pytest.raises(ClosureBlocked) as raised:
        _request(seeded, LIU, clock, sms)
    assert raised.value.codes == ("open_disputes",)

    with seeded.transaction() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.ticket_no == "TS20261122001")).one()
        dispute.status, dispute.resolved_at = "refunded", clock.now()
    assert _check(seeded, LIU, clock.now()).can_close
    assert _request(seeded, LIU, clock, sms).created


def test_asking_twice_makes_one_request(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    first = _request(seeded, LIU, clock, sms)
    clock.advance(hours=2)
    before = _snapshot(seeded)
    second = _request(seeded, LIU, clock, sms, conv="conv-again")
    assert first.created and not second.created
    assert second.request == first.request
    assert second.refund_method == "原路退回至支付宝"
    assert _snapshot(seeded) == before, "nothing new is written"
    with seeded.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ClosureRequest)) == 1
        assert len(_closure_sms(session, LIU)) == 1


def test_cancel_restores_status_and_a_second_cancel_raises(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    requested = _request(seeded, LIU, clock, sms)
    at = clock.advance(days=1)
    result = _cancel(seeded, LIU, at, sms)
    assert result.restored_status == "active"
    assert result.request.id == requested.request.id
    assert (result.request.status, result.request.cancelled_at) == ("cancelled", at)
    with seeded.transaction() as session:
        liu = session.get(Subscriber, requested.request.subscriber_id)
        assert liu is not None and liu.status == "active"
        assert session.get(ClosureRequest, requested.request.id).status == "cancelled"  # type: ignore[union-attr]
        bodies = _closure_sms(session, LIU)
        assert len(bodies) == 2 and bodies[1].startswith("【销户撤销】") and "11月25日" in bodies[1]
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "closure.cancelled")).one()
        assert entry.actor == f"subscriber:{liu.id}" and entry.conversation_id == "conv-2"
        assert entry.details["restored_status"] == "active"

    before = _snapshot(seeded)
    with pytest.raises(NoPendingClosure) as raised:
        _cancel(seeded, LIU, clock.advance(minutes=1), sms)
    assert not isinstance(raised.value, ClosureAlreadyEffective) and isinstance(raised.value, BillingError)
    assert _snapshot(seeded) == before

    again = _request(seeded, LIU, clock, sms)
    assert again.created and again.request.id != requested.request.id
    assert again.request.effective_at == EFFECTIVE + timedelta(days=1)


def test_cancel_without_request_or_after_effect(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    with pytest.raises(NoPendingClosure):
        _cancel(seeded, ZHANG, clock.now(), sms)
    _request(seeded, ZHANG, clock, sms)
    before = _snapshot(seeded)
    with pytest.raises(ClosureAlreadyEffective) as raised:
        _cancel(seeded, ZHANG, EFFECTIVE, sms)
    assert raised.value.effective_at == EFFECTIVE and "2026-11-25 00:00" in str(raised.value)
    assert isinstance(raised.value, NoPendingClosure)
    assert _snapshot(seeded) == before
    # One second before it takes effect, it can still be withdrawn.
    assert _cancel(seeded, ZHANG, EFFECTIVE - timedelta(seconds=1), sms).restored_status == "active"


def test_unknown_subscriber_and_naive_times(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    with seeded.transaction() as session:
        with pytest.raises(UnknownSubscriber):
            check_closure(session, 999_999, clock.now())
        with pytest.raises(UnknownSubscriber):
            request_closure(
                session,
                subscriber_id=999_999,
                consent_to_fee=False,
                at=clock.now(),
                conversation_id=None,
                sms=sms,
            )
        with pytest.raises(UnknownSubscriber):
            cancel_closure(session, subscriber_id=999_999, at=clock.now(), conversation_id=None, sms=sms)
        with pytest.raises(ValueError):
            check_closure(session, 1, datetime(2026, 11, 22, 10, 0))
        with pytest.raises(ValueError):
            complete_due_closures(session, datetime(2026, 11, 22, 10, 0), sms)


# --------------------------------------------------------------------------- completion


def test_complete_due_closures_closes_settles_and_reconciles(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    liu_req = _request(seeded, LIU, clock, sms, conv="conv-liu").request
    zhang_req = _request(seeded, ZHANG, clock, sms, conv="conv-zhang").request

    with seeded.transaction() as session:
        assert complete_due_closures(session, EFFECTIVE - timedelta(seconds=1), sms) == []
    with seeded.transaction() as session:
        assert session.scalar(select(func.count()).where(ClosureRequest.status == "pending")) == 2

    run_at = EFFECTIVE + timedelta(minutes=5)
    with seeded.transaction() as session:
        results = complete_due_closures(session, run_at, sms)
    by_phone = {r.phone: r for r in results}
    assert set(by_phone) == {LIU, ZHANG} and all(r.completed and r.blockers == () for r in results)
    assert (by_phone[LIU].refund_fen, by_phone[LIU].termination_fee_fen) == (12000, 0)
    assert by_phone[LIU].refund_method == "原路退回至支付宝"
    assert (by_phone[ZHANG].refund_fen, by_phone[ZHANG].request_id) == (3650, zhang_req.id)
    assert set(by_phone[ZHANG].services_cancelled) == {"视频彩铃", "腾讯视频会员"}

    with seeded.transaction() as session:
        for phone, req in ((LIU, liu_req), (ZHANG, zhang_req)):
            sub = find_subscriber_by_phone(session, phone)
            assert sub is not None and sub.status == "closed" and sub.balance_fen == 0
            row = session.get(ClosureRequest, req.id)
            assert row is not None and row.status == "completed"
            assert active_subscriptions(session, sub.id, run_at) == ()
            assert not session.scalars(
                select(Bill).where(Bill.subscriber_id == sub.id, Bill.status != "paid")
            ).all(), "the final bill is closed and paid"
            refund = session.scalars(
                select(Charge).where(Charge.subscriber_id == sub.id, Charge.description.like("销户退还余额%"))
            ).one()
            assert refund.item_kind == "other" and refund.amount_fen == req.refund_fen
            assert refund.charged_at == run_at and refund.bill_period == "2026-11"
            bodies = _closure_sms(session, phone)
            assert bodies[-1].startswith("【销户完成】") and "11月25日完成销户" in bodies[-1]
            assert f"{req.refund_fen // 100}.{req.refund_fen % 100:02d}元" in bodies[-1]
            entry = session.scalars(
                select(AuditLog).where(
                    AuditLog.action == "closure.completed", AuditLog.subscriber_id == sub.id
                )
            ).one()
            assert entry.actor == "system" and entry.conversation_id == req.conversation_id
            assert entry.details["refund_fen"] == req.refund_fen
        zhang = find_subscriber_by_phone(session, ZHANG)
        assert zhang is not None
        ended = session.scalars(select(Subscription).where(Subscription.subscriber_id == zhang.id)).all()
        assert ended and all(s.ended_at == run_at for s in ended)
        assert "视频彩铃" in _closure_sms(session, ZHANG)[-1]
        _assert_reconciles(session)

    check = _check(seeded, LIU, run_at)
    assert check.blocker_codes == ("already_closed",) and not check.can_close
    with pytest.raises(ClosureBlocked) as raised:
        _request(seeded, LIU, clock, sms)
    assert raised.value.codes == ("already_closed",)
    with pytest.raises(NoPendingClosure):
        _cancel(seeded, LIU, run_at, sms)

    before = _snapshot(seeded)
    with seeded.transaction() as session:
        assert complete_due_closures(session, run_at + timedelta(days=1), sms) == []
    assert _snapshot(seeded) == before, "a second run changes nothing"


def test_complete_wang_qiang_charges_the_fee(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    with seeded.transaction() as session:
        record_payment(session, phone=WANG, amount_fen=10000, method="bank_card", at=clock.advance(minutes=1))
    check = _check(seeded, WANG, clock.now())
    assert (check.refund_fen, check.fee_due_fen, check.termination_fee_fen) == (1000, 0, 30000)
    _request(seeded, WANG, clock, sms, consent=True)
    with seeded.transaction() as session:
        (result,) = complete_due_closures(session, EFFECTIVE, sms)
    assert result.completed and (result.termination_fee_fen, result.refund_fen) == (30000, 1000)
    assert result.refund_method == "原路退回至银行卡"
    with seeded.transaction() as session:
        wang = find_subscriber_by_phone(session, WANG)
        assert wang is not None and (wang.status, wang.balance_fen) == ("closed", 0)
        fee = session.scalars(
            select(Charge).where(Charge.subscriber_id == wang.id, Charge.description.like("提前解约违约金%"))
        ).one()
        assert (fee.item_kind, fee.amount_fen) == ("other", 30000) and "2027-06-30" in fee.description
        body = _closure_sms(session, WANG)[-1]
        assert "违约金300.00元" in body and "10.00元" in body
        _assert_reconciles(session)


def test_refund_is_the_balance_at_completion(seeded: Store, clock: FixedClock, sms: OutboxSmsGateway) -> None:
    request = _request(seeded, LIU, clock, sms).request
    with seeded.transaction() as session:  # the number is still in use during the cooling-off
        post_charge(
            session, phone=LIU, amount_fen=250, item_kind="voice", description="", at=clock.advance(days=1)
        )
    with seeded.transaction() as session:
        (result,) = complete_due_closures(session, EFFECTIVE, sms)
    assert result.refund_fen == 11750
    with seeded.transaction() as session:
        row = session.get(ClosureRequest, request.id)
        assert row is not None and row.refund_fen == 11750, "the request records what was paid out"
        _assert_reconciles(session)


def test_completion_is_held_by_a_dispute_opened_in_the_cooling_off(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    request = _request(seeded, LIU, clock, sms).request
    with seeded.transaction() as session:
        session.add(
            Dispute(
                ticket_no="TS20261123001",
                subscriber_id=request.subscriber_id,
                status="open",
                reason="重复扣费",
                amount_fen=500,
                created_at=clock.advance(days=1),
            )
        )
    before = _snapshot(seeded)
    with seeded.transaction() as session:
        (held,) = complete_due_closures(session, EFFECTIVE, sms)
    assert not held.completed and tuple(b.code for b in held.blockers) == ("open_disputes",)
    assert _snapshot(seeded) == before, "a held request writes nothing"

    with seeded.transaction() as session:
        dispute = session.scalars(select(Dispute)).one()
        dispute.status, dispute.resolved_at = "rejected", EFFECTIVE + timedelta(hours=1)
    with seeded.transaction() as session:
        (done,) = complete_due_closures(session, EFFECTIVE + timedelta(hours=2), sms)
    assert done.completed and done.refund_fen == 12000


def test_completion_is_held_when_the_balance_no_longer_covers_the_fee(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    with seeded.transaction() as session:
        record_payment(session, phone=WANG, amount_fen=9000, method="bank_card", at=clock.advance(minutes=1))
    _request(seeded, WANG, clock, sms, consent=True)
    with seeded.transaction() as session:
        post_charge(
            session, phone=WANG, amount_fen=500, item_kind="data", description="", at=clock.advance(hours=5)
        )
    with seeded.transaction() as session:
        (held,) = complete_due_closures(session, EFFECTIVE, sms)
    assert not held.completed
    assert [(b.code, b.amount_fen) for b in held.blockers] == [("fee_exceeds_balance", 500)]
    with seeded.transaction() as session:
        wang = find_subscriber_by_phone(session, WANG)
        assert wang is not None and wang.status == "closing" and wang.balance_fen == 29500


# --------------------------------------------------------------------------- SMS failures roll back


def test_failing_sms_rolls_the_request_back(
    seeded: Store, clock: FixedClock, failing_sms: FailingGateway
) -> None:
    before = _snapshot(seeded)
    with pytest.raises(SmsGatewayError):
        _request(seeded, LIU, clock, failing_sms)
    assert failing_sms.calls == 1, "the SMS was tried after everything else was written"
    assert _snapshot(seeded) == before
    with seeded.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ClosureRequest)) == 0
        liu = find_subscriber_by_phone(session, LIU)
        assert liu is not None and liu.status == "active"
        assert not session.scalars(select(AuditLog).where(AuditLog.action.like("closure.%"))).all()


def test_failing_sms_rolls_cancel_and_completion_back(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway, failing_sms: FailingGateway
) -> None:
    _request(seeded, ZHANG, clock, sms)
    before = _snapshot(seeded)
    with pytest.raises(SmsGatewayError):
        _cancel(seeded, ZHANG, clock.advance(hours=1), failing_sms)
    assert _snapshot(seeded) == before
    with pytest.raises(SmsGatewayError):
        with seeded.transaction() as session:
            complete_due_closures(session, EFFECTIVE, failing_sms)
    assert _snapshot(seeded) == before
    with seeded.transaction() as session:
        zhang = find_subscriber_by_phone(session, ZHANG)
        assert zhang is not None and (zhang.status, zhang.balance_fen) == ("closing", 3650)
        assert len(active_subscriptions(session, zhang.id, EFFECTIVE)) == 2


def test_chen_jing_subscription_ending_later_is_ended_now(
    seeded: Store, clock: FixedClock, sms: OutboxSmsGateway
) -> None:
    _request(seeded, CHEN, clock, sms)
    with seeded.transaction() as session:
        (result,) = complete_due_closures(session, EFFECTIVE, sms)
    assert result.completed and result.services_cancelled == ("游戏加速包",)
    with seeded.transaction() as session:
        chen = find_subscriber_by_phone(session, CHEN)
        assert chen is not None
        (boost,) = session.scalars(select(Subscription).where(Subscription.subscriber_id == chen.id)).all()
        assert boost.ended_at == EFFECTIVE
        _assert_reconciles(session)
