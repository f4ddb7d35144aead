"""Binding numbers to WeChat OpenIDs, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.audit import AuditLog
from bot.billing.closure import complete_due_closures, request_closure
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.wechat import bind
from bot.notifications.models import WeChatBinding
from bot.notifications.sms import OutboxSmsGateway
from bot.notifications.wechat_bindings import binding_of, is_bound, unbind_openid, unbind_subscriber
from tests.support.demo import LIU, ZHANG, subscriber_id
from tests.support.wechat import OPENID

OTHER = "oOtherFollower000000000000000"


def _bindings(store: Store) -> set[tuple[str, int]]:
    with store.transaction() as session:
        return {(b.openid, b.subscriber_id) for b in session.scalars(select(WeChatBinding))}


def _audit(store: Store) -> list[tuple[str, dict[str, object]]]:
    with store.transaction() as session:
        rows = session.execute(
            select(AuditLog.action, AuditLog.details)
            .where(AuditLog.entity == "wechat_binding")
            .order_by(AuditLog.id)
        ).all()
    return [(a, d) for a, d in rows]


def test_binding_is_one_number_per_follower_and_moves_on_a_new_verification(
    seeded: Store, clock: FixedClock
) -> None:
    zhang, liu = subscriber_id(seeded, ZHANG), subscriber_id(seeded, LIU)
    with seeded.transaction() as session:
        assert bind(
            session, openid=OPENID, subscriber_id=zhang, at=clock.now(), conversation_id=OPENID
        ).changed
    with seeded.transaction() as session:
        again = bind(session, openid=OPENID, subscriber_id=zhang, at=clock.now(), conversation_id=OPENID)
        assert (again.changed, again.replaced) == (False, False)
        assert is_bound(session, zhang) and not is_bound(session, liu)
    with seeded.transaction() as session:  # the same follower verifies 刘洋's number: it moves
        moved = bind(
            session, openid=OPENID, subscriber_id=liu, at=clock.advance(minutes=1), conversation_id=OPENID
        )
        assert moved.replaced
    assert _bindings(seeded) == {(OPENID, liu)}
    with seeded.transaction() as session:  # another follower verifies 刘洋's number: it moves again
        bind(session, openid=OTHER, subscriber_id=liu, at=clock.advance(minutes=1), conversation_id=OTHER)
    assert _bindings(seeded) == {(OTHER, liu)}
    assert [a for a, _ in _audit(seeded)] == [
        "wechat.bound",
        "wechat.unbound",
        "wechat.bound",
        "wechat.unbound",
        "wechat.bound",
    ]
    assert all(OPENID not in str(d) and OTHER not in str(d) for _, d in _audit(seeded))


def test_unbinding_by_follower_or_number(seeded: Store, clock: FixedClock) -> None:
    zhang = subscriber_id(seeded, ZHANG)
    with seeded.transaction() as session:
        bind(session, openid=OPENID, subscriber_id=zhang, at=clock.now(), conversation_id=OPENID)
    with seeded.transaction() as session:
        assert (
            unbind_openid(session, OPENID, at=clock.now(), reason="request", conversation_id=OPENID) == zhang
        )
    with seeded.transaction() as session:
        assert unbind_openid(session, OPENID, at=clock.now(), reason="request") is None
        bind(session, openid=OPENID, subscriber_id=zhang, at=clock.now(), conversation_id=OPENID)
    with seeded.transaction() as session:
        assert unbind_subscriber(
            session, zhang, at=clock.now(), actor=f"subscriber:{zhang}", reason="request"
        )
        assert binding_of(session, zhang) is None
        assert not unbind_subscriber(session, zhang, at=clock.now(), actor="system", reason="request")
    assert [d["reason"] for a, d in _audit(seeded) if a == "wechat.unbound"] == ["request", "request"]


def test_closing_the_account_ends_its_binding_and_a_closed_one_cannot_bind(
    seeded: Store, clock: FixedClock
) -> None:
    liu = subscriber_id(seeded, LIU)
    with seeded.transaction() as session:
        bind(session, openid=OPENID, subscriber_id=liu, at=clock.now(), conversation_id=OPENID)
    sms = OutboxSmsGateway()
    with seeded.transaction() as session:
        request = request_closure(
            session, subscriber_id=liu, consent_to_fee=False, at=clock.now(), conversation_id="c1", sms=sms
        ).request
    assert _bindings(seeded) == {(OPENID, liu)}, "the number works until the closure takes effect"
    with seeded.transaction() as session:
        complete_due_closures(session, request.effective_at + timedelta(minutes=1), sms)
    assert _bindings(seeded) == set()
    assert _audit(seeded)[-1] == ("wechat.unbound", {"reason": "closure"})
    with seeded.transaction() as session, pytest.raises(ValueError):
        bind(session, openid=OPENID, subscriber_id=liu, at=clock.now(), conversation_id=OPENID)
