"""Load benchmark: the production topology under simulated subscribers, against the stock Rasa bot.

``make bench-load``. One run, one JSON object on stdout (progress on stderr):

1. **Ours** (``make run-prod`` with PROD_DEMO=1, on databases, a queue and ports of its own: nginx,
   RASA_REPLICAS Rasa processes on PostgreSQL + Redis + RabbitMQ, the action server's workers):

   * ``subscribers``: ``--users`` simulated subscribers (50) with think time between turns play
     the scripted conversations of bench/harness.py (verification, unknown charge, alert, closure),
     half over REST and half over the widget's socket.io protocol, for ``--duration`` seconds. Turn
     latency p50/p95/p99, messages per second, errors, replies that were the kind failure text,
     replies that were not what the script expects, and **lost** messages: a message without its
     reply, or answered but not in the tracker store with a bot event after it.
   * ``throughput``: closed loops with no think time at rising concurrency over REST; the maximum
     sustained throughput is the highest rate of a step with no error, nothing lost and p95 within
     ``--slo-ms``.

2. **Stock** (``rasa init``'s starter bot, trained once into var/bench/stock-bot, served by one
   ``rasa run`` process as shipped: REST, in-memory tracker store): the same throughput steps over
   REST with its own conversation (greet, mood, affirm, goodbye), and the same subscriber load over
   REST.

The ratio ours/stock of maximum sustained throughput is printed with the targets
(50 subscribers: p95 < 300 ms, 0 errors, 0 lost; ratio ≥ 1 on the same stores, ≥ 0.75 as shipped).
For ours it also reads /proc (``bench/procstat.py``): the CPU all processes of the topology used per
subscriber message during the 50-subscriber load (run-prod's process tree and the machine's
PostgreSQL, Redis and RabbitMQ; the load generator excluded), and each Rasa process's resident
memory at the end. A top-level ``summary`` gathers the figures issue 15 tracks; the JSON is also
written to ``bench/results/load-YYYY-MM-DD-HHMM.json`` (UTC; ``--no-save`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procstat  # noqa: E402
from bench.harness import (  # noqa: E402
    PG,
    ROOT,
    SCRIPTS,
    Conversation,
    NumberPool,
    Outbox,
    RestSubscriber,
    Topology,
    Turn,
    WidgetSubscriber,
    clone_accounts,
    current_model,
    delete_queue,
    free_ports,
    psql,
    run_conversation,
    summarise,
    tracker_losses,
)
from bot.ops.topology import (  # noqa: E402
    ACTION_SERVER,
    METRICS_CONSUMER,
    NGINX,
    WECHAT_SENDER,
    rasa_program,
)

STOCK_SCRIPT = [("hello", ("",)), ("I am very sad", ("",)), ("yes", ("",)), ("goodbye", ("",))]


def log(*parts: Any) -> None:
    print(f"[{datetime.now():%H:%M:%S}]", *parts, file=sys.stderr, flush=True)


# --- drivers -------------------------------------------------------------------------------------


async def drive(
    url: str,
    users: int,
    duration: float,
    think: tuple[float, float],
    channels: tuple[str, ...],
    play: Any,
    seed: int = 7,
) -> tuple[list[Conversation], float]:
    """``users`` simulated subscribers, each playing conversations back to back for ``duration`` s.

    A subscriber starts a conversation only before the deadline and finishes the one it is in.
    ``play(subscriber, index, think)`` plays one conversation.
    """
    import aiohttp

    rng = random.Random(seed)
    done: list[Conversation] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        deadline = started + duration

        async def user(index: int) -> None:
            channel = channels[index % len(channels)]
            pause_rng = random.Random(rng.random())

            async def pause() -> None:
                if think[1] > 0:
                    await asyncio.sleep(pause_rng.uniform(*think))

            await asyncio.sleep(pause_rng.uniform(0, think[1]))  # arrivals spread over one think time
            iteration = 0
            while time.perf_counter() < deadline:
                subscriber: Any = (
                    RestSubscriber(http, url) if channel == "rest" else WidgetSubscriber(http, url)
                )
                if isinstance(subscriber, WidgetSubscriber):
                    # a widget connects when its page opens, not when the subscriber types: the
                    # handshake is not part of a turn (a failed one is retried, and timed, by say())
                    try:
                        await subscriber.connect()
                    except Exception:  # noqa: BLE001
                        await subscriber.close()
                try:
                    conversation = await play(
                        subscriber, index + iteration * users, pause if think[1] > 0 else None
                    )
                finally:
                    await subscriber.close()
                conversation.channel = channel
                done.append(conversation)
                iteration += 1
                if think[1] > 0:
                    await pause()

        await asyncio.gather(*(user(i) for i in range(users)))
        elapsed = time.perf_counter() - started
    return done, elapsed


def ours_player(pool: NumberPool, outbox: Outbox) -> Any:
    names = list(SCRIPTS)

    async def play(subscriber: Any, index: int, think: Any) -> Conversation:
        script = names[index % len(names)]
        return await run_conversation(subscriber, script, pool.take(script), outbox, think)

    return play


async def stock_play(subscriber: Any, index: int, think: Any) -> Conversation:
    conversation = Conversation("stock", "rest")
    for step, (text, _) in enumerate(STOCK_SCRIPT):
        if step and think is not None:
            await think()
        turn = await subscriber.say(text)
        conversation.sender = subscriber.sender
        conversation.turns.append(turn)
        if turn.error:
            break
    return conversation


def report(conversations: list[Conversation], elapsed: float, tracker_url: Optional[str]) -> dict[str, Any]:
    turns: list[Turn] = [t for c in conversations for t in c.turns]
    figures = summarise(turns, elapsed)
    figures["seconds"] = round(elapsed, 1)
    figures["conversations"] = len(conversations)
    figures["unexpected_replies"] = sum(c.unexpected for c in conversations)
    errors: dict[str, int] = {}
    for t in turns:
        if t.error:
            errors[t.error] = errors.get(t.error, 0) + 1
    figures["error_kinds"] = errors
    unanswered = sum(1 for t in turns if t.error)
    if tracker_url:
        answered: dict[str, int] = {}
        for c in conversations:
            if c.sender:
                answered[c.sender] = answered.get(c.sender, 0) + sum(1 for t in c.turns if t.error is None)
        check = tracker_losses(tracker_url, answered)
        figures["lost"] = unanswered + check["lost"]
        figures["lost_detail"] = {"no_reply": unanswered, "answered_not_in_tracker": check["lost"]}
    else:
        figures["lost"] = unanswered
        figures["lost_detail"] = {"no_reply": unanswered, "answered_not_in_tracker": None}
    by_channel = {}
    for channel in sorted({c.channel for c in conversations}):
        own = [t for c in conversations if c.channel == channel for t in c.turns]
        by_channel[channel] = summarise(own, elapsed)
    figures["by_channel"] = by_channel
    return figures


def steps_report(
    url: str, steps: list[int], seconds: float, play: Any, slo_ms: float, tracker_url: Optional[str]
) -> dict[str, Any]:
    results = []
    for concurrency in steps:
        log(f"  throughput step: {concurrency} concurrent, {seconds:.0f} s")
        conversations, elapsed = asyncio.run(drive(url, concurrency, seconds, (0, 0), ("rest",), play))
        figures = report(conversations, elapsed, tracker_url)
        figures["concurrency"] = concurrency
        for key in ("by_channel", "error_kinds", "conversations"):
            figures.pop(key, None)
        log(
            f"    {figures['messages_per_second']} msg/s, p95 {figures['latency_ms']['p95']} ms,"
            f" errors {figures['errors']}"
        )
        results.append(figures)
        if figures["errors"] or (figures["latency_ms"]["p95"] or 0) > 4 * slo_ms:
            break  # past saturation: more concurrency only queues
    sustained = [
        r
        for r in results
        if r["errors"] == 0
        and r["lost"] == 0
        and r["latency_ms"]["p95"] is not None
        and r["latency_ms"]["p95"] <= slo_ms
    ]
    best = max(sustained, key=lambda r: r["messages_per_second"], default=None)
    return {
        "slo_p95_ms": slo_ms,
        "steps": results,
        "max_sustained_messages_per_second": best["messages_per_second"] if best else None,
        "at_concurrency": best["concurrency"] if best else None,
    }


# --- ours ----------------------------------------------------------------------------------------


def measure_ours(args: argparse.Namespace) -> dict[str, Any]:
    model = args.model or current_model()
    run_dir = ROOT / "var" / "bench" / "run-prod"
    shutil.rmtree(run_dir, ignore_errors=True)
    env = {"RASA_MODEL": model}
    log(
        f"starting the topology: {args.replicas} Rasa processes, {args.workers} action workers,"
        f" model {Path(model).name}"
    )
    started = time.perf_counter()
    with Topology(run_dir, replicas=args.replicas, workers=args.workers, env=env) as topology:
        ready_s = round(time.perf_counter() - started, 1)
        turns_per_conversation = max(len(s) for s in SCRIPTS.values())
        # the subscribers' and the soak's conversations, and some for the throughput steps
        load_seconds = max(args.duration, args.soak_minutes * 60)
        need = int(args.users * load_seconds / (turns_per_conversation * args.think_min)) + 400
        copies = max(50, min(400, need // len(SCRIPTS) + 1))
        log(f"ready in {ready_s} s; cloning {copies} accounts per script")
        numbers = clone_accounts(topology.billing_url, copies)
        pool, outbox = NumberPool(numbers), Outbox(topology.billing_url)
        play = ours_player(pool, outbox)
        try:
            log("warm-up")
            asyncio.run(drive(topology.url, 4, 10, (0, 0), ("rest", "socketio"), play))
            log(
                f"subscribers: {args.users} for {args.duration:.0f} s,"
                f" think {args.think_min}-{args.think_max} s"
            )
            load_started = time.perf_counter()
            before = _topology_cpu(topology)
            conversations, elapsed = asyncio.run(
                drive(
                    topology.url,
                    args.users,
                    args.duration,
                    (args.think_min, args.think_max),
                    ("rest", "socketio"),
                    play,
                )
            )
            subscribers = report(conversations, elapsed, topology.tracker_url)
            after = _topology_cpu(topology)
            cpu_s = procstat.cpu_used_between(before, after)
            subscribers["cpu"] = {
                "seconds": round(cpu_s, 1),
                "cores_busy": round(cpu_s / elapsed, 2) if elapsed else None,
                "ms_per_message": round(cpu_s * 1000 / subscribers["messages"], 1)
                if subscribers["messages"]
                else None,
                "processes": "run-prod's tree and the machine's PostgreSQL, Redis and RabbitMQ",
                "seconds_by_part": _cpu_by_part(topology, before, after),
            }
            log(
                f"  {subscribers['messages_per_second']} msg/s, p95 {subscribers['latency_ms']['p95']} ms,"
                f" errors {subscribers['errors']}, lost {subscribers['lost']}"
            )
            throughput = steps_report(
                topology.url, args.steps, args.step_seconds, play, args.slo_ms, topology.tracker_url
            )
            soak = _soak(topology, args, play, load_started)
            rasa_rss = {
                str(port): procstat.rss_mb(procstat.tree(topology.pid(rasa_program(port))))
                for port in topology.rasa_ports
            }
            load_minutes = round((time.perf_counter() - load_started) / 60, 1)
        finally:
            outbox.dispose()
        nginx_upstreams = _upstream_spread(run_dir / "nginx" / "access.log")
    return {
        "topology": {
            "rasa_processes": args.replicas,
            "action_server_workers": args.workers,
            "front": "nginx",
            "stores": "PostgreSQL tracker and billing store, Redis lock store and socket.io manager,"
            " RabbitMQ event broker",
            "ready_seconds": ready_s,
            "requests_per_rasa_process": nginx_upstreams,
            "rasa_rss_mb": rasa_rss,
            "rasa_rss_after_minutes_of_load": load_minutes,
            "model": Path(model).name,
            "model_archive_mb": round(Path(model).stat().st_size / 2**20, 1),
        },
        "subscribers": subscribers,
        "throughput": throughput,
        "soak": soak,
    }


def _soak(topology: Topology, args: argparse.Namespace, play: Any, load_started: float) -> dict[str, Any]:
    """More subscriber load, until ``--soak-minutes`` of load in all, so that the Rasa processes'
    memory is read after that long (issue 15: after 10 minutes); its figures are reported too."""
    left = args.soak_minutes * 60 - (time.perf_counter() - load_started)
    if left < 10:
        return {"seconds": 0}
    log(f"soak: {args.users} subscribers for {left:.0f} s more, then the Rasa processes' memory")
    conversations, elapsed = asyncio.run(
        drive(topology.url, args.users, left, (args.think_min, args.think_max), ("rest", "socketio"), play)
    )
    figures = report(conversations, elapsed, topology.tracker_url)
    for key in ("by_channel", "error_kinds"):
        figures.pop(key, None)
    log(
        f"  {figures['messages_per_second']} msg/s, p95 {figures['latency_ms']['p95']} ms,"
        f" errors {figures['errors']}, lost {figures['lost']}"
    )
    return figures


def _topology_cpu(topology: Topology) -> dict[int, float]:
    """CPU seconds so far of every process of the topology (the load generator is not among them)."""
    assert topology.proc is not None
    pids = procstat.tree(topology.proc.pid) | procstat.named(procstat.SERVICE_COMMANDS)
    return procstat.cpu_seconds(pids - {os.getpid()})


def _cpu_by_part(topology: Topology, before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """The CPU seconds between two samples, by part of the topology: the Rasa processes, the action
    server, nginx, the metrics consumer, the WeChat sender, PostgreSQL, Redis, RabbitMQ (by command)."""
    family = procstat.children()
    owner: dict[int, str] = {}
    for name in (
        *(rasa_program(port) for port in topology.rasa_ports),
        ACTION_SERVER,
        NGINX,
        METRICS_CONSUMER,
        WECHAT_SENDER,
    ):
        try:
            leader = topology.pid(name)
        except (OSError, ValueError):
            continue
        part = "rasa" if name.startswith("rasa") else name
        for pid in procstat.tree(leader, family):
            owner[pid] = part
    for pid in after:
        if pid not in owner:
            try:
                owner[pid] = procstat.command(pid)
            except OSError:
                owner[pid] = "other"
    parts: dict[str, float] = {}
    for pid, seconds in after.items():
        parts[owner[pid]] = parts.get(owner[pid], 0.0) + seconds - before.get(pid, 0.0)
    return {part: round(seconds, 1) for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1])}


def _latest_training_seconds() -> tuple[Optional[float], Optional[str]]:
    """The whole model's training time on this machine, from the newest ``make bench-nlu`` result."""
    found = sorted((ROOT / "bench" / "results").glob("nlu-*.json"))
    if not found:
        return None, None
    return json.loads(found[-1].read_text()).get("training_seconds"), found[-1].name


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """The figures issue 15 tracks, from one run's result."""
    ours = result["ours"]
    subscribers, topology = ours["subscribers"], ours["topology"]
    train_s, train_from = _latest_training_seconds()
    return {
        "ratio_vs_stock_same_stores": result.get("throughput_ratio_on_our_stores"),
        "ratio_vs_stock_as_shipped": result.get("throughput_ratio"),
        "p95_ms_50_subscribers": subscribers["latency_ms"]["p95"],
        # the 50 subscribers' 120 s and the soak that follows the throughput steps
        "errors": subscribers["errors"] + ours.get("soak", {}).get("errors", 0),
        "lost": subscribers["lost"] + ours.get("soak", {}).get("lost", 0),
        "cpu_ms_per_message": subscribers.get("cpu", {}).get("ms_per_message"),
        "rasa_rss_mb_max": max(topology["rasa_rss_mb"].values(), default=None),
        "rasa_rss_after_minutes_of_load": topology["rasa_rss_after_minutes_of_load"],
        "model_archive_mb": topology["model_archive_mb"],
        "ready_seconds": topology["ready_seconds"],
        "train_seconds": train_s,
        "train_seconds_from": train_from,
    }


