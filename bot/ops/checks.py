"""The machine's services run-prod needs (PostgreSQL, Redis, RabbitMQ, nginx) and how it talks about them.

Each check says what a missing service costs and starts the ones it can with this machine's commands.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Optional

from bot.ops.topology import (
    ROOT,
    Layout,
)


class Stop(Exception):
    """Ctrl-C or SIGTERM."""


class Failed(Exception):
    """A reason to stop with exit status 1; its message has been printed."""


def say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


def warn(text: str) -> None:
    print(f"  ! {text}", file=sys.stderr, flush=True)


def shout(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def is_local(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")


def until(check: Callable[[], bool], tries: int, pause: float) -> bool:
    for _ in range(tries):
        if check():
            return True
        time.sleep(pause)
    return False


def quiet(args: list[str], log: Path, env: Optional[Mapping[str, str]] = None) -> bool:
    """Runs a command with its output in ``log``; True when it succeeded."""
    with open(log, "w", encoding="utf-8") as out:
        return (
            subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode == 0
        )


def shown(path: Path) -> str:
    """A path as the messages show it: relative to the project when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the machine's services ------------------------------------------------------------------------


def check_postgres(env: Mapping[str, str], layout: Layout, production: bool, user_db_url: str) -> bool:
    host, port = env["RASA_TRACKER_DB_HOST"], env["RASA_TRACKER_DB_PORT"]
    pg_env = {**env, "PGPASSWORD": env.get("RASA_TRACKER_DB_PASSWORD", "")}

    def ready() -> bool:
        args = ["pg_isready", "-q", "-h", host, "-p", port]
        done = subprocess.run(
            args, env={**env, "PGCONNECT_TIMEOUT": "3"}, stderr=subprocess.DEVNULL, check=False
        )
        return done.returncode == 0

    def psql(sql: str) -> subprocess.CompletedProcess[str]:
        args = ["psql", "-h", host, "-p", port, "-U", env["RASA_TRACKER_DB_USER"], "-d", "postgres", "-tAq"]
        pg = {**pg_env, "PGCONNECT_TIMEOUT": "5"}
        return subprocess.run([*args, "-c", sql], env=pg, stdout=subprocess.PIPE, text=True, check=False)

    up = False
    if not shutil.which("psql"):
        warn("PostgreSQL: no psql client here (apt-get install postgresql-client).")
    elif ready():
        up = True
    elif is_local(host) and shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        say(f"  PostgreSQL at {host}:{port} is down; starting it (pg_ctlcluster ... main start) ...")
        cluster = sorted(os.listdir("/etc/postgresql"))[0]
        start = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start"]
        up = quiet(start, layout.run_dir / "postgres-start.log") and until(ready, 20, 1)
    tracker_db = env["RASA_TRACKER_DB_NAME"]
    if up:
        for db in (tracker_db, layout.billing_db):
            if db == layout.billing_db and user_db_url:
                continue  # the operator's own database
            exists = f"SELECT 1 FROM pg_database WHERE datname = '{db}'"  # noqa: S608 - the operator's name
            if psql(exists).stdout.strip() != "1":
                if psql(f'CREATE DATABASE "{db}"').returncode == 0:
                    say(f"  PostgreSQL: created database {db}")
        say(f"  PostgreSQL  up    {host}:{port}  (billing store, tracker store: database {tracker_db})")
        return True
    if production:
        say(f"  PostgreSQL  DOWN  {host}:{port}, and it could not be started here.")
        say("Production needs PostgreSQL for the billing store and the conversations; not starting.")
        raise Failed
    warn("PostgreSQL is down and could not be started: billing store and conversations fall back to SQLite")
    warn("files in var/run-prod/, and only ONE Rasa process runs (SQLite is not shared by several).")
    return False


def check_redis(env: Mapping[str, str], layout: Layout) -> bool:
    host, port = env["REDIS_HOST"], env["REDIS_PORT"]

    def ping() -> bool:
        args = ["redis-cli", "-h", host, "-p", port, "ping"]
        auth = {**env, "REDISCLI_AUTH": env.get("REDIS_PASSWORD", "")}
        done = subprocess.run(args, env=auth, capture_output=True, text=True, check=False)
        return done.stdout.strip() == "PONG"

    up = False
    if not shutil.which("redis-cli"):
        warn("Redis: no redis-cli here (apt-get install redis-tools).")
    elif ping():
        up = True
    elif is_local(host) and shutil.which("redis-server"):
        say(f"  Redis at {host}:{port} is down; starting it (redis-server --daemonize yes ...) ...")
        start = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", port]
        start += ["--save", "", "--appendonly", "no", "--dir", "/var/lib/redis"]
        start += ["--logfile", "/var/log/redis/ci.log"]
        up = quiet(start, layout.run_dir / "redis-start.log") and until(ping, 10, 0.5)
    if up:
        locks = env["RASA_LOCK_REDIS_DB"]
        say(f"  Redis       up    {host}:{port}  (lock store db {locks}, socket.io manager)")
    elif layout.replicas > 1:
        warn("Redis is down and could not be started: no shared lock store, so only ONE Rasa process runs")
        warn("(two processes could append to one conversation at once), and socket.io stays in memory.")
    return up


def check_rabbitmq(env: Mapping[str, str], layout: Layout) -> bool:
    host, port = env["RABBITMQ_HOST"], int(env["RABBITMQ_PORT"])
    up = port_open(host, port)
    if not up and is_local(host) and shutil.which("rabbitmq-server"):
        say(f"  RabbitMQ at {host}:{port} is down; starting it (rabbitmq-server -detached) ...")
        started = quiet(["rabbitmq-server", "-detached"], layout.run_dir / "rabbitmq-start.log")
        up = started and until(lambda: port_open(host, port), 60, 1)
    if up:
        say(f"  RabbitMQ    up    {host}:{port}  (event broker, queue {env['RASA_EVENTS_QUEUE']})")
    else:
        warn("RabbitMQ is down and could not be started: Rasa runs WITHOUT an event broker, and there is no")
        warn("metrics consumer (python -m bot metrics shows what was counted before).")
    return up


def find_nginx(env: Mapping[str, str], layout: Layout) -> Optional[str]:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found and env.get("PROD_INSTALL_NGINX", "0") == "1":
        say("  nginx is missing; installing Debian's nginx (apt-get install nginx) ...")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"]
        apt_env = {**env, "DEBIAN_FRONTEND": "noninteractive"}
        if os.geteuid() == 0 and quiet(install, layout.run_dir / "nginx-install.log", apt_env):
            found = "/usr/sbin/nginx"
        else:
            warn("installing nginx failed (see var/run-prod/nginx-install.log; it needs root).")
    if found:
        say(f"  nginx       found {found}  (front on {layout.front_host}:{layout.front_port})")
    else:
        warn("nginx is not installed: no single address in front. Install it with 'apt-get install nginx'")
        warn(
            "or run 'PROD_INSTALL_NGINX=1 make run-prod'; meanwhile each Rasa process is reached"
            " on its own port."
        )
    return found


def fit_in_memory(replicas: int) -> int:
    """Each Rasa process takes about 1-1.5 GB: as many as MemAvailable allows, 1 GB left over."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
    available = kb // 1024
    fit = max(1, (available - 1024) // 1500)
    if replicas > fit:
        warn(
            f"only {available} MB of memory available; each Rasa process takes about 1-1.5 GB: "
            f"{fit} process(es) instead of {replicas}."
        )
        return fit
    return replicas


# --- the store, the model, the endpoints -------------------------------------------------------------
