"""SMS gateways for tests: one that records what it sends, one that is down."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.notifications.errors import SmsGatewayError
from bot.notifications.sms import OutboxSmsGateway


class RecordingGateway(OutboxSmsGateway):
    """The development outbox gateway that also remembers what it sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

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
        super().send(session, phone=phone, body=body, kind=kind, subscriber_id=subscriber_id, at=at)


class FailingGateway:
    """An SMS gateway that is down: it delivers the first ``succeed`` messages (none by default) to
    the outbox, then raises ``SmsGatewayError``; ``calls`` counts every message it was given."""

    def __init__(self, succeed: int = 0) -> None:
        self.succeed = succeed
        self.calls = 0
        self._outbox = OutboxSmsGateway()

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
        self.calls += 1
        if self.calls > self.succeed:
            raise SmsGatewayError("SMS gateway unreachable (test)")
        self._outbox.send(session, phone=phone, body=body, kind=kind, subscriber_id=subscriber_id, at=at)
