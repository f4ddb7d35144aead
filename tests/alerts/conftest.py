"""Fixtures of the alert tests: the demo accounts on SQLite and PostgreSQL, and SMS gateways."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.billing.models import AlertRule, AuditLog, Notification, Subscriber
from bot.db import Store
from bot.identity.errors import SmsGatewayError
from bot.schema import metadata

WANG = "13700137000"  # balance < 30元 and spend > 150元 alerts by SMS; balance 210元
CHEN = "13500135000"  # 95% of 5GB used; balance 5.20元
ZHANG = "13800138000"  # no alerts; balance 36.50元
LIU = "13600136000"  # no alerts; 8GB of 30GB used; balance 120元


@dataclass
class RecordingGateway:
    """Writes to the outbox like the development gateway and remembers what it sent."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(
        self,
        session: Session,
        *,
        phone: str,
        body: str,
        kind: str,
        subscriber_id: Optional[int] = None,
        at: datetime,
    ) -> None:
        self.sent.append({"phone": phone, "body": body, "kind": kind})
        session.add(
            Notification(
                subscriber_id=subscriber_id, phone=phone, channel="sms", kind=kind, body=body, created_at=at
            )
        )


class FailingGateway:
    """A gateway that is down."""

    calls = 0

    def send(self, session: Session, **_kwargs: Any) -> None:
        self.calls += 1
        raise SmsGatewayError("SMS gateway answered HTTP 503")


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


def subscriber_id(store: Store, phone: str) -> int:
    with store.transaction() as session:
        return int(session.scalars(select(Subscriber.id).where(Subscriber.phone == phone)).one())


def alert_messages(store: Store, phone: str, prefix: str = "【") -> list[tuple[str, str, str]]:
    """``(channel, status, body)`` of the alert notifications to ``phone`` whose body starts with
    ``prefix``, oldest first (the demo history's own alert is left out: it has no 尊敬的客户)."""
    with store.transaction() as session:
        rows = session.execute(
            select(Notification.channel, Notification.status, Notification.body)
            .where(
                Notification.phone == phone,
                Notification.kind == "alert",
                Notification.body.like(f"{prefix}%尊敬的客户%"),
            )
            .order_by(Notification.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def snapshot(store: Store) -> dict[str, Any]:
    """Row counts of every table, balances and the alert rules' state."""
    with store.transaction() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
        balances = dict(session.execute(select(Subscriber.phone, Subscriber.balance_fen)).all())
        rules = sorted(
            tuple(r)
            for r in session.execute(
                select(
                    AlertRule.id,
                    AlertRule.alert_type,
                    AlertRule.threshold,
                    AlertRule.channel,
                    AlertRule.active,
                    AlertRule.armed,
                    AlertRule.last_fired_at,
                    AlertRule.updated_at,
                )
            ).all()
        )
        audit = session.scalar(select(func.count()).select_from(AuditLog))
    return {"counts": counts, "balances": balances, "rules": rules, "audit": audit}
