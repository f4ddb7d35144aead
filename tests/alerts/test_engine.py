"""Alerts fire when charges, payments and usage are posted through ``bot.billing.posting``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.alerts.engine import AlertDeliveryFailed
from bot.alerts.rules import change_alert, create_alert, list_alerts
from bot.audit import AuditLog
from bot.billing.errors import BillingError
from bot.billing.models import AlertRule
from bot.billing.posting import post_charge, record_payment, record_usage
from bot.billing.queries import period_spend_fen
from bot.clock import SHANGHAI, FixedClock, local_period
from bot.db import Store
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from tests.support.alerts import alert_messages, snapshot
from tests.support.demo import CHEN, LIU, WANG, ZHANG, subscriber_id
from tests.support.sms import FailingGateway, RecordingGateway


def _charge(store: Store, phone: str, amount_fen: int, at: datetime, sms: object, **kwargs: object):  # type: ignore[no-untyped-def]
    with store.transaction() as session:
        return post_charge(
            session,
            phone=phone,
            amount_fen=amount_fen,
            item_kind=kwargs.pop("item_kind", "other"),  # type: ignore[arg-type]
            description=kwargs.pop("description", "测试扣费"),  # type: ignore[arg-type]
            at=at,
            sms=sms,  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )


def _rule(store: Store, phone: str, alert_type: str) -> AlertRule:
    sid = subscriber_id(store, phone)
    with store.transaction() as session:
        return session.scalars(
            select(AlertRule).where(
                AlertRule.subscriber_id == sid, AlertRule.alert_type == alert_type, AlertRule.active.is_(True)
            )
        ).one()


def _fired(store: Store, alert_type: str) -> list[AuditLog]:
    with store.transaction() as session:
        return [
            e
            for e in session.scalars(
                select(AuditLog).where(AuditLog.action == "alert.fired").order_by(AuditLog.id)
            )
            if e.details["alert_type"] == alert_type
        ]


def _create(
    store: Store, phone: str, alert_type: str, threshold: int | None, channel: str, at: datetime
) -> None:
    with store.transaction() as session:
        create_alert(
            session,
            subscriber_id=subscriber_id(store, phone),
            alert_type=alert_type,
            threshold=threshold,
            channel=channel,
            at=at,
            conversation_id="conv-engine",
        )


def test_demo_precondition(seeded: Store, clock: FixedClock) -> None:
    """王强: 210元 balance, 134元 spent this month, alerts at 30元 (balance) and 150元 (spend)."""
    with seeded.transaction() as session:
        sid = subscriber_id(seeded, WANG)
        assert period_spend_fen(session, sid, local_period(clock.now())) == 13400
        rules = list_alerts(session, subscriber_id=sid, at=clock.now())
    assert [(r.alert_type, r.threshold, r.channel, r.armed) for r in rules] == [
        ("balance", 3000, "sms", True),
        ("spend", 15000, "sms", True),
    ]


def test_balance_alert_fires_once_per_crossing_and_again_after_a_payment(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    result = _charge(seeded, WANG, 16000, clock.advance(minutes=1), gateway)
    assert result.balance_fen == 5000
    assert alert_messages(seeded, WANG, "【余额提醒】") == []

    result = _charge(seeded, WANG, 2550, clock.advance(minutes=1), gateway)
    assert result.balance_fen == 2450
    body = (
        "【余额提醒】尊敬的客户，您的账户余额为24.50元，已低于您设置的30.00元，请及时充值，以免影响正常使用。"
    )
    assert alert_messages(seeded, WANG, "【余额提醒】") == [("sms", "sent", body)]
    assert [a.alert_type for a in result.alerts_fired] == ["balance"]
    assert result.alerts_fired[0].body == body and result.alerts_fired[0].label == "余额提醒（短信）"
    rule = _rule(seeded, WANG, "balance")
    assert rule.armed is False and rule.last_fired_at == clock.now()
    [entry] = _fired(seeded, "balance")
    assert entry.actor == "billing_feed" and entry.entity_id == str(rule.id)
    assert entry.details["balance_fen"] == 2450 and entry.details["charge_id"] == result.charge_id
    assert entry.details["channel"] == "sms" and entry.details["trigger"] == "charge"

    # Still below the threshold: not again, however many charges follow.
    result = _charge(seeded, WANG, 500, clock.advance(minutes=1), gateway)
    _charge(seeded, WANG, 100, clock.advance(minutes=1), gateway)
    assert result.alerts_fired == () and len(alert_messages(seeded, WANG, "【余额提醒】")) == 1

    # A payment that leaves the balance below the threshold does not re-arm it.
    with seeded.transaction() as session:
        paid = record_payment(
            session, phone=WANG, amount_fen=100, method="alipay", at=clock.advance(minutes=1)
        )
    assert paid.balance_fen == 1950 and _rule(seeded, WANG, "balance").armed is False
    # One that lifts it to the threshold or above does.
    with seeded.transaction() as session:
        paid = record_payment(
            session, phone=WANG, amount_fen=1050, method="alipay", at=clock.advance(minutes=1)
        )
    assert paid.balance_fen == 3000 and _rule(seeded, WANG, "balance").armed is True
    with seeded.transaction() as session:
        rearmed = session.scalars(select(AuditLog).where(AuditLog.action == "alert.rearmed")).one()
        assert rearmed.actor == "billing_feed" and rearmed.details["payment_id"] == paid.payment_id
    assert len(alert_messages(seeded, WANG, "【余额提醒】")) == 1, "re-arming sends nothing"

    # The next crossing fires again.
    _charge(seeded, WANG, 1, clock.advance(minutes=1), gateway)
    messages = alert_messages(seeded, WANG, "【余额提醒】")
    assert len(messages) == 2 and "29.99元" in messages[1][2]
    assert len(_fired(seeded, "balance")) == 2


def test_spend_alert_fires_once_a_month(seeded: Store, clock: FixedClock, gateway: RecordingGateway) -> None:
    result = _charge(seeded, WANG, 1600, clock.advance(minutes=1), gateway)  # 150.00: not above
    assert result.alerts_fired == ()
    result = _charge(seeded, WANG, 1, clock.advance(minutes=1), gateway)  # 150.01: crosses
    body = "【消费提醒】尊敬的客户，您本月消费已达150.01元，超过您设置的150.00元提醒额度。"
    assert [(a.alert_type, a.body) for a in result.alerts_fired] == [("spend", body)]
    for _ in range(2):
        assert _charge(seeded, WANG, 1000, clock.advance(minutes=1), gateway).alerts_fired == ()
    assert alert_messages(seeded, WANG, "【消费提醒】") == [("sms", "sent", body)]
    [entry] = _fired(seeded, "spend")
    assert entry.details["spend_fen"] == 15001 and entry.details["bill_period"] == "2026-11"
    with seeded.transaction() as session:
        [_, spend] = list_alerts(session, subscriber_id=subscriber_id(seeded, WANG), at=clock.now())
    assert spend.armed is False

    # A new month: armed again (without any write), fires at its first crossing.
    december = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    clock.set(december)
    with seeded.transaction() as session:
        [_, spend] = list_alerts(session, subscriber_id=subscriber_id(seeded, WANG), at=clock.now())
    assert spend.armed is True
    # (王强's balance drops below 30元 on the way; only the spend alert matters here.)
    with seeded.transaction() as session:
        record_payment(session, phone=WANG, amount_fen=50000, method="bank_card", at=clock.now())
    assert _charge(seeded, WANG, 15000, clock.now(), gateway).alerts_fired == ()  # 150.00: not above
    fired = _charge(seeded, WANG, 1000, clock.advance(minutes=1), gateway).alerts_fired
    assert [a.alert_type for a in fired] == ["spend"]
    assert "160.00元" in alert_messages(seeded, WANG, "【消费提醒】")[-1][2]
    assert _charge(seeded, WANG, 100, clock.advance(minutes=1), gateway).alerts_fired == ()
    assert len(alert_messages(seeded, WANG, "【消费提醒】")) == 2
    assert [e.details["bill_period"] for e in _fired(seeded, "spend")] == ["2026-11", "2026-12"]


def test_a_new_spend_threshold_rearms_within_the_month(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    _charge(seeded, WANG, 2000, clock.advance(minutes=1), gateway)  # 154.00 > 150: fires
    assert len(alert_messages(seeded, WANG, "【消费提醒】")) == 1
    with seeded.transaction() as session:
        change_alert(
            session,
            subscriber_id=subscriber_id(seeded, WANG),
            alert_type="spend",
            threshold=16000,
            at=clock.now(),
            conversation_id="conv-engine",
        )
    assert _charge(seeded, WANG, 500, clock.advance(minutes=1), gateway).alerts_fired == ()  # 159.00
    fired = _charge(seeded, WANG, 200, clock.advance(minutes=1), gateway).alerts_fired  # 161.00
    assert [a.alert_type for a in fired] == ["spend"]
    assert "超过您设置的160.00元" in alert_messages(seeded, WANG, "【消费提醒】")[-1][2]


def test_deduction_alert_fires_on_every_charge(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    _create(seeded, ZHANG, "deduction", None, "sms", clock.now())
    at = datetime(2026, 11, 22, 10, 5, tzinfo=SHANGHAI)
    first = _charge(
        seeded, ZHANG, 1000, at, gateway, item_kind="vas", description="", service_code="video_ringtone"
    )
    second = _charge(
        seeded, ZHANG, 35, at.replace(minute=7), gateway, item_kind="data", description="套餐外流量"
    )
    assert [a.alert_type for a in first.alerts_fired + second.alerts_fired] == ["deduction", "deduction"]
    assert alert_messages(seeded, ZHANG, "【扣费提醒】") == [
        (
            "sms",
            "sent",
            "【扣费提醒】尊敬的客户，您的账户于11月22日10:05扣费10.00元（视频彩铃月功能费），当前余额26.50元。",
        ),
        (
            "sms",
            "sent",
            "【扣费提醒】尊敬的客户，您的账户于11月22日10:07扣费0.35元（套餐外流量），当前余额26.15元。",
        ),
    ]
    assert [e.details["amount_fen"] for e in _fired(seeded, "deduction")] == [1000, 35]
    assert [m["phone"] for m in gateway.sent] == [ZHANG, ZHANG]
    assert _rule(seeded, ZHANG, "deduction").armed is True


def test_wechat_alerts_are_queued_not_sent(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    _create(seeded, ZHANG, "deduction", None, "wechat", clock.now())
    _create(seeded, ZHANG, "balance", 3000, "wechat", clock.now())
    result = _charge(seeded, ZHANG, 1000, clock.advance(minutes=1), FailingGateway())
    assert [(a.alert_type, a.channel) for a in result.alerts_fired] == [
        ("deduction", "wechat"),
        ("balance", "wechat"),
    ]
    messages = alert_messages(seeded, ZHANG)
    assert [(channel, status) for channel, status, _ in messages] == [
        ("wechat", "queued"),
        ("wechat", "queued"),
    ]
    assert messages[0][2].startswith("【扣费提醒】") and messages[1][2].startswith("【余额提醒】")
    with seeded.transaction() as session:
        rows = session.scalars(select(Notification).where(Notification.channel == "wechat")).all()
        assert all(n.subscriber_id == subscriber_id(seeded, ZHANG) and n.kind == "alert" for n in rows)


def test_data_alert_fires_when_usage_crosses_it_once_a_period(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    # 刘洋: 畅享59 with 30GB (30720 MB), 8GB used.
    _create(seeded, LIU, "data", 80, "sms", clock.now())
    with seeded.transaction() as session:
        under = record_usage(session, phone=LIU, data_used_mb=24575, at=clock.advance(minutes=1), sms=gateway)
    assert under.alerts_fired == () and under.data_percent == 79
    with seeded.transaction() as session:
        at_80 = record_usage(session, phone=LIU, data_used_mb=24576, at=clock.advance(minutes=1), sms=gateway)
    body = (
        "【流量提醒】尊敬的客户，您本月已使用流量24.0GB，占套餐内流量30.0GB的80%，已达到您设置的80%提醒比例。"
    )
    assert [a.body for a in at_80.alerts_fired] == [body]
    with seeded.transaction() as session:
        more = record_usage(session, phone=LIU, data_used_mb=30000, at=clock.advance(minutes=1), sms=gateway)
    assert more.alerts_fired == ()
    assert alert_messages(seeded, LIU, "【流量提醒】") == [("sms", "sent", body)]
    [entry] = _fired(seeded, "data")
    assert entry.details["data_used_mb"] == 24576 and entry.details["trigger"] == "usage"
    with seeded.transaction() as session:
        usage_entries = session.scalars(select(AuditLog).where(AuditLog.action == "usage.recorded")).all()
        assert [e.details["data_used_mb"] for e in usage_entries] == [24575, 24576, 30000]

    # Next month the counters start again (a new row) and the rule is armed again.
    clock.set(datetime(2026, 12, 20, 12, 0, tzinfo=SHANGHAI))
    with seeded.transaction() as session:
        december = record_usage(session, phone=LIU, data_used_mb=25000, at=clock.now(), sms=gateway)
    assert december.period == "2026-12" and [a.alert_type for a in december.alerts_fired] == ["data"]
    assert len(alert_messages(seeded, LIU, "【流量提醒】")) == 2


def test_a_data_alert_below_current_usage_fires_at_the_next_update(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    """陈静 is at 95%: a 90% alert created now sends nothing at once (the chat tells her the usage);
    it fires at the next usage update of the month."""
    _create(seeded, CHEN, "data", 90, "sms", clock.now())
    assert alert_messages(seeded, CHEN) == [] and gateway.sent == []
    with seeded.transaction() as session:
        [rule] = list_alerts(session, subscriber_id=subscriber_id(seeded, CHEN), at=clock.now())
    assert rule.armed is True
    # A charge does not evaluate data alerts.
    _charge(seeded, CHEN, 100, clock.advance(minutes=1), gateway)
    assert alert_messages(seeded, CHEN) == []
    with seeded.transaction() as session:
        result = record_usage(
            session, phone=CHEN, data_used_mb=4900, at=clock.advance(minutes=1), sms=gateway
        )
    assert [a.alert_type for a in result.alerts_fired] == ["data"]
    [(_, _, body)] = alert_messages(seeded, CHEN, "【流量提醒】")
    assert "4.8GB" in body and "5.0GB的95%" in body and "您设置的90%" in body


def test_a_failing_gateway_rolls_the_charge_back(seeded: Store, clock: FixedClock) -> None:
    before = snapshot(seeded)
    failing = FailingGateway()
    with pytest.raises(AlertDeliveryFailed) as caught:
        _charge(seeded, WANG, 18500, clock.advance(minutes=1), failing)
    assert failing.calls == 1
    assert isinstance(caught.value, BillingError) and isinstance(caught.value.__cause__, SmsGatewayError)
    assert caught.value.alert_type == "balance" and "本次操作已撤销" in str(caught.value)
    assert snapshot(seeded) == before, "no charge, balance unchanged, rule still armed, no audit"

    # The feed retries once the gateway is back: posted, and the alert fires.
    gateway = RecordingGateway()
    result = _charge(seeded, WANG, 18500, clock.advance(minutes=1), gateway)
    assert result.balance_fen == 2500 and {a.alert_type for a in result.alerts_fired} == {"balance", "spend"}


def test_a_failing_gateway_rolls_a_usage_update_back(seeded: Store, clock: FixedClock) -> None:
    _create(seeded, CHEN, "data", 90, "sms", clock.now())
    before = snapshot(seeded)
    with pytest.raises(AlertDeliveryFailed):
        with seeded.transaction() as session:
            record_usage(
                session, phone=CHEN, data_used_mb=5000, at=clock.advance(minutes=1), sms=FailingGateway()
            )
    assert snapshot(seeded) == before


def test_the_gateway_is_not_used_when_nothing_is_sent_by_sms(seeded: Store, clock: FixedClock) -> None:
    failing = FailingGateway()
    result = _charge(seeded, LIU, 1000, clock.advance(minutes=1), failing)  # no alerts at all
    assert result.alerts_fired == () and failing.calls == 0
    with seeded.transaction() as session:
        record_payment(session, phone=WANG, amount_fen=1000, method="alipay", at=clock.now(), sms=failing)
    assert failing.calls == 0


def test_cancelled_alerts_do_not_fire(seeded: Store, clock: FixedClock, gateway: RecordingGateway) -> None:
    from bot.alerts.rules import cancel_alert

    sid = subscriber_id(seeded, WANG)
    with seeded.transaction() as session:
        for alert_type in ("balance", "spend"):
            cancel_alert(
                session, subscriber_id=sid, alert_type=alert_type, at=clock.now(), conversation_id="c"
            )
    assert _charge(seeded, WANG, 20000, clock.advance(minutes=1), gateway).alerts_fired == ()
    assert gateway.sent == []


def test_the_default_gateway_comes_from_the_settings(seeded: Store, clock: FixedClock) -> None:
    """Without ``sms`` the settings' gateway (the outbox under BOT_ENV=test) is used."""
    with seeded.transaction() as session:
        result = post_charge(
            session, phone=WANG, amount_fen=18500, item_kind="other", description="测试", at=clock.now()
        )
    assert {a.alert_type for a in result.alerts_fired} == {"balance", "spend"}
    assert [m[0:2] for m in alert_messages(seeded, WANG)] == [("sms", "sent"), ("sms", "sent")]


def test_same_transaction_sees_its_own_alerts(
    seeded: Store, clock: FixedClock, gateway: RecordingGateway
) -> None:
    """Two charges in one unit of work: the second one sees the first one's disarming of spend
    and fires only the balance alert (210 - 91 - 91 = 28元)."""
    with seeded.transaction() as session:
        for minute in (1, 2):
            post_charge(
                session,
                phone=WANG,
                amount_fen=9100,
                item_kind="other",
                description="测试",
                at=datetime(2026, 11, 22, 2, minute, tzinfo=timezone.utc),
                sms=gateway,
            )
    bodies = [m["body"][:6] for m in gateway.sent]
    assert bodies == ["【消费提醒】", "【余额提醒】"]