def _upstream_spread(access_log: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if access_log.exists():
        for line in access_log.read_text().splitlines():
            upstream = line.rsplit(" ", 1)[-1]
            if upstream.startswith("127.0.0.1:"):
                counts[upstream] = counts.get(upstream, 0) + 1
    return counts


# --- stock ---------------------------------------------------------------------------------------


def stock_model(folder: Path) -> str:
    """``rasa init --no-prompt`` into ``folder`` once (it trains the starter bot); the model's path."""
    models = sorted((folder / "models").glob("*.tar.gz")) if folder.exists() else []
    if not models:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        log("training the stock starter bot (rasa init --no-prompt) ...")
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "rasa"), "init", "--no-prompt", "--init-dir", str(folder)],
            cwd=folder.parent,
            check=True,
            stdout=sys.stderr,
            stderr=sys.stderr,
            env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
        )
        models = sorted((folder / "models").glob("*.tar.gz"))
    return str(models[-1])


def measure_stock(args: argparse.Namespace) -> dict[str, Any]:
    """The stock bot as shipped (in-memory tracker store), and on our production stores."""
    folder = ROOT / "var" / "bench" / "stock-bot"
    model = stock_model(folder)
    result: dict[str, Any] = {
        "bot": "rasa init --no-prompt (Rasa 3.6 starter bot: greet, mood, affirm, goodbye), one rasa run"
        " process, REST, no custom actions",
        "as_shipped": _measure_stock_variant(
            args, model, folder, folder / "endpoints.yml", None, "as-shipped"
        ),
    }
    if args.skip_stock_on_stores:
        return result
    suffix = f"stock_{os.getpid()}"
    database, queue = f"rasa_tracker_{suffix}", f"events_{suffix}"
    psql(f'CREATE DATABASE "{database}"')
    endpoints = ROOT / "var" / "bench" / "stock-endpoints.yml"
    endpoints.write_text(
        yaml.safe_dump(
            {
                "tracker_store": {"type": "SQL", "dialect": "postgresql", "url": "127.0.0.1", "port": 5432,
                                  "db": database, "username": "postgres"},
                "lock_store": {"type": "redis", "url": "127.0.0.1", "port": 6379, "db": 3,
                               "key_prefix": suffix},
                "event_broker": {"type": "pika", "url": "127.0.0.1", "port": 5672, "username": "guest",
                                 "password": "guest", "queues": [queue], "exchange_name": f"events-{suffix}"},
            }
        )
    )  # fmt: skip
    try:
        result["on_our_stores"] = _measure_stock_variant(
            args, model, folder, endpoints, f"{PG}/{database}", "on-our-stores"
        )
        result["on_our_stores"]["stores"] = (
            "PostgreSQL tracker store, Redis lock store, RabbitMQ event broker"
            " (no consumer: the queue only fills)"
        )
    finally:
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        try:
            asyncio.run(delete_queue(queue, f"events-{suffix}"))
        except Exception:  # noqa: BLE001 - nothing to delete
            pass
    return result


