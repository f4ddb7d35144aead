"""What the production benchmarks share: the topology, the subscribers, their clients and the checks.

* :class:`Topology` starts ``scripts/run-prod.sh`` (PROD_DEMO=1) with databases, a queue, ports and
  a run folder of its own (a :class:`bot.ops.topology.Layout`: its processes, ports, logs and pid
  files are run-prod's own), and removes them afterwards.
* :func:`clone_accounts` copies demo accounts to fresh numbers, so hundreds of simulated
  subscribers can verify by SMS without meeting the five-codes-an-hour limit of one number.
* :class:`RestSubscriber` and :class:`WidgetSubscriber` talk as the REST channel's clients and as
  the web widget do (the widget's protocol over a raw WebSocket: Engine.IO 4 and Socket.IO 5
  packets, a client id per message, the acknowledgement marking the end of a turn).
* :data:`SCRIPTS` are the scripted conversations (verification, unknown charge, alert, closure),
  :func:`run_conversation` plays one, and :func:`tracker_losses` checks the tracker store: every
  user message is there and has a reply after it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from bot.ops.topology import Layout

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REST_TOKEN = os.environ.get("REST_CHANNEL_TOKEN", "dev-only-rest-token")
#: In every kind answer to a message that could not be handled: the channels' (bot/channels/rest.py),
#: the guard's for a failed action (bot/channels/guard.py) and the actions' utter_service_unavailable.
FAILURE_MARK = "您的账户没有任何变动"
TURN_TIMEOUT = 60.0


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + count < 65000 and all(port_free(first + i) for i in range(count)):
            return first
    raise RuntimeError("no free ports")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def current_model() -> str:
    """The model for data/, domain.yml and config.yml as they are (trained when stale)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "train-if-stale"), "models"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return str(ROOT / out.stdout.strip().splitlines()[-1])


def psql(*commands: str) -> None:
    args = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-q"]
    for command in commands:
        args += ["-c", command]
    subprocess.run(args, check=False, capture_output=True)


# --- the topology ------------------------------------------------------------------------------


