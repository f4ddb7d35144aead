"""A subscriber of one's own for the verification tests (not a demo account), and reading its codes."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from bot.billing.models import Plan, Subscriber
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.hashing import hash_secret
from bot.notifications.models import Notification

SECRET_KEY = "test-secret-key-for-identity-tests-0123456789"
PASSWORD = "135790"
ID_LAST6 = "10001X"
PHONE = "13800138000"

_CODE_IN_BODY = re.compile(r"验证码为(\d{6})")


def add_subscriber(store: Store, clock: FixedClock, phone: str = PHONE, status: str = "active") -> int:
    """Adds a plan (once) and a subscriber with password 135790 and ID last six 10001X."""
    with store.transaction() as session:
        plan = session.execute(select(Plan).where(Plan.code == "basic_39")).scalar_one_or_none()
        if plan is None:
            plan = Plan(
                code="basic_39", name="畅享39元套餐", monthly_fee_fen=3900, data_mb=10240, voice_minutes=200
            )
            session.add(plan)
            session.flush()
        sub = Subscriber(
            phone=phone,
            name="张三",
            status=status,
            plan_id=plan.id,
            opened_at=clock.now() - timedelta(days=400),
            balance_fen=5000,
            password_hash=hash_secret(PASSWORD, pepper=SECRET_KEY, iterations=1000),
            id_last6_hash=hash_secret(ID_LAST6, pepper=SECRET_KEY, iterations=1000),
        )
        session.add(sub)
        session.flush()
        return sub.id


def received_code(store: Store, phone: str = PHONE) -> str:
    """The code in the newest SMS to ``phone``, read from the outbox as a demo subscriber would."""
    with store.transaction() as session:
        body = session.execute(
            select(Notification.body)
            .where(Notification.phone == phone)
            .order_by(Notification.id.desc())
            .limit(1)
        ).scalar_one()
    match = _CODE_IN_BODY.search(body)
    assert match, body
    return match.group(1)


def count(store: Store, model: type) -> int:
    with store.transaction() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()
