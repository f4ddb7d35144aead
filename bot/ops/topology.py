"""The production topology of ``make run-prod`` (docs/deployment.md), in one place: which processes
run, with which commands, ports and variables, and the nginx and supervisord configurations that
follow from them.

* :class:`Layout` is what run-prod's variables choose (ports, replicas, workers, the run folder,
  restarts); :meth:`Layout.env` gives the variables back, so the benchmarks (bench/harness.py)
  start run-prod on a layout of their own and find its ports, logs and pid files here.
* :func:`programs` are the processes for the services that are up: the action server, the Rasa
  processes, the metrics consumer (with RabbitMQ), the WeChat sender and nginx (when installed);
  :func:`environment` and :func:`endpoints` are the variables and Rasa endpoints they run with.
* :func:`nginx_conf` fills in ``deploy/nginx.conf.template``, the front's only template (the
  compose file's nginx fills in the same one); :func:`supervisord_conf` makes supervisord start
  every program and start it again when it exits, through :func:`launch`, which waits
  ``PROD_RESTART_DELAY`` seconds before a restart and writes the pid file.

Standard library only: the launcher runs once per (re)start, and the benchmarks import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Optional, Union

from bot.replies import FAILURE_TEXT

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"

# Program names: supervisord's, and those of the pid file and the log in the run folder.
ACTION_SERVER = "action-server"
METRICS_CONSUMER = "metrics-consumer"
WECHAT_SENDER = "wechat-sender"
NGINX = "nginx"


#: The tracker store's class (endpoints.yml, endpoints.prod.yml): Rasa's SQLTrackerStore with
#: cheaper reads and saves (bot/tracker_store.py), loaded by Rasa from this path.
TRACKER_STORE_TYPE = "bot.tracker_store.LeanSQLTrackerStore"


def rasa_program(port: int) -> str:
    """The name of the Rasa process on ``port``."""
    return f"rasa-{port}"


class LayoutError(ValueError):
    """A run-prod variable with a value it cannot use."""


@dataclass(frozen=True)
class Layout:
    """What run-prod's variables choose (docs/deployment.md, *Variables*)."""

    run_dir: Path
    replicas: int = 2
    workers: int = 2
    base_port: int = 5006
    front_host: str = "127.0.0.1"
    front_port: int = 8080
    action_port: int = 5055
    billing_db: str = "billing"
    restart_delay: float = 2.0
    restart_limit: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Layout:
        """Reads ``RUN_PROD_DIR``, ``RASA_REPLICAS``, ... (an empty variable is an unset one)."""

        def get(name: str, default: str) -> str:
            return env.get(name) or default

        counts = get("RASA_REPLICAS", "2"), get("ACTION_SERVER_WORKERS", "2")
        if not all(re.fullmatch(r"[1-9][0-9]?", count) for count in counts):
            raise LayoutError("RASA_REPLICAS and ACTION_SERVER_WORKERS must be whole numbers from 1 to 99.")

        def number(name: str, default: str, kind: type) -> Any:
            try:
                value = kind(get(name, default))
            except ValueError:
                raise LayoutError(f"{name} must be a number, not {env.get(name)!r}.") from None
            if value < 0:
                raise LayoutError(f"{name} must not be negative.")
            return value

        return cls(
            run_dir=Path(get("RUN_PROD_DIR", str(ROOT / "var" / "run-prod"))),
            replicas=int(counts[0]),
            workers=int(counts[1]),
            base_port=number("RASA_BASE_PORT", "5006", int),
            front_host=get("PROD_HOST", "127.0.0.1"),
            front_port=number("PROD_PORT", "8080", int),
            action_port=number("ACTION_SERVER_PORT", "5055", int),
            billing_db=get("PROD_BILLING_DB", "billing"),
            restart_delay=number("PROD_RESTART_DELAY", "2", float),
            restart_limit=number("PROD_RESTART_LIMIT", "5", int),
        )

    def env(self) -> dict[str, str]:
        """The variables that choose this layout (``Layout.from_env(layout.env()) == layout``)."""
        return {
            "RUN_PROD_DIR": str(self.run_dir),
            "RASA_REPLICAS": str(self.replicas),
            "ACTION_SERVER_WORKERS": str(self.workers),
            "RASA_BASE_PORT": str(self.base_port),
            "PROD_HOST": self.front_host,
            "PROD_PORT": str(self.front_port),
            "ACTION_SERVER_PORT": str(self.action_port),
            "PROD_BILLING_DB": self.billing_db,
            "PROD_RESTART_DELAY": f"{self.restart_delay:g}",
            "PROD_RESTART_LIMIT": str(self.restart_limit),
        }

    @property
    def rasa_ports(self) -> list[int]:
        return [self.base_port + i for i in range(self.replicas)]

    @property
    def front_url(self) -> str:
        return f"http://{self.front_host}:{self.front_port}"

    @property
    def nginx_dir(self) -> Path:
        return self.run_dir / "nginx"

    @property
    def endpoints_file(self) -> Path:
        return self.run_dir / "endpoints.yml"

    @property
    def supervisord_conf_file(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        """supervisord's control socket: in the run folder, or in /tmp when that path is too long
        for a Unix socket (about 100 bytes)."""
        inside = self.run_dir / "supervisor.sock"
        if len(os.fsencode(inside)) < 100:
            return inside
        digest = hashlib.sha256(os.fsencode(self.run_dir)).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"run-prod-{digest}.sock"

    def log_file(self, program: str) -> Path:
        return self.run_dir / f"{program}.log"

    def pid_file(self, program: str) -> Path:
        return self.run_dir / "pids" / f"{program}.pid"


@dataclass(frozen=True)
class Services:
    """What run-prod found running (or started) on this machine; ``nginx`` is its binary, if any."""

    postgres: bool = True
    redis: bool = True
    rabbitmq: bool = True
    nginx: Optional[str] = None


@dataclass(frozen=True)
class FromEnv:
    """A command-line argument that the environment gives when the process starts (a secret: it
    stays out of the files run-prod writes)."""

    name: str


Arg = Union[str, FromEnv]


@dataclass(frozen=True)
class Program:
    """One process of the topology.

    Attributes:
        name: supervisord's program name, and that of its pid file and log (``rasa-5006``).
        label: how run-prod's messages call it (``Rasa :5006``).
        command: what runs, from the project's folder.
        ready_url: answers (HTTP 2xx/3xx) once the process serves; None: running is ready.
    """

    name: str
    label: str
    command: tuple[Arg, ...]
    ready_url: Optional[str] = None

    def argv(self, environ: Mapping[str, str]) -> list[str]:
        return [environ[a.name] if isinstance(a, FromEnv) else a for a in self.command]


def programs(layout: Layout, services: Services, model: str) -> list[Program]:
    """The processes run-prod starts, in this order, for the services that are up."""
    python, rasa = str(VENV_BIN / "python"), str(VENV_BIN / "rasa")
    action = layout.action_port
    found = [
        Program(
            ACTION_SERVER,
            "action server",
            (python, "-m", "bot.action_server", "--port", str(action), "--workers", str(layout.workers)),
            f"http://127.0.0.1:{action}/health",
        )
    ]
    for port in layout.rasa_ports:
        command: tuple[Arg, ...] = (rasa, "run", "--model", model, "--endpoints", str(layout.endpoints_file))
        command += ("--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(port))
        command += ("--enable-api", "--auth-token", FromEnv("RASA_API_TOKEN"))
        found.append(Program(rasa_program(port), f"Rasa :{port}", command, f"http://127.0.0.1:{port}/"))
    if services.rabbitmq:  # Rasa's events → the metrics (docs/deployment.md, Metrics)
        found.append(Program(METRICS_CONSUMER, "metrics consumer", (python, "-m", "bot", "metrics-consumer")))
    # Queued WeChat alerts: template messages, or SMS when a number is not bound (docs/channels.md).
    found.append(Program(WECHAT_SENDER, "wechat sender", (python, "-m", "bot", "deliver-wechat")))
    if services.nginx:
        ngx = layout.nginx_dir
        command = (services.nginx, "-p", str(ngx), "-e", str(ngx / "error.log"))
        command += ("-c", str(ngx / "nginx.conf"), "-g", "daemon off;")
        found.append(Program(NGINX, "nginx", command, f"{layout.front_url}/webhooks/rest/"))
    return found


def environment(
    layout: Layout, services: Services, environ: Mapping[str, str], database_url: str = ""
) -> dict[str, str]:
    """The variables run-prod sets for every process, on top of scripts/env.sh's.

    Args:
        environ: the variables after scripts/env.sh (``RASA_TRACKER_DB_*``, ``REDIS_*``, ...).
        database_url: ``BOT_DATABASE_URL`` as the operator set it (empty: run-prod chooses).
    """
    variables = {"ACTION_ENDPOINT": f"http://127.0.0.1:{layout.action_port}/webhook"}
    if services.postgres:
        user, password = environ["RASA_TRACKER_DB_USER"], environ.get("RASA_TRACKER_DB_PASSWORD", "")
        where = f"{environ['RASA_TRACKER_DB_HOST']}:{environ['RASA_TRACKER_DB_PORT']}/{layout.billing_db}"
        login = f"{user}:{password}" if password else user
        variables["BOT_DATABASE_URL"] = database_url or f"postgresql+psycopg2://{login}@{where}"
    else:  # demo only: SQLite files, one Rasa process
        variables["BOT_DATABASE_URL"] = database_url or f"sqlite:///{layout.run_dir}/billing.db"
    if not services.redis:
        variables["SOCKETIO_REDIS_URL"] = ""  # in memory: one process
    elif not environ.get("SOCKETIO_REDIS_URL"):
        password = environ.get("REDIS_PASSWORD", "")
        auth = f":{password}@" if password else ""
        where = f"{environ['REDIS_HOST']}:{environ['REDIS_PORT']}/{environ.get('SOCKETIO_REDIS_DB') or 0}"
        variables["SOCKETIO_REDIS_URL"] = f"redis://{auth}{where}"
    return variables


def endpoints(layout: Layout, services: Services, prod: Mapping[str, Any]) -> dict[str, Any]:
    """endpoints.prod.yml without what is down: Rasa refuses to start with a broker it cannot reach,
    and several processes need Redis's locks (one runs without)."""
    found = dict(prod)
    if not services.postgres:
        found["tracker_store"] = {
            "type": TRACKER_STORE_TYPE,
            "dialect": "sqlite",
            "db": f"{layout.run_dir}/rasa-tracker.db",
        }
    if not services.redis:
        found.pop("lock_store", None)
    if not services.rabbitmq:
        found.pop("event_broker", None)
    return found


# --- nginx -----------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{(FRONT_[A-Z0-9_]+)\}")


def placeholders(template: str) -> set[str]:
    """The ``${FRONT_...}`` names in a template (nginx's own ``$variables`` are not among them)."""
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replaces every ``${FRONT_...}``, as the nginx image's envsubst does; one without a value is
    an error, not an empty string."""
    missing = sorted(placeholders(template) - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def rest_failure_json() -> str:
    """What nginx answers a REST message whose Rasa process died: the channel's kind failure text."""
    text = json.dumps([{"text": FAILURE_TEXT}], ensure_ascii=False)
    if "'" in text or "\\" in text:  # it goes between single quotes in nginx.conf
        raise ValueError("FAILURE_TEXT cannot go into nginx.conf as it is")
    return text


def nginx_values(
    directory: Path, host: str, port: int, rasa_ports: Sequence[int], user: Optional[str] = None
) -> dict[str, str]:
    """The template's values for nginx run from ``directory`` (``nginx -p DIR``) by run-prod."""
    main = [f"user {user};"] if user else []
    main += [f"pid {directory}/nginx.pid;", f"error_log {directory}/error.log warn;"]
    kinds = {"client_body": "body", "proxy": "proxy", "fastcgi": "fastcgi", "uwsgi": "uwsgi", "scgi": "scgi"}
    temp = [f"{kind}_temp_path {directory}/tmp/{name};" for kind, name in kinds.items()]
    servers = [f"server 127.0.0.1:{p} max_fails=2 fail_timeout=10s;" for p in rasa_ports]
    return {
        "FRONT_MAIN": "\n".join(main),
        "FRONT_WORKER_PROCESSES": "1",
        "FRONT_ACCESS_LOG": f"{directory}/access.log",
        "FRONT_TEMP_PATHS": "\n    ".join(temp),
        "FRONT_SERVERS": "\n        ".join(servers),
        "FRONT_LISTEN": f"{host}:{port}",
        "FRONT_REST_FAILURE_JSON": rest_failure_json(),
    }


def nginx_conf(
    directory: Path, host: str, port: int, rasa_ports: Sequence[int], user: Optional[str] = None
) -> str:
    """run-prod's nginx.conf: the template filled in for this machine."""
    header = (
        f"# Written by make run-prod (bot/ops/topology.py) from deploy/nginx.conf.template.\n"
        f"# Run as: nginx -p {directory} -c {directory}/nginx.conf\n"
    )
    template = NGINX_TEMPLATE.read_text(encoding="utf-8")
    return header + fill(template, nginx_values(directory, host, port, rasa_ports, user))


def write_nginx_conf(directory: Path, host: str, port: int, rasa_ports: Sequence[int]) -> Path:
    """Writes ``directory/nginx.conf`` and the temp folder nginx needs; as root, nginx's workers
    run as www-data (when that user exists) and own the temp folder."""
    import pwd

    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        try:
            uid = pwd.getpwnam("www-data").pw_uid
        except KeyError:
            uid = None
        if uid is not None:
            user = "www-data"
            for folder, _, files in os.walk(directory / "tmp"):
                for path in [folder, *(os.path.join(folder, name) for name in files)]:
                    os.chown(path, uid, -1)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(directory, host, port, rasa_ports, user), encoding="utf-8")
    return conf


# --- supervisord -----------------------------------------------------------------------------------


def _ini(value: object) -> str:
    """A value for supervisord's configuration, which expands ``%(...)s`` in it."""
    text = str(value)
    if "\n" in text:
        raise ValueError(f"a line break in {text!r}")
    return text.replace("%", "%%")


def supervisord_command(layout: Layout, program: Program) -> str:
    """The program's command line in supervisord's configuration: :func:`launch`, then the program.
    :class:`FromEnv` arguments are supervisord's ``%(ENV_NAME)s``, filled in when it starts."""
    launcher: tuple[str, ...] = (str(VENV_BIN / "python"), "-m", "bot.ops", "launch")
    launcher += (str(layout.pid_file(program.name)), f"{layout.restart_delay:g}", "--")
    words = [_ini(shlex.quote(a)) for a in launcher]
    for arg in program.command:
        words.append(f'"%(ENV_{arg.name})s"' if isinstance(arg, FromEnv) else _ini(shlex.quote(arg)))
    line = " ".join(words)
    if re.search(r"\s[;#]", line):  # supervisord would read the rest as a comment
        raise ValueError(f"cannot pass {line!r} to supervisord")
    return line


def supervisord_conf(layout: Layout, found: Sequence[Program]) -> str:
    """supervisord's configuration for these programs: each starts at once and again whenever it
    exits (``startsecs=0``: an exit is never "too quick", so supervisord never gives up; run-prod
    stops the topology after ``PROD_RESTART_LIMIT`` exits in ten minutes). The control socket
    lets ``supervisorctl -c RUN_DIR/supervisord.conf status`` (and run-prod) ask."""
    run, sock = layout.run_dir, layout.supervisor_socket
    lines = [
        "; Written by make run-prod (bot/ops/topology.py): supervisord starts every program, and again",
        f"; {layout.restart_delay:g} s after it exits (bot.ops launch waits, then writes pids/NAME.pid).",
        "[supervisord]",
        "nodaemon=true",
        "silent=true",
        f"logfile={_ini(run / 'supervisord.log')}",
        "logfile_maxbytes=0",
        f"pidfile={_ini(run / 'supervisord.pid')}",
        f"directory={_ini(ROOT)}",
        "",
        "[unix_http_server]",
        f"file={_ini(sock)}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_ini(sock)}",
    ]
    # One group: supervisord stops the programs of a group all at once (groups one after another).
    lines += ["", "[group:run-prod]", f"programs={','.join(p.name for p in found)}"]
    for priority, program in enumerate(found, start=1):
        lines += [
            "",
            f"[program:{program.name}]",
            f"command={supervisord_command(layout, program)}",
            f"directory={_ini(ROOT)}",
            f"priority={priority}",
            "autostart=true",
            "autorestart=true",
            "startsecs=0",
            "stopsignal=TERM",
            "stopwaitsecs=30",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_ini(layout.log_file(program.name))}",
            "stdout_logfile_maxbytes=0",
            "stdout_logfile_backups=0",
        ]
    return "\n".join(lines) + "\n"


def launch(pid_file: Path, delay: float, argv: Sequence[str]) -> NoReturn:
    """supervisord's command for every program (``python -m bot.ops launch PIDFILE DELAY -- ...``).

    supervisord starts a program again as soon as it exits; when the pid file shows the program ran
    before, this waits ``delay`` seconds first. Then it writes its pid, which the program keeps:
    it becomes the program (exec), the leader of the process group supervisord gave it."""
    if pid_file.exists():
        time.sleep(delay)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    os.execvp(argv[0], list(argv))
