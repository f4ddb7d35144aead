"""Alerts (余额/消费/扣费/流量提醒): a form asks what is missing; listed, changed, cancelled."""

from __future__ import annotations

import logging
import re
from typing import Any, Optional

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import ServiceAction, UsesServices, latest_entity, latest_intent
from actions.common import FORM_DIGRESSIONS, GatedRequestAction, offer_rating, resumable
from actions.failures import store_failed
from actions.wechat import alert_channel_for, wechat_bound
from bot.alerts.rules import InvalidAlert, NoSuchAlert, cancel_alert, change_alert, create_alert, list_alerts
from bot.app import Services
from bot.db import StoreUnavailable
from bot.identity.errors import NotVerified
from bot.identity.rules import Verified
from bot.texts.labels import ALERT_LABELS, describe_alert

logger = logging.getLogger(__name__)

ALERT_TYPES = ("balance", "spend", "deduction", "data")
FORM_SLOTS = ("alert_type", "alert_threshold", "alert_channel")
NO_THRESHOLD = "none"
RESET_STASH = [SlotSet(slot, None) for slot in FORM_SLOTS]


def threshold_from(tracker: Tracker, alert_type: Optional[str]) -> Optional[str]:
    """The threshold in the latest message: fen for money alerts, a percent for data."""
    if alert_type == "deduction":
        return NO_THRESHOLD
    if alert_type == "data":
        percent = latest_entity(tracker, "percent")
        if percent:
            return percent
        text = (tracker.latest_message or {}).get("text") or ""
        match = re.search(r"(?<!\d)(\d{1,3})(?!\d)", text)
        return match.group(1) if match else None
    amount = latest_entity(tracker, "amount")
    if amount:
        return amount
    text = (tracker.latest_message or {}).get("text") or ""
    match = re.fullmatch(r"\s*(\d{1,5})\s*", text)  # a bare "50" answering the question means 50 元
    return str(int(match.group(1)) * 100) if match else None


def remember_alert_request(tracker: Tracker) -> list[EventType]:
    """Keeps what the subscriber already said (type, amount, channel) across verification."""
    alert_type = latest_entity(tracker, "alert_type") or tracker.get_slot("alert_type")
    events: list[EventType] = []
    threshold = threshold_from(tracker, alert_type) if alert_type else None
    if threshold:
        events.append(SlotSet("alert_threshold", threshold))
    channel = latest_entity(tracker, "channel")
    if channel:
        events.append(SlotSet("alert_channel", channel))
    return events