class Topology:
    """``make run-prod`` (PROD_DEMO=1) with state of its own; a context manager.

    Attributes:
        layout: run-prod's ports, replicas, run folder and restarts (bot/ops/topology.py).
        url: nginx in front (``http://127.0.0.1:PORT``).
        run_dir: run-prod's folder (logs, pid files, nginx and supervisord configurations).
        billing_url, tracker_url: the two PostgreSQL databases.
        output: what run-prod printed so far (restarts included).
    """

    def __init__(
        self, run_dir: Path, replicas: int = 2, workers: int = 2, env: Optional[dict[str, str]] = None
    ):
        self.suffix = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.run_dir = run_dir
        self.replicas = replicas
        base = free_ports(replicas + 2)  # the Rasa processes, then nginx and the action server
        self.billing_db, self.tracker_db = f"billing_{self.suffix}", f"rasa_tracker_{self.suffix}"
        self.billing_url, self.tracker_url = f"{PG}/{self.billing_db}", f"{PG}/{self.tracker_db}"
        self.queue, self.exchange = f"events_{self.suffix}", f"events-{self.suffix}"
        layout = Layout(
            run_dir,
            replicas=replicas,
            workers=workers,
            base_port=base,
            front_port=base + replicas,
            action_port=base + replicas + 1,
            billing_db=self.billing_db,
        )
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("BOT_ENV", "BOT_DATABASE_URL", "ACTION_ENDPOINT")
            },
            "PROD_DEMO": "1",
            **layout.env(),
            "RASA_TRACKER_DB_NAME": self.tracker_db,
            "RASA_EVENTS_QUEUE": self.queue,
            "RASA_EVENTS_EXCHANGE": self.exchange,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            # Every simulated subscriber connects from 127.0.0.1: one client, whose production limit
            # (10 codes an hour, docs/channels.md) would refuse all but the first ten verifications.
            "BOT_CODES_PER_CLIENT_HOUR": "1000000",
            **(env or {}),
        }
        self.env.pop("SOCKETIO_REDIS_URL", None)
        self.layout = Layout.from_env(self.env)  # with what ``env`` changed (PROD_RESTART_DELAY, ...)
        self.rasa_ports = self.layout.rasa_ports
        self.action_port = self.layout.action_port
        self.url = self.layout.front_url
        self.output: list[str] = []
        self.proc: Optional[subprocess.Popen[str]] = None
        self._reader: Optional[threading.Thread] = None

    def start(self, timeout: float = 900) -> Topology:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run-prod.sh")],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                if "Press Ctrl-C to stop." in line:
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        ready.wait(timeout)
        if self.proc.poll() is not None or "The assistant is running" not in "".join(self.output):
            text = "".join(self.output)
            self.stop()
            raise RuntimeError(f"run-prod did not start:\n{text[-3000:]}")
        if "(no nginx:" in "".join(self.output):
            # without the front, every request to self.url is refused: the figures would be noise
            self.stop()
            raise RuntimeError(
                "the benchmark needs nginx in front: apt-get install nginx, or PROD_INSTALL_NGINX=1"
            )
        return self

    def pid(self, name: str) -> int:
        """The pid of a process of the topology, by its name in bot/ops/topology.py
        (``ACTION_SERVER``, ``rasa_program(port)``, ``NGINX``, ...); it leads its process group."""
        return int(self.layout.pid_file(name).read_text().strip())

    def said_since(self, start: int) -> str:
        return "".join(self.output[start:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        psql(
            f'DROP DATABASE IF EXISTS "{self.billing_db}" WITH (FORCE)',
            f'DROP DATABASE IF EXISTS "{self.tracker_db}" WITH (FORCE)',
        )
        try:
            asyncio.run(delete_queue(self.queue, self.exchange))
        except Exception:  # noqa: BLE001 - RabbitMQ may be the thing a benchmark stopped
            pass

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


async def delete_queue(queue: str, exchange: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(host="127.0.0.1", login="guest", password="guest", timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


# --- subscribers ---------------------------------------------------------------------------------

#: The demo account each script runs against (bot/seed.py).
PROFILES = {
    "verify_balance": "13400134000",  # 赵敏, an ordinary account
    "unknown_charge": "13800138000",  # 张伟, the video ringtone from an SMS link
    "alert": "13700137000",  # 王强
    "closure": "13600136000",  # 刘洋, nothing blocks closure
}
_CLONED = ("subscriptions", "charges", "payments", "bills", "data_usage", "alert_rules")


def clone_accounts(billing_url: str, copies: int, prefix: str = "199") -> dict[str, list[str]]:
    """Copies each profile's demo account ``copies`` times, history included, to numbers ``199xxxxxxxx``.

    Returns:
        script name → the new numbers.
    """
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(billing_url, future=True)
    meta = MetaData()
    meta.reflect(engine, only=["subscribers", *_CLONED])
    subscribers = meta.tables["subscribers"]
    numbers: dict[str, list[str]] = {}
    serial = itertools.count(1)
    with engine.begin() as conn:
        for script, phone in PROFILES.items():
            source = conn.execute(select(subscribers).where(subscribers.c.phone == phone)).mappings().one()
            rows = {
                name: [
                    dict(r)
                    for r in conn.execute(
                        select(meta.tables[name]).where(meta.tables[name].c.subscriber_id == source["id"])
                    ).mappings()
                ]
                for name in _CLONED
            }
            numbers[script] = []
            for _ in range(copies):
                new_phone = f"{prefix}{next(serial):08d}"
                values = {k: v for k, v in source.items() if k != "id"} | {"phone": new_phone}
                new_id = conn.execute(
                    subscribers.insert().values(**values).returning(subscribers.c.id)
                ).scalar_one()
                sub_ids: dict[int, int] = {}
                for old in rows["subscriptions"]:
                    table = meta.tables["subscriptions"]
                    values = {k: v for k, v in old.items() if k != "id"} | {"subscriber_id": new_id}
                    sub_ids[old["id"]] = conn.execute(
                        table.insert().values(**values).returning(table.c.id)
                    ).scalar_one()
                for name in _CLONED[1:]:
                    batch = []
                    for old in rows[name]:
                        values = {k: v for k, v in old.items() if k != "id"} | {"subscriber_id": new_id}
                        if values.get("subscription_id") is not None:
                            values["subscription_id"] = sub_ids[values["subscription_id"]]
                        batch.append(values)
                    if batch:
                        conn.execute(meta.tables[name].insert(), batch)
                numbers[script].append(new_phone)
    engine.dispose()
    return numbers


class Outbox:
    """The development SMS gateway's outbox: the subscriber's phone, from which the code is read."""

    def __init__(self, billing_url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(
            billing_url, future=True, pool_size=5, max_overflow=20, pool_pre_ping=True
        )

    def last_id(self, phone: str) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT max(id) FROM notifications WHERE phone = :p AND kind = 'verification_code'"),
                {"p": phone},
            ).scalar()
        return int(found or 0)

    def code_after(self, phone: str, after_id: int) -> Optional[str]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            body = conn.execute(
                text(
                    "SELECT body FROM notifications"
                    " WHERE phone = :p AND kind = 'verification_code' AND id > :a"
                    " ORDER BY id DESC LIMIT 1"
                ),
                {"p": phone, "a": after_id},
            ).scalar()
        match = re.search(r"\d{6}", body or "")
        return match.group(0) if match else None

    def dispose(self) -> None:
        self.engine.dispose()


class NumberPool:
    """Hands out each profile's numbers in turn; a number comes round again only when all were used."""

    def __init__(self, numbers: dict[str, list[str]]) -> None:
        self._cycles = {script: itertools.cycle(phones) for script, phones in numbers.items()}

    def take(self, script: str) -> str:
        return next(self._cycles[script])


# --- clients -------------------------------------------------------------------------------------


@dataclass
class Turn:
    """One user message and what came back."""

    sender: str
    text: str
    replies: list[str]
    latency_ms: float
    error: Optional[str] = None
    started: float = 0.0

    @property
    def failed_kindly(self) -> bool:
        return self.error is None and any(FAILURE_MARK in r for r in self.replies)


class Subscriber(Protocol):
    sender: str

    async def say(self, text: str) -> Turn: ...

    async def close(self) -> None: ...


class RestSubscriber:
    """A REST channel client: one POST a message, the replies in its answer."""

    def __init__(self, http: Any, url: str, sender: Optional[str] = None, token: Optional[str] = REST_TOKEN):
        self.http, self.url = http, url.rstrip("/") + "/webhooks/rest/webhook"
        self.sender = sender or f"bench-{uuid.uuid4().hex[:12]}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def say(self, text: str) -> Turn:
        import aiohttp

        started = time.perf_counter()
        try:
            async with self.http.post(
                self.url,
                json={"sender": self.sender, "message": text},
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT),
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
            replies = [
                m.get("text") or ("[image]" if m.get("image") else "")
                for m in body or []
                if isinstance(m, dict)
            ]
            error = None if replies else "no reply"
            if status != 200 and not any(FAILURE_MARK in r for r in replies):
                error = f"http {status}"  # a 503 with the kind text is an answer; anything else is not
            return Turn(self.sender, text, replies, _ms(started), error, started)
        except (asyncio.TimeoutError, OSError, ValueError) as exc:  # aiohttp's errors are OSErrors
            return Turn(self.sender, text, [], _ms(started), type(exc).__name__, started)
        except Exception as exc:  # noqa: BLE001 - aiohttp.ClientError and friends
            return Turn(self.sender, text, [], _ms(started), type(exc).__name__, started)

    async def close(self) -> None:
        return None


class WidgetSubscriber:
    """The web widget's protocol over one WebSocket: a session, then messages with client ids.

    A turn ends with the server's acknowledgement, which comes after every reply of that message
    (bot/channels/socketio.py). An unacknowledged message can be sent again with the same client id
    after a reconnect (:meth:`resend`), as the widget does; the server processes it once.
    """

    def __init__(self, http: Any, url: str) -> None:
        self.http = http
        self.ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws: Any = None
        self.sender = ""
        self.signature = ""
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._confirm: Optional[asyncio.Future[dict[str, Any]]] = None
        self._replies: list[str] = []
        self._ids = itertools.count(1)
        self._reader: Optional[asyncio.Task[None]] = None
        self.upstream_closed = asyncio.Event()
        self.resent = 0

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.ws_url, timeout=5, heartbeat=None)
        opened = await asyncio.wait_for(self.ws.receive(), 30)
        if not str(opened.data).startswith("0"):
            raise ConnectionError("no Engine.IO open packet")
        await self.ws.send_str("40")
        self.upstream_closed.clear()
        self._confirm = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        request = {"session_id": self.sender, "signature": self.signature} if self.sender else {}
        await self.ws.send_str("42" + json.dumps(["session_request", request]))
        confirm = await asyncio.wait_for(self._confirm, 30)
        self.sender, self.signature = confirm["session_id"], confirm["signature"]

    async def _read(self) -> None:
        import aiohttp

        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = str(msg.data)
                if data == "2":
                    await self.ws.send_str("3")
                elif data.startswith("42"):
                    name, payload = json.loads(data[2:])[:2]
                    if name == "session_confirm" and self._confirm and not self._confirm.done():
                        self._confirm.set_result(payload)
                    elif name == "bot_uttered":
                        self._replies.append(payload.get("text") or "")
                elif data.startswith("43"):
                    match = re.match(r"43(\d+)(.*)", data, re.S)
                    if match:
                        future = self._acks.pop(int(match.group(1)), None)
                        if future and not future.done():
                            future.set_result(json.loads(match.group(2))[0])
        finally:
            self.upstream_closed.set()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self._acks.clear()

    async def say(self, text: str, client_id: Optional[str] = None, attempts: int = 1) -> Turn:
        """Sends one message; with ``attempts`` > 1 it goes again, same client id, after a dropped
        connection, a timeout or ``unavailable`` (the widget's queue does this)."""
        started = time.perf_counter()
        client_id = client_id or uuid.uuid4().hex
        error = "not sent"
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(min(0.5 * 2**attempt, 5))
            try:
                if self.ws is None or self.ws.closed or self.upstream_closed.is_set():
                    await self.close()
                    await self.connect()
                self._replies = []
                ack_id = next(self._ids)
                future = self._acks[ack_id] = asyncio.get_running_loop().create_future()
                message = ["user_uttered", {"message": text, "client_id": client_id}]
                await self.ws.send_str(f"42{ack_id}" + json.dumps(message, ensure_ascii=False))
                ack = await asyncio.wait_for(future, TURN_TIMEOUT)
            except (asyncio.TimeoutError, ConnectionError, OSError) as exc:
                error = type(exc).__name__
                continue
            except Exception as exc:  # noqa: BLE001 - aiohttp's errors
                error = type(exc).__name__
                continue
            status = ack.get("status")
            self.resent += attempt
            if status == "duplicate":  # processed before the connection dropped: the widget shows history
                replies = await self.replies_from_history()
                return Turn(
                    self.sender, text, replies, _ms(started), None if replies else "no reply", started
                )
            if status in ("ok", "failed"):
                replies = list(self._replies)
                return Turn(
                    self.sender, text, replies, _ms(started), None if replies else "no reply", started
                )
            error = f"ack {status}"
        return Turn(self.sender, text, [], _ms(started), error, started)

    async def replies_from_history(self) -> list[str]:
        """The bot's messages after the last user message, from the server's record of the session."""
        ack_id = next(self._ids)
        future = self._acks[ack_id] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(f"42{ack_id}" + json.dumps(["session_history", {}]))
        history = await asyncio.wait_for(future, TURN_TIMEOUT)
        replies: list[str] = []
        for item in history.get("messages", []):
            replies = [] if item.get("from") == "user" else [*replies, item.get("text") or ""]
        return replies

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# --- scripted conversations ----------------------------------------------------------------------

PHONE, CODE = "<phone>", "<code>"
#: (message, what the reply should contain: any of these) per step; PHONE and CODE are filled in.
SCRIPTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "verify_balance": [
        ("查一下我的余额", ("手机号", "验证")),
        (PHONE, ("验证码已发送",)),
        (CODE, ("元",)),
        ("这个月流量用了多少", ("流量", "MB", "GB")),
        ("谢谢", ("",)),
    ],
    "unknown_charge": [
        ("这个月怎么多扣了10块", ("验证身份", "手机号")),
        (PHONE, ("验证码已发送",)),
        (CODE, ("视频彩铃",)),
        ("好的", ("工单号", "已经提交过")),
    ],
    "alert": [
        # the demo numbers are not bound to WeChat: the form asks no channel, the alert goes by SMS
        ("余额低于20提醒我", ("手机号", "验证")),
        (PHONE, ("验证码已发送",)),
        (CODE, ("20.00",)),
        ("我现在都设置了哪些提醒？", ("20.00",)),
    ],
    "closure": [
        ("我要销户", ("注销",)),
        (PHONE, ("验证码已发送",)),
        (CODE, ("服务密码",)),
        ("135790", ("确认销户",)),
        ("确认销户", ("销户申请已提交",)),
        ("撤销销户申请", ("已为您撤销",)),
    ],
}


@dataclass
class Conversation:
    script: str
    channel: str
    sender: str = ""
    turns: list[Turn] = field(default_factory=list)
    unexpected: int = 0
    unexpected_turns: list[tuple[int, str]] = field(default_factory=list)
    code_after: int = 0


async def run_conversation(
    subscriber: Subscriber,
    script: str,
    phone: str,
    outbox: Outbox,
    think: Optional[Any] = None,
    channel: str = "",
    steps: Optional[range] = None,
    conversation: Optional[Conversation] = None,
    attempts: int = 1,
) -> Conversation:
    """Plays a scripted conversation, or the ``steps`` of it (continuing ``conversation``); stops at
    the first turn that errs. ``think`` is an awaitable factory for the pause between turns."""
    conversation = conversation or Conversation(script, channel)
    lines = SCRIPTS[script]
    for index in steps if steps is not None else range(len(lines)):
        text, expected = lines[index]
        if conversation.turns and think is not None:
            await think()
        if text == PHONE:
            conversation.code_after = await asyncio.to_thread(outbox.last_id, phone)
            text = phone
        elif text == CODE:
            code = await asyncio.to_thread(outbox.code_after, phone, conversation.code_after)
            if code is None:  # no code was sent: the conversation cannot go on
                conversation.unexpected += 1
                break
            text = code
        if isinstance(subscriber, WidgetSubscriber):
            turn = await subscriber.say(text, attempts=attempts)
        else:
            turn = await subscriber.say(text)
        conversation.sender = subscriber.sender
        conversation.turns.append(turn)
        if turn.error:
            break
        joined = "\n".join(turn.replies)
        if not any(e in joined for e in expected):
            conversation.unexpected += 1
            conversation.unexpected_turns.append((index, joined[:200]))
    return conversation


# --- checks --------------------------------------------------------------------------------------


def tracker_losses(tracker_url: str, sent: dict[str, int]) -> dict[str, Any]:
    """Compares what each sender sent and had answered with the tracker store.

    Args:
        sent: sender → user messages that got a reply.

    Returns:
        ``lost``: answered messages that are not in the tracker as a user event followed by a bot
        event; ``senders_missing``: senders with no conversation at all.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(tracker_url, future=True)
    answered: dict[str, int] = {}
    with engine.connect() as conn:
        senders = list(sent)
        for chunk in range(0, len(senders), 500):
            rows = conn.execute(
                text(
                    "SELECT sender_id, type_name FROM events"
                    " WHERE sender_id = ANY(:s) AND type_name IN ('user', 'bot')"
                    " ORDER BY sender_id, id"
                ),
                {"s": senders[chunk : chunk + 500]},
            )
            last: dict[str, str] = {}
            for sender_id, type_name in rows:
                if type_name == "bot" and last.get(sender_id) == "user":
                    answered[sender_id] = answered.get(sender_id, 0) + 1
                last[sender_id] = type_name
    engine.dispose()
    lost = sum(max(0, n - answered.get(s, 0)) for s, n in sent.items())
    return {"lost": lost, "senders_missing": sum(1 for s in sent if s not in answered)}


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile (``q`` in 0..100), rounded to 0.1 ms."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return round(ordered[rank - 1], 1)


def summarise(turns: Iterable[Turn], elapsed: float) -> dict[str, Any]:
    turns = list(turns)
    ok = [t.latency_ms for t in turns if t.error is None]
    return {
        "messages": len(turns),
        "answered": len(ok),
        "errors": sum(1 for t in turns if t.error),
        "failed_kindly": sum(1 for t in turns if t.failed_kindly),
        "messages_per_second": round(len(ok) / elapsed, 2) if elapsed else None,
        "latency_ms": {
            "p50": percentile(ok, 50),
            "p95": percentile(ok, 95),
            "p99": percentile(ok, 99),
            "max": round(max(ok), 1) if ok else None,
        },
    }
