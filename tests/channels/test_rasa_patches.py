"""Our changes to Rasa 3.6 (bot/rasa_patches.py): the cached action-response validator, failed
action calls answered kindly, and no blank conversation when the tracker store cannot be read."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any, Optional

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

import bot.channels  # noqa: F401 - installs the changes, as in every Rasa process serving our channels
from bot.channels.guard import SecretGuard
from bot.rasa_patches import ACTION_FAILURES, install
from bot.replies import ACTION_FAILURE_TEXT

VALID = {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": [{"text": "您好"}]}
INVALID = [
    {"events": [{"event": "slot"}], "responses": []},
    {"events": [], "responses": "不是列表"},
    {"events": [{"event": "no_such_event"}]},
    ["not", "an", "object"],
]


def test_install_is_idempotent_and_in_place() -> None:
    assert install() is False  # bot.channels installed it already
    assert getattr(RemoteAction._validate_action_result, "cached_validator", None) is not None


def test_valid_responses_pass() -> None:
    assert RemoteAction("action_x", None)._validate_action_result(VALID) is True


@pytest.mark.parametrize("response", INVALID)
def test_invalid_responses_fail_with_rasas_message(response: Any) -> None:
    with pytest.raises(jsonschema.ValidationError) as plain:
        jsonschema.validate(response, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as ours:
        RemoteAction("action_x", None)._validate_action_result(response)
    assert ours.value.message.startswith(plain.value.message)
    assert "Failed to validate Action server response from API" in ours.value.message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Guard(SecretGuard):
    def __init__(self) -> None:
        super().__init__(lambda: None)  # type: ignore[arg-type, return-value]

    async def filter(self, message: UserMessage) -> UserMessage:
        return message


async def _handle_like_rasa(message: UserMessage, action: Optional[RemoteAction]) -> None:
    """What Rasa's processor does with an action that raises: logs it and goes on without it."""
    if action is None:
        await message.output_channel.send_text_message(message.sender_id, "余额 36.50 元")
        return
    domain = Domain.empty()
    try:
        await action.run(
            message.output_channel,
            TemplatedNaturalLanguageGenerator(domain.responses),
            DialogueStateTracker(message.sender_id, []),
            domain,
        )
    except Exception:  # noqa: BLE001 - as rasa.core.processor._run_action
        pass


async def test_a_message_whose_action_server_is_down_gets_the_kind_answer() -> None:
    action = RemoteAction(
        "action_check_balance", EndpointConfig(f"http://127.0.0.1:{_closed_port()}/webhook")
    )
    output = CollectingOutputChannel()
    await _Guard().wrap(lambda m: _handle_like_rasa(m, action))(UserMessage("查余额", output, "conv-1"))
    assert [m["text"] for m in output.messages] == [ACTION_FAILURE_TEXT]
    assert "10086" in ACTION_FAILURE_TEXT and "没有任何变动" in ACTION_FAILURE_TEXT
    assert ACTION_FAILURES.get() is None  # reset after the message


async def test_a_message_without_failures_gets_only_its_replies() -> None:
    output = CollectingOutputChannel()
    await _Guard().wrap(lambda m: _handle_like_rasa(m, None))(UserMessage("查余额", output, "conv-2"))
    assert [m["text"] for m in output.messages] == ["余额 36.50 元"]


class _BrokenStore(InMemoryTrackerStore):
    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        raise ConnectionError("the database is down")


async def test_an_unreadable_tracker_store_fails_the_subscribers_message() -> None:
    store = FailSafeTrackerStore(_BrokenStore(Domain.empty()))

    async def handle(message: UserMessage) -> None:
        await store.get_or_create_tracker(message.sender_id)

    with pytest.raises(ConnectionError):
        await _Guard().wrap(handle)(UserMessage("查余额", CollectingOutputChannel(), "conv-3"))


