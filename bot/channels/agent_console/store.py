"""The billing store as the console uses it: one transaction per piece of work, in a worker thread.

The handoff service's refusals become the console's API errors, in Chinese, as the agent reads them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from bot.channels.agent_console.api import EMPTY_TEXT, ApiError
from bot.texts.handoff import HANDOFF_STATUS_LABELS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services

logger = logging.getLogger(__name__)

NOT_FOUND = "没有找到这个会话。"
NOT_HOLDER = "该会话不是由您接入的，不能进行此操作。"
STORE_DOWN = "系统暂时繁忙，请稍后再试。"
OPERATION_LABELS = {
    "claim": "接入",
    "reply": "回复",
    "hand back": "转回机器人",
    "close": "结束",
}

T = TypeVar("T")


def default_services() -> Services:
    from bot.app import get_services

    return get_services()


class ConsoleStore:
    """Runs the console's work on the store of ``services`` (the process's, built on first use)."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services

    async def run(self, work: Callable[[Session, datetime, Services], T]) -> T:
        """Runs ``work`` in one transaction in a worker thread (the store is synchronous)."""
        from bot.db import StoreUnavailable
        from bot.handoff.errors import (
            AlreadyClaimed,
            HandoffNotFound,
            InvalidText,
            InvalidTransition,
            NotHolder,
        )

        def run() -> T:
            services = self._services()
            with services.store.transaction() as session:
                return work(session, services.clock.now(), services)

        try:
            return await asyncio.to_thread(run)
        except HandoffNotFound:
            raise ApiError(404, NOT_FOUND) from None
        except AlreadyClaimed as exc:
            raise ApiError(
                409, f"该会话已由{exc.agent_name or '其他客服'}接入，您不能再接入或操作。"
            ) from None
        except NotHolder:
            raise ApiError(403, NOT_HOLDER) from None
        except InvalidTransition as exc:
            status = HANDOFF_STATUS_LABELS.get(exc.status, exc.status)
            operation = OPERATION_LABELS.get(exc.operation, exc.operation)
            raise ApiError(409, f"该会话当前状态为“{status}”，不能{operation}。") from None
        except InvalidText:
            raise ApiError(400, EMPTY_TEXT) from None
        except StoreUnavailable:
            logger.warning("the store is unavailable for the agent console")
            raise ApiError(503, STORE_DOWN) from None
