"""The supervisors' dashboard as the console reads it: ``GET api/dashboard?period=today|7d|30d``.

Only an agent with the ``supervisor`` role may read it (403 otherwise, after the token check's 401);
an unknown period is a 400. The figures are computed from the store (``bot.dashboard``); this
module adds the labels a supervisor reads (``bot.texts.dashboard``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sanic.request import Request

from bot.channels.agent_console.api import ApiError
from bot.channels.agent_console.signin import as_agent
from bot.texts.dashboard import (
    BAD_PERIOD,
    MISREAD_LABELS,
    NOT_SUPERVISOR,
    PERIOD_LABELS,
    TASK_LABELS,
    intent_label,
    reason_label,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services
    from bot.channels.agent_console.store import ConsoleStore
    from bot.handoff.models import Agent


def labelled(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures with the labels the page shows next to each code."""
    figures["period"]["label"] = PERIOD_LABELS[figures["period"]["name"]]
    for item in figures["handoffs"]["reasons"]:
        item["label"] = reason_label(item["reason"])
    for item in figures["misunderstood"]["intents_before"]:
        item["label"] = intent_label(item["intent"])
    figures["misunderstood"]["kind_labels"] = dict(MISREAD_LABELS)
    for item in figures["intents"]:
        item["label"] = intent_label(item["intent"])
    figures["tasks"] = [
        {"task": task, "label": TASK_LABELS[task], "count": n} for task, n in figures["tasks"].items()
    ]
    return figures


async def read_dashboard(store: ConsoleStore, request: Request) -> dict[str, Any]:
    """The dashboard for the request's period, for a supervisor.

    Raises:
        ApiError: 401 without a valid token, 403 for an agent without the supervisor role, 400 for
            a period other than today, 7d or 30d; the store's errors.
    """
    from bot.dashboard import InvalidPeriod, dashboard
    from bot.handoff.agents import is_supervisor

    period = request.args.get("period", "today")

    def read(session: Session, agent: Agent, now: datetime, services: Services) -> dict[str, Any]:
        if not is_supervisor(agent):
            raise ApiError(403, NOT_SUPERVISOR)
        try:
            return labelled(dashboard(session, period, now))
        except InvalidPeriod:
            raise ApiError(400, BAD_PERIOD) from None

    return await as_agent(store, request, read)
