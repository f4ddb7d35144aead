"""The summary an agent reads first: what the subscriber wanted, who they are, what the bot tried.

Built from what the conversation already holds (intents, and the bot's messages by the action and
response that said them) and the server-side verification; never from message text, so no secret
can reach it. What the bot tried is what it said it did: an action that ran but only asked for
verification tried nothing. This module gathers those facts; the words (plain Chinese, short
enough to read in ten seconds) are ``bot.texts.handoff``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.billing.charges import ExplainedCharge, explain_charges
from bot.identity.rules import Verified
from bot.texts import handoff as texts

#: Answers from the FAQ response selector are named ``utter_faq/<question>``.
FAQ_PREFIX = "utter_faq/"
#: Actions whose messages without a response name (plain text) are still a done thing.
TEXT_LABELS = {"action_answer_faq": texts.FAQ_LABEL}
#: Responses that show suspicious charges were put to the subscriber (listed, or refunded).
FLAGGED_SHOWN = frozenset({"utter_charges_flagged", "utter_refund_opened", "utter_refund_exists"})

#: Responses that mean a dependency (store, SMS gateway) failed.
DEPENDENCY_FAILURES = frozenset({"utter_service_unavailable", "utter_sms_unavailable"})

#: The intent of asking for a person, which every handoff answers (wanted only when nothing else was).
REQUEST_HUMAN = "request_human"


def _unique(values: Iterable[Optional[str]]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


def flagged_lines(charges: Sequence[ExplainedCharge]) -> list[str]:
    """One line per flagged charge: date, service, amount and why it looks wrong."""
    lines = []
    for charge in charges:
        if not charge.flags:
            continue
        lines.append(
            texts.flagged_charge_line(
                charge.charged_at,
                charge.service_name or charge.description,
                charge.amount_fen,
                (flag.explanation for flag in charge.flags),
            )
        )
    return lines


def flagged_charges_of(
    session: Session, subscriber_id: int, period: Optional[str], now: datetime
) -> list[str]:
    """:func:`flagged_lines` for the period the conversation was about (this month by default).

    Args:
        session: a unit of work on the billing store.
        subscriber_id: the verified subscriber.
        period: the conversation's ``period`` slot, if any (``bot.billing.periods``).
        now: the moment of the handoff (aware).
    """
    from bot.billing.periods import InvalidPeriod, resolve_periods

    try:
        periods = resolve_periods(period, now)
    except InvalidPeriod:
        periods = resolve_periods(None, now)
    return flagged_lines(explain_charges(session, subscriber_id, periods, now).flagged_charges)


def done_label(action: str, response: str) -> Optional[str]:
    """What a bot message shows the bot did, or None when it shows nothing done.

    Args:
        action: the action that said it.
        response: its response name; empty for plain text.
    """
    if response.startswith(FAQ_PREFIX):
        return texts.FAQ_LABEL
    if response:
        return texts.DONE_LABELS.get(response)
    return TEXT_LABELS.get(action)


def build_summary(
    *,
    reason: str,
    intents: Sequence[str],
    said: Sequence[tuple[str, str]],
    verified: Optional[Verified],
    flagged: Sequence[str] = (),
    pending_request: Optional[str] = None,
) -> dict[str, Any]:
    """The handoff summary, as stored in ``handoffs.summary``.

    Args:
        reason: why the conversation is handed off (``bot.handoff.models.REASONS``).
        intents: the subscriber's intents in this conversation, oldest first.
        said: each bot message, oldest first, as (the action that said it, its response name or
            "" for plain text); what the bot tried and what went wrong are read from these.
        verified: the conversation's server-side verification, if any.
        flagged: lines from :func:`flagged_lines` when the charges flow found suspicious charges.
        pending_request: a request waiting for verification (an intent name), if any.

    Returns:
        ``headline`` (one line), ``reason``, ``wanted``, ``verified``, ``level``, ``masked_phone``,
        ``tried``, ``problems`` and ``flagged_charges``.
    """
    asked = [i for i in [*intents, pending_request or ""] if i != REQUEST_HUMAN]
    wanted = _unique(texts.intent_label(i) for i in asked)
    if not wanted and REQUEST_HUMAN in intents:
        wanted = _unique([texts.intent_label(REQUEST_HUMAN)])
    tried = _unique(done_label(action, response) for action, response in said)
    problems = _unique(texts.failure_label(response) for _, response in said)
    return {
        "headline": texts.headline(
            reason=reason,
            masked_phone=verified.masked_phone if verified else None,
            wanted=wanted,
            flagged_count=len(flagged),
        ),
        "reason": reason,
        "wanted": wanted,
        "verified": verified is not None,
        "level": verified.level if verified else None,
        "masked_phone": verified.masked_phone if verified else "",
        "tried": tried,
        "problems": problems,
        "flagged_charges": list(flagged),
    }
