"""The refund use case (bot.billing.refunds) on the demo store, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.audit import AuditLog
from bot.billing.charges import explain_charges
from bot.billing.models import Dispute, DisputeCharge, Subscription
from bot.billing.periods import resolve_periods
from bot.billing.refunds import EXISTS, NOTHING, OPENED, refund_flagged_charges
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway
from bot.schema import metadata
from tests.support.demo import CHEN, LIU, ZHANG, subscriber_id
from tests.support.sms import FailingGateway


def _refund(demo: Store, clock: FixedClock, phone: str, sms: object, **kwargs: object) -> object:
    with demo.transaction() as session:
        return refund_flagged_charges(
            session,
            subscriber_id=subscriber_id(demo, phone),
            periods=resolve_periods(None, clock.now()),
            at=clock.now(),
            conversation_id="r1",
            sms=sms,  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )


def _snapshot(store: Store) -> dict[str, Any]:
    with store.transaction() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
        ends = sorted(session.execute(select(Subscription.id, Subscription.ended_at)).all())
    return {"counts": counts, "subscription_ends": ends}


def _count(demo: Store, model: object, *where: object) -> int:
    with demo.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)))  # type: ignore[arg-type]


def test_the_flagged_service_is_unsubscribed_and_its_charges_disputed_once(
    demo: Store, clock: FixedClock, outbox: OutboxSmsGateway
) -> None:
    first = _refund(demo, clock, ZHANG, outbox)
    assert (first.kind, first.amount_fen, first.unsubscribed) == (OPENED, 1000, ("视频彩铃",))
    assert first.ticket_no and first.ticket_no.startswith("TS")
    running = Subscription.ended_at.is_(None), Subscription.service.has(code="video_ringtone")
    assert _count(demo, Subscription, *running) == 0
    again = _refund(demo, clock, ZHANG, outbox)
    assert (again.kind, again.ticket_no, again.amount_fen) == (EXISTS, first.ticket_no, 1000)
    assert _count(demo, Dispute) == 1


def test_nothing_flagged_nothing_refunded(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    assert _refund(demo, clock, LIU, outbox).kind == NOTHING
    assert _count(demo, Dispute) == 0


def test_a_named_service_narrows_the_refund(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    assert _refund(demo, clock, ZHANG, outbox, service_code="tencent_video_vip").kind == NOTHING
    assert _count(demo, Dispute) == 0
    assert _refund(demo, clock, ZHANG, outbox, service_code="video_ringtone").kind == OPENED


@pytest.mark.parametrize("succeed", [0, 1])
def test_a_failing_sms_leaves_nothing(demo: Store, clock: FixedClock, succeed: int) -> None:
    with pytest.raises(SmsGatewayError):
        _refund(demo, clock, ZHANG, FailingGateway(succeed=succeed))
    running = Subscription.ended_at.is_(None), Subscription.service.has(code="video_ringtone")
    assert _count(demo, Subscription, *running) == 1 and _count(demo, Dispute) == 0


# What the tests of the removed bot.billing.charges.unsubscribe_and_dispute asserted, for the use case
# that replaced it: the order of the confirmations and audit entries, the stored reason, nothing
# written by a second request or when nothing applies, and a rollback that leaves no trace.


def test_three_months_unsubscribe_then_dispute_every_flagged_charge(
    demo: Store, clock: FixedClock, outbox: OutboxSmsGateway
) -> None:
    sid = subscriber_id(demo, ZHANG)
    periods = resolve_periods("recent:3", clock.now())
    with demo.transaction() as session:
        report = explain_charges(session, sid, periods, clock.now())
    ringtone = tuple(sorted(c.charge_id for c in report.charges if c.service_code == "video_ringtone"))
    at = clock.advance(minutes=2)
    with demo.transaction() as session:
        outcome = refund_flagged_charges(
            session, subscriber_id=sid, periods=periods, at=at, conversation_id="r1", sms=outbox
        )
    assert (outcome.kind, outcome.amount_fen, outcome.unsubscribed) == (OPENED, 3000, ("视频彩铃",))
    with demo.transaction() as session:
        dispute = session.scalars(select(Dispute)).one()
        assert dispute.ticket_no == outcome.ticket_no
        linked = session.scalars(
            select(DisputeCharge.charge_id).where(DisputeCharge.dispute_id == dispute.id)
        )
        assert tuple(sorted(linked)) == ringtone
        kinds = list(
            session.scalars(
                select(Notification.kind).where(Notification.created_at == at).order_by(Notification.id)
            )
        )
        assert kinds == ["unsubscribe", "dispute"]
        actions = list(
            session.scalars(
                select(AuditLog.action).where(AuditLog.conversation_id == "r1").order_by(AuditLog.id)
            )
        )
        assert actions == ["subscription.cancelled", "dispute.opened"]
        assert "视频彩铃" in dispute.reason and "短信营销链接" in dispute.reason

    # Asking again: nothing to unsubscribe, the same dispute, nothing written.
    before = _snapshot(demo)
    with demo.transaction() as session:
        again = refund_flagged_charges(
            session,
            subscriber_id=sid,
            periods=periods,
            at=clock.advance(minutes=1),
            conversation_id="r1",
            sms=outbox,
        )
    assert (again.kind, again.ticket_no, again.unsubscribed) == (EXISTS, outcome.ticket_no, ())
    assert _snapshot(demo) == before


def test_a_duplicate_alone_is_disputed(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    # 陈静's game booster: only the second charge of the day is flagged, so only it is disputed.
    chen = subscriber_id(demo, CHEN)
    with demo.transaction() as session:
        report = explain_charges(session, chen, resolve_periods(None, clock.now()), clock.now())
    duplicate = tuple(c.charge_id for c in report.charges if "duplicate" in c.flag_codes)
    outcome = _refund(demo, clock, CHEN, outbox)
    assert (outcome.kind, outcome.amount_fen) == (OPENED, 600)
    assert outcome.unsubscribed == tuple(s.service_name for s in report.active_flagged_services)
    assert len(outcome.unsubscribed) == 1
    with demo.transaction() as session:
        assert tuple(session.scalars(select(DisputeCharge.charge_id))) == duplicate


def test_nothing_to_refund_writes_nothing(demo: Store, clock: FixedClock, outbox: OutboxSmsGateway) -> None:
    before = _snapshot(demo)
    # 刘洋 has no flagged charge; 腾讯视频 is running but nothing about it is flagged.
    assert _refund(demo, clock, LIU, outbox).kind == NOTHING
    assert _refund(demo, clock, ZHANG, outbox, service_code="tencent_video").kind == NOTHING
    assert _snapshot(demo) == before


@pytest.mark.parametrize("succeed", [0, 1], ids=["unsubscribe-sms-fails", "dispute-sms-fails"])
def test_a_failing_sms_rolls_everything_back(demo: Store, clock: FixedClock, succeed: int) -> None:
    sid = subscriber_id(demo, ZHANG)
    before = _snapshot(demo)
    gateway = FailingGateway(succeed=succeed)
    with pytest.raises(SmsGatewayError):
        with demo.transaction() as session:
            refund_flagged_charges(
                session,
                subscriber_id=sid,
                periods=resolve_periods("recent:3", clock.now()),
                at=clock.now(),
                conversation_id="r1",
                sms=gateway,
            )
    assert gateway.calls == succeed + 1
    assert _snapshot(demo) == before
    assert _count(demo, Dispute) == 0 and _count(demo, DisputeCharge) == 0
    assert _count(demo, Notification, Notification.kind.in_(("unsubscribe", "dispute"))) == 0
    assert _count(demo, AuditLog, AuditLog.conversation_id == "r1") == 0
    assert (
        _count(demo, Subscription, Subscription.subscriber_id == sid, Subscription.ended_at.isnot(None)) == 0
    )
