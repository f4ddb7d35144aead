"""Fault benchmark: what subscribers see, and what is lost, when a part of the topology fails.

``make bench-faults``. It starts ``make run-prod`` (PROD_DEMO=1) with databases, a queue, ports
and a run folder of its own, two Rasa processes behind nginx, and plays the scripted
conversations of bench/harness.py over REST and the widget's socket.io protocol while it:

1. **kills a Rasa process** (SIGKILL to its process group) with conversations in flight, then
   goes on with them: REST clients send a message again when they got the kind failure text (a
   person would), widget clients send an unacknowledged message again with the same client id
   after reconnecting (the widget's queue does this); run-prod starts the process again;
2. **stops the action server** (SIGKILL to all its workers) just before the message that creates
   an alert, checks that no alert was written, waits for run-prod to start it again and sends the
   message again: exactly one alert;
3. **restarts PostgreSQL** (``pg_ctlcluster … stop``, a pause, ``start``) between two turns of
   verified conversations: the messages during the outage, then the same messages again;
4. **kills Redis** (``redis-cli shutdown nosave``), the same way, then starts it with the
   machine's command.

Each case reports the messages sent, answered, answered with the kind failure text (which offers
a human agent), errors (no answer, or an unkind one), unexpected replies, half-written changes,
**lost** messages (a message without its reply at the end, or answered but not in the tracker
store followed by a reply) and how long the part took to come back. The target is nothing lost
and no half-written change. The machine's PostgreSQL and Redis are always started again, also
when the benchmark fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    ROOT,
    Conversation,
    NumberPool,
    Outbox,
    RestSubscriber,
    Topology,
    Turn,
    WidgetSubscriber,
    clone_accounts,
    current_model,
    run_conversation,
    tracker_losses,
)
from bot.ops.topology import ACTION_SERVER, rasa_program  # noqa: E402

PG_CLUSTER = sorted(os.listdir("/etc/postgresql"))[0] if os.path.isdir("/etc/postgresql") else ""
PG_CTL = ["pg_ctlcluster", "--skip-systemctl-redirect", PG_CLUSTER, "main"]
REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no "
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def log(*parts: Any) -> None:
    print(f"[{datetime.now():%H:%M:%S}]", *parts, file=sys.stderr, flush=True)


# --- the machine's services ----------------------------------------------------------------------


def postgres_up() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode == 0


def redis_up() -> bool:
    out = subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True, check=False)
    return out.stdout.strip() == "PONG"


def start_postgres() -> None:
    if not postgres_up():
        subprocess.run([*PG_CTL, "start"], check=False, capture_output=True)
    _until(postgres_up, 60)


def start_redis() -> None:
    if not redis_up():
        subprocess.run(REDIS_START, shell=True, check=False, capture_output=True)
    _until(redis_up, 30)


def _until(check: Any, timeout: float, every: float = 0.25) -> Optional[float]:
    """Seconds until ``check()`` held, or None."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return round(time.monotonic() - started, 1)
        time.sleep(every)
    return None


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- bookkeeping ---------------------------------------------------------------------------------


class Case:
    """The conversations of one fault and what they showed."""

    def __init__(self, name: str, topology: Topology) -> None:
        self.name, self.topology = name, topology
        self.conversations: list[Conversation] = []
        self.figures: dict[str, Any] = {}
        self.notes: list[str] = []

    def report(self) -> dict[str, Any]:
        turns: list[Turn] = [t for c in self.conversations for t in c.turns]
        answered: dict[str, int] = {}
        for c in self.conversations:
            answered[c.sender] = answered.get(c.sender, 0) + sum(
                1 for t in c.turns if t.error is None and not t.failed_kindly
            )
        check = tracker_losses(self.topology.tracker_url, answered)
        unanswered_at_end = sum(1 for c in self.conversations if c.turns and c.turns[-1].error)
        kind = [t for t in turns if t.failed_kindly]
        return {
            "conversations": len(self.conversations),
            "messages": len(turns),
            "answered": sum(1 for t in turns if t.error is None and not t.failed_kindly),
            "failed_kindly": len(kind),
            "kind_reply_offers_human": all("人工" in "".join(t.replies) for t in kind) if kind else None,
            "errors": sum(1 for t in turns if t.error),
            "error_kinds": sorted({t.error for t in turns if t.error}),
            "unexpected_replies": sum(c.unexpected for c in self.conversations),
            "unexpected_detail": [u for c in self.conversations for u in c.unexpected_turns][:5],
            "lost": unanswered_at_end + check["lost"],
            "lost_detail": {"unanswered_at_end": unanswered_at_end, "answered_not_in_tracker": check["lost"]},
            **self.figures,
            "notes": self.notes,
        }


