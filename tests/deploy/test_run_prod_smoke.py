"""A smoke test of ``make run-prod`` itself (PROD_DEMO=1): the whole topology on this machine.

Skipped unless ``RUN_PROD_SMOKE=1``: it needs a trained model (``models/``, or it trains one), two
Rasa processes (about 3 GB) and a few minutes of both cores. It uses databases, a queue and ports of
its own, sends REST and socket.io messages through nginx, waits for the metrics consumer to count
them, then stops the script with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bench.harness import Topology, port_free
from bot.ops.topology import ACTION_SERVER
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("RUN_PROD_SMOKE") != "1", reason="set RUN_PROD_SMOKE=1 to start the whole topology"
)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """run-prod with databases, a queue, ports and a folder of its own (bench/harness.py)."""
    run_dir = tmp_path_factory.mktemp("run-prod")
    run_dir.chmod(0o755)
    topology = Topology(run_dir, replicas=2, workers=2, env={"PROD_RESTART_DELAY": "1"})
    topology.start()
    try:
        yield topology
    finally:
        topology.stop()


def _say(url: str, sender: str, text: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Authorization": "Bearer dev-only-rest-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def _metrics(billing_url: str) -> dict[str, Any]:
    env = {**os.environ, "BOT_ENV": "development", "BOT_DATABASE_URL": billing_url}
    out = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/python"), "-m", "bot", "metrics"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_the_topology_answers_through_nginx_on_both_processes_and_counts(topology: Topology) -> None:
    url, run_dir = topology.url, topology.run_dir
    output = "".join(topology.output)
    for service in ("PostgreSQL  up", "Redis       up", "RabbitMQ    up", "nginx       found"):
        assert service in output, output
    senders = [f"smoke-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    for sender in senders:
        assert _say(url, sender, "你好"), sender
    upstreams = {
        line.split()[-1]
        for line in (run_dir / "nginx/access.log").read_text().splitlines()
        if "/webhooks/rest/webhook" in line
    }
    assert len(upstreams) == 2, upstreams  # least_conn spread the conversations over both processes
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        summary = _metrics(topology.billing_url)
        if summary["turns"] >= len(senders) and summary["latency_ms"]["count"] >= len(senders):
            break
        time.sleep(1)
    assert summary["conversations"] >= len(senders), summary
    assert summary["latency_ms"]["p50"] is not None


async def _widget_exchange(
    base: str, text: str, opened: list[str], all_open: asyncio.Event
) -> tuple[str, str, str]:
    """The widget's protocol over a raw WebSocket (Engine.IO 4 and Socket.IO 5 packets): python-engineio's
    own WebSocket client needs a newer aiohttp than Rasa 3.6 pins."""
    import aiohttp

    url = base.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:

        async def packet() -> str:
            while True:
                data = (await asyncio.wait_for(ws.receive(), 30)).data
                if data != "2":
                    return str(data)
                await ws.send_str("3")  # pong

        assert (await packet()).startswith("0")  # Engine.IO open
        opened.append(url)
        if len(opened) == 2:
            all_open.set()
        await asyncio.wait_for(all_open.wait(), 30)  # both connections open at once
        await ws.send_str("40")
        assert (await packet()).startswith("40")  # namespace connected
        await ws.send_str('42["session_request",{}]')
        session = ack = reply = None
        while reply is None or ack is None:
            data = await packet()
            if data.startswith("42"):
                name, payload = json.loads(data[2:])
                if name == "session_confirm" and session is None:
                    session = payload["session_id"]
                    message = {"message": text, "client_id": str(uuid.uuid4())}
                    await ws.send_str("421" + json.dumps(["user_uttered", message], ensure_ascii=False))
                elif name == "bot_uttered":
                    reply = payload.get("text") or ""
            elif data.startswith("431"):
                ack = json.loads(data[3:])[0]["status"]
        assert session is not None
        return session, ack, reply


async def test_the_widget_protocol_over_websocket_through_nginx(topology: Topology) -> None:
    opened: list[str] = []
    all_open = asyncio.Event()
    exchanges = await asyncio.gather(
        *(_widget_exchange(topology.url, "你好", opened, all_open) for _ in range(2))
    )
    for session, ack, reply in exchanges:
        assert session.startswith("web-") and ack == "ok" and reply
    access_log = topology.run_dir / "nginx/access.log"
    for _ in range(50):  # nginx logs a WebSocket when the connection has closed on both sides
        lines = [line for line in access_log.read_text().splitlines() if "/socket.io/" in line]
        if len(lines) >= 2:
            break
        time.sleep(0.1)
    upstreams = {line.split()[-1] for line in lines}
    # two WebSockets open at once from one address: least_conn, not ip_hash, so one on each process
    assert len(upstreams) == 2, upstreams


def test_a_process_that_dies_is_started_again(topology: Topology) -> None:
    said = len(topology.output)
    action_server = topology.pid(ACTION_SERVER)
    os.killpg(action_server, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "action server exited; starting it again" in topology.said_since(said):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{topology.action_port}/health", timeout=2):
                    break
            except OSError:
                pass
        time.sleep(0.5)
    else:
        pytest.fail("the action server was not started again:\n" + topology.said_since(said))
    assert topology.pid(ACTION_SERVER) != action_server
    assert _say(topology.url, f"smoke-{uuid.uuid4().hex[:8]}", "你好")  # the topology answers again


def test_ctrl_c_stops_what_it_started(topology: Topology) -> None:
    proc = topology.proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 0
    deadline = time.monotonic() + 5
    while "Stopped (PostgreSQL, Redis and RabbitMQ keep running" not in "".join(topology.output):
        assert time.monotonic() < deadline, "".join(topology.output[-20:])
        time.sleep(0.1)
    assert port_free(int(topology.url.rsplit(":", 1)[1]))
