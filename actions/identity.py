"""Identity verification in the conversation: the form that asks for the number, the code and,
for account closure, the service password or ID digits.

Secrets never reach this action: the channel guard (``bot.channels.guard``) checks them inside
the Rasa server, records the outcome in the store and forwards a masked message with the intent
``provide_secret``. Here we only read that outcome, once.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import ServiceAction, UsesServices, find_phone, latest_intent, local_time
from actions.common import INTERRUPTING_INTENTS, RESUMABLE, run_requests
from actions.failures import dependency_handoff, sms_failed, store_failed
from actions.wechat import bind_after_verification
from bot.app import Services
from bot.clock import to_local
from bot.db import StoreUnavailable
from bot.identity.clients import UNNAMED_CLIENT, client_from_metadata
from bot.identity.errors import (
    ClientRateLimited,
    NotVerified,
    NumberLocked,
    TooManyCodes,
    TooManyNumbers,
    UnknownNumber,
)
from bot.nlu.cues import asks_where_the_code_is
from bot.notifications.errors import SmsGatewayError
from bot.texts.formats import mask_phone

logger = logging.getLogger(__name__)

RESET_VERIFICATION = (
    "phone_number",
    "otp_status",
    "second_factor_status",
    "pending_request",
    "pending_level",
    "further_requests",
)

# Asked while verification is under way ("顺便查下流量"): done once the subscriber is verified.
REMEMBERED = frozenset(
    {
        "query_balance",
        "query_bill",
        "query_usage",
        "query_plan",
        "query_subscriptions",
        "query_alerts",
        "query_unknown_charge",
        "request_refund",
        "unsubscribe_service",
    }
)


def message_client(tracker: Tracker) -> str:
    """The client the channel named in the latest message's metadata (``bot.identity.clients``)."""
    return client_from_metadata((tracker.latest_message or {}).get("metadata"))


def send_code(
    services: Services,
    dispatcher: CollectingDispatcher,
    conversation_id: str,
    phone: str,
    client: str = UNNAMED_CLIENT,
) -> Optional[str]:
    """Sends a code and tells the subscriber.

    Args:
        services: the assistant's services.
        dispatcher: where the answer goes.
        conversation_id: the conversation the code will verify.
        phone: the number the subscriber gave.
        client: who asked (:func:`message_client`), for the limit on codes per client.

    Returns:
        None when the code was sent; ``unknown`` for a number that is not ours (ask again);
        otherwise a terminal ``otp_status`` (``locked``, ``rate_limited``, ``error``).
    """
    try:
        sent = services.verification.start_sms(conversation_id, phone, client=client)
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
    except TooManyNumbers as exc:
        dispatcher.utter_message(
            response="utter_too_many_numbers",
            limit=exc.limit,
            retry_at=f"{to_local(exc.retry_after):%m月%d日 %H:%M}",
        )
        return "rate_limited"
    except ClientRateLimited as exc:
        dispatcher.utter_message(response="utter_code_requests_limited", retry_at=local_time(exc.retry_after))
        return "rate_limited"
    except SmsGatewayError:
        sms_failed(dispatcher, "sending a verification code")
        return "error"
    except StoreUnavailable:
        store_failed(dispatcher, "sending a verification code")
        return "error"
    dispatcher.utter_message(response="utter_code_sent", masked_phone=sent.masked_phone)
    return None


def open_second_factor(
    services: Services, dispatcher: CollectingDispatcher, conversation_id: str
) -> Optional[str]:
    """Opens the second-factor challenge; returns a terminal status when that is impossible."""
    try:
        services.verification.request_second_factor(conversation_id)
    except NumberLocked as exc:
        dispatcher.utter_message(response="utter_number_locked", masked_phone="", until=local_time(exc.until))
        return "locked"
    except NotVerified:
        return "error"
    except StoreUnavailable:
        store_failed(dispatcher, "opening the second factor")
        return "error"
    return None


