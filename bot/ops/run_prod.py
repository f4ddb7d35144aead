"""``make run-prod``: the production topology on this machine (docs/deployment.md).

scripts/run-prod.sh chooses the mode (``PROD_DEMO=1`` or ``BOT_ENV=production``) and
scripts/env.sh's defaults, then runs this. It checks PostgreSQL, Redis, RabbitMQ and nginx, starts
the ones it can with this machine's commands and says what a missing one costs; creates the
databases, migrates the billing store, writes Rasa's endpoints and nginx's configuration, then runs
supervisord over the programs of :mod:`bot.ops.topology`. supervisord starts a program again when
it exits; this prints a line for each restart, and stops everything after ``PROD_RESTART_LIMIT``
exits of one program in ten minutes (exit 1), or on Ctrl-C / SIGTERM (exit 0). PostgreSQL, Redis
and RabbitMQ keep running: they are the machine's services.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Optional

from bot.ops.checks import (
    Failed,
    Stop,
    check_postgres,
    check_rabbitmq,
    check_redis,
    find_nginx,
    fit_in_memory,
    port_open,
    quiet,
    say,
    shout,
    shown,
    tail,
)
from bot.ops.topology import (
    ROOT,
    VENV_BIN,
    Layout,
    LayoutError,
    Program,
    Services,
    endpoints,
    environment,
    programs,
    supervisord_conf,
    write_nginx_conf,
)

PYTHON = str(VENV_BIN / "python")
SECRETS = ("BOT_SECRET_KEY", "RASA_API_TOKEN", "REST_CHANNEL_TOKEN", "ACTION_SERVER_TOKEN")
READY_TIMEOUT = 400  # seconds: each Rasa process loads the model


def run(args: list[str]) -> None:
    """Runs a step whose messages the operator sees; run-prod stops when it fails."""
    if subprocess.run(args, cwd=ROOT, check=False).returncode != 0:
        raise Failed


def choose_model(env: Mapping[str, str]) -> str:
    model = env.get("RASA_MODEL", "")
    if model:
        if not os.path.isfile(model):
            say(f"RASA_MODEL={model} is not a file.")
            raise Failed
        say(f"Model: {model} (from RASA_MODEL; not checked against data/, domain.yml and config.yml)")
        return model
    train = ["scripts/train-if-stale", "models"]
    done = subprocess.run(train, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise Failed
    return done.stdout.strip().splitlines()[-1]


def write_endpoints(layout: Layout, services: Services) -> None:
    import yaml  # type: ignore[import-untyped]

    with open(ROOT / "endpoints.prod.yml", encoding="utf-8") as f:
        prod = yaml.safe_load(f)
    with open(layout.endpoints_file, "w", encoding="utf-8") as f:
        f.write("# Written by make run-prod (bot/ops/topology.py) from endpoints.prod.yml;")
        f.write(" ${VAR}s are filled in by Rasa.\n")
        yaml.safe_dump(endpoints(layout, services, prod), f, sort_keys=False, allow_unicode=True)
    if services.postgres:
        # The tracker store's tables, once, so the Rasa processes do not race to create them. Rasa
        # falls back to an in-memory store when it cannot import the configured class: say so here.
        code = (
            "import sys\n"
            "from rasa.core.tracker_store import TrackerStore\n"
            "from rasa.core.utils import AvailableEndpoints\n"
            "config = AvailableEndpoints.read_endpoints(sys.argv[1]).tracker_store\n"
            "store = TrackerStore.create(config)\n"
            "if not hasattr(store, 'engine'):\n"
            "    sys.exit(f'{config.type}: Rasa made a {type(store).__name__} (import failed?)')\n"
            "store.engine.dispose()\n"
        )
        log = layout.run_dir / "tracker-tables.log"
        if not quiet([PYTHON, "-c", code, str(layout.endpoints_file)], log):
            say("Preparing the tracker store failed:", tail(log, 5))
            raise Failed


# --- supervisord -----------------------------------------------------------------------------------


class Supervisor:
    """supervisord over the programs, in a session of its own (Ctrl-C reaches run-prod only)."""

    def __init__(self, layout: Layout, found: list[Program]) -> None:
        from supervisor.xmlrpc import SupervisorTransport

        self.layout, self.programs = layout, {p.name: p for p in found}
        pids = layout.run_dir / "pids"
        pids.mkdir(parents=True, exist_ok=True)
        for old in pids.glob("*.pid"):
            old.unlink()
        for program in found:
            layout.log_file(program.name).write_bytes(b"")
        layout.supervisord_conf_file.write_text(supervisord_conf(layout, found), encoding="utf-8")
        layout.supervisor_socket.unlink(missing_ok=True)
        self.output = layout.run_dir / "supervisord.out"
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "supervisord"), "-c", str(layout.supervisord_conf_file)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.transport = SupervisorTransport(None, None, f"unix://{layout.supervisor_socket}")
        self.rpc: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self.transport)

    def states(self) -> dict[str, dict[str, Any]]:
        """supervisord's record of each program (state, pid, last start and stop)."""
        for _ in range(100):
            if self.process.poll() is not None:
                logs = (tail(self.output, 20), tail(self.layout.run_dir / "supervisord.log", 20))
                shout("\n".join(["supervisord stopped:", *logs]))
                raise Failed
            try:
                return {info["name"]: info for info in self.rpc.supervisor.getAllProcessInfo()}
            except (OSError, xmlrpc.client.Error, http.client.HTTPException):
                self.transport.close()  # a new connection next time
                time.sleep(0.1)  # still starting
        shout("supervisord does not answer; see " + shown(self.layout.run_dir / "supervisord.log"))
        raise Failed

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # supervisord stops every program, then itself
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - the topology's own http:// URLs
            return True
    except OSError:  # refused, or an HTTP error status
        return False


