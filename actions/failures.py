"""The actions' failure policy, in one place.

When the billing store or the SMS gateway fails, the unit of work has rolled back: nothing was
changed. The subscriber hears a kind message (``utter_service_unavailable`` /
``utter_sms_unavailable``, never an error text); the failure is logged without personal data; and
when the previous turn had failed too, the conversation goes to a person
(:func:`dependency_handoff`, reason ``dependency``) instead of failing a third time.
"""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import earlier_dependency_failure, hand_off
from bot.app import Services

logger = logging.getLogger(__name__)


def store_failed(dispatcher: CollectingDispatcher, what: str) -> list[EventType]:
    """The kind answer when the store cannot be read or written; nothing was changed."""
    logger.warning("store unavailable while %s", what)
    dispatcher.utter_message(response="utter_service_unavailable")
    return []


def sms_failed(dispatcher: CollectingDispatcher, what: str) -> list[EventType]:
    """The kind answer when the SMS gateway refused a message; the change it belonged to was undone."""
    logger.warning("SMS gateway failed while %s; nothing was changed", what)
    dispatcher.utter_message(response="utter_sms_unavailable")
    return []


def dependency_handoff(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[EventType]:
    """After a dependency failure: hands off when the previous turn failed too, else nothing."""
    if not earlier_dependency_failure(tracker):
        return []
    return hand_off(services, dispatcher, tracker, "dependency", intro="utter_handoff_dependency")