async def _say_until_answered(subscriber: Any, text: str, attempts: int, pause: float) -> list[Turn]:
    """A person (REST) or the widget's queue (socket.io) sending ``text`` again until it is answered."""
    turns: list[Turn] = []
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(pause)
        if isinstance(subscriber, WidgetSubscriber):
            turn = await subscriber.say(text, attempts=3)
        else:
            turn = await subscriber.say(text)
        turns.append(turn)
        if turn.error is None and not turn.failed_kindly:
            break
    return turns


async def _play_resilient(
    subscriber: Any, script: str, phone: str, outbox: Outbox, steps: range, conversation: Conversation
) -> Conversation:
    """Plays ``steps``; a turn that fails (kindly or not) is sent again, as a person or the widget would."""
    last: Optional[Turn] = None
    for index in steps:
        for attempt in range(21):
            if attempt:
                await asyncio.sleep(1.0)
            before = len(conversation.turns)
            one = range(index, index + 1)
            await run_conversation(
                subscriber, script, phone, outbox, steps=one, conversation=conversation, attempts=3
            )
            last = conversation.turns[-1] if len(conversation.turns) > before else None
            if last is None or not (last.error or last.failed_kindly):
                break
            if last.failed_kindly and conversation.unexpected_turns:  # the kind text is not "unexpected"
                conversation.unexpected -= 1
                conversation.unexpected_turns.pop()
        if last is None or last.error:
            break
    return conversation


def _new(kind: str, http: Any, url: str) -> Any:
    return WidgetSubscriber(http, url) if kind == "socketio" else RestSubscriber(http, url)


# --- the cases -----------------------------------------------------------------------------------


async def rasa_process_killed(topology: Topology, pool: NumberPool, outbox: Outbox, count: int) -> Case:
    import aiohttp

    case = Case("rasa_process_killed", topology)
    script = "closure"
    async with aiohttp.ClientSession() as http:
        subscribers = [_new("socketio" if i % 2 else "rest", http, topology.url) for i in range(count)]
        phones = [pool.take(script) for _ in subscribers]
        conversations = [Conversation(script, "socketio" if i % 2 else "rest") for i in range(count)]
        case.conversations = conversations
        # verified and in the closure form on both processes (nginx spreads them)
        await asyncio.gather(*(
            run_conversation(s, script, p, outbox, steps=range(0, 3), conversation=c)
            for s, p, c in zip(subscribers, phones, conversations, strict=False)
        ))  # fmt: skip
        victim_port = topology.rasa_ports[0]
        victim = topology.pid(rasa_program(victim_port))
        said_before = len(topology.output)
        # the password turn goes out on every conversation; the kill lands while they are in flight
        rest = [
            asyncio.create_task(_play_resilient(s, script, p, outbox, range(3, len(_steps(script))), c))
            for s, p, c in zip(subscribers, phones, conversations, strict=False)
        ]
        await asyncio.sleep(0.05)
        killed_at = time.monotonic()
        kill_group(victim)
        log(f"  killed Rasa :{victim_port} (pid {victim}) with {count} conversations in flight")
        await asyncio.gather(*rest)
        done_at = time.monotonic()
        for s in subscribers:
            await s.close()
    back = await asyncio.to_thread(_until, lambda: _http_ok(f"http://127.0.0.1:{victim_port}/"), 600, 1.0)
    case.figures["conversations_finished_s_after_kill"] = round(done_at - killed_at, 1)
    case.figures["killed_process_serving_again_s"] = (
        round(time.monotonic() - killed_at, 1) if back is not None else None
    )
    case.figures["restarted_by_run_prod"] = "exited; starting it again" in topology.said_since(said_before)
    case.figures["state_intact"] = all(
        len(c.turns) >= 1 and c.unexpected == 0 and not c.turns[-1].error for c in conversations
    )
    case.figures["widget_messages_sent_again"] = sum(getattr(s, "resent", 0) for s in subscribers)
    case.notes.append(
        "state_intact: every conversation went on from where it was (verified, in the closure form) and "
        "reached its last scripted reply on the other process"
    )
    return case


def _steps(script: str) -> list[Any]:
    from bench.harness import SCRIPTS

    return SCRIPTS[script]


