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
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("RUN_PROD_SMOKE") != "1", reason="set RUN_PROD_SMOKE=1 to start the whole topology"
)
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
SUFFIX = f"smoke_{os.getpid()}"


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + count < 65000 and all(_free(first + i) for i in range(count)):
            return first
    raise RuntimeError("no free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    run_dir = tmp_path_factory.mktemp("run-prod")
    run_dir.chmod(0o755)
    base, front, action = _free_ports(2), _free_ports(1), _free_ports(1)
    env = {
        **os.environ,
        "PROD_DEMO": "1",
        "RASA_REPLICAS": "2",
        "RASA_BASE_PORT": str(base),
        "PROD_PORT": str(front),
        "ACTION_SERVER_PORT": str(action),
        "PROD_BILLING_DB": f"billing_{SUFFIX}",
        "RASA_TRACKER_DB_NAME": f"rasa_tracker_{SUFFIX}",
        "RASA_EVENTS_QUEUE": f"events_{SUFFIX}",
        "RASA_EVENTS_EXCHANGE": f"events-{SUFFIX}",
        "RUN_PROD_DIR": str(run_dir),
    }
    for name in ("BOT_ENV", "BOT_DATABASE_URL", "ACTION_ENDPOINT", "SOCKETIO_REDIS_URL"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [str(PROJECT_ROOT / "scripts/run-prod.sh")],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Press Ctrl-C to stop." in line:
            break
    text = "".join(output)
    try:
        assert "The assistant is running" in text, text
        yield {"url": f"http://127.0.0.1:{front}", "output": text, "run_dir": run_dir, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=120)
            output.append(rest)
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-c",
                f'DROP DATABASE IF EXISTS "billing_{SUFFIX}" WITH (FORCE)',
                "-c",
                f'DROP DATABASE IF EXISTS "rasa_tracker_{SUFFIX}" WITH (FORCE)',
            ],
            check=False,
        )
        asyncio.run(_delete_queue(f"events_{SUFFIX}", f"events-{SUFFIX}"))


async def _delete_queue(queue: str, exchange: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(host="127.0.0.1", login="guest", password="guest", timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


def _say(url: str, sender: str, text: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Authorization": "Bearer dev-only-rest-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def _metrics() -> dict[str, Any]:
    env = {**os.environ, "BOT_ENV": "development", "BOT_DATABASE_URL": f"{PG}/billing_{SUFFIX}"}
    out = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/python"), "-m", "bot", "metrics"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_the_topology_answers_through_nginx_on_both_processes_and_counts(topology: dict[str, Any]) -> None:
    url, run_dir = topology["url"], Path(topology["run_dir"])
    output = topology["output"]
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
        summary = _metrics()
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


async def test_the_widget_protocol_over_websocket_through_nginx(topology: dict[str, Any]) -> None:
    opened: list[str] = []
    all_open = asyncio.Event()
    exchanges = await asyncio.gather(
        *(_widget_exchange(topology["url"], "你好", opened, all_open) for _ in range(2))
    )
    for session, ack, reply in exchanges:
        assert session.startswith("web-") and ack == "ok" and reply
    access_log = Path(topology["run_dir"]) / "nginx/access.log"
    for _ in range(50):  # nginx logs a WebSocket when the connection has closed on both sides
        lines = [line for line in access_log.read_text().splitlines() if "/socket.io/" in line]
        if len(lines) >= 2:
            break
        time.sleep(0.1)
    upstreams = {line.split()[-1] for line in lines}
    # two WebSockets open at once from one address: least_conn, not ip_hash, so one on each process
    assert len(upstreams) == 2, upstreams


def test_ctrl_c_stops_what_it_started(topology: dict[str, Any]) -> None:
    proc = topology["proc"]
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert "Stopped (PostgreSQL, Redis and RabbitMQ keep running" in rest
    assert _free(int(topology["url"].rsplit(":", 1)[1]))
