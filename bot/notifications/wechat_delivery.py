"""Delivering queued WeChat alerts as template messages, with retries and the SMS fallback.

The alert engine (``bot.alerts.engine``) writes a ``notifications`` row with channel ``wechat``
and status ``queued`` in the transaction of the charge; this sender (``python -m bot
deliver-wechat``, started by ``make run``, ``make run-prod`` and the deployments) takes the rows
that are due and, one row per transaction:

* the number is bound (``bot.notifications.wechat_bindings``) → a template message to the OpenID
  (``WECHAT_ALERT_TEMPLATE_ID``). errcode 0: the row is ``sent``;
* errcode -1 (system busy), an HTTP 5xx, a network error or no access token → the row stays
  ``queued`` with ``attempts`` + 1 and ``next_attempt_at`` after a doubling pause
  (``retry_seconds``, then twice that, ...); a refused access token is refreshed once inside
  :meth:`~bot.notifications.wechat_api.WeChatApi.send_template`;
* any other errcode (43004: the follower unsubscribed, which also ends the binding), the last
  attempt used up, no binding, or WeChat not configured → the row is ``failed`` and the text goes
  by SMS instead (the gateway writes its own ``sms`` row).

When the SMS gateway is down too, the row stays ``queued`` for another pass (the whole
transaction is rolled back, then the attempt is counted in a new one); once ``max_attempts``
passes are used up it is ``failed`` with an ``notification.undelivered`` audit entry and an error
log line, for operations to follow up.

Every outcome writes an audit entry (actor ``wechat_sender``): ``notification.wechat_sent``,
``notification.wechat_retry``, ``notification.wechat_failed``, ``notification.sms_fallback``,
``notification.undelivered``. Logs name the notification id and masked number only, never the
OpenID, the body or the token.

Rows are locked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), so two senders never send one row
twice; the lock is held while WeChat is called (at most the API timeout, twice for a token
refresh). A crash between WeChat's answer and the commit can send a message twice: WeChat has
no idempotency key, and a repeated alert is better than a lost one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Optional, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot import audit
from bot.clock import Clock, to_local
from bot.db import Store
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import SmsGateway, gateway_from_settings
from bot.notifications.wechat_api import SYSTEM_BUSY, USER_UNSUBSCRIBED, WeChatUnavailable
from bot.notifications.wechat_bindings import binding_of, unbind_openid
from bot.settings import Settings
from bot.texts.formats import mask_phone

logger = logging.getLogger(__name__)

ACTOR = "wechat_sender"
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_BATCH = 50
_TITLE = re.compile(r"\s*【([^】]{1,20})】\s*(.*)", re.S)


class TemplateApi(Protocol):
    """What the sender needs of :class:`bot.notifications.wechat_api.WeChatApi`."""

    async def send_template(self, openid: str, template_id: str, data: dict[str, Any]) -> int:
        """Sends a template message; returns WeChat's errcode (raises ``WeChatUnavailable``)."""

    async def close(self) -> None:
        """Closes the HTTP session."""


def template_data(body: str, phone: str, at: datetime) -> dict[str, dict[str, str]]:
    """The template fields of an alert (see docs/channels.md, "Alerts by WeChat").

    ``first`` and ``keyword1`` carry the alert's title (``余额提醒``, the part in 【】), ``keyword2``
    the masked number, ``keyword3`` the time in Asia/Shanghai and ``keyword4`` the text.
    """
    match = _TITLE.fullmatch(body)
    title, text = (match.group(1), match.group(2)) if match else ("账户提醒", body)
    fields = {
        "first": title,
        "keyword1": title,
        "keyword2": mask_phone(phone),
        "keyword3": f"{to_local(at):%Y-%m-%d %H:%M}",
        "keyword4": text,
    }
    return {name: {"value": value} for name, value in fields.items()}


@dataclass
class DeliveryStats:
    """What one or more passes did (the CLI prints it)."""

    sent: int = 0
    retried: int = 0
    fallback: int = 0
    undelivered: int = 0
    outcomes: list[tuple[int, str]] = field(default_factory=list)

    def add(self, notification_id: int, outcome: str) -> None:
        self.outcomes.append((notification_id, outcome))
        if outcome == "sent":
            self.sent += 1
        elif outcome == "retry":
            self.retried += 1
        elif outcome == "sms":
            self.fallback += 1
        elif outcome == "undelivered":
            self.undelivered += 1


@dataclass(frozen=True)
class _Failure:
    """Why WeChat did not take a message."""

    reason: str  # not_configured, not_bound, refused, retries_exhausted
    errcode: Optional[int] = None
    error: Optional[str] = None

    def details(self) -> dict[str, Any]:
        found = {"reason": self.reason, "errcode": self.errcode, "error": self.error}
        return {key: value for key, value in found.items() if value is not None}


