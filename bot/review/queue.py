"""The review queue in the store: capturing (idempotently), purging, listing, grouping, labelling.

Every function takes an open session (``Store.transaction()``); the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from bot.review.capture import HANDOFF_WINDOW, Captured, Escalation
from bot.review.labels import InvalidLabel, Vocabulary, check_entities, group_key
from bot.review.models import ReviewItem

_ITEMS = ReviewItem.__table__
_IN_CHUNK = 500


def record_captured(session: Session, captured: Sequence[Captured], escalations: Sequence[Escalation]) -> int:
    """Adds the captured messages not stored yet (by digest), then marks the misunderstood messages
    before each escalation as ``handoff``; returns how many messages were added.

    A redelivered batch adds nothing and marks nothing new: both steps are idempotent.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the store failed, or a digest was added meanwhile.
    """
    added = 0
    if captured:
        digests = sorted({item.digest for item in captured})
        known: set[str] = set()
        for start in range(0, len(digests), _IN_CHUNK):
            chunk = digests[start : start + _IN_CHUNK]
            known.update(session.scalars(select(_ITEMS.c.digest).where(_ITEMS.c.digest.in_(chunk))))
        rows = [{**asdict(item), "status": "pending"} for item in captured if item.digest not in known]
        if rows:
            session.execute(insert(_ITEMS), rows)
            added = len(rows)
    for escalation in escalations:
        session.execute(
            update(_ITEMS)
            .where(
                _ITEMS.c.conversation_id == escalation.conversation_id,
                _ITEMS.c.status == "pending",
                _ITEMS.c.reason.in_(("fallback", "clarification")),
                _ITEMS.c.created_at >= escalation.at - HANDOFF_WINDOW,
                _ITEMS.c.created_at <= escalation.at,
            )
            .values(reason="handoff")
        )
    return added


def purge(session: Session, before: datetime) -> int:
    """Deletes every message captured before ``before`` (whatever its status); returns how many."""
    result = session.execute(delete(ReviewItem).where(ReviewItem.created_at < before))
    return int(result.rowcount or 0)


def pending(session: Session, limit: Optional[int] = None) -> list[ReviewItem]:
    """Messages waiting for a label, oldest first."""
    query = (
        select(ReviewItem)
        .where(ReviewItem.status == "pending")
        .order_by(ReviewItem.created_at, ReviewItem.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Group:
    """Pending messages that read the same once normalised (``bot.review.labels.group_key``)."""

    key: str
    items: tuple[ReviewItem, ...]

    @property
    def latest(self) -> datetime:
        return max(item.created_at for item in self.items)


def pending_groups(session: Session) -> list[Group]:
    """The pending messages grouped by :func:`~bot.review.labels.group_key`: the largest groups
    first, then the most recent; inside a group, oldest first."""
    groups: dict[str, list[ReviewItem]] = {}
    for item in pending(session):
        groups.setdefault(group_key(item.text), []).append(item)
    found = [Group(key, tuple(items)) for key, items in groups.items()]
    found.sort(key=lambda group: (-len(group.items), -group.latest.timestamp()))
    return found


def label(
    session: Session,
    ids: Sequence[int],
    intent: str,
    vocabulary: Vocabulary,
    *,
    by: str,
    now: datetime,
    entities: Optional[Mapping[int, Sequence[Mapping[str, Any]]]] = None,
) -> list[ReviewItem]:
    """Labels the messages ``ids`` with ``intent`` (and, per message, entity annotations).

    All or nothing: any invalid part refuses the whole call. A labelled message may be labelled
    again until it is exported.

    Args:
        session: an open unit of work.
        ids: the messages (at least one).
        intent: an intent of ``vocabulary``.
        vocabulary: what labels may say (``bot.review.labels.load_vocabulary``).
        by: who labels (an agent's user name, ``cli``).
        now: when.
        entities: ``{id: [{"start", "end", "entity", "value"}, ...]}`` for the messages that have
            entities; ``value`` defaults to the marked text.

    Returns:
        The labelled messages.

    Raises:
        InvalidLabel: ``no_items``, ``unknown_intent``, ``unknown_item``, ``already_exported``,
            ``unknown_entity``, ``bad_offsets`` or ``empty_value``.
    """
    wanted = sorted(set(ids))
    if not wanted:
        raise InvalidLabel("no_items")
    if intent not in vocabulary.intents:
        raise InvalidLabel("unknown_intent", intent)
    items = {item.id: item for item in session.scalars(select(ReviewItem).where(ReviewItem.id.in_(wanted)))}
    missing = [i for i in wanted if i not in items]
    if missing:
        raise InvalidLabel("unknown_item", ",".join(map(str, missing)))
    for item_id in entities or {}:
        if item_id not in items:
            raise InvalidLabel("unknown_item", str(item_id))
    exported = [i for i in wanted if items[i].status == "exported"]
    if exported:
        raise InvalidLabel("already_exported", ",".join(map(str, exported)))
    checked = {i: check_entities(items[i].text, (entities or {}).get(i, ()), vocabulary) for i in wanted}
    for item_id in wanted:
        item = items[item_id]
        item.status = "labelled"
        item.label_intent = intent
        item.label_entities = [span.as_dict() for span in checked[item_id]]
        item.labelled_by = by[:100]
        item.labelled_at = now
    session.flush()
    return [items[i] for i in wanted]


def labelled(session: Session) -> list[ReviewItem]:
    """Messages labelled and not exported yet, oldest first."""
    query = (
        select(ReviewItem)
        .where(ReviewItem.status == "labelled")
        .order_by(ReviewItem.created_at, ReviewItem.id)
    )
    return list(session.scalars(query))


def mark_exported(session: Session, items: Sequence[ReviewItem], now: datetime) -> None:
    """Marks ``items`` as exported at ``now``."""
    for item in items:
        item.status = "exported"
        item.exported_at = now
    session.flush()
