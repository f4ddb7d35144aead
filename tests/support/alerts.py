"""What the alert tests look at: the alert messages a number was sent, and a snapshot of the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.audit import AuditLog
from bot.billing.models import AlertRule, Subscriber
from bot.db import Store
from bot.notifications.models import Notification
from bot.schema import metadata


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
