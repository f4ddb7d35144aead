"""Identity verification in the conversation: the form that asks for the number and the code.

The code itself never reaches this action: the channel guard (``bot.channels.guard``) checks
it inside the Rasa server, records the outcome in the store and forwards a masked message
with the intent ``provide_secret``. Here we only read that outcome, once.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    INTERRUPTING_INTENTS,
    RESUMABLE,
    ServiceAction,
    UsesServices,
    find_phone,
    latest_intent,
    local_time,
)
from bot.app import Services
from bot.db import StoreUnavailable
from bot.identity.errors import NumberLocked, SmsGatewayError, TooManyCodes, UnknownNumber
from bot.money import mask_phone

logger = logging.getLogger(__name__)

RESET_VERIFICATION = ("phone_number", "otp_status", "pending_request")


def send_code(
    services: Services, dispatcher: CollectingDispatcher, conversation_id: str, phone: str
) -> Optional[str]:
    """Sends a code and tells the subscriber.

    Returns:
        None when the code was sent; ``unknown`` for a number that is not ours (ask again);
        otherwise a terminal ``otp_status`` (``locked``, ``rate_limited``, ``error``).
    """
    try:
        sent = services.verification.start_sms(conversation_id, phone)
    except UnknownNumber:
        dispatcher.utter_message(response="utter_unknown_phone", masked_phone=mask_phone(phone))
        return "unknown"
    except NumberLocked as exc:
        dispatcher.utter_message(
            response="utter_number_locked", masked_phone=mask_phone(phone), until=local_time(exc.until)
        )
        return "locked"
    except TooManyCodes as exc:
        dispatcher.utter_message(response="utter_too_many_codes", retry_at=local_time(exc.retry_after))
        return "rate_limited"
    except SmsGatewayError:
        logger.warning("SMS gateway failed while sending a verification code")
        dispatcher.utter_message(response="utter_sms_unavailable")
        return "error"
    except StoreUnavailable:
        logger.warning("store unavailable while sending a verification code")
        dispatcher.utter_message(response="utter_service_unavailable")
        return "error"
    dispatcher.utter_message(response="utter_code_sent", masked_phone=sent.masked_phone)
    return None


class ValidateVerificationForm(UsesServices, FormValidationAction):
    """Fills ``phone_number`` (and sends the code) and ``otp_status`` (from the guard's outcome)."""

    def name(self) -> str:
        return "validate_verification_form"

    async def extract_phone_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "phone_number":
            return {}
        if latest_intent(tracker) in INTERRUPTING_INTENTS:
            return {}
        phone = find_phone(tracker)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
            return {"phone_number": None}
        terminal = send_code(self.services, dispatcher, tracker.sender_id, phone)
        if terminal == "unknown":
            return {"phone_number": None}
        if terminal:
            return {"phone_number": phone, "otp_status": terminal}
        return {"phone_number": phone}

    async def extract_otp_status(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "otp_status":
            return {}
        intent = latest_intent(tracker)
        if intent in INTERRUPTING_INTENTS:
            return {}
        phone = tracker.get_slot("phone_number")
        if intent == "resend_code" and phone:
            status = send_code(self.services, dispatcher, tracker.sender_id, phone)
            return {"otp_status": None if status == "unknown" else status}
        if intent != "provide_secret":
            dispatcher.utter_message(response="utter_code_not_received")
            return {"otp_status": None}
        try:
            outcome = self.services.verification.take_outcome(tracker.sender_id)
        except StoreUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return {"otp_status": "error"}
        if outcome is None:
            dispatcher.utter_message(response="utter_code_not_received")
            return {"otp_status": None}
        if outcome.result == "ok":
            dispatcher.utter_message(response="utter_verified")
            return {"otp_status": "verified"}
        if outcome.result == "locked":
            until = local_time(outcome.locked_until) if outcome.locked_until else "30分钟"
            dispatcher.utter_message(
                response="utter_number_locked", masked_phone=mask_phone(phone or ""), until=until
            )
            return {"otp_status": "locked"}
        if outcome.result == "expired":
            dispatcher.utter_message(response="utter_code_expired")
        elif outcome.result == "wrong" and outcome.attempts_left:
            dispatcher.utter_message(response="utter_code_wrong", attempts_left=outcome.attempts_left)
        else:
            dispatcher.utter_message(response="utter_code_failed")
        return {"otp_status": None}


class ActionVerificationDone(ServiceAction):
    """After the form: resume what the subscriber asked for, if the store says they are verified."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SlotSet(slot, None) for slot in RESET_VERIFICATION]
        request = tracker.get_slot("pending_request")
        try:
            verified = self.services.verification.current(tracker.sender_id)
        except StoreUnavailable:
            dispatcher.utter_message(response="utter_service_unavailable")
            return [*events, SlotSet("verification_needed", None)]
        if verified is None:
            if tracker.get_slot("otp_status") in (None, "verified"):
                dispatcher.utter_message(response="utter_verification_incomplete")
            return [*events, SlotSet("verification_needed", None)]
        handler = RESUMABLE.get(request or "")
        resumed = handler(self.services, dispatcher, tracker, verified) if handler else []
        return [*events, SlotSet("verification_needed", False), *resumed]


class ActionCancelTask(ServiceAction):
    """算了 / 取消: drops the task under way politely; nothing is changed."""

    def name(self) -> str:
        return "action_cancel_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_cancelled")
        return [SlotSet(slot, None) for slot in (*RESET_VERIFICATION, "verification_needed")]
