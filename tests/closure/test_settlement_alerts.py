"""The settlement of a closure goes through the ledger: published like every charge, but no alerts
fire on it (the 【销户完成】 SMS tells the fee and refund); ordinary charges of a closing account do."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from bot.alerts.rules import create_alert
from bot.audit import AuditLog
from bot.billing.closure import complete_due_closures, request_closure
from bot.billing.events import ChargePosted
from bot.billing.posting import post_charge, record_payment
from bot.clock import SHANGHAI, FixedClock
from bot.db import Store
from tests.support.alerts import alert_messages
from tests.support.demo import WANG, ZHANG, subscriber_id
from tests.support.events import listening
from tests.support.sms import RecordingGateway

EFFECTIVE = datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _request(store: Store, phone: str, clock: FixedClock, sms: RecordingGateway, consent: bool) -> None:
    with store.transaction() as session:
        request_closure(
            session,
            subscriber_id=subscriber_id(store, phone),
            consent_to_fee=consent,
            at=clock.now(),
            conversation_id="conv-s",
            sms=sms,
        )


def test_settlement_charges_are_published_but_fire_no_alerts(seeded: Store, clock: FixedClock) -> None:
    sms = RecordingGateway()
    with seeded.transaction() as session:  # 王强 has balance (< 30元) and spend (> 150元) alerts by SMS
        create_alert(
            session,
            subscriber_id=subscriber_id(seeded, WANG),
            alert_type="deduction",
            threshold=None,
            channel="sms",
            at=clock.now(),
            conversation_id="conv-s",
        )
        record_payment(session, phone=WANG, amount_fen=10000, method="bank_card", at=clock.advance(minutes=1))
    _request(seeded, WANG, clock, sms, consent=True)
    before = alert_messages(seeded, WANG)

    with listening() as heard, seeded.transaction() as session:
        (result,) = complete_due_closures(session, EFFECTIVE, sms)

    assert result.completed and (result.termination_fee_fen, result.refund_fen) == (30000, 1000)
    charges = [e for e in heard if isinstance(e, ChargePosted)]
    assert [(e.purpose, e.amount_fen, e.balance_fen, e.settles_closure) for e in charges] == [
        ("termination_fee", 30000, 1000, True),
        ("refund", 1000, 0, True),
    ]
    assert alert_messages(seeded, WANG) == before, "no deduction, balance or spend alert"
    assert [m["body"][:6] for m in sms.sent] == ["【销户申请】", "【销户完成】"]
    with seeded.transaction() as session:
        entries = session.scalars(
            select(AuditLog)
            .where(AuditLog.action.in_(("charge.posted", "alert.fired")))
            .order_by(AuditLog.id)
        ).all()
        settled = [e for e in entries if e.at >= EFFECTIVE]
        assert [(e.action, e.actor, e.details["purpose"]) for e in settled] == [
            ("charge.posted", "system", "termination_fee"),
            ("charge.posted", "system", "refund"),
        ]


def test_ordinary_charges_of_a_closing_account_fire_alerts(seeded: Store, clock: FixedClock) -> None:
    sms = RecordingGateway()
    with seeded.transaction() as session:
        create_alert(
            session,
            subscriber_id=subscriber_id(seeded, ZHANG),
            alert_type="deduction",
            threshold=None,
            channel="sms",
            at=clock.now(),
            conversation_id="conv-s",
        )
    _request(seeded, ZHANG, clock, sms, consent=False)
    with seeded.transaction() as session:  # the number works normally during the cooling-off
        result = post_charge(
            session,
            phone=ZHANG,
            amount_fen=250,
            item_kind="voice",
            description="",
            at=clock.advance(days=1),
            sms=sms,
        )
    assert [a.alert_type for a in result.alerts_fired] == ["deduction"]
    assert len(alert_messages(seeded, ZHANG, "【扣费提醒】")) == 1
