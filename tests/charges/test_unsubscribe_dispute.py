"""Unsubscribing and refund disputes: rows, audit, SMS, idempotence, ownership, ticket numbers.

The two together, in one transaction that a failing SMS rolls back, are the refund use case
(tests/charges/test_refunds.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.audit import AuditLog
from bot.billing.charges import (
    NotSubscribed,
    UnknownCharge,
    explain_charges,
    open_dispute,
    unsubscribe,
)
from bot.billing.errors import UnknownService, UnknownSubscriber
from bot.billing.models import Charge, Dispute, DisputeCharge, Subscription
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway
from bot.schema import metadata
from tests.support.demo import CHEN, LIU, ZHANG, subscriber_id

CONV = "conv-charges-1"


def _snapshot(store: Store) -> dict[str, Any]:
    with store.transaction() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
        ends = sorted(session.execute(select(Subscription.id, Subscription.ended_at)).all())
    return {"counts": counts, "subscription_ends": ends}


def _ringtone_charges(store: Store, sid: int, periods: tuple[str, ...], clock: FixedClock) -> tuple[int, ...]:
    with store.transaction() as session:
        report = explain_charges(session, sid, periods, clock.now())
    return tuple(sorted(c.charge_id for c in report.charges if c.service_code == "video_ringtone"))


def test_unsubscribe_ends_the_subscription_audits_and_confirms(
    demo: Store, clock: FixedClock, outbox: OutboxSmsGateway
) -> None:
    sid = subscriber_id(demo, ZHANG)
    at = clock.advance(minutes=3)
    with demo.transaction() as session:
        result = unsubscribe(
            session, subscriber_id=sid, service_code="video_ringtone", at=at, conversation_id=CONV, sms=outbox
        )
    assert (result.service_code, result.service_name, result.ended_at) == ("video_ringtone", "视频彩铃", at)
    assert (result.channel, result.channel_label, result.fee_fen) == ("sms_marketing", "短信营销链接", 1000)
    with demo.transaction() as session:
        sub = session.get(Subscription, result.subscription_id)
        assert sub is not None and sub.ended_at == at and sub.subscriber_id == sid
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "subscription.cancelled")).one()
        assert (entry.actor, entry.subscriber_id, entry.conversation_id) == (f"subscriber:{sid}", sid, CONV)
        assert (entry.entity, entry.entity_id) == ("subscription", str(result.subscription_id))
        assert entry.details["service_code"] == "video_ringtone"
        sms = session.scalars(select(Notification).where(Notification.kind == "unsubscribe")).one()
        assert sms.phone == ZHANG and sms.subscriber_id == sid and sms.created_at == at
        assert sms.body.startswith("【退订成功】您已退订视频彩铃")
        assert "10.00元/月" in sms.body
        report = explain_charges(session, sid, ("2026-11",), at)
        assert report.active_flagged_services == ()
        # The charges stay flagged and refundable: unsubscribing refunds nothing by itself.
        assert len(report.refundable_charge_ids) == 1

    with demo.transaction() as session:
        with pytest.raises(NotSubscribed) as raised:
            unsubscribe(
                session,
                subscriber_id=sid,
                service_code="video_ringtone",
                at=clock.advance(minutes=1),
                conversation_id=CONV,
                sms=outbox,
            )
    assert raised.value.code == "video_ringtone"


def test_unsubscribe_refusals_write_nothing(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    sid = subscriber_id(demo, LIU)
    before = _snapshot(demo)
    with demo.transaction() as session:
        with pytest.raises(NotSubscribed):
            unsubscribe(
                session,
                subscriber_id=sid,
                service_code="video_ringtone",
                at=clock.now(),
                conversation_id=None,
                sms=outbox,
            )
        with pytest.raises(UnknownService):
            unsubscribe(
                session,
                subscriber_id=sid,
                service_code="no_such",
                at=clock.now(),
                conversation_id=None,
                sms=outbox,
            )
        with pytest.raises(UnknownSubscriber):
            unsubscribe(
                session,
                subscriber_id=999_999,
                service_code="video_ringtone",
                at=clock.now(),
                conversation_id=None,
                sms=outbox,
            )
    assert _snapshot(demo) == before


def test_open_dispute_rows_ticket_audit_sms(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    sid = subscriber_id(demo, ZHANG)
    charge_ids = _ringtone_charges(demo, sid, ("2026-11", "2026-10", "2026-09"), clock)
    assert len(charge_ids) == 3
    at = clock.advance(minutes=5)
    with demo.transaction() as session:
        result = open_dispute(
            session,
            subscriber_id=sid,
            charge_ids=list(charge_ids) + [charge_ids[0]],
            reason="视频彩铃未经同意开通，申请退费",
            at=at,
            conversation_id=CONV,
            sms=outbox,
        )
    assert result.created and result.status == "open"
    assert result.ticket_no == "TS202611220001"
    assert re.fullmatch(r"TS\d{8}\d{4}", result.ticket_no)
    assert result.amount_fen == 3000
    assert result.charge_ids == charge_ids and result.skipped_charge_ids == ()
    with demo.transaction() as session:
        dispute = session.scalars(select(Dispute)).one()
        assert (dispute.ticket_no, dispute.subscriber_id, dispute.amount_fen) == (result.ticket_no, sid, 3000)
        assert (dispute.status, dispute.conversation_id, dispute.created_at) == ("open", CONV, at)
        linked = sorted(
            session.scalars(select(DisputeCharge.charge_id).where(DisputeCharge.dispute_id == dispute.id))
        )
        assert tuple(linked) == charge_ids
        stored = session.scalar(select(func.sum(Charge.amount_fen)).where(Charge.id.in_(charge_ids)))
        assert dispute.amount_fen == stored
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "dispute.opened")).one()
        assert (entry.actor, entry.conversation_id, entry.entity_id) == (
            f"subscriber:{sid}",
            CONV,
            str(dispute.id),
        )
        assert entry.details["ticket_no"] == result.ticket_no and entry.details["amount_fen"] == 3000
        sms = session.scalars(select(Notification).where(Notification.kind == "dispute")).one()
        assert sms.phone == ZHANG
        assert sms.body.startswith(
            f"【退费申请】工单号{result.ticket_no}，涉及金额30.00元，我们将在3个工作日内处理"
        )
        report = explain_charges(session, sid, ("2026-11", "2026-10", "2026-09"), at)
        assert report.refundable_charge_ids == ()
        assert {c.dispute_ticket_no for c in report.charges if c.service_code == "video_ringtone"} == {
            result.ticket_no
        }


def test_open_dispute_twice_is_idempotent(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    sid = subscriber_id(demo, ZHANG)
    charge_ids = _ringtone_charges(demo, sid, ("2026-11", "2026-10"), clock)
    kwargs: dict[str, Any] = dict(
        subscriber_id=sid, charge_ids=charge_ids, reason="未订购", conversation_id=CONV
    )
    with demo.transaction() as session:
        first = open_dispute(session, at=clock.advance(minutes=1), sms=outbox, **kwargs)
    before = _snapshot(demo)
    with demo.transaction() as session:
        again = open_dispute(session, at=clock.advance(minutes=1), sms=outbox, **kwargs)
    assert first.created and not again.created
    assert (again.ticket_no, again.amount_fen, again.charge_ids) == (first.ticket_no, 2000, charge_ids)
    assert _snapshot(demo) == before  # no second dispute, no SMS, no audit entry
    with demo.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Dispute)) == 1

    # The September charge is new: a second dispute for it alone, the others are skipped.
    all_three = _ringtone_charges(demo, sid, ("2026-11", "2026-10", "2026-09"), clock)
    (september,) = set(all_three) - set(charge_ids)
    with demo.transaction() as session:
        third = open_dispute(
            session,
            subscriber_id=sid,
            charge_ids=all_three,
            reason="未订购",
            at=clock.now(),
            conversation_id=CONV,
            sms=outbox,
        )
    assert third.created and third.ticket_no == "TS202611220002"
    assert (third.charge_ids, third.amount_fen, third.skipped_charge_ids) == ((september,), 1000, charge_ids)


def test_ticket_numbers_follow_the_local_day(
    demo: Store, clock: FixedClock, outbox: OutboxSmsGateway
) -> None:
    sid = subscriber_id(demo, CHEN)
    with demo.transaction() as session:
        ids = sorted(session.scalars(select(Charge.id).where(Charge.subscriber_id == sid)))
    tickets = []
    for charge_id, at in (
        (ids[0], clock.now()),
        (ids[1], clock.now() + timedelta(hours=13, minutes=59)),  # 23:59 Shanghai, still the 22nd
        (ids[2], clock.now() + timedelta(hours=14)),  # midnight in Shanghai: the 23rd
    ):
        with demo.transaction() as session:
            tickets.append(
                open_dispute(
                    session,
                    subscriber_id=sid,
                    charge_ids=[charge_id],
                    reason="核实",
                    at=at,
                    conversation_id=None,
                    sms=outbox,
                ).ticket_no
            )
    assert tickets == ["TS202611220001", "TS202611220002", "TS202611230001"]


def test_someone_elses_charge_is_refused(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    zhang = subscriber_id(demo, ZHANG)
    liu = subscriber_id(demo, LIU)
    zhang_charges = _ringtone_charges(demo, zhang, ("2026-11",), clock)
    with demo.transaction() as session:
        liu_charge = session.scalars(select(Charge.id).where(Charge.subscriber_id == liu)).first()
    before = _snapshot(demo)
    with demo.transaction() as session:
        with pytest.raises(UnknownCharge) as raised:
            open_dispute(
                session,
                subscriber_id=liu,
                charge_ids=[liu_charge, *zhang_charges],
                reason="不是我的",
                at=clock.now(),
                conversation_id=CONV,
                sms=outbox,
            )
        assert raised.value.charge_ids == zhang_charges
        with pytest.raises(UnknownCharge):
            open_dispute(
                session,
                subscriber_id=liu,
                charge_ids=[987_654],
                reason="x",
                at=clock.now(),
                conversation_id=CONV,
                sms=outbox,
            )
        with pytest.raises(ValueError):
            open_dispute(
                session,
                subscriber_id=liu,
                charge_ids=[],
                reason="x",
                at=clock.now(),
                conversation_id=CONV,
                sms=outbox,
            )
        with pytest.raises(ValueError):
            open_dispute(
                session,
                subscriber_id=liu,
                charge_ids=[liu_charge],
                reason="  ",
                at=clock.now(),
                conversation_id=CONV,
                sms=outbox,
            )
    assert _snapshot(demo) == before


def test_concurrent_disputes_get_distinct_tickets(demo: Store, clock: FixedClock) -> None:
    """Two subscribers' disputes in overlapping transactions (PostgreSQL: real concurrency)."""
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers itself; the advisory lock is PostgreSQL's")
    import threading

    zhang, liu = subscriber_id(demo, ZHANG), subscriber_id(demo, LIU)
    with demo.transaction() as session:
        zhang_charge = session.scalars(select(Charge.id).where(Charge.subscriber_id == zhang)).first()
        liu_charge = session.scalars(select(Charge.id).where(Charge.subscriber_id == liu)).first()
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def second() -> None:
        started.set()
        try:
            with demo.transaction() as session:
                outcome["liu"] = open_dispute(
                    session,
                    subscriber_id=liu,
                    charge_ids=[liu_charge],
                    reason="核实",
                    at=clock.now(),
                    conversation_id=None,
                    sms=OutboxSmsGateway(),
                ).ticket_no
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    with demo.transaction() as session:
        first = open_dispute(
            session,
            subscriber_id=zhang,
            charge_ids=[zhang_charge],
            reason="核实",
            at=clock.now(),
            conversation_id=None,
            sms=OutboxSmsGateway(),
        )
        thread = threading.Thread(target=second)
        thread.start()
        started.wait(5)
        thread.join(0.5)
        assert thread.is_alive()  # waits for the first transaction's ticket numbering
    thread.join(10)
    assert "error" not in outcome, outcome.get("error")
    assert (first.ticket_no, outcome["liu"]) == ("TS202611220001", "TS202611220002")
