"""Managing a subscriber's alerts in chat: create, list, change, cancel; validation changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.alerts.rules import (
    AlertError,
    InvalidAlert,
    NoSuchAlert,
    cancel_alert,
    change_alert,
    create_alert,
    list_alerts,
)
from bot.audit import AuditLog
from bot.billing.errors import BillingError, UnknownSubscriber
from bot.billing.models import AlertRule, Subscriber
from bot.clock import FixedClock
from bot.db import Store
from bot.texts.labels import describe_alert
from tests.support.alerts import snapshot
from tests.support.demo import LIU, WANG, subscriber_id

CONV = "conv-alerts-1"


def _audit(store: Store, action: str) -> list[AuditLog]:
    with store.transaction() as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_create_a_new_alert_and_list_it(seeded: Store, clock: FixedClock) -> None:
    liu = subscriber_id(seeded, LIU)
    with seeded.transaction() as session:
        assert list_alerts(session, subscriber_id=liu, at=clock.now()) == ()
        result = create_alert(
            session,
            subscriber_id=liu,
            alert_type="balance",
            threshold=5000,
            channel="wechat",
            at=clock.now(),
            conversation_id=CONV,
        )
    assert result.created is True
    rule = result.rule
    assert (rule.alert_type, rule.threshold, rule.channel, rule.active, rule.armed) == (
        "balance",
        5000,
        "wechat",
        True,
        True,
    )
    assert result.description == "余额低于50.00元时微信提醒"
    with seeded.transaction() as session:
        assert list_alerts(session, subscriber_id=liu, at=clock.now()) == (rule,)
    [entry] = _audit(seeded, "alert.created")
    assert entry.actor == f"subscriber:{liu}" and entry.conversation_id == CONV
    assert entry.subscriber_id == liu and entry.entity == "alert_rule" and entry.entity_id == str(rule.id)
    assert entry.details["alert_type"] == "balance" and entry.details["threshold"] == 5000


def test_every_type_can_be_created(seeded: Store, clock: FixedClock) -> None:
    liu = subscriber_id(seeded, LIU)
    cases = [("balance", 100), ("spend", 1_000_000), ("deduction", None), ("data", 100), ("data", 1)]
    with seeded.transaction() as session:
        for alert_type, threshold in cases:
            create_alert(
                session,
                subscriber_id=liu,
                alert_type=alert_type,
                threshold=threshold,
                channel="sms",
                at=clock.now(),
                conversation_id=CONV,
            )
        rules = list_alerts(session, subscriber_id=liu, at=clock.now())
    assert [(r.alert_type, r.threshold) for r in rules] == [
        ("balance", 100),
        ("spend", 1_000_000),
        ("deduction", None),
        ("data", 1),
    ]
    assert [describe_alert(r) for r in rules][2:] == ["每次扣费时短信提醒", "本月流量用到1%时短信提醒"]


def test_creating_an_existing_type_updates_it(seeded: Store, clock: FixedClock) -> None:
    wang = subscriber_id(seeded, WANG)
    with seeded.transaction() as session:
        [balance_before, _spend] = list_alerts(session, subscriber_id=wang, at=clock.now())
        result = create_alert(
            session,
            subscriber_id=wang,
            alert_type="balance",
            threshold=5000,
            channel="wechat",
            at=clock.now(),
            conversation_id=CONV,
        )
        assert result.created is False
        assert result.rule.id == balance_before.id
        assert (result.rule.threshold, result.rule.channel) == (5000, "wechat")
        active = session.scalars(
            select(AlertRule).where(
                AlertRule.subscriber_id == wang, AlertRule.alert_type == "balance", AlertRule.active.is_(True)
            )
        ).all()
        assert len(active) == 1
        # The same request again is no change: no audit entry.
        again = create_alert(
            session,
            subscriber_id=wang,
            alert_type="balance",
            threshold=5000,
            channel="wechat",
            at=clock.now(),
            conversation_id=CONV,
        )
        assert again.created is False and again.rule == result.rule
    [entry] = _audit(seeded, "alert.updated")
    assert entry.details["before"] == {"threshold": 3000, "channel": "sms", "armed": True}
    assert entry.details["threshold"] == 5000 and entry.details["channel"] == "wechat"
    assert entry.actor == f"subscriber:{wang}" and entry.conversation_id == CONV
    assert _audit(seeded, "alert.created") == []


BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"alert_type": "weather"}, "不支持的提醒类型"),
    ({"alert_type": "balance", "threshold": 99}, "1.00元到10000.00元"),
    ({"alert_type": "balance", "threshold": 1_000_001}, "1.00元到10000.00元"),
    ({"alert_type": "balance", "threshold": None}, "需要设置提醒金额"),
    ({"alert_type": "spend", "threshold": 150.0}, "消费提醒的金额"),
    ({"alert_type": "spend", "threshold": "15000"}, "消费提醒的金额"),
    ({"alert_type": "spend", "threshold": True}, "消费提醒的金额"),
    ({"alert_type": "spend", "threshold": -15000}, "消费提醒的金额"),
    ({"alert_type": "data", "threshold": 0}, "1%到100%"),
    ({"alert_type": "data", "threshold": 101}, "1%到100%"),
    ({"alert_type": "data", "threshold": None}, "需要设置提醒比例"),
    ({"alert_type": "deduction", "threshold": 1000}, "不需要设置金额"),
    ({"alert_type": "balance", "threshold": 3000, "channel": "email"}, "不支持的提醒方式"),
    ({"alert_type": "balance", "threshold": 3000, "channel": None}, "不支持的提醒方式"),
]


@pytest.mark.parametrize(("kwargs", "reason"), BAD_CREATES)
def test_invalid_creates_change_nothing(
    seeded: Store, clock: FixedClock, kwargs: dict[str, Any], reason: str
) -> None:
    wang = subscriber_id(seeded, WANG)
    before = snapshot(seeded)
    args: dict[str, Any] = {
        "subscriber_id": wang,
        "alert_type": "balance",
        "threshold": 2000,
        "channel": "sms",
        "at": clock.now(),
        "conversation_id": CONV,
    }
    args.update(kwargs)
    with pytest.raises(InvalidAlert) as caught:
        with seeded.transaction() as session:
            create_alert(session, **args)
    assert reason in caught.value.reason and str(caught.value) == caught.value.reason
    assert isinstance(caught.value, AlertError) and isinstance(caught.value, BillingError)
    assert snapshot(seeded) == before


def test_unknown_and_closed_subscribers(seeded: Store, clock: FixedClock) -> None:
    liu = subscriber_id(seeded, LIU)
    with pytest.raises(UnknownSubscriber):
        with seeded.transaction() as session:
            create_alert(
                session,
                subscriber_id=99999,
                alert_type="deduction",
                threshold=None,
                channel="sms",
                at=clock.now(),
                conversation_id=CONV,
            )
    with pytest.raises(UnknownSubscriber):
        with seeded.transaction() as session:
            list_alerts(session, subscriber_id=99999, at=clock.now())
    with seeded.transaction() as session:
        session.get(Subscriber, liu).status = "closed"  # type: ignore[union-attr]
    before = snapshot(seeded)
    with pytest.raises(InvalidAlert, match="已销户"):
        with seeded.transaction() as session:
            create_alert(
                session,
                subscriber_id=liu,
                alert_type="deduction",
                threshold=None,
                channel="sms",
                at=clock.now(),
                conversation_id=CONV,
            )
    assert snapshot(seeded) == before


def test_naive_time_is_refused(seeded: Store, clock: FixedClock) -> None:
    wang = subscriber_id(seeded, WANG)
    with pytest.raises(ValueError):
        with seeded.transaction() as session:
            list_alerts(session, subscriber_id=wang, at=clock.now().replace(tzinfo=None))


def test_change_threshold_and_channel(seeded: Store, clock: FixedClock) -> None:
    wang = subscriber_id(seeded, WANG)
    with seeded.transaction() as session:
        # As if the balance alert had fired: disarmed.
        rule = session.scalars(
            select(AlertRule).where(AlertRule.subscriber_id == wang, AlertRule.alert_type == "balance")
        ).one()
        rule.armed = False
    with seeded.transaction() as session:
        view = change_alert(
            session,
            subscriber_id=wang,
            alert_type="balance",
            channel="wechat",
            at=clock.now(),
            conversation_id=CONV,
        )
    assert (view.threshold, view.channel, view.armed) == (
        3000,
        "wechat",
        False,
    ), "a channel change does not re-arm"
    with seeded.transaction() as session:
        view = change_alert(
            session,
            subscriber_id=wang,
            alert_type="balance",
            threshold=5000,
            at=clock.now(),
            conversation_id=CONV,
        )
    assert (view.threshold, view.channel, view.armed) == (5000, "wechat", True), "a new threshold re-arms"
    entries = _audit(seeded, "alert.updated")
    assert [e.details["before"]["threshold"] for e in entries] == [3000, 3000]
    assert [e.details["threshold"] for e in entries] == [3000, 5000]
    assert all(e.actor == f"subscriber:{wang}" and e.conversation_id == CONV for e in entries)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"alert_type": "deduction", "channel": "wechat"}, NoSuchAlert),
        ({"alert_type": "data", "threshold": 80}, NoSuchAlert),
        ({"alert_type": "balance"}, InvalidAlert),
        ({"alert_type": "balance", "threshold": 50}, InvalidAlert),
        ({"alert_type": "balance", "channel": "fax"}, InvalidAlert),
        ({"alert_type": "nope", "threshold": 5000}, InvalidAlert),
    ],
)
def test_bad_changes_change_nothing(
    seeded: Store, clock: FixedClock, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    wang = subscriber_id(seeded, WANG)
    before = snapshot(seeded)
    with pytest.raises(error):
        with seeded.transaction() as session:
            change_alert(session, subscriber_id=wang, at=clock.now(), conversation_id=CONV, **kwargs)
    assert snapshot(seeded) == before


def test_cancel_alert(seeded: Store, clock: FixedClock) -> None:
    wang = subscriber_id(seeded, WANG)
    with seeded.transaction() as session:
        view = cancel_alert(
            session, subscriber_id=wang, alert_type="spend", at=clock.now(), conversation_id=CONV
        )
        assert view.active is False and view.alert_type == "spend"
        assert [r.alert_type for r in list_alerts(session, subscriber_id=wang, at=clock.now())] == ["balance"]
        everything = list_alerts(session, subscriber_id=wang, at=clock.now(), include_inactive=True)
        assert [(r.alert_type, r.active) for r in everything] == [("balance", True), ("spend", False)]
    [entry] = _audit(seeded, "alert.cancelled")
    assert entry.actor == f"subscriber:{wang}" and entry.conversation_id == CONV
    assert entry.entity_id == str(view.id)

    before = snapshot(seeded)
    with pytest.raises(NoSuchAlert) as caught:
        with seeded.transaction() as session:
            cancel_alert(
                session, subscriber_id=wang, alert_type="spend", at=clock.now(), conversation_id=CONV
            )
    assert caught.value.alert_type == "spend" and str(caught.value) == "您还没有开启消费提醒"
    with pytest.raises(InvalidAlert):
        with seeded.transaction() as session:
            cancel_alert(
                session, subscriber_id=wang, alert_type="weather", at=clock.now(), conversation_id=CONV
            )
    assert snapshot(seeded) == before

    # Created again later: a new rule, the cancelled one stays as history.
    with seeded.transaction() as session:
        again = create_alert(
            session,
            subscriber_id=wang,
            alert_type="spend",
            threshold=20000,
            channel="sms",
            at=clock.now(),
            conversation_id=CONV,
        )
    assert again.created is True and again.rule.id != view.id
