"""The refund use case (bot.billing.refunds) on the demo store, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.billing.models import Dispute, Subscription
from bot.billing.periods import resolve_periods
from bot.billing.refunds import EXISTS, NOTHING, OPENED, refund_flagged_charges
from bot.clock import FixedClock
from bot.db import Store
from bot.notifications.errors import SmsGatewayError
from bot.notifications.sms import OutboxSmsGateway
from tests.support.demo import LIU, ZHANG, subscriber_id
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