async def action_server_stopped(topology: Topology, pool: NumberPool, outbox: Outbox) -> Case:
    import aiohttp
    from sqlalchemy import create_engine, text

    case = Case("action_server_stopped", topology)
    # verified first (a balance question); the alert is then created by one message, which is
    # what the action server's outage must not half-write (an unbound number is asked no channel)
    script = "verify_balance"
    create = "余额低于20提醒我"
    engine = create_engine(topology.billing_url, future=True, pool_pre_ping=True)

    def alerts(phone: str) -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM alert_rules a JOIN subscribers s ON s.id = a.subscriber_id"
                        " WHERE s.phone = :p AND a.alert_type = 'balance' AND a.threshold = 2000 AND a.active"
                    ),
                    {"p": phone},
                ).scalar()
            )

    async with aiohttp.ClientSession() as http:
        subscribers = [_new(kind, http, topology.url) for kind in ("rest", "socketio")]
        phones = [pool.take(script) for _ in subscribers]
        conversations = [Conversation(script, kind) for kind in ("rest", "socketio")]
        case.conversations = conversations
        await asyncio.gather(*(
            run_conversation(s, script, p, outbox, steps=range(0, 3), conversation=c)
            for s, p, c in zip(subscribers, phones, conversations, strict=False)
        ))  # fmt: skip
        before = [await asyncio.to_thread(alerts, p) for p in phones]
        said_before = len(topology.output)
        victim = topology.pid(ACTION_SERVER)
        kill_group(victim)
        stopped_at = time.monotonic()
        log(f"  killed the action server (pid {victim} and its workers)")
        during = await asyncio.gather(*(s.say(create) for s in subscribers))
        for c, turn in zip(conversations, during, strict=False):
            c.turns.append(turn)
        handoff = await subscribers[0].say("转人工")
        conversations[0].turns.append(handoff)
        half_written = sum([await asyncio.to_thread(alerts, p) for p in phones]) - sum(before)
        back = await asyncio.to_thread(
            _until, lambda: _http_ok(f"http://127.0.0.1:{topology.action_port}/health"), 300, 0.5
        )
        recovered_s = round(time.monotonic() - stopped_at, 1) if back is not None else None
        after = await asyncio.gather(*(_say_until_answered(s, create, 10, 1.0) for s in subscribers))
        for c, turns in zip(conversations, after, strict=False):
            c.turns.extend(turns)
        for s in subscribers:
            await s.close()
    final = [await asyncio.to_thread(alerts, p) for p in phones]
    engine.dispose()
    case.figures.update(
        {
            "replies_while_down": [("\n".join(t.replies) or t.error or "")[:120] for t in [*during, handoff]],
            "alerts_written_while_down": half_written,
            "half_written_changes": half_written,
            "action_server_back_s": recovered_s,
            "restarted_by_run_prod": "exited; starting it again" in topology.said_since(said_before),
            "alerts_after_recovery_per_conversation": [f - b for f, b in zip(final, before, strict=False)],
            "recovered": all(f - b == 1 for f, b in zip(final, before, strict=False)),
        }
    )
    case.notes.append(
        "the message that creates the alert is answered kindly while the action server is down and "
        "writes nothing; sent again once it is back, it creates exactly one alert"
    )
    return case


async def store_outage(
    name: str,
    topology: Topology,
    pool: NumberPool,
    outbox: Outbox,
    stop: Any,
    start: Any,
    outage_s: float,
) -> Case:
    """Verified conversations; ``stop()`` between two turns, messages during the outage, ``start()``,
    then the same messages again until answered."""
    import aiohttp

    case = Case(name, topology)
    script = "verify_balance"
    async with aiohttp.ClientSession() as http:
        kinds = ("rest", "socketio", "rest", "socketio")
        subscribers = [_new(kind, http, topology.url) for kind in kinds]
        phones = [pool.take(script) for _ in subscribers]
        conversations = [Conversation(script, kind) for kind in kinds]
        case.conversations = conversations
        await asyncio.gather(*(
            run_conversation(s, script, p, outbox, steps=range(0, 3), conversation=c)
            for s, p, c in zip(subscribers, phones, conversations, strict=False)
        ))  # fmt: skip
        await asyncio.to_thread(stop)
        down_at = time.monotonic()
        log(f"  {name}: stopped")
        newcomer = RestSubscriber(http, topology.url)
        during = await asyncio.gather(
            *(s.say("这个月流量用了多少") for s in subscribers), newcomer.say("查一下我的余额")
        )
        newcomer_conversation = Conversation(script, "rest", sender=newcomer.sender, turns=[during[-1]])
        for c, turn in zip(conversations, during, strict=False):
            c.turns.append(turn)
        slowest = max(t.latency_ms for t in during)
        await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        await asyncio.to_thread(start)
        up_at = time.monotonic()
        log(f"  {name}: started again after {up_at - down_at:.1f} s")
        after = await asyncio.gather(
            *(_say_until_answered(s, "这个月流量用了多少", 20, 1.0) for s in subscribers)
        )
        for c, turns in zip(conversations, after, strict=False):
            c.turns.extend(turns)
            c.unexpected = sum(
                1
                for t in c.turns[3:]
                if t.error is None
                and not t.failed_kindly
                and not any(w in "".join(t.replies) for w in ("流量", "MB", "GB"))
            )
        first_ok = [
            next((i for i, t in enumerate(turns) if t.error is None and not t.failed_kindly), None)
            for turns in after
        ]
        for s in subscribers:
            await s.close()
    case.conversations.append(newcomer_conversation)
    case.figures.update(
        {
            "outage_s": round(up_at - down_at, 1),
            "replies_during_outage": [("\n".join(t.replies) or t.error or "")[:120] for t in during],
            "slowest_reply_during_outage_ms": round(slowest, 1),
            "messages_needed_after_restart": [None if i is None else i + 1 for i in first_ok],
            "recovered": all(i is not None for i in first_ok),
            "still_verified_after": all(
                c.turns[-1].error is None and "验证码" not in "".join(c.turns[-1].replies)
                for c in conversations[:4]
            ),
            "half_written_changes": 0,
        }
    )
    return case


