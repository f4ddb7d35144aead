"""WeChat binding in the conversation: bind after verification in WeChat, 解除微信绑定 on request.

In the WeChat channel the conversation id is the follower's OpenID (``bot.channels.wechat``), and
``input_channel`` is set by the channel itself, so a verification that happens there binds the
verified number to that OpenID (``bot.notifications.wechat_bindings``). The alert form asks for the channel
only when the number is bound (``actions.alerts``).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import IntegrityError

from actions.common import GatedRequestAction, resumable
from actions.failures import store_failed
from bot.app import Services
from bot.billing.models import Subscriber
from bot.db import StoreUnavailable
from bot.identity.rules import Verified
from bot.identity.wechat import bind
from bot.notifications.wechat_bindings import is_bound, unbind_openid, unbind_subscriber
from bot.texts.formats import mask_phone

logger = logging.getLogger(__name__)

WECHAT_CHANNEL = "wechat"


def in_wechat(tracker: Tracker) -> bool:
    """Whether the subscriber writes from the WeChat Official Account."""
    return tracker.get_latest_input_channel() == WECHAT_CHANNEL


def bind_after_verification(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> None:
    """Binds the verified number to the follower's OpenID when the conversation is in WeChat.

    A failure to bind is logged and not told: the subscriber's request goes on, and alerts set to
    微信 go by SMS until a later verification binds the number.
    """
    if not in_wechat(tracker):
        return
    try:
        with services.store.transaction() as session:
            result = bind(
                session,
                openid=tracker.sender_id,
                subscriber_id=verified.subscriber_id,
                at=services.clock.now(),
                conversation_id=tracker.sender_id,
            )
    except (StoreUnavailable, ValueError, IntegrityError) as exc:
        # IntegrityError: a simultaneous verification bound the same number or OpenID first
        logger.warning("binding a number to WeChat failed (%s)", type(exc).__name__)
        return
    if result.changed:
        dispatcher.utter_message(response="utter_wechat_bound", masked_phone=verified.masked_phone)


def wechat_bound(services: Services, subscriber_id: int) -> bool:
    """Whether alerts of the subscriber can go by WeChat.

    Raises:
        StoreUnavailable: the store cannot be read.
    """
    with services.store.transaction() as session:
        return is_bound(session, subscriber_id)


def alert_channel_for(
    services: Services, dispatcher: CollectingDispatcher, subscriber_id: int, channel: Optional[str]
) -> Optional[str]:
    """The channel an alert can really use: 微信 asked without a binding becomes 短信 (and is told).

    Raises:
        StoreUnavailable: the store cannot be read.
    """
    if channel == WECHAT_CHANNEL and not wechat_bound(services, subscriber_id):
        dispatcher.utter_message(response="utter_wechat_not_bound")
        return "sms"
    return channel


@resumable("unbind_wechat")
def answer_unbind_wechat(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Verified (outside WeChat): ends the binding of the subscriber's number."""
    try:
        with services.store.transaction() as session:
            removed = unbind_subscriber(
                session,
                verified.subscriber_id,
                at=services.clock.now(),
                actor=f"subscriber:{verified.subscriber_id}",
                reason="request",
                conversation_id=tracker.sender_id,
            )
    except StoreUnavailable:
        return store_failed(dispatcher, "unbinding WeChat")
    if removed:
        dispatcher.utter_message(response="utter_wechat_unbound", masked_phone=verified.masked_phone)
    else:
        dispatcher.utter_message(response="utter_wechat_nothing_to_unbind")
    return []


class ActionUnbindWechat(GatedRequestAction):
    """解除微信绑定: in WeChat the follower's own binding ends at once (the OpenID is the proof);
    from another channel the number is verified first."""

    request = "unbind_wechat"

    def name(self) -> str:
        return "action_unbind_wechat"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not in_wechat(tracker):
            return await super().run(dispatcher, tracker, domain)
        done = [SlotSet("verification_needed", False), SlotSet("resume_form", "none")]
        try:
            with self.services.store.transaction() as session:
                subscriber_id = unbind_openid(
                    session,
                    tracker.sender_id,
                    at=self.services.clock.now(),
                    reason="request",
                    conversation_id=tracker.sender_id,
                )
                subscriber = session.get(Subscriber, subscriber_id) if subscriber_id is not None else None
                phone = str(subscriber.phone) if subscriber is not None else None
        except StoreUnavailable:
            return [*store_failed(dispatcher, "unbinding WeChat"), *done]
        if phone is None:
            dispatcher.utter_message(response="utter_wechat_nothing_to_unbind")
        else:
            dispatcher.utter_message(response="utter_wechat_unbound", masked_phone=mask_phone(phone))
        return done