def _measure_stock_variant(
    args: argparse.Namespace, model: str, folder: Path, endpoints: Path, tracker_url: Optional[str], name: str
) -> dict[str, Any]:
    port = free_ports(1)
    log_path = ROOT / "var" / "bench" / f"stock-bot-{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RASA_", "BOT_"))}
    env["RASA_TELEMETRY_ENABLED"] = "false"
    command = [
        str(ROOT / ".venv" / "bin" / "rasa"), "run", "--model", model,
        "--interface", "127.0.0.1", "--port", str(port),
        "--credentials", str(folder / "credentials.yml"), "--endpoints", str(endpoints),
    ]  # fmt: skip
    started = time.perf_counter()
    with open(log_path, "w") as out:
        proc = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, Any] = {}
    try:
        _wait_http(f"{url}/webhooks/rest/", proc, 300)
        figures["ready_seconds"] = round(time.perf_counter() - started, 1)
        log(f"stock bot ({name}) ready in {figures['ready_seconds']} s on one process")
        asyncio.run(drive(url, 4, 10, (0, 0), ("rest",), _stock_rest(url)))
        if tracker_url is None:
            log(f"stock subscribers: {args.users} for {args.duration:.0f} s over REST")
            conversations, elapsed = asyncio.run(
                drive(
                    url,
                    args.users,
                    args.duration,
                    (args.think_min, args.think_max),
                    ("rest",),
                    _stock_rest(url),
                )
            )
            figures["subscribers"] = report(conversations, elapsed, None)
        figures["throughput"] = steps_report(
            url, args.steps, args.step_seconds, _stock_rest(url), args.slo_ms, tracker_url
        )
    finally:
        proc.terminate()
        proc.wait(60)
    return figures


