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

The guard also answers for a paused conversation: when Rasa logged a message without answering
because the conversation is with a person (bot/rasa_patches.py notes it) and the subscriber is
still waiting in the queue, one more message tells them their place and the wait, at most once a
minute per conversation (``bot.handoff.handoffs.waiting_notice`` keeps the time in the store, so
several Rasa processes agree). Once an agent has claimed the conversation, nothing is added.
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

from bot.rasa_patches import ACTION_FAILURES, PAUSED_CONVERSATIONS
from bot.replies import ACTION_FAILURE_TEXT, WAITING_TEXT
from bot.secret_shapes import ID_NUMBER, SIX_CHARS

if TYPE_CHECKING:  # the services (and the store behind them) are built lazily, in the server
    from bot.handoff.handoffs import Wait
    from bot.identity.service import VerificationService

logger = logging.getLogger(__name__)

MASK = "******"
SECRET_INTENT = "provide_secret"  # noqa: S105 - an intent name, not a secret

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
    id_match = ID_NUMBER.search(normal)
    if id_match:
        candidate = id_match.group(0)[-6:]
    masked = ID_NUMBER.sub(MASK * 3, normal)
    six = SIX_CHARS.search(masked)
    if six and candidate is None:
        candidate = six.group(0)
    masked = SIX_CHARS.sub(MASK, masked)
    if candidate is None:
        compact = _SEPARATORS.sub("", masked)
        if SIX_CHARS.fullmatch(compact):
            candidate, masked = compact, MASK
    if candidate is None:
        return Screened(text=text, secret=None)
    return Screened(text=masked, secret=candidate.upper())


#: ``waiting_notice(conversation_id)``: where a subscriber who wrote while queued stands, when they
#: should be told now (``bot.handoff.handoffs.waiting_notice``); runs in a worker thread.
WaitingNotice = Callable[[str], Optional["Wait"]]


class SecretGuard:
    """Wraps a channel's ``on_new_message``: secrets are checked and dropped first; a subscriber
    waiting for a person hears where they stand."""

    def __init__(
        self,
        verification_factory: Callable[[], VerificationService],
        waiting_notice: Optional[WaitingNotice] = None,
    ) -> None:
        """Args:
        verification_factory: builds the verification service (on the first secret seen).
        waiting_notice: tells whether and what to tell a queued subscriber; None tells nothing.
        """
        self._factory = verification_factory
        self._service: Optional[VerificationService] = None
        self._waiting_notice = waiting_notice

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

    async def _tell_waiting(self, message: UserMessage) -> None:
        """After a paused conversation's message: the place in the queue, when it is due."""
        if self._waiting_notice is None or not message.sender_id:
            return
        try:
            wait = await asyncio.to_thread(self._waiting_notice, message.sender_id)
        except Exception:  # noqa: BLE001 - the message is logged for the agent; silence is the default
            logger.warning("could not tell a queued subscriber their place in the queue", exc_info=False)
            return
        if wait is not None:
            text = WAITING_TEXT.format(position=wait.position, minutes=wait.minutes)
            await message.output_channel.send_text_message(message.sender_id, text)

    def wrap(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Callable[[UserMessage], Awaitable[Any]]:
        """The channel-facing callback: filter, hand over to Rasa, then answer what Rasa could not."""

        async def guarded(message: UserMessage) -> Any:
            failures: list[str] = []
            paused: set[str] = set()
            token = ACTION_FAILURES.set(failures)
            paused_token = PAUSED_CONVERSATIONS.set(paused)
            try:
                result = await on_new_message(await self.filter(message))
            finally:
                PAUSED_CONVERSATIONS.reset(paused_token)
                ACTION_FAILURES.reset(token)
            if failures:  # Rasa went on without the action's events; the subscriber must hear something
                logger.warning("custom action(s) failed while handling a message: %s", ", ".join(failures))
                await message.output_channel.send_text_message(message.sender_id, ACTION_FAILURE_TEXT)
            if message.sender_id in paused:  # with a person: nothing, or where they stand in the queue
                await self._tell_waiting(message)
            return result

        return guarded


def default_guard() -> SecretGuard:
    """A guard on the process's services (built on the first secret or paused message it sees)."""

    def factory() -> VerificationService:
        from bot.app import get_services

        return get_services().verification

    def waiting_notice(conversation_id: str) -> Optional[Wait]:
        from bot.app import get_services
        from bot.handoff.handoffs import waiting_notice as due_notice

        services = get_services()
        with services.store.transaction() as session:
            return due_notice(session, conversation_id, services.clock.now(), services.settings)

    return SecretGuard(factory, waiting_notice)