def wait_until_ready(supervisor: Supervisor) -> None:
    """Until every program answers; a program that exits meanwhile failed to start."""
    for _ in range(READY_TIMEOUT):
        if all(answers(p.ready_url) for p in supervisor.programs.values() if p.ready_url):
            return
        for name, info in supervisor.states().items():
            if info["stop"] or info["statename"] in ("BACKOFF", "FATAL", "EXITED"):
                log = supervisor.layout.log_file(name)
                shout(f"{supervisor.programs[name].label} failed to start; the end of {shown(log)}:")
                shout(tail(log, 20))
                raise Failed
        time.sleep(1)
    shout(f"Not ready after {READY_TIMEOUT} s; see the logs in var/run-prod/.")
    raise Failed


class Restarts:
    """What supervisord restarted since the last look: a line for each, and a stop (exit 1) at
    ``restart_limit`` exits of one program within ten minutes, or at one it cannot start at all."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.seen = {name: info["stop"] for name, info in supervisor.states().items()}
        self.exits: dict[str, list[float]] = {name: [] for name in self.seen}

    def check(self) -> None:
        layout = self.supervisor.layout
        for name, info in self.supervisor.states().items():
            program, log = self.supervisor.programs[name], shown(layout.log_file(name))
            stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            if info["statename"] == "FATAL":
                shout(f"{stamp} {program.label} cannot be started ({info['spawnerr']}); stopping. See {log}.")
                raise Failed
            if info["stop"] == self.seen[name]:  # supervisord's time of its last exit
                continue
            self.seen[name] = info["stop"]
            now = time.time()
            self.exits[name] = [t for t in self.exits[name] if now - t < 600] + [now]
            if len(self.exits[name]) >= layout.restart_limit:
                limit = layout.restart_limit
                shout(f"{stamp} {program.label} exited {limit} times in ten minutes; stopping. See {log}.")
                raise Failed
            delay = f"{layout.restart_delay:g}"
            say(f"{stamp} {program.label} exited; starting it again in {delay} s (log: {log}).")


def supervise(supervisor: Supervisor) -> None:
    """Until Ctrl-C (:class:`Stop`) or too many restarts (:class:`Failed`)."""
    restarts = Restarts(supervisor)
    while True:
        time.sleep(0.5)
        restarts.check()


# --- run-prod --------------------------------------------------------------------------------------


def banner(
    layout: Layout, services: Services, mode: str, production: bool, env: Mapping[str, str], took: int
) -> None:
    from sqlalchemy.engine import make_url

    ports = layout.rasa_ports
    front = layout.front_url if services.nginx else ""
    address = front or f"http://127.0.0.1:{ports[0]}"
    lines = ["", f"The assistant is running ({mode}), ready in {took} s."]
    if not front:
        others = " ".join(map(str, ports[1:]))
        lines.append(f"  (no nginx: the URLs below are the first Rasa process; the others are on {others})")
    if production:
        lines.append(f"  Web widget:    {address}/webhooks/web/widget.js")
        lines.append(f"  Agent console: {address}/webhooks/agent/   (accounts: python -m bot agent-add)")
    else:
        password = env.get("BOT_DEMO_AGENT_PASSWORD") or "dev-only-agent-password"
        lines.append(f"  Web chat demo: {address}/webhooks/web/demo")
        lines.append(f"  Agent console: {address}/webhooks/agent/   (demo agent: agent1 / {password})")
    db_url = env["BOT_DATABASE_URL"]
    lines += [
        f"  REST channel:  {address}/webhooks/rest/webhook   (Authorization: Bearer $REST_CHANNEL_TOKEN)",
        f"  socket.io:     {address}/socket.io",
        f"  HTTP API:      {address}/   (?token=$RASA_API_TOKEN)",
        f"  Rasa processes: {' '.join(f'127.0.0.1:{p}' for p in ports)}   "
        f"action server: 127.0.0.1:{layout.action_port} ({layout.workers} workers)",
        f"  Billing store: {make_url(db_url).render_as_string(hide_password=True)}",
    ]
    if services.postgres:
        where = f"{env['RASA_TRACKER_DB_HOST']}:{env['RASA_TRACKER_DB_PORT']}"
        lines.append(f"  Tracker store: PostgreSQL {where} database {env['RASA_TRACKER_DB_NAME']}")
    else:
        lines.append("  Tracker store: SQLite var/run-prod/rasa-tracker.db")
    if services.redis:
        lines.append(
            f"  Lock store:    Redis {env['REDIS_HOST']}:{env['REDIS_PORT']} db {env['RASA_LOCK_REDIS_DB']};"
            " socket.io through Redis across processes"
        )
    else:
        lines.append("  Lock store:    in memory; socket.io in memory (one process)")
    if services.rabbitmq:
        lines.append(
            f"  Events:        RabbitMQ queue {env['RASA_EVENTS_QUEUE']} -> metrics consumer"
            " (var/run-prod/metrics-consumer.log)"
        )
        lines.append("  Metrics:       .venv/bin/python -m bot metrics   (with the same BOT_DATABASE_URL)")
    else:
        lines.append("  Events:        none (RabbitMQ down: no broker, no metrics)")
    if not production:
        lines += [
            "",
            "Try it:",
            f'  curl -s -H "Authorization: Bearer {env["REST_CHANNEL_TOKEN"]}"'
            " -H 'Content-Type: application/json' \\",
            f'    -d \'{{"sender":"demo-1","message":"查一下我的余额"}}\' {address}/webhooks/rest/webhook',
            f"  BOT_DATABASE_URL={db_url} .venv/bin/python -m bot metrics",
        ]
    say(*lines, "", "Press Ctrl-C to stop.")


def prepare(env: MutableMapping[str, str]) -> tuple[Layout, Services, str, str, bool]:
    """Everything before the programs start: the mode, the services, the store, the model, the files.

    Returns:
        the layout (replicas lowered to what runs here), the services, the model, the mode's
        description, and whether this is production.
    """
    production = env.get("PROD_DEMO", "0") != "1"
    if production:
        missing = [v for v in SECRETS if not env.get(v) or env[v].startswith("dev-only")]
        if missing:
            say(
                "run-prod runs with BOT_ENV=production and needs real secrets from the environment.",
                f"Not set (or development values): {' '.join(missing)}",
                "Also BOT_SMS_GATEWAY=http with BOT_SMS_GATEWAY_URL"
                " (docs/deployment.md lists every variable).",
                "To try the topology on this machine with development secrets and demo data:"
                " PROD_DEMO=1 make run-prod",
            )
            raise Failed
        mode = "PRODUCTION (BOT_ENV=production): secrets from the environment, no demo data"
    else:
        mode = (
            "DEMO (PROD_DEMO=1): development secrets and demo accounts"
            " - the topology of production, not its security"
        )
    env["BOT_ENV"] = "production" if production else "development"
    user_db_url = env.get("RUN_PROD_DATABASE_URL", "")  # as the operator set it, before scripts/env.sh
    try:
        layout = Layout.from_env(env)
    except LayoutError as exc:
        say(str(exc))
        raise Failed from None
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        from bot.settings import get_settings

        get_settings()
    except Exception as exc:  # noqa: BLE001 - SettingsError, or a value that does not parse
        say(f"The settings are refused: {exc}")
        raise Failed from None

    say(f"make run-prod - {mode}", "", "Services:")
    postgres = check_postgres(env, layout, production, user_db_url)
    if not postgres:
        layout = replace(layout, replicas=1)
    redis = check_redis(env, layout)
    if not redis:
        layout = replace(layout, replicas=1)
    rabbitmq = check_rabbitmq(env, layout)
    services = Services(postgres, redis, rabbitmq, find_nginx(env, layout))
    layout = replace(layout, replicas=fit_in_memory(layout.replicas))
    env.update(environment(layout, services, env, user_db_url))

    ports = [layout.action_port, *layout.rasa_ports] + ([layout.front_port] if services.nginx else [])
    for port in ports:
        if port_open("127.0.0.1", port):
            say(
                f"Port {port} is already in use: stop what runs there,"
                " or set RASA_BASE_PORT / PROD_PORT / ACTION_SERVER_PORT."
            )
            raise Failed

    say("", "Migrating the billing store ...")
    run([PYTHON, "-m", "bot", "db", "upgrade"])
    if not production:
        run([PYTHON, "-m", "bot", "seed-demo", "--if-empty"])
    model = choose_model(env)
    write_endpoints(layout, services)
    if services.nginx:
        ngx = layout.nginx_dir
        write_nginx_conf(ngx, layout.front_host, layout.front_port, layout.rasa_ports)
        test = [
            services.nginx,
            "-t",
            "-q",
            "-p",
            str(ngx),
            "-e",
            str(ngx / "error.log"),
            "-c",
            str(ngx / "nginx.conf"),
        ]
        checked = subprocess.run(test, stderr=subprocess.PIPE, text=True, check=False)
        (layout.run_dir / "nginx-test.log").write_text(checked.stderr, encoding="utf-8")
        if checked.returncode != 0:
            say("The generated nginx configuration is refused:", checked.stderr)
            raise Failed
    return layout, services, model, mode, production


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    env = os.environ  # the programs inherit what run-prod sets
    try:
        layout, services, model, mode, production = prepare(env)
    except Failed:
        return 1
    except KeyboardInterrupt:
        return 130

    def interrupted(*_: object) -> None:
        raise Stop

    signal.signal(signal.SIGTERM, interrupted)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # as bash: ignored at start, ignored
        signal.signal(signal.SIGINT, interrupted)
    found = programs(layout, services, model)
    supervisor: Optional[Supervisor] = None
    try:
        supervisor = Supervisor(layout, found)
        ports = " ".join(map(str, layout.rasa_ports))
        say(
            "",
            f"Starting {layout.replicas} Rasa process(es) on {ports}, the action server "
            f"({layout.workers} workers) on {layout.action_port} ...",
            "(logs in var/run-prod/; each Rasa process loads the model, which takes a while on two cores)",
        )
        started = time.monotonic()
        wait_until_ready(supervisor)
        banner(layout, services, mode, production, env, round(time.monotonic() - started))
        supervise(supervisor)
        return 0  # not reached: supervise returns by Stop or Failed
    except Stop:
        return 0
    except Failed:
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("", "Stopping ...")
        if supervisor is not None:
            supervisor.stop()
        say("Stopped (PostgreSQL, Redis and RabbitMQ keep running as machine services).")