@resumable("set_alert")
def start_alert_form(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Verified: the alert form asks for whatever is still missing."""
    return [SlotSet("resume_form", "alert_form")]


class ActionSetAlert(GatedRequestAction):
    """设置提醒: verification first, then the alert form."""

    request = "set_alert"

    def name(self) -> str:
        return "action_set_alert"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return [*remember_alert_request(tracker), *await super().run(dispatcher, tracker, domain)]


class ValidateAlertForm(UsesServices, FormValidationAction):
    """Fills the alert's type, threshold and channel from what the subscriber says."""

    def name(self) -> str:
        return "validate_alert_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """Asks for the channel only when 微信 is possible (the number is bound); otherwise 短信."""
        slots = list(domain_slots)
        if "alert_channel" in slots and not tracker.get_slot("alert_channel"):
            try:
                verified = self.services.verification.current(tracker.sender_id)
                if verified is not None and not wechat_bound(self.services, verified.subscriber_id):
                    slots.remove("alert_channel")
            except StoreUnavailable:
                pass  # asked as before; saving will say the store is down
        return slots

    async def extract_alert_threshold(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        alert_type = tracker.get_slot("alert_type")
        if alert_type == "deduction" and tracker.get_slot("alert_threshold") != NO_THRESHOLD:
            return {"alert_threshold": NO_THRESHOLD}
        if (
            tracker.get_slot("requested_slot") != "alert_threshold"
            or latest_intent(tracker) in FORM_DIGRESSIONS
        ):
            return {}
        value = threshold_from(tracker, alert_type)
        if value is None:
            dispatcher.utter_message(response="utter_ask_alert_threshold")
            return {"alert_threshold": None}
        return {"alert_threshold": value}

    async def extract_alert_channel(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if (
            tracker.get_slot("requested_slot") != "alert_channel"
            or latest_intent(tracker) in FORM_DIGRESSIONS
        ):
            return {}
        channel = latest_entity(tracker, "channel")
        if channel is None:
            return {"alert_channel": None}
        return {"alert_channel": channel}

    def validate_alert_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"alert_type": value if value in ALERT_TYPES else None}


class ActionSaveAlert(ServiceAction):
    """Creates (or updates) the alert the form collected."""

    def name(self) -> str:
        return "action_save_alert"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in (*FORM_SLOTS, "amount", "percent", "channel")]
        alert_type = tracker.get_slot("alert_type")
        raw = tracker.get_slot("alert_threshold")
        threshold = None if raw in (None, NO_THRESHOLD) else int(raw)
        try:
            verified = self.services.verification.require(tracker.sender_id)
            channel = alert_channel_for(
                self.services, dispatcher, verified.subscriber_id, tracker.get_slot("alert_channel")
            )
            with self.services.store.transaction() as session:
                result = create_alert(
                    session,
                    subscriber_id=verified.subscriber_id,
                    alert_type=alert_type,
                    threshold=threshold,
                    channel=channel or "sms",
                    at=self.services.clock.now(),
                    conversation_id=tracker.sender_id,
                )
        except NotVerified:
            dispatcher.utter_message(response="utter_verification_incomplete")
            return reset
        except InvalidAlert as exc:
            dispatcher.utter_message(response="utter_alert_invalid", reason=exc.reason)
            return reset
        except StoreUnavailable:
            return [*store_failed(dispatcher, "saving an alert"), *reset]
        response = "utter_alert_saved" if result.created else "utter_alert_updated"
        dispatcher.utter_message(response=response, description=describe_alert(result.rule))
        return [*reset, SlotSet("last_task", "alerts"), *offer_rating(dispatcher)]


@resumable("query_alerts")
def answer_alerts(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """Lists the subscriber's active alerts."""
    try:
        with services.store.transaction() as session:
            rules = list_alerts(session, subscriber_id=verified.subscriber_id, at=services.clock.now())
    except StoreUnavailable:
        return store_failed(dispatcher, "listing alerts")
    if not rules:
        dispatcher.utter_message(response="utter_no_alerts")
    else:
        dispatcher.utter_message(
            response="utter_alerts", lines="\n".join(f"· {describe_alert(r)}" for r in rules)
        )
    return [SlotSet("last_task", "alerts")]


def _which_alert(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified, intent: str
) -> Optional[str]:
    """The alert type meant: named, or the only one there is; otherwise asks with buttons (None)."""
    named = latest_entity(tracker, "alert_type") or tracker.get_slot("alert_type")
    if named:
        return named
    with services.store.transaction() as session:
        rules = list_alerts(session, subscriber_id=verified.subscriber_id, at=services.clock.now())
    if len(rules) == 1:
        return rules[0].alert_type
    if not rules:
        dispatcher.utter_message(response="utter_no_alerts")
        return None
    extra = "".join(
        f', "{name}": "{value}"'
        for name in ("amount", "percent", "channel")
        if (value := latest_entity(tracker, name))
    )
    dispatcher.utter_message(
        response="utter_ask_which_alert",
        buttons=[
            {"title": describe_alert(r), "payload": f'/{intent}{{"alert_type": "{r.alert_type}"{extra}}}'}
            for r in rules
        ],
    )
    return None


@resumable("change_alert")
def answer_change_alert(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """改成50 / 改成微信提醒: changes the threshold or channel of one alert."""
    try:
        alert_type = _which_alert(services, dispatcher, tracker, verified, "change_alert")
        if alert_type is None:
            return []
        threshold = threshold_from(tracker, alert_type) or tracker.get_slot("alert_threshold")
        channel = alert_channel_for(
            services,
            dispatcher,
            verified.subscriber_id,
            latest_entity(tracker, "channel") or tracker.get_slot("alert_channel"),
        )
        with services.store.transaction() as session:
            rule = change_alert(
                session,
                subscriber_id=verified.subscriber_id,
                alert_type=alert_type,
                threshold=None if threshold in (None, NO_THRESHOLD) else int(threshold),
                channel=channel,
                at=services.clock.now(),
                conversation_id=tracker.sender_id,
            )
    except NoSuchAlert:
        dispatcher.utter_message(
            response="utter_no_such_alert", name=ALERT_LABELS.get(alert_type or "", "这个提醒")
        )
        return []
    except InvalidAlert as exc:
        dispatcher.utter_message(response="utter_alert_invalid", reason=exc.reason)
        return []
    except StoreUnavailable:
        return store_failed(dispatcher, "changing an alert")
    dispatcher.utter_message(response="utter_alert_updated", description=describe_alert(rule))
    return [*RESET_STASH, SlotSet("last_task", "alerts"), *offer_rating(dispatcher)]


@resumable("cancel_alert")
def answer_cancel_alert(
    services: Services, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
) -> list[EventType]:
    """取消提醒."""
    try:
        alert_type = _which_alert(services, dispatcher, tracker, verified, "cancel_alert")
        if alert_type is None:
            return []
        with services.store.transaction() as session:
            cancel_alert(
                session,
                subscriber_id=verified.subscriber_id,
                alert_type=alert_type,
                at=services.clock.now(),
                conversation_id=tracker.sender_id,
            )
    except NoSuchAlert:
        dispatcher.utter_message(
            response="utter_no_such_alert", name=ALERT_LABELS.get(alert_type or "", "这个提醒")
        )
        return []
    except StoreUnavailable:
        return store_failed(dispatcher, "cancelling an alert")
    dispatcher.utter_message(response="utter_alert_cancelled", name=ALERT_LABELS.get(alert_type, "提醒"))
    return [*RESET_STASH, SlotSet("last_task", "alerts"), *offer_rating(dispatcher)]


class ActionListAlerts(GatedRequestAction):
    """查提醒."""

    request = "query_alerts"

    def name(self) -> str:
        return "action_list_alerts"


class ActionChangeAlert(ActionSetAlert):
    """改提醒 (what was said before verification is kept, as for a new alert)."""

    request = "change_alert"

    def name(self) -> str:
        return "action_change_alert"


class ActionCancelAlert(ActionSetAlert):
    """取消提醒."""

    request = "cancel_alert"

    def name(self) -> str:
        return "action_cancel_alert"