def _stock_rest(url: str) -> Any:
    async def play(subscriber: Any, index: int, think: Any) -> Conversation:
        if isinstance(subscriber, RestSubscriber):
            subscriber.headers = {}
        return await stock_play(subscriber, index, think)

    return play


def _wait_http(url: str, proc: subprocess.Popen[Any], timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


# --- main ----------------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="simulated subscribers (default 50)")
    parser.add_argument(
        "--duration", type=float, default=120, help="seconds of subscriber load (default 120)"
    )
    parser.add_argument("--think-min", type=float, default=2.0, help="shortest pause between turns, s")
    parser.add_argument("--think-max", type=float, default=6.0, help="longest pause between turns, s")
    parser.add_argument(
        "--steps", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16, 32]
    )
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument(
        "--slo-ms", type=float, default=1000, help="p95 bound of a sustained step (default 1000)"
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=10,
        help="keep subscribers on ours until this many minutes of load before reading memory (default 10)",
    )
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", help="our model (default: the current one, trained when stale)")
    parser.add_argument("--skip-stock", action="store_true", help="measure ours only")
    parser.add_argument("--no-save", action="store_true", help="print the JSON only (no bench/results file)")
    parser.add_argument(
        "--skip-stock-on-stores", action="store_true", help="only the stock bot as shipped, not on our stores"
    )
    args = parser.parse_args(argv)

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result: dict[str, Any] = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit or None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB,"
        f" Python {platform.python_version()}",
        "settings": {
            "users": args.users,
            "duration_s": args.duration,
            "think_s": [args.think_min, args.think_max],
            "steps": args.steps,
            "step_seconds": args.step_seconds,
            "soak_minutes": args.soak_minutes,
        },
    }
    result["ours"] = measure_ours(args)
    if not args.skip_stock:
        result["stock"] = measure_stock(args)
        ours = result["ours"]["throughput"]["max_sustained_messages_per_second"]
        for variant, key in (
            ("as_shipped", "throughput_ratio"),
            ("on_our_stores", "throughput_ratio_on_our_stores"),
        ):
            if variant in result["stock"]:
                stock = result["stock"][variant]["throughput"]["max_sustained_messages_per_second"]
                result[key] = round(ours / stock, 2) if ours and stock else None
    subscribers = result["ours"]["subscribers"]
    p95 = subscribers["latency_ms"]["p95"]
    result["targets"] = {
        "p95_under_300ms_with_50_subscribers": bool(args.users >= 50 and p95 is not None and p95 < 300),
        "zero_errors": subscribers["errors"] == 0,
        "zero_lost": subscribers["lost"] == 0,
        "throughput_at_least_stock_on_our_stores": (result.get("throughput_ratio_on_our_stores") or 0) >= 1,
        "throughput_at_least_three_quarters_of_stock_as_shipped": (result.get("throughput_ratio") or 0)
        >= 0.75,
    }
    result = {"summary": summary_of(result), **result}
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if not args.no_save:
        saved = ROOT / "bench" / "results" / f"load-{datetime.now(timezone.utc):%Y-%m-%d-%H%M}.json"
        saved.write_text(text + "\n", encoding="utf-8")
        log(f"saved {saved.relative_to(ROOT)}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
