"""Sending SMS: the development outbox and the operator's HTTP gateway.

A gateway is called inside the caller's unit of work, so that a message which could not be
sent leaves nothing behind (the caller's transaction is rolled back on :class:`SmsGatewayError`).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.error
import urllib.request
from datetime import datetime
from typing import Optional, Protocol

from sqlalchemy.orm import Session

from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.settings import Settings
from bot.texts.formats import mask_phone

logger = logging.getLogger(__name__)

#: A standalone run of six digits (a one-time code); amounts such as ``123456.00`` are left alone.
_CODE_RE = re.compile(r"(?<![\d.])\d{6}(?![\d.])")
CODE_MASK = "******"


def mask_codes(body: str) -> str:
    """Replaces every one-time code (a standalone six-digit run) in ``body`` by ``******``."""
    return _CODE_RE.sub(CODE_MASK, body)


class SmsGateway(Protocol):
    """Something that delivers an SMS and records it in the outbox table."""

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
        """Sends ``body`` to ``phone``.

        Args:
            session: the caller's unit of work; the outbox row is added to it.
            phone: the 11-digit mobile number.
            body: the message text.
            kind: what the message is, e.g. ``verification_code`` (at most 20 characters).
            subscriber_id: the subscriber the number belongs to, when known.
            at: when (timezone-aware).

        Raises:
            SmsGatewayError: the message could not be handed to the gateway.
        """


class OutboxSmsGateway:
    """Development gateway: the ``notifications`` table stands in for the subscriber's phone.

    The body is stored as sent (a one-time code included) on purpose: reading the outbox is how
    a demo subscriber learns the code. Never use it in production (``Settings.check`` refuses).
    """

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
        session.add(
            Notification(
                subscriber_id=subscriber_id,
                phone=phone,
                channel="sms",
                kind=kind,
                body=body,
                status="sent",
                created_at=at,
            )
        )
        logger.info("SMS %s written to the outbox for %s", kind, mask_phone(phone))


class HttpSmsGateway:
    """The operator's SMS gateway, reached by an HTTP POST of JSON.

    The request is ``{"phone": ..., "body": ..., "kind": ...}``; any 2xx answer counts as
    accepted. The outbox row keeps the body with codes masked, as a record that the message went.
    """

    def __init__(self, url: str, timeout: float) -> None:
        """Creates the gateway.

        Args:
            url: the gateway's ``http://`` or ``https://`` endpoint.
            timeout: seconds before a request is abandoned.

        Raises:
            ValueError: the URL is not http(s) or the timeout is not positive.
        """
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("the SMS gateway URL must be http:// or https://")
        if timeout <= 0:
            raise ValueError("the SMS gateway timeout must be positive")
        self.url = url
        self.timeout = timeout

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
        payload = json.dumps({"phone": phone, "body": body, "kind": kind}, ensure_ascii=False)
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url,
            data=payload.encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            # Only the status: the exception's text could quote the request.
            logger.warning(
                "SMS gateway refused a %s message for %s: HTTP %s", kind, mask_phone(phone), exc.code
            )
            raise SmsGatewayError(f"SMS gateway answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            logger.warning(
                "SMS gateway unreachable for a %s message to %s: %s",
                kind,
                mask_phone(phone),
                exc.__class__.__name__,
            )
            raise SmsGatewayError(f"SMS gateway unreachable ({exc.__class__.__name__})") from None
        if not 200 <= status < 300:
            logger.warning(
                "SMS gateway refused a %s message for %s: HTTP %s", kind, mask_phone(phone), status
            )
            raise SmsGatewayError(f"SMS gateway answered HTTP {status}")
        session.add(
            Notification(
                subscriber_id=subscriber_id,
                phone=phone,
                channel="sms",
                kind=kind,
                body=mask_codes(body),
                status="sent",
                created_at=at,
            )
        )
        logger.info("SMS %s sent through the gateway to %s", kind, mask_phone(phone))


def gateway_from_settings(settings: Settings) -> SmsGateway:
    """The gateway the settings ask for.

    Args:
        settings: ``sms_gateway`` is ``outbox`` or ``http`` (with ``sms_gateway_url``).

    Raises:
        ValueError: an unknown gateway kind or an http gateway without a URL.
    """
    if settings.sms_gateway == "outbox":
        return OutboxSmsGateway()
    if settings.sms_gateway == "http":
        if not settings.sms_gateway_url:
            raise ValueError("the http SMS gateway needs sms_gateway_url")
        return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_timeout)
    raise ValueError(f"unknown SMS gateway {settings.sms_gateway!r}")