async def test_outside_a_message_rasas_fallback_is_kept() -> None:
    store = FailSafeTrackerStore(_BrokenStore(Domain.empty()))
    assert await store.retrieve("conv-4") is None  # the console and the HTTP API: Rasa's behaviour


def test_event_types_are_found_as_rasa_finds_them() -> None:
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
    from rasa.shared.utils.common import all_subclasses

    table = Event.resolve_by_type.table  # type: ignore[attr-defined]
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is next(
            c for c in all_subclasses(Event) if c.type_name == cls.type_name
        )
        assert cls.type_name in table
    events = [
        UserUttered("查余额", {"name": "check_balance"}),
        ActionExecuted("action_listen"),
        SlotSet("a", 1),
    ]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert "no_such_event" not in table
    assert Event.resolve_by_type("topic") is None

    class LateEvent(SlotSet):  # an event class imported after the table was filled
        type_name = "late_event_for_test"

    assert Event.resolve_by_type("late_event_for_test") is LateEvent


def _every_kind_of_event() -> list[dict[str, Any]]:
    from rasa.shared.core import events as ev

    made = [
        ev.UserUttered("查余额", {"name": "check_balance", "confidence": 0.9}, [], message_id="m1"),
        ev.BotUttered(
            "您好", {"buttons": [{"title": "是", "payload": "/affirm"}]}, {"utter_action": "utter_x"}
        ),
        ev.ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
        ev.SlotSet("handoff_reason", "none"),
        ev.EntitiesAdded([{"entity": "period", "value": "上月"}]),
        ev.DefinePrevUserUtteredFeaturization(False),
        ev.ReminderScheduled("intent", datetime(2026, 12, 5, 12, 0), name="r"),
        ev.ReminderCancelled(name="r"),
        ev.ActionExecutionRejected("verification_form"),
        ev.LoopInterrupted(True),
        ev.ActiveLoop("verification_form"),
        ev.ActiveLoop(None),
        ev.AllSlotsReset(),
        ev.ConversationResumed(),
        ev.ConversationPaused(),
        ev.FollowupAction("action_handoff"),
        ev.StoryExported(),
        ev.Restarted(),
        ev.UserUtteranceReverted(),
        ev.ActionReverted(),
        ev.SessionStarted(),
        ev.AgentUttered("hi"),
    ]
    return [e.as_dict() for e in made] + [
        {"event": "form", "name": "f"},
        {"event": "form_validation", "validate": False},
    ]


def _mutations(event: dict[str, Any]) -> list[Any]:
    found: list[Any] = [
        {**event, "event": "no_such_event"},
        {**event, "timestamp": "now"},
        {**event, "metadata": 3},
    ]
    found += [{k: v for k, v in event.items() if k != "event"}, "not an event", None]
    for key in event:
        if key != "event":
            found += [{**event, key: 12345}, {**event, key: [1]}, {**event, key: {"x": object.__name__}}]
    return found


def test_the_quick_check_passes_and_fails_what_the_full_schema_does() -> None:
    from bot.rasa_patches import _quick_check

    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    full, quick = validator_class(schema), _quick_check(schema, validator_class)
    assert quick is not None
    events = _every_kind_of_event()
    responses: list[Any] = [
        VALID,
        *INVALID,
        {"events": events, "responses": [{"text": "x"}]},
        {},
        {"events": None},
    ]
    for event in events:
        responses += [{"events": [event]}] + [{"events": [event, m]} for m in _mutations(event)]
    passed = 0
    for response in responses:
        if quick(response):  # never passes what the schema fails
            assert full.is_valid(response), response
            passed += 1
    assert passed >= len(events) + 3  # and passes the valid ones (the rest go the full way)
    for response in responses:
        with_patch = RemoteAction("action_x", None)
        if full.is_valid(response):
            assert with_patch._validate_action_result(response) is True
        else:
            with pytest.raises(jsonschema.ValidationError):
                with_patch._validate_action_result(response)
