"""Runs input channels in a real Sanic server on a free loopback port, inside the test's event loop."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.channels.channel import InputChannel, register
from sanic import Sanic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(channels: list[InputChannel], agent: Any = None) -> AsyncIterator[tuple[str, Sanic]]:
    """Mounts ``channels`` as ``rasa run`` does (under /webhooks/) and yields the base URL and the app.

    ``agent`` becomes ``app.ctx.agent``; register() hands its ``handle_message`` to the channels.
    """
    Sanic.test_mode = True  # lets Sanic start another app in this process (it re-touches its handlers)
    app = Sanic(f"channel-test-{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register(channels, app, route="/webhooks/")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        Sanic.test_mode = False