class WeChatAlertSender:
    """Sends the queued WeChat notifications that are due.

    Args:
        store: the billing store.
        clock: the time source.
        sms: the SMS gateway of the fallback.
        api: the Official Account's API; ``None`` when WeChat is not configured (all by SMS).
        template_id: the alert template; empty: all by SMS.
        max_attempts: passes before a message is given up (WeChat retries, then the SMS fallback).
        retry_seconds: the first pause before a retry; each later one doubles.
        batch: rows taken per pass.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        sms: SmsGateway,
        api: Optional[TemplateApi],
        template_id: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        if max_attempts < 1 or retry_seconds <= 0 or batch < 1:
            raise ValueError("max_attempts, retry_seconds and batch must be positive")
        self.store = store
        self.clock = clock
        self.sms = sms
        self.api = api
        self.template_id = template_id
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.batch = batch

    @property
    def configured(self) -> bool:
        """Whether messages can go by WeChat at all (otherwise every one goes by SMS)."""
        return self.api is not None and bool(self.template_id)

    def due(self) -> list[int]:
        """Ids of the queued WeChat notifications whose time has come, oldest first."""
        now = self.clock.now()
        with self.store.transaction() as session:
            return list(
                session.scalars(
                    select(Notification.id)
                    .where(
                        Notification.channel == "wechat",
                        Notification.status == "queued",
                        or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
                    )
                    .order_by(Notification.id)
                    .limit(self.batch)
                )
            )

    async def run_once(self) -> DeliveryStats:
        """One pass over the due notifications."""
        stats = DeliveryStats()
        for notification_id in self.due():
            outcome = await self.deliver(notification_id)
            if outcome is not None:
                stats.add(notification_id, outcome)
        return stats

    async def deliver(self, notification_id: int) -> Optional[str]:
        """Delivers one notification.

        Returns:
            ``sent``, ``retry``, ``sms`` (failed by WeChat, sent by SMS), ``undelivered``, or
            ``None`` when the row is no longer queued or another sender holds it.
        """
        try:
            with self.store.transaction() as session:
                row = self._lock(session, notification_id)
                if row is None:
                    return None
                failure = await self._try_wechat(session, row)
                if failure is None:
                    return "sent"
                if failure.reason == "retry":
                    return "retry"
                self._fall_back(session, row, failure)
                return "sms"
        except SmsGatewayError as exc:
            logger.warning("SMS fallback of notification %s failed: %s", notification_id, exc)
            return self._count_failed_fallback(notification_id, str(exc))

    def _lock(self, session: Session, notification_id: int) -> Optional[Notification]:
        row = session.scalars(
            select(Notification)
            .where(Notification.id == notification_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is None or row.channel != "wechat" or row.status != "queued":
            return None
        return row

    def _audit(self, session: Session, row: Notification, action: str, details: dict[str, Any]) -> None:
        audit.record(
            session,
            at=self.clock.now(),
            actor=ACTOR,
            action=action,
            subscriber_id=row.subscriber_id,
            entity="notification",
            entity_id=row.id,
            details={"kind": row.kind, "attempts": int(row.attempts or 0), **details},
        )

    async def _try_wechat(self, session: Session, row: Notification) -> Optional[_Failure]:
        """Sends by WeChat; None when sent, else why not (``retry``: the row was rescheduled)."""
        if not self.configured or self.api is None:
            return _Failure("not_configured")
        binding = binding_of(session, row.subscriber_id) if row.subscriber_id is not None else None
        if binding is None:
            return _Failure("not_bound")
        openid = str(binding.openid)
        data = template_data(str(row.body), str(row.phone), row.created_at)
        try:
            errcode = await self.api.send_template(openid, self.template_id, data)
        except WeChatUnavailable as exc:
            return self._retry_or_give_up(session, row, _Failure("unavailable", error=str(exc)))
        if errcode == 0:
            row.attempts = int(row.attempts or 0) + 1
            row.status = "sent"
            row.next_attempt_at = None
            self._audit(session, row, "notification.wechat_sent", {})
            logger.info("WeChat alert %s sent to the follower of %s", row.id, mask_phone(str(row.phone)))
            return None
        if errcode == SYSTEM_BUSY:
            return self._retry_or_give_up(session, row, _Failure("busy", errcode=errcode))
        if errcode == USER_UNSUBSCRIBED:
            unbind_openid(session, openid, at=self.clock.now(), reason="unsubscribed")
        return _Failure("refused", errcode=errcode)

    def _retry_or_give_up(self, session: Session, row: Notification, failure: _Failure) -> _Failure:
        row.attempts = int(row.attempts or 0) + 1
        if row.attempts >= self.max_attempts:
            return _Failure("retries_exhausted", errcode=failure.errcode, error=failure.error)
        pause = self.retry_seconds * 2 ** (row.attempts - 1)
        row.next_attempt_at = self.clock.now() + timedelta(seconds=pause)
        self._audit(
            session,
            row,
            "notification.wechat_retry",
            {**failure.details(), "next_attempt_at": row.next_attempt_at.isoformat()},
        )
        logger.info(
            "WeChat alert %s not sent (%s); attempt %s of %s, next in %.0f s",
            row.id,
            failure.error or f"errcode {failure.errcode}",
            row.attempts,
            self.max_attempts,
            pause,
        )
        return _Failure("retry")

    def _fall_back(self, session: Session, row: Notification, failure: _Failure) -> None:
        """Marks the WeChat row failed and sends the text by SMS, in the same transaction."""
        row.status = "failed"
        row.next_attempt_at = None
        self._audit(session, row, "notification.wechat_failed", failure.details())
        self.sms.send(
            session,
            phone=str(row.phone),
            body=str(row.body),
            kind=str(row.kind),
            subscriber_id=row.subscriber_id,
            at=self.clock.now(),
        )
        self._audit(session, row, "notification.sms_fallback", {"reason": failure.reason})
        logger.info(
            "WeChat alert %s went by SMS to %s instead (%s)",
            row.id,
            mask_phone(str(row.phone)),
            failure.reason,
        )

    def _count_failed_fallback(self, notification_id: int, error: str) -> Optional[str]:
        """The SMS gateway refused the fallback: counts the attempt; gives up after the last one."""
        with self.store.transaction() as session:
            row = self._lock(session, notification_id)
            if row is None:
                return None
            row.attempts = int(row.attempts or 0) + 1
            if row.attempts >= self.max_attempts:
                row.status = "failed"
                row.next_attempt_at = None
                self._audit(session, row, "notification.undelivered", {"error": error})
                logger.error(
                    "alert %s to %s could be sent neither by WeChat nor by SMS; given up",
                    row.id,
                    mask_phone(str(row.phone)),
                )
                return "undelivered"
            pause = self.retry_seconds * 2 ** (row.attempts - 1)
            row.next_attempt_at = self.clock.now() + timedelta(seconds=pause)
            self._audit(
                session,
                row,
                "notification.sms_fallback_failed",
                {"error": error, "next_attempt_at": row.next_attempt_at.isoformat()},
            )
            return "retry"

    async def run(self, stop: asyncio.Event, interval: float) -> DeliveryStats:
        """Passes every ``interval`` seconds until ``stop`` is set; a failing pass is logged and retried."""
        total = DeliveryStats()
        while not stop.is_set():
            try:
                stats = await self.run_once()
            except Exception as exc:  # noqa: BLE001 - the store may be down; the next pass tries again
                # The class only: a database error's text quotes the row (number, body).
                logger.error(
                    "a WeChat delivery pass failed (%s); again in %s s", type(exc).__name__, interval
                )
            else:
                for notification_id, outcome in stats.outcomes:
                    total.add(notification_id, outcome)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
        return total


def sender_from_settings(store: Store, settings: Settings, clock: Clock) -> WeChatAlertSender:
    """The sender the settings describe: WeChat when the account and the template are configured.

    Without ``WECHAT_APP_ID``/``WECHAT_APP_SECRET`` or ``WECHAT_ALERT_TEMPLATE_ID`` the sender
    still runs and sends every queued WeChat alert by SMS (one warning says so).
    """
    from bot.notifications.wechat_api import WeChatApi

    api: Optional[WeChatApi] = None
    if settings.wechat_app_id and settings.wechat_app_secret:
        api = WeChatApi(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base_url)
    sender = WeChatAlertSender(
        store,
        clock,
        gateway_from_settings(settings),
        api,
        settings.wechat_alert_template_id,
        max_attempts=settings.wechat_delivery_attempts,
        retry_seconds=settings.wechat_retry_seconds,
    )
    if not sender.configured:
        logger.warning(
            "WeChat alerts go by SMS: WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_ALERT_TEMPLATE_ID"
            " must all be set to send them by WeChat (docs/channels.md)"
        )
    return sender


def run_forever(store: Store, settings: Settings, clock: Clock) -> DeliveryStats:
    """Runs the sender until SIGINT or SIGTERM (``python -m bot deliver-wechat``)."""
    import signal

    async def main() -> DeliveryStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        sender = sender_from_settings(store, settings, clock)
        try:
            return await sender.run(stop, settings.wechat_delivery_interval)
        finally:
            if sender.api is not None:
                await sender.api.close()

    return asyncio.run(main())