class ValidateVerificationForm(UsesServices, FormValidationAction):
    """Fills ``phone_number`` (and sends the code), ``otp_status`` and ``second_factor_status``."""

    def name(self) -> str:
        return "validate_verification_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """Asks the second factor only for strong requests (the gate fills the SMS step when it is done)."""
        slots = list(domain_slots)
        if tracker.get_slot("pending_level") != "strong":
            slots.remove("second_factor_status")
        return slots

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        if not self._remembers(tracker):
            return events
        # a second request while verifying: kept, and done as soon as verification succeeds
        further = list(tracker.get_slot("further_requests") or [])
        intent = latest_intent(tracker)
        dispatcher.utter_message(response="utter_after_verification")
        return [
            *events,
            SlotSet("further_requests", [*further, intent] if intent not in further else further),
        ]

    @staticmethod
    def _remembers(tracker: Tracker) -> bool:
        """Whether the latest message asks for another task that verification will unlock."""
        intent = latest_intent(tracker)
        if intent not in REMEMBERED or intent == tracker.get_slot("pending_request"):
            return False
        if tracker.get_slot("requested_slot") not in ("phone_number", "otp_status"):
            return False
        return True

    async def extract_phone_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "phone_number":
            return {}
        intent = latest_intent(tracker)
        if intent in INTERRUPTING_INTENTS:
            return {}
        phone = find_phone(tracker)
        if phone is None:
            if not self._remembers(tracker):
                dispatcher.utter_message(response="utter_invalid_phone")
            return {"phone_number": None}
        terminal = send_code(self.services, dispatcher, tracker.sender_id, phone, message_client(tracker))
        if terminal == "unknown":
            return {"phone_number": None}
        if terminal:
            return {"phone_number": phone, "otp_status": terminal, "second_factor_status": terminal}
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
        text = (tracker.latest_message or {}).get("text") or ""
        if intent == "resend_code" and phone:
            if asks_where_the_code_is(text):
                # a question about the code, not a request for another: say where it went, offer 重发
                dispatcher.utter_message(response="utter_code_not_arrived", masked_phone=mask_phone(phone))
                return {"otp_status": None}
            status = send_code(self.services, dispatcher, tracker.sender_id, phone, message_client(tracker))
            return {"otp_status": None if status == "unknown" else status}
        if self._remembers(tracker):
            return {"otp_status": None}
        outcome = self._outcome(dispatcher, tracker, intent)
        if outcome is None:
            return {"otp_status": None}
        if outcome == "error":
            return {"otp_status": "error", "second_factor_status": "error"}
        if outcome.result == "ok":
            dispatcher.utter_message(response="utter_verified")
            if tracker.get_slot("pending_level") == "strong":
                terminal = open_second_factor(self.services, dispatcher, tracker.sender_id)
                if terminal:
                    return {"otp_status": "verified", "second_factor_status": terminal}
                dispatcher.utter_message(response="utter_need_strong_verification")
            return {"otp_status": "verified"}
        if outcome.result == "locked":
            self._locked(dispatcher, phone, outcome)
            return {"otp_status": "locked", "second_factor_status": "locked"}
        if outcome.result == "expired":
            dispatcher.utter_message(response="utter_code_expired")
        elif outcome.result == "wrong" and outcome.attempts_left:
            dispatcher.utter_message(response="utter_code_wrong", attempts_left=outcome.attempts_left)
        else:
            dispatcher.utter_message(response="utter_code_failed")
        return {"otp_status": None}

    async def extract_second_factor_status(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "second_factor_status":
            return {}
        intent = latest_intent(tracker)
        if intent in INTERRUPTING_INTENTS:
            return {}
        outcome = self._outcome(dispatcher, tracker, intent, hint="utter_second_factor_hint")
        if outcome is None:
            return {"second_factor_status": None}
        if outcome == "error":
            return {"second_factor_status": "error"}
        if outcome.result == "ok":
            dispatcher.utter_message(response="utter_verified")
            return {"second_factor_status": "verified"}
        if outcome.result == "locked":
            self._locked(dispatcher, tracker.get_slot("phone_number"), outcome)
            return {"second_factor_status": "locked"}
        if outcome.result == "expired":
            terminal = open_second_factor(self.services, dispatcher, tracker.sender_id)
            if terminal:
                return {"second_factor_status": terminal}
            dispatcher.utter_message(response="utter_second_factor_hint")
            return {"second_factor_status": None}
        if outcome.result == "wrong" and outcome.attempts_left:
            dispatcher.utter_message(
                response="utter_second_factor_wrong", attempts_left=outcome.attempts_left
            )
            return {"second_factor_status": None}
        dispatcher.utter_message(response="utter_second_factor_failed")
        return {"second_factor_status": "failed"}

    def _outcome(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        intent: Optional[str],
        hint: str = "utter_code_not_received",
    ) -> Any:
        """The guard's recorded outcome for this conversation (None after telling what to type)."""
        if intent != "provide_secret":
            if not (hint == "utter_code_not_received" and _needs_new_code(self.services, tracker)):
                dispatcher.utter_message(response=hint)
            return None
        try:
            outcome = self.services.verification.take_outcome(tracker.sender_id)
        except StoreUnavailable:
            store_failed(dispatcher, "reading a verification outcome")
            return "error"
        if outcome is None:
            dispatcher.utter_message(response=hint)
        return outcome

    @staticmethod
    def _locked(dispatcher: CollectingDispatcher, phone: Optional[str], outcome: Any) -> None:
        until = local_time(outcome.locked_until) if outcome.locked_until else "30分钟"
        dispatcher.utter_message(
            response="utter_number_locked", masked_phone=mask_phone(phone or ""), until=until
        )