def stop_postgres() -> None:
    subprocess.run([*PG_CTL, "stop", "-m", "fast"], check=False, capture_output=True)


def stop_redis() -> None:
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, capture_output=True)


# --- main ----------------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="our model (default: the current one, trained when stale)")
    parser.add_argument(
        "--in-flight", type=int, default=8, help="conversations in flight when a Rasa process is killed"
    )
    parser.add_argument("--outage", type=float, default=10, help="seconds PostgreSQL and Redis stay down")
    parser.add_argument("--restart-delay", type=float, default=5, help="run-prod's PROD_RESTART_DELAY")
    parser.add_argument("--only", help="comma-separated cases to run")
    args = parser.parse_args(argv)
    if not (postgres_up() and redis_up()):
        print(
            "PostgreSQL and Redis must be running on this machine (see docs/deployment.md).", file=sys.stderr
        )
        return 1
    model = args.model or current_model()
    run_dir = ROOT / "var" / "bench" / "faults"
    shutil.rmtree(run_dir, ignore_errors=True)
    env = {"RASA_MODEL": model, "PROD_RESTART_DELAY": str(args.restart_delay), "PROD_RESTART_LIMIT": "5"}
    wanted = set(args.only.split(",")) if args.only else None
    result: dict[str, Any] = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "topology": "make run-prod (PROD_DEMO=1): nginx, 2 Rasa processes, action server with 2 workers, "
        "PostgreSQL, Redis, RabbitMQ, metrics consumer",
        "cases": {},
    }
    log("starting the topology")
    topology = Topology(run_dir, replicas=2, workers=2, env=env)
    try:
        topology.start()
        numbers = clone_accounts(topology.billing_url, 40)
        pool, outbox = NumberPool(numbers), Outbox(topology.billing_url)

        def run(name: str, make: Any) -> None:
            if wanted and name not in wanted:
                return
            log(f"case {name}")
            case = asyncio.run(make())
            result["cases"][name] = case.report()
            log(
                "  "
                + json.dumps(
                    {k: result["cases"][name][k] for k in ("messages", "failed_kindly", "errors", "lost")}
                )
            )

        run("rasa_process_killed", lambda: rasa_process_killed(topology, pool, outbox, args.in_flight))
        run("action_server_stopped", lambda: action_server_stopped(topology, pool, outbox))
        run(
            "postgres_restarted",
            lambda: store_outage(
                "postgres_restarted", topology, pool, outbox, stop_postgres, start_postgres, args.outage
            ),
        )
        run(
            "redis_killed",
            lambda: store_outage(
                "redis_killed", topology, pool, outbox, stop_redis, start_redis, args.outage
            ),
        )
        outbox.dispose()
    finally:
        start_postgres()
        start_redis()
        topology.stop()
    cases = result["cases"].values()
    result["lost_total"] = sum(c["lost"] for c in cases)
    result["half_written_total"] = sum(c.get("half_written_changes", 0) for c in cases)
    result["targets"] = {
        "nothing_lost": result["lost_total"] == 0,
        "no_half_written_change": result["half_written_total"] == 0,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
