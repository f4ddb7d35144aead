"""Running the assistant's actions in tests: the services on a store, the subscriber's verification,
a tracker, running an action, what it said, and counting rows."""

from __future__ import annotations

import re
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from bot.app import Services
from bot.clock import FixedClock
from bot.db import Store
from bot.identity.service import VerificationService
from bot.notifications.models import Notification
from bot.notifications.sms import OutboxSmsGateway
from tests.support.settings import SETTINGS


def services_on(store: Store, clock: FixedClock) -> Services:
    """The assistant's services on ``store``, with the development SMS outbox."""
    sms = OutboxSmsGateway()
    return Services(
        settings=SETTINGS,
        clock=clock,
        store=store,
        verification=VerificationService(store, sms, clock, SETTINGS),
        sms=sms,
    )


def code_sent_to(store: Store, phone: str) -> str:
    with store.transaction() as session:
        body = session.scalars(
            select(Notification.body)
            .where(Notification.phone == phone)
            .order_by(Notification.id.desc())
            .limit(1)
        ).one()
    return re.search(r"\d{6}", body).group(0)  # type: ignore[union-attr]


def verify(services: Services, conversation: str, phone: str, *, strong: bool = False) -> None:
    """What a subscriber does: gets the code by SMS and types it (the guard submits it)."""
    services.verification.start_sms(conversation, phone)
    code = code_sent_to(services.store, phone)
    assert services.verification.submit_secret(conversation, code).result == "ok"
    if strong:
        services.verification.request_second_factor(conversation)
        assert services.verification.submit_secret(conversation, "135790").result == "ok"


def tracker(
    conversation: str,
    *,
    intent: str = "inform",
    text: str = "",
    entities: Optional[list[dict[str, Any]]] = None,
    slots: Optional[dict[str, Any]] = None,
    response_selector: Optional[dict[str, Any]] = None,
    events: Optional[list[dict[str, Any]]] = None,
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []}
    if response_selector:
        latest["response_selector"] = response_selector
    return Tracker(conversation, dict(slots or {}), latest, events or [], False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, dispatcher.messages


def said(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("response") or m.get("text") for m in messages]


def count(services: Services, model: Any, *where: Any) -> int:
    with services.store.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))
