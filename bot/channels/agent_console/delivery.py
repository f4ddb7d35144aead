"""What reaches the subscriber live, through the conversation's channel (``bot.channels.live``).

Socket.io as the widget's ``bot_uttered`` event, WeChat through the customer-service API; REST
cannot be pushed to (the App reads the conversation). Everything here is also in the tracker first,
so a failed delivery is logged, never raised.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic import Sanic

from bot.channels.agent_console import tracker
from bot.channels.live import hub_for

logger = logging.getLogger(__name__)

# What the subscriber reads when the agent hands back or closes (sent as the bot).
HANDED_BACK_TEXT = "人工客服已将对话转回智能助手，您可以继续向我提问。"
CLOSED_TEXT = "本次人工服务已结束，感谢您的耐心等待。如还有问题，可以直接向我提问。"


async def resume(app: Sanic, handoff: dict[str, Any], agent: dict[str, Any], text: str, outcome: str) -> None:
    """The bot takes over again: recorded in the tracker, then ``text`` to the subscriber."""
    await tracker.record_resumed(app, handoff["conversation_id"], agent, text, outcome)
    hub = hub_for(app)
    try:
        if handoff["channel"] == "socketio" and hub.socketio is not None:
            target = hub.socketio
            await target.sio.emit(
                target.bot_message_evt,
                {"text": text},
                room=handoff["conversation_id"],
                namespace=target.namespace,
            )
        elif handoff["channel"] == "wechat" and hub.wechat is not None:
            await hub.wechat(handoff["conversation_id"], text)
    except Exception:  # noqa: BLE001 - the tracker has it; the subscriber sees it in the history
        logger.warning("telling the subscriber that the bot is back failed", exc_info=True)


async def deliver(app: Sanic, handoff: dict[str, Any], text: str, agent_name: str) -> bool:
    """An agent's message (already in the tracker) to the subscriber; False when not delivered."""
    try:
        return await hub_for(app).deliver(handoff["channel"], handoff["conversation_id"], text, agent_name)
    except Exception:  # noqa: BLE001 - recorded in the tracker already; the console says "not delivered"
        logger.warning("delivering an agent's message on %s failed", handoff["channel"], exc_info=True)
        return False
