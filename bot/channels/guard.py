"""The secret guard: one-time codes, passwords and ID digits never get past the channel.

Every message a channel receives passes through :class:`SecretGuard` before Rasa sees it:

* Anything shaped like a secret (a standalone run of six digits, six characters ending in
  ``X``, an 18-character ID number) is masked in the text Rasa will store, log and send to
  the action server.
* When the conversation has a verification challenge open, the secret is checked here,
  server-side, by the verification service; the outcome is recorded in the store and the
  message goes on as the intent ``provide_secret`` with the masked text. The action that
  answers reads the outcome from the store, never from the message.

A user cannot forge a verification: ``/provide_secret`` typed by hand finds no outcome.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from rasa.core.channels.channel import UserMessage

from bot.rasa_patches import ACTION_FAILURES
from bot.replies import ACTION_FAILURE_TEXT

if TYPE_CHECKING:  # the service (and the store behind it) is built lazily, in the server
    from bot.identity.service import VerificationService

logger = logging.getLogger(__name__)

MASK = "******"
SECRET_INTENT = "provide_secret"  # noqa: S105 - an intent name, not a secret

# An 18-character resident ID number, or six digits / five digits and X standing alone.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_SIX = re.compile(r"(?<![0-9A-Za-z])\d{5}[\dXx](?![0-9A-Za-z])")
_SEPARATORS = re.compile(r"[\s\-_.,，。、]")


@dataclass(frozen=True)
class Screened:
    """A message's text with secrets masked, and the secret to check (if one was found)."""

    text: str
    secret: Optional[str]


def screen(text: str) -> Screened:
    """Masks secret-shaped values in ``text``; returns the masked text and the candidate secret.

    A full ID number yields its last six characters as the candidate (we only ever ask for
    those); a message that is nothing but six digits with separators ("123 456") counts too.
    """
    normal = unicodedata.normalize("NFKC", text or "")
    candidate: Optional[str] = None
    id_match = _ID_NUMBER.search(normal)
    if id_match:
        candidate = id_match.group(0)[-6:]
    masked = _ID_NUMBER.sub(MASK * 3, normal)
    six = _SIX.search(masked)
    if six and candidate is None:
        candidate = six.group(0)
    masked = _SIX.sub(MASK, masked)
    if candidate is None:
        compact = _SEPARATORS.sub("", masked)
        if _SIX.fullmatch(compact):
            candidate, masked = compact, MASK
    if candidate is None:
        return Screened(text=text, secret=None)
    return Screened(text=masked, secret=candidate.upper())


class SecretGuard:
    """Wraps a channel's ``on_new_message`` so that secrets are checked and dropped first."""

    def __init__(self, verification_factory: Callable[[], VerificationService]) -> None:
        self._factory = verification_factory
        self._service: Optional[VerificationService] = None

    @property
    def service(self) -> VerificationService:
        if self._service is None:
            self._service = self._factory()
        return self._service

    def _check(self, conversation_id: str, secret: str) -> bool:
        """Submits ``secret`` if a challenge is open; True when it was a verification attempt."""
        if self.service.pending_factor(conversation_id) is None:
            return False
        self.service.submit_secret(conversation_id, secret)
        return True

    async def filter(self, message: UserMessage) -> UserMessage:
        """Returns the message Rasa may see: masked, and tagged when it answered a challenge."""
        screened = screen(message.text or "")
        if screened.secret is None:
            return message
        sender = message.sender_id or ""
        try:
            attempted = await asyncio.to_thread(self._check, sender, screened.secret)
        except Exception:  # noqa: BLE001 - a store failure must not let the secret through
            logger.warning("verification check failed; the secret was masked and dropped", exc_info=False)
            attempted = True
        parse_data: Optional[dict[str, Any]] = None
        if attempted:
            parse_data = {
                "text": screened.text,
                "intent": {"name": SECRET_INTENT, "confidence": 1.0},
                "intent_ranking": [{"name": SECRET_INTENT, "confidence": 1.0}],
                "entities": [],
            }
        return UserMessage(
            text=screened.text,
            output_channel=message.output_channel,
            sender_id=message.sender_id,
            parse_data=parse_data,
            input_channel=message.input_channel,
            message_id=message.message_id,
            metadata=message.metadata,
        )

    def wrap(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Callable[[UserMessage], Awaitable[Any]]:
        """The channel-facing callback: filter, then hand over to Rasa."""

        async def guarded(message: UserMessage) -> Any:
            failures: list[str] = []
            token = ACTION_FAILURES.set(failures)
            try:
                result = await on_new_message(await self.filter(message))
            finally:
                ACTION_FAILURES.reset(token)
            if failures:  # Rasa went on without the action's events; the subscriber must hear something
                logger.warning("custom action(s) failed while handling a message: %s", ", ".join(failures))
                await message.output_channel.send_text_message(message.sender_id, ACTION_FAILURE_TEXT)
            return result

        return guarded


def default_guard() -> SecretGuard:
    """A guard on the process's verification service (built on the first secret it sees)."""

    def factory() -> VerificationService:
        from bot.app import get_services

        return get_services().verification

    return SecretGuard(factory)
