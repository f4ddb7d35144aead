"""A subscriber who writes while waiting for a person (issue 13, item 6), through the channel guard.

Rasa is played by its own prediction loop (``MessageProcessor._run_prediction_loop``, with our
change from bot/rasa_patches.py) on a real tracker: a paused conversation predicts nothing, as in
a Rasa server. The queue is the handoff service on a real store (SQLite and PostgreSQL).
"""

from __future__ import annotations

from typing import Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import ActionExecuted, ConversationPaused, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

import bot.channels  # noqa: F401 - installs our changes to Rasa, as in every Rasa process serving our channels
from bot.channels.guard import SecretGuard
from bot.clock import FixedClock
from bot.db import Store
from bot.handoff import agents, handoffs
from bot.handoff.handoffs import Wait
from bot.rasa_patches import PAUSED_CONVERSATIONS
from bot.replies import WAITING_TEXT
from tests.support.settings import SETTINGS

HANDED_OFF: list[Event] = [
    ActionExecuted("action_listen"),
    UserUttered("转人工"),
    ActionExecuted("action_handoff"),
    ConversationPaused(),
    ActionExecuted("action_listen"),
]


class NoVerification:
    def pending_factor(self, conversation_id: str) -> None:
        return None


async def rasa_with_a_paused_conversation(message: UserMessage) -> None:
    """What Rasa's processor does with a message of a paused conversation: logs it, predicts nothing."""
    tracker = DialogueStateTracker.from_events(
        message.sender_id or "", [*HANDED_OFF, UserUttered(message.text)]
    )
    processor = object.__new__(MessageProcessor)  # the loop needs nothing of a loaded model when paused
    await processor._run_prediction_loop(message.output_channel, tracker)


async def rasa_answering(message: UserMessage) -> None:
    """A conversation that is not paused: Rasa answers (e.g. the turn in which it was queued)."""
    await message.output_channel.send_text_message(message.sender_id, "已为您转接人工客服……")


def guard_on(store: Store, clock: FixedClock) -> SecretGuard:
    def waiting_notice(conversation_id: str) -> Optional[Wait]:
        with store.transaction() as session:
            return handoffs.waiting_notice(session, conversation_id, clock.now(), SETTINGS)

    return SecretGuard(lambda: NoVerification(), waiting_notice)  # type: ignore[arg-type, return-value]


async def say(guard: SecretGuard, rasa: object, sender: str, text: str) -> list[str]:
    output = CollectingOutputChannel()
    await guard.wrap(rasa)(UserMessage(text, output, sender, input_channel="rest"))  # type: ignore[arg-type]
    return [m["text"] for m in output.messages]


def queue(store: Store, clock: FixedClock, conversation: str) -> int:
    with store.transaction() as session:
        return handoffs.enqueue(session, conversation, "rest", "requested", {}, clock.now()).id


async def test_a_waiting_subscriber_hears_the_place_once_a_minute_and_nothing_once_an_agent_has_it(
    store: Store, clock: FixedClock
) -> None:
    guard = guard_on(store, clock)
    minutes = SETTINGS.agent_handle_minutes
    first = queue(store, clock, "c0")
    handoff_id = queue(store, clock, "c1")
    assert await say(guard, rasa_with_a_paused_conversation, "c1", "还要等多久") == []  # just told
    clock.advance(seconds=61)
    assert await say(guard, rasa_with_a_paused_conversation, "c1", "还要等多久") == [
        WAITING_TEXT.format(position=2, minutes=2 * minutes)
    ]
    assert "第 2 位" in WAITING_TEXT.format(position=2, minutes=12)
    clock.advance(seconds=20)
    assert await say(guard, rasa_with_a_paused_conversation, "c1", "在吗") == []  # at most once a minute
    with store.transaction() as session:
        agent = agents.create_agent(
            session, "agent2", "客服小李", "correct horse battery", clock.now(), SETTINGS
        )
        handoffs.claim(session, first, agent, clock.now())
    clock.advance(seconds=40)
    assert await say(guard, rasa_with_a_paused_conversation, "c1", "在吗") == [
        WAITING_TEXT.format(position=1, minutes=minutes)
    ]
    with store.transaction() as session:
        handoffs.claim(session, handoff_id, agent, clock.now())
    clock.advance(minutes=5)
    assert await say(guard, rasa_with_a_paused_conversation, "c1", "在吗") == []  # an agent has it
    assert PAUSED_CONVERSATIONS.get() is None  # reset after every message


async def test_a_conversation_rasa_answers_gets_no_notice(store: Store, clock: FixedClock) -> None:
    queue(store, clock, "c2")
    clock.advance(minutes=2)
    assert await say(guard_on(store, clock), rasa_answering, "c2", "转人工") == ["已为您转接人工客服……"]


async def test_a_store_failure_keeps_the_silence(clock: FixedClock) -> None:
    down = Store.from_url("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert await say(guard_on(down, clock), rasa_with_a_paused_conversation, "c3", "在吗") == []


async def test_without_a_notice_source_a_paused_conversation_stays_silent() -> None:
    guard = SecretGuard(lambda: NoVerification())  # type: ignore[arg-type, return-value]
    assert await say(guard, rasa_with_a_paused_conversation, "c4", "在吗") == []