def _needs_new_code(services: Services, tracker: Tracker) -> bool:
    try:
        return services.verification.needs_new_code(tracker.sender_id)
    except StoreUnavailable:
        return False


class ActionAskOtpStatus(UsesServices, Action):
    """Asks for the SMS code, or, when the last one was voided or expired, for a new one (重发)."""

    def name(self) -> str:
        return "action_ask_otp_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if _needs_new_code(self.services, tracker):
            dispatcher.utter_message(response="utter_ask_new_code")
        else:
            dispatcher.utter_message(response="utter_ask_otp_status")
        return []


class ActionVerificationDone(ServiceAction):
    """After the form: resume what the subscriber asked for, if the store says they are verified."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SlotSet(slot, None) for slot in RESET_VERIFICATION]
        request = tracker.get_slot("pending_request")
        level = tracker.get_slot("pending_level") or "basic"
        failed = [SlotSet("verification_needed", None), SlotSet("resume_form", "none")]
        try:
            verified = self.services.verification.current(tracker.sender_id)
        except StoreUnavailable:
            return [*events, *failed, *store_failed(dispatcher, "finishing verification")]
        if verified is None or (level == "strong" and verified.level != "strong"):
            statuses = (tracker.get_slot("otp_status"), tracker.get_slot("second_factor_status"))
            if not any(s in ("locked", "rate_limited", "error", "failed") for s in statuses):
                dispatcher.utter_message(response="utter_verification_incomplete")
            if "error" in statuses:
                return [*events, *failed, *dependency_handoff(self.services, dispatcher, tracker)]
            return [*events, *failed]
        bind_after_verification(self.services, dispatcher, tracker, verified)
        if request not in RESUMABLE:
            return [*events, SlotSet("verification_needed", False), SlotSet("resume_form", "none")]
        further = list(tracker.get_slot("further_requests") or [])
        return [*events, *run_requests([request, *further], self.services, dispatcher, tracker, verified)]


class ActionCancelTask(ServiceAction):
    """算了 / 取消: drops the task under way politely; nothing is changed."""

    def name(self) -> str:
        return "action_cancel_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_cancelled")
        slots = (
            *RESET_VERIFICATION,
            "verification_needed",
            "alert_threshold",
            "alert_channel",
            "closure_fee_consent",
            "closure_confirmed",
            "offer",
        )
        return [*(SlotSet(slot, None) for slot in slots), SlotSet("resume_form", "none")]
