"""Live updates for the consoles: the ``/agent`` namespace on the widget's socket.io server.

The console connects with its token (refused without a valid one); it hears ``queue_changed`` in
the queue room and ``handoff_changed`` for the conversation it watches (``watch {handoff_id}``),
then reads the API again. A subscriber's message on socket.io or WeChat sends ``handoff_changed``
once Rasa has recorded it (the channels report it on the app's live hub, ``bot.channels.live``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from sanic import Sanic

from bot.channels.agent_console.api import ApiError
from bot.channels.agent_console.signin import token_valid
from bot.channels.live import SocketIOTarget, hub_for

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.app import Services
    from bot.channels.agent_console.store import ConsoleStore

logger = logging.getLogger(__name__)

NAMESPACE = "/agent"
QUEUE_ROOM = "queue"


class ConsoleUpdates:
    """Tells the consoles of this app what changed; serves the namespace once socket.io is mounted."""

    def __init__(self, store: ConsoleStore) -> None:
        self._store = store
        self._app: Optional[Sanic] = None

    def bind(self, app: Sanic) -> None:
        """Listens to the app's live hub (when the server starts)."""
        self._app = app
        hub = hub_for(app)
        hub.on_user_message(self._subscriber_wrote)
        hub.when_socketio(self._attach_namespace)

    async def announce(self, app: Sanic, handoff_id: Optional[int], queue: bool) -> None:
        """Tells watching consoles that a handoff (and the queue) changed; best effort."""
        target = hub_for(app).socketio
        if target is None:
            return
        try:
            if handoff_id is not None:
                await target.sio.emit(
                    "handoff_changed",
                    {"handoff_id": handoff_id},
                    room=f"handoff:{handoff_id}",
                    namespace=NAMESPACE,
                )
            if queue:
                await target.sio.emit("queue_changed", {}, room=QUEUE_ROOM, namespace=NAMESPACE)
        except Exception:  # noqa: BLE001 - consoles also refresh on their own
            logger.warning("telling the agent consoles about a change failed", exc_info=True)

    async def _subscriber_wrote(self, conversation_id: str, channel: str) -> None:
        """A subscriber's message was recorded: consoles watching its open handoff read it."""
        from bot.handoff import handoffs

        if self._app is None:
            return

        def find(session: Session, now: datetime, services: Services) -> Optional[tuple[int, str]]:
            handoff = handoffs.open_handoff_for(session, conversation_id)
            return (handoff.id, handoff.status) if handoff is not None else None

        try:
            found = await self._store.run(find)
        except ApiError:
            return
        if found is not None:
            await self.announce(self._app, found[0], queue=found[1] == "queued")

    def _attach_namespace(self, target: SocketIOTarget) -> None:
        """The ``/agent`` namespace on the widget's socket.io server: token on connect, rooms."""
        from socketio.exceptions import ConnectionRefusedError as Refused

        sio = target.sio
        store = self._store

        async def drop(sid: str) -> None:
            await asyncio.sleep(0.5)
            await sio.disconnect(sid, namespace=NAMESPACE)

        @sio.on("connect", namespace=NAMESPACE)
        async def connect(sid: str, environ: dict[str, Any], auth: Optional[dict[str, Any]] = None) -> None:
            token = auth.get("token") if isinstance(auth, dict) else None
            if not await token_valid(store, token):
                raise Refused("unauthorized")
            await sio.save_session(sid, {"token": token}, namespace=NAMESPACE)
            await sio.enter_room(sid, QUEUE_ROOM, namespace=NAMESPACE)

        @sio.on("watch", namespace=NAMESPACE)
        async def watch(sid: str, data: Any = None) -> dict[str, Any]:
            session = await sio.get_session(sid, namespace=NAMESPACE)
            if not await token_valid(store, session.get("token")):
                for room in sio.rooms(sid, namespace=NAMESPACE):
                    if room != sid:
                        await sio.leave_room(sid, room, namespace=NAMESPACE)
                sio.start_background_task(drop, sid)  # after this answer has gone out
                return {"error": "unauthorized"}
            for room in sio.rooms(sid, namespace=NAMESPACE):
                if room.startswith("handoff:"):
                    await sio.leave_room(sid, room, namespace=NAMESPACE)
            handoff_id = data.get("handoff_id") if isinstance(data, dict) else None
            if isinstance(handoff_id, int) and handoff_id > 0:
                await sio.enter_room(sid, f"handoff:{handoff_id}", namespace=NAMESPACE)
                return {"watching": handoff_id}
            return {"watching": None}
