"""Account closure (销户): strong verification, preconditions from the store, explicit confirmation,
a pending request that can be cancelled before it takes effect."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import ServiceAction, UsesServices, latest_intent
from actions.common import FORM_DIGRESSIONS, GatedRequestAction, offer_rating, resumable
from actions.failures import sms_failed, store_failed
from bot.app import Services
from bot.billing.closure import Blocker, cancel_closure, check_closure, request_closure
from bot.billing.errors import ClosureBlocked, ConsentRequired, NoPendingClosure
from bot.clock import to_local
from bot.db import StoreUnavailable
from bot.identity.errors import NotVerified
from bot.identity.rules import Verified
from bot.notifications.errors import SmsGatewayError
from bot.texts.formats import yuan

logger = logging.getLogger(__name__)

CONFIRMATION = "确认销户"
FORM_SLOTS = (
    "closure_fee_consent",
    "closure_confirmed",
    "closure_effective",
    "closure_fee",
    "closure_contract_end",
)


def _when(moment: Any) -> str:
    return f"{to_local(moment):%Y年%m月%d日 %H:%M}"


def _reasons(blockers: tuple[Blocker, ...]) -> str:
    return "\n".join(f"· {b.message_zh}" for b in blockers)


@resumable("close_account")
def start_closure(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Strongly verified: checks the preconditions and, if closure is possible, starts the form."""
    try:
        with services.store.transaction() as session:
            check = check_closure(session, verified.subscriber_id, services.clock.now())
    except StoreUnavailable:
        return store_failed(dispatcher, "checking closure")
    if check.pending is not None:
        dispatcher.utter_message(response="utter_closure_exists", effective=_when(check.pending.effective_at))
        return [SlotSet("last_task", "closure")]
    if not check.can_close:
        dispatcher.utter_message(response="utter_closure_blocked", reasons=_reasons(check.blockers))
        return [SlotSet("last_task", "closure")]
    # Each fact once: the fee is in the consent question, the effective date in the confirmation.
    asked = {"effective", "fee"} if check.needs_consent else {"effective"}
    details = [f"· {sentence}" for kind, sentence in check.facts if kind not in asked]
    dispatcher.utter_message(response="utter_closure_summary", details="\n".join(details))
    consent = None if check.needs_consent else "not_needed"
    return [
        SlotSet("closure_fee_consent", consent),
        SlotSet("closure_confirmed", None),
        SlotSet("closure_effective", _when(check.effective_at)),
        SlotSet("closure_fee", yuan(check.termination_fee_fen)),
        SlotSet("closure_contract_end", f"{check.contract.end:%Y年%m月%d日}" if check.contract else ""),
        SlotSet("last_task", "closure"),
        SlotSet("resume_form", "closure_form"),
    ]


class ActionCloseAccount(GatedRequestAction):
    """我要销户: explains closure, verifies strongly, then checks and confirms."""

    request = "close_account"
    level = "strong"
    intro = "utter_closure_intro"

    def name(self) -> str:
        return "action_close_account"


class ValidateClosureForm(UsesServices, FormValidationAction):
    """Consent to the early-termination fee (when there is one) and the typed confirmation."""

    def name(self) -> str:
        return "validate_closure_form"

    async def extract_closure_fee_consent(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "closure_fee_consent":
            return {}
        intent = latest_intent(tracker)
        if intent == "affirm":
            return {"closure_fee_consent": "yes"}
        if intent == "deny":
            return {"closure_fee_consent": "no", "closure_confirmed": "no"}
        return {}

    async def extract_closure_confirmed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "closure_confirmed":
            return {}
        text = ((tracker.latest_message or {}).get("text") or "").replace(" ", "")
        intent = latest_intent(tracker)
        if CONFIRMATION in text and "不" not in text.replace(CONFIRMATION, ""):
            return {"closure_confirmed": "yes"}
        if intent == "deny":
            return {"closure_confirmed": "no"}
        if intent in FORM_DIGRESSIONS:
            return {}
        dispatcher.utter_message(response="utter_closure_confirm_hint")
        return {"closure_confirmed": None}


class ActionSubmitClosure(ServiceAction):
    """Records the pending closure request (only after 确认销户), sends the SMS."""

    def name(self) -> str:
        return "action_submit_closure"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in FORM_SLOTS]
        consent = tracker.get_slot("closure_fee_consent")
        if consent == "no":
            dispatcher.utter_message(response="utter_closure_no_consent")
            return reset
        if tracker.get_slot("closure_confirmed") != "yes":
            dispatcher.utter_message(response="utter_cancelled")
            return reset
        try:
            verified = self.services.verification.require(tracker.sender_id, level="strong")
            with self.services.store.transaction() as session:
                result = request_closure(
                    session,
                    subscriber_id=verified.subscriber_id,
                    consent_to_fee=consent == "yes",
                    at=self.services.clock.now(),
                    conversation_id=tracker.sender_id,
                    sms=self.services.sms,
                )
        except NotVerified:
            dispatcher.utter_message(response="utter_verification_incomplete")
            return reset
        except ConsentRequired:
            dispatcher.utter_message(response="utter_closure_no_consent")
            return reset
        except ClosureBlocked as exc:
            dispatcher.utter_message(response="utter_closure_blocked", reasons=_reasons(tuple(exc.blockers)))
            return reset
        except SmsGatewayError:
            return [*sms_failed(dispatcher, "requesting closure"), *reset]
        except StoreUnavailable:
            return [*store_failed(dispatcher, "requesting closure"), *reset]
        request = result.request
        if not result.created:
            dispatcher.utter_message(response="utter_closure_exists", effective=_when(request.effective_at))
            return reset
        # the summary and the confirmation question said the date and the refund; the SMS repeats them
        dispatcher.utter_message(response="utter_closure_requested")
        return [*reset, *offer_rating(dispatcher)]


@resumable("cancel_closure")
def answer_cancel_closure(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """撤销销户."""
    try:
        with services.store.transaction() as session:
            cancel_closure(
                session,
                subscriber_id=verified.subscriber_id,
                at=services.clock.now(),
                conversation_id=tracker.sender_id,
                sms=services.sms,
            )
    except NoPendingClosure:
        dispatcher.utter_message(response="utter_no_pending_closure")
        return []
    except SmsGatewayError:
        return sms_failed(dispatcher, "cancelling closure")
    except StoreUnavailable:
        return store_failed(dispatcher, "cancelling closure")
    dispatcher.utter_message(response="utter_closure_cancelled")
    return [SlotSet("last_task", "closure"), *offer_rating(dispatcher)]


class ActionCancelClosure(GatedRequestAction):
    """撤销销户申请."""

    request = "cancel_closure"

    def name(self) -> str:
        return "action_cancel_closure"
