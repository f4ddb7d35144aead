"""The review queue as the console reads and labels it (supervisors only).

* ``GET api/review``: the pending misunderstood messages grouped by similar text
  (``bot.review.queue.pending_groups``), and the label choices (``bot.review.labels``): the intents
  a label may say (with the label a supervisor reads) and the domain's entity names.
* ``POST api/review/label`` ``{ids: [..], intent, entities?: {"<id>": [{start, end, entity, value?}]}}``:
  labels several messages at once, all or nothing; a refused label is a 400 with the sentence of
  ``bot.texts.review``.

* ``GET api/review/<id>/transcript``: the whole conversation the message came from, as the handoff
  view shows a transcript (from the tracker store; the guard masked secrets before Rasa kept them).

401 without a valid token, then 403 for an agent without the ``supervisor`` role, as the dashboard.
The texts were masked when captured (``bot.review.capture.mask_text``); they are sent as they are
stored, and the page shows them as text.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from sanic.request import Request

from bot.channels.agent_console.api import ApiError, json_body
from bot.channels.agent_console.serialise import iso
from bot.channels.agent_console.signin import as_agent
from bot.review.labels import InvalidLabel, Vocabulary, load_vocabulary
from bot.settings import PROJECT_ROOT
from bot.texts.dashboard import intent_label
from bot.texts.review import (
    BAD_LABEL_REQUEST,
    NO_SUCH_ITEM,
    NOT_SUPERVISOR,
    REASON_LABELS,
    console_labelled,
    refusal,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services
    from bot.channels.agent_console.store import ConsoleStore
    from bot.handoff.models import Agent
    from bot.review.models import ReviewItem

MAX_IDS = 500


@lru_cache(maxsize=4)
def vocabulary(root: Path = PROJECT_ROOT) -> Vocabulary:
    """The label vocabulary of the project (read once per process: the domain changes with a deploy)."""
    return load_vocabulary(root)


def _supervisor(agent: Agent) -> None:
    from bot.handoff.agents import is_supervisor

    if not is_supervisor(agent):
        raise ApiError(403, NOT_SUPERVISOR)


def item_json(item: ReviewItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "text": item.text,
        "predicted_intent": item.predicted_intent,
        "predicted_label": intent_label(item.predicted_intent) if item.predicted_intent else "",
        "confidence": item.confidence,
        "reason": item.reason,
        "reason_label": REASON_LABELS.get(item.reason, item.reason),
        "channel": item.channel,
        "time": iso(item.created_at),
        "conversation_id": item.conversation_id,
    }


def choices(words: Vocabulary) -> dict[str, Any]:
    return {
        "intents": [{"name": name, "label": intent_label(name)} for name in words.intents],
        "entities": sorted(words.entities),
    }


async def read_review(store: ConsoleStore, request: Request) -> dict[str, Any]:
    """The pending groups and the label choices, for a supervisor.

    Raises:
        ApiError: 401 without a valid token, 403 without the supervisor role; the store's errors.
    """
    from bot.review.queue import pending_groups

    def read(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
        _supervisor(agent)
        groups = [
            {"key": group.key, "count": len(group.items), "items": [item_json(i) for i in group.items]}
            for group in pending_groups(session)
        ]
        return {
            "groups": groups,
            "pending": sum(group["count"] for group in groups),
            "choices": choices(vocabulary()),
            "now": iso(now),
        }

    return await as_agent(store, request, read)


def _ids(raw: Any) -> list[int]:
    if not isinstance(raw, list) or len(raw) > MAX_IDS:
        raise ApiError(400, BAD_LABEL_REQUEST)
    if any(not isinstance(i, int) or isinstance(i, bool) or i <= 0 for i in raw):
        raise ApiError(400, BAD_LABEL_REQUEST)
    return list(raw)


def _entities(raw: Any) -> Optional[dict[int, list[dict[str, Any]]]]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, BAD_LABEL_REQUEST)
    found: dict[int, list[dict[str, Any]]] = {}
    for key, spans in raw.items():
        try:
            item_id = int(key)
        except (TypeError, ValueError):
            raise ApiError(400, BAD_LABEL_REQUEST) from None
        if not isinstance(spans, list) or not all(isinstance(span, dict) for span in spans):
            raise ApiError(400, BAD_LABEL_REQUEST)
        if spans:
            found[item_id] = spans
    return found


async def label_review(store: ConsoleStore, request: Request) -> dict[str, Any]:
    """Labels the request's messages with its intent (and entities), for a supervisor.

    Raises:
        ApiError: 401 without a valid token, 403 without the supervisor role, 400 for a malformed
            request or a label ``bot.review.queue.label`` refuses; the store's errors.
    """
    from bot.review.queue import label

    body = json_body(request)

    def write(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
        _supervisor(agent)  # before looking at the body: no hints without the role
        ids = _ids(body.get("ids"))
        intent = body.get("intent")
        if not isinstance(intent, str):
            raise ApiError(400, BAD_LABEL_REQUEST)
        entities = _entities(body.get("entities"))
        try:
            done = label(session, ids, intent, vocabulary(), by=agent.username, now=now, entities=entities)
        except InvalidLabel as exc:
            raise ApiError(400, refusal(exc.code, exc.detail)) from None
        return {
            "labelled": [item.id for item in done],
            "intent": intent,
            "message": console_labelled(len(done), intent),
        }

    return await as_agent(store, request, write)


async def read_review_transcript(store: ConsoleStore, request: Request, item_id: int) -> dict[str, Any]:
    """The transcript of the conversation of review item ``item_id``, for a supervisor.

    Raises:
        ApiError: 401 without a valid token, 403 without the supervisor role, 404 for no such item;
            the store's errors.
    """
    from bot.channels.agent_console import tracker
    from bot.review.models import ReviewItem

    def find(session: Session, agent: Agent, now: datetime, services: Services) -> str:
        _supervisor(agent)
        item = session.get(ReviewItem, item_id)
        if item is None:
            raise ApiError(404, NO_SUCH_ITEM)
        return item.conversation_id

    conversation_id = await as_agent(store, request, find)
    return {
        "conversation_id": conversation_id,
        "transcript": await tracker.transcript(request.app, conversation_id),
    }
