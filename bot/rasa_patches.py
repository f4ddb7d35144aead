"""Five changes to Rasa 3.6, installed in every Rasa process that serves our input channels
(``bot.channels`` installs them when imported).

1. **A cached response validator.** Rasa checks every action server response with
   ``jsonschema.validate``, which first checks the fixed response schema itself against JSON
   Schema's metaschema and builds a new validator, on every call: about 19 ms a call here, some
   40 % of a Rasa process's CPU under load (bench/load.py, profiled with py-spy). The same check
   is done by one validator built once (the schema is checked once, when installing): the same
   responses pass, the same ones fail with the same ``ValidationError`` message (0.3 ms).
   Each event of a response is first checked against the one alternative of the schema's
   ``oneOf`` its ``event`` name selects (every alternative requires its own name, so no other can
   match), rather than against all 23; only a response that fails this is checked the full way,
   which then decides, and words the error, as Rasa does.

2. **Failed action calls are noticed.** When the action server cannot be reached (or answers an
   error), Rasa's processor logs the exception, drops the action's events and goes on, so the
   subscriber gets no answer at all. Every ``RemoteAction.run`` that fails now records the
   action's name in :data:`ACTION_FAILURES` (a context variable the secret guard sets for each
   message, bot/channels/guard.py), and the guard answers such a message kindly. Nothing else
   changes: the exception still reaches Rasa, which records no event of the failed action.

3. **No blank conversation when the tracker store is down.** Rasa wraps every tracker store in a
   ``FailSafeTrackerStore``: when reading a conversation fails it answers "no such conversation",
   so the message is handled as the first of a new one, and the result is kept in that process's
   memory only (other Rasa processes never see it, PostgreSQL never gets it). While a subscriber's
   message is handled (inside the guard), a failed read now raises instead: nothing is processed,
   and the channel answers with its kind failure text. Outside a message (the agent console, the
   HTTP API) Rasa's behaviour is unchanged. A write that fails after a successful read still
   falls back to memory, as in Rasa (docs/deployment.md).

4. **A message to a paused conversation is noticed.** A conversation handed to a person is paused
   (``ConversationPaused``): Rasa logs the subscriber's message and predicts nothing, so nothing
   tells the channel that the message went unanswered. While a subscriber's message is handled
   (inside the guard), the conversation's id is now added to :data:`PAUSED_CONVERSATIONS` when
   Rasa skips predicting because the conversation is paused; the guard then tells a subscriber
   still waiting in the queue where they stand (docs/handoff.md). Nothing else changes. Checking
   the pause here costs nothing; asking the billing store after every message would cost a query.

5. **Event types found in a table.** Rasa turns every stored event back into an object by its type
   name (``Event.resolve_by_type``) and finds the class by listing every subclass of ``Event``
   anew, recursively, each time: reading a conversation of 80 events listed them 80 times, some
   5 % of a Rasa process's busy time under load (py-spy, bench/load.py). The class found for a type
   name is now remembered; a name not found yet is looked up as before (and then fails or falls
   back to the default as it did), so an event class imported later is still found.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Optional

#: The custom actions that failed while the current message was handled (None outside a message).
ACTION_FAILURES: ContextVar[Optional[list[str]]] = ContextVar("bot_action_failures", default=None)
#: The conversations whose current message Rasa logged without answering because they are paused
#: (None outside a message).
PAUSED_CONVERSATIONS: ContextVar[Optional[set[str]]] = ContextVar("bot_paused_conversations", default=None)

_MESSAGE_SUFFIX = (
    ". Failed to validate Action server response from API, make sure your response from the Action "
    "endpoint is valid. For more information about the format visit {docs}/custom-actions"
)


def install() -> bool:
    """Installs the five changes once per process; True when they were installed now."""
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction.run, "notes_failures", False):
        return False
    _install_cached_validator(RemoteAction)
    _install_failure_notes(RemoteAction)
    _install_strict_retrieve()
    _install_paused_notes()
    _install_event_type_table()
    return True


def in_subscriber_message() -> bool:
    """Whether a subscriber's message is being handled (the guard set :data:`ACTION_FAILURES`)."""
    return ACTION_FAILURES.get() is not None


def _install_strict_retrieve() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    original = FailSafeTrackerStore.retrieve

    async def retrieve(self: Any, sender_id: str) -> Any:
        if not in_subscriber_message():
            return await original(self, sender_id)
        return await self._tracker_store.retrieve(sender_id)  # a failure reaches the channel

    FailSafeTrackerStore.retrieve = retrieve


def _install_event_type_table() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: Optional[type] = None) -> Optional[type]:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    resolve_by_type.table = found  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def _install_paused_notes() -> None:
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor._run_prediction_loop

    async def _run_prediction_loop(self: Any, output_channel: Any, tracker: Any) -> None:
        paused = PAUSED_CONVERSATIONS.get()
        if paused is not None and not self._should_handle_message(tracker):
            paused.add(tracker.sender_id)
        await original(self, output_channel, tracker)

    MessageProcessor._run_prediction_loop = _run_prediction_loop


def _install_cached_validator(remote_action: Any) -> None:
    from jsonschema import exceptions, validators
    from rasa.shared.constants import DOCS_BASE_URL

    schema = remote_action.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    suffix = _MESSAGE_SUFFIX.format(docs=DOCS_BASE_URL)
    quick = _quick_check(schema, validator_class)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        if quick is not None and quick(result):
            return True
        error = exceptions.best_match(validator.iter_errors(result))
        if error is not None:
            error.message += suffix
            raise error
        return True

    _validate_action_result.cached_validator = validator  # type: ignore[attr-defined]
    remote_action._validate_action_result = _validate_action_result


def _quick_check(schema: dict[str, Any], validator_class: Any) -> Optional[Callable[[Any], bool]]:
    """A check that passes only responses the full schema passes: the response without its events'
    schema, then each event against the ``oneOf`` alternative named by its ``event``. None when the
    schema is not of that shape (every alternative requiring its own ``event`` name)."""
    try:
        items = schema["properties"]["events"]["items"]
        alternatives = items["oneOf"]
        names = [alternative["properties"]["event"]["const"] for alternative in alternatives]
    except (KeyError, TypeError):
        return None
    if len(set(names)) != len(names):
        return None
    common = {key: value for key, value in items.items() if key != "oneOf"}
    by_name = {
        name: validator_class({"allOf": [common, alternative]})
        for name, alternative in zip(names, alternatives, strict=True)
    }
    outer = validator_class(
        {
            **schema,
            "properties": {**schema["properties"], "events": {**schema["properties"]["events"], "items": {}}},
        }
    )

    def check(result: Any) -> bool:
        if not outer.is_valid(result):
            return False
        for event in result.get("events") or ():
            name = event.get("event") if isinstance(event, dict) else None
            alternative = by_name.get(name) if isinstance(name, str) else None
            if alternative is None or not alternative.is_valid(event):
                return False
        return True

    return check


def _install_failure_notes(remote_action: Any) -> None:
    from rasa.core.actions.action import ActionExecutionRejection

    original = remote_action.run

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except ActionExecutionRejection:  # a form's "not this slot": Rasa handles it, not a failure
            raise
        except Exception:
            failures = ACTION_FAILURES.get()
            if failures is not None:
                failures.append(self.name())
            raise

    run.notes_failures = True  # type: ignore[attr-defined]
    remote_action.run = run
