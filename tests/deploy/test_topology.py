"""make run-prod's topology (bot/ops/topology.py): the layout its variables choose, the processes
for the services that are up, their variables and Rasa endpoints, and the nginx and supervisord
configurations rendered from them. No service is started here (tests/deploy/test_supervision.py
runs supervisord, tests/deploy/test_nginx_front.py runs nginx).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bot.ops.topology import (
    ACTION_SERVER,
    METRICS_CONSUMER,
    NGINX,
    NGINX_TEMPLATE,
    ROOT,
    TRACKER_STORE_TYPE,
    VENV_BIN,
    WECHAT_SENDER,
    FromEnv,
    Layout,
    LayoutError,
    Services,
    endpoints,
    environment,
    fill,
    nginx_conf,
    placeholders,
    programs,
    rasa_program,
    supervisord_conf,
)
from bot.replies import FAILURE_TEXT

ENV = {  # scripts/env.sh's defaults for what environment() reads
    "RASA_TRACKER_DB_HOST": "127.0.0.1",
    "RASA_TRACKER_DB_PORT": "5432",
    "RASA_TRACKER_DB_USER": "postgres",
    "RASA_TRACKER_DB_PASSWORD": "",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": "",
    "SOCKETIO_REDIS_URL": "",
    "RASA_API_TOKEN": "token-from-the-environment",
}


# --- the layout ------------------------------------------------------------------------------------


def test_the_layout_defaults_are_the_documented_ones() -> None:
    layout = Layout.from_env({"RASA_REPLICAS": "", "PROD_PORT": ""})  # empty is unset, as in the shell
    assert layout.run_dir == ROOT / "var" / "run-prod"
    assert (layout.replicas, layout.workers, layout.rasa_ports) == (2, 2, [5006, 5007])
    assert (layout.front_url, layout.action_port, layout.billing_db) == (
        "http://127.0.0.1:8080",
        5055,
        "billing",
    )
    assert (layout.restart_delay, layout.restart_limit) == (2.0, 5)


def test_a_layout_gives_back_the_variables_that_choose_it(tmp_path: Path) -> None:
    layout = Layout(tmp_path, replicas=3, workers=4, base_port=7000, front_port=7100, restart_delay=0.5)
    assert Layout.from_env(layout.env()) == layout
    assert layout.rasa_ports == [7000, 7001, 7002]
    assert layout.pid_file(rasa_program(7001)) == tmp_path / "pids" / "rasa-7001.pid"
    assert layout.log_file(ACTION_SERVER) == tmp_path / "action-server.log"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"RASA_REPLICAS": "0"},
            "RASA_REPLICAS and ACTION_SERVER_WORKERS must be whole numbers from 1 to 99.",
        ),
        ({"ACTION_SERVER_WORKERS": "100"}, "from 1 to 99"),
        ({"RASA_REPLICAS": "two"}, "from 1 to 99"),
        ({"RASA_BASE_PORT": "50o6"}, "RASA_BASE_PORT must be a number"),
        ({"PROD_RESTART_DELAY": "-1"}, "PROD_RESTART_DELAY must not be negative"),
    ],
)
def test_a_layout_refuses_what_it_cannot_use(variables: dict[str, str], message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        Layout.from_env(variables)


def test_a_run_folder_too_deep_for_a_unix_socket_gets_one_in_tmp(tmp_path: Path) -> None:
    assert Layout(tmp_path).supervisor_socket == tmp_path / "supervisor.sock"
    deep = Layout(tmp_path / ("x" * 120))
    assert len(str(deep.supervisor_socket)) < 100 and deep.supervisor_socket.name.startswith("run-prod-")
    assert deep.supervisor_socket == Layout(tmp_path / ("x" * 120)).supervisor_socket  # the same each time


# --- the processes, their variables and endpoints ------------------------------------------------------


def test_every_service_up_runs_the_whole_topology(tmp_path: Path) -> None:
    layout = Layout(tmp_path, replicas=2, workers=3, base_port=6000, action_port=6100, front_port=6200)
    found = programs(layout, Services(nginx="/usr/sbin/nginx"), "models/m.tar.gz")
    assert [p.name for p in found] == [
        ACTION_SERVER,
        "rasa-6000",
        "rasa-6001",
        METRICS_CONSUMER,
        WECHAT_SENDER,
        NGINX,
    ]
    assert [p.label for p in found] == [
        "action server",
        "Rasa :6000",
        "Rasa :6001",
        "metrics consumer",
        "wechat sender",
        "nginx",
    ]
    by_name = {p.name: p for p in found}
    action = by_name[ACTION_SERVER]
    assert action.command[1:] == ("-m", "bot.action_server", "--port", "6100", "--workers", "3")
    assert action.ready_url == "http://127.0.0.1:6100/health"
    rasa = by_name["rasa-6001"]
    assert rasa.argv(ENV)[-9:] == [
        "--credentials",
        "credentials.yml",
        "--interface",
        "127.0.0.1",
        "--port",
        "6001",
        "--enable-api",
        "--auth-token",
        "token-from-the-environment",
    ]
    assert rasa.command[-1] == FromEnv("RASA_API_TOKEN")
    assert str(layout.endpoints_file) in rasa.command and "models/m.tar.gz" in rasa.command
    assert rasa.ready_url == "http://127.0.0.1:6001/"
    nginx = by_name[NGINX]
    assert nginx.command[0] == "/usr/sbin/nginx" and nginx.command[-2:] == ("-g", "daemon off;")
    assert nginx.ready_url == "http://127.0.0.1:6200/webhooks/rest/"
    assert by_name[METRICS_CONSUMER].ready_url is None and by_name[WECHAT_SENDER].ready_url is None


def test_without_rabbitmq_there_is_no_consumer_and_without_nginx_no_front(tmp_path: Path) -> None:
    found = programs(Layout(tmp_path, replicas=1), Services(rabbitmq=False, nginx=None), "m.tar.gz")
    assert [p.name for p in found] == [ACTION_SERVER, "rasa-5006", WECHAT_SENDER]


def test_the_processes_variables_follow_what_is_up(tmp_path: Path) -> None:
    layout = Layout(tmp_path, action_port=6100, billing_db="billing_x")
    up = environment(layout, Services(), ENV)
    assert up == {
        "ACTION_ENDPOINT": "http://127.0.0.1:6100/webhook",
        "BOT_DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/billing_x",
        "SOCKETIO_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    secret = {**ENV, "RASA_TRACKER_DB_PASSWORD": "pw", "REDIS_PASSWORD": "rpw", "SOCKETIO_REDIS_DB": "3"}
    with_passwords = environment(layout, Services(), secret)
    assert with_passwords["BOT_DATABASE_URL"] == "postgresql+psycopg2://postgres:pw@127.0.0.1:5432/billing_x"
    assert with_passwords["SOCKETIO_REDIS_URL"] == "redis://:rpw@127.0.0.1:6379/3"
    # the operator's own store and socket.io URL are kept
    own = environment(
        layout, Services(), {**ENV, "SOCKETIO_REDIS_URL": "redis://elsewhere/5"}, "sqlite:///x.db"
    )
    assert own["BOT_DATABASE_URL"] == "sqlite:///x.db" and "SOCKETIO_REDIS_URL" not in own
    down = environment(layout, Services(postgres=False, redis=False), ENV)
    assert down["BOT_DATABASE_URL"] == f"sqlite:///{tmp_path}/billing.db"
    assert down["SOCKETIO_REDIS_URL"] == ""


def test_the_endpoints_leave_out_what_is_down(tmp_path: Path) -> None:
    prod = yaml.safe_load((ROOT / "endpoints.prod.yml").read_text(encoding="utf-8"))
    assert {"tracker_store", "lock_store", "event_broker", "action_endpoint"} <= set(prod)
    layout = Layout(tmp_path)
    assert endpoints(layout, Services(), prod) == prod
    down = endpoints(layout, Services(postgres=False, redis=False, rabbitmq=False), prod)
    assert down["tracker_store"] == {
        "type": TRACKER_STORE_TYPE,
        "dialect": "sqlite",
        "db": f"{tmp_path}/rasa-tracker.db",
    }
    assert "lock_store" not in down and "event_broker" not in down
    assert down["action_endpoint"] == prod["action_endpoint"]


def test_rasa_loads_the_lean_tracker_store_from_every_endpoints_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rasa quietly uses an in-memory tracker store when it cannot load the configured class."""
    from rasa.core.tracker_store import TrackerStore
    from rasa.core.utils import AvailableEndpoints
    from rasa.shared.utils.common import class_from_module_path

    from bot.tracker_store import LeanSQLTrackerStore

    for name in ("ACTION_ENDPOINT", "ACTION_SERVER_TOKEN"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("RASA_TRACKER_DB", str(tmp_path / "dev.db"))
    fallback = tmp_path / "fallback.yml"
    prod = yaml.safe_load((ROOT / "endpoints.prod.yml").read_text(encoding="utf-8"))
    down = endpoints(Layout(tmp_path), Services(postgres=False, redis=False, rabbitmq=False), prod)
    fallback.write_text(yaml.safe_dump(down), encoding="utf-8")
    assert prod["tracker_store"]["type"] == TRACKER_STORE_TYPE
    assert class_from_module_path(TRACKER_STORE_TYPE) is LeanSQLTrackerStore
    for path, db in ((ROOT / "endpoints.yml", "dev.db"), (fallback, "rasa-tracker.db")):
        store = TrackerStore.create(AvailableEndpoints.read_endpoints(str(path)).tracker_store)
        assert type(store) is LeanSQLTrackerStore, path
        assert store.engine.url.database == str(tmp_path / db)
        store.engine.dispose()


# --- nginx -------------------------------------------------------------------------------------------


def test_filling_the_template_needs_every_value_and_leaves_nginx_variables_alone() -> None:
    template = "listen ${FRONT_LISTEN}; proxy_set_header Host $host; ${FRONT_SERVERS}"
    assert placeholders(template) == {"FRONT_LISTEN", "FRONT_SERVERS"}
    assert fill(template, {"FRONT_LISTEN": "8080", "FRONT_SERVERS": "s"}) == (
        "listen 8080; proxy_set_header Host $host; s"
    )
    with pytest.raises(KeyError, match="FRONT_SERVERS"):
        fill(template, {"FRONT_LISTEN": "8080"})


def test_run_prods_front_lists_every_rasa_process_in_both_upstreams(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path, "127.0.0.1", 8080, [6000, 6001, 6002], user="www-data")
    assert "${" not in conf.replace("${FRONT_...}", "")  # the template's own comment names them so
    for upstream in ("rasa_any", "rasa_sticky"):
        block = conf.split(f"upstream {upstream} {{", 1)[1].split("}", 1)[0]
        servers = [line.strip() for line in block.splitlines() if line.strip().startswith("server ")]
        assert servers == [f"server 127.0.0.1:{p} max_fails=2 fail_timeout=10s;" for p in (6000, 6001, 6002)]
    assert "listen 127.0.0.1:8080;" in conf
    assert f"\nuser www-data;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log warn;\n" in conf
    assert f"access_log {tmp_path}/access.log front;" in conf
    assert f"return 503 '{json.dumps([{'text': FAILURE_TEXT}], ensure_ascii=False)}';" in conf
    assert "user " not in nginx_conf(tmp_path, "127.0.0.1", 8080, [6000])  # not root: no user line


def _compose_front() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text(encoding="utf-8"))
    nginx = compose["services"]["nginx"]
    assert "./nginx.conf.template:/etc/nginx/templates/nginx.conf.template:ro" in nginx["volumes"]
    return {k: str(v) for k, v in nginx["environment"].items()}


def test_the_compose_front_fills_in_the_same_template() -> None:
    env = _compose_front()
    template = NGINX_TEMPLATE.read_text(encoding="utf-8")
    assert placeholders(template) == {k for k in env if k.startswith("FRONT_")}
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx" and env["NGINX_ENVSUBST_FILTER"] == "^FRONT_"
    conf = fill(template, env)
    assert conf.count("server rasa:5005 max_fails=2 fail_timeout=10s;") == 2
    assert "listen 8080;" in conf and "access_log /dev/stdout front;" in conf
    assert f"return 503 '{json.dumps([{'text': FAILURE_TEXT}], ensure_ascii=False)}';" in conf


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="no envsubst (apt-get install gettext-base)")
def test_the_nginx_images_envsubst_renders_what_run_prod_renders() -> None:
    """The image's entrypoint runs envsubst with the names of the variables its filter keeps."""
    env = _compose_front()
    names = " ".join(f"${{{k}}}" for k in env if k.startswith("FRONT_"))
    rendered = subprocess.run(
        ["envsubst", names],
        input=NGINX_TEMPLATE.read_text(encoding="utf-8"),
        env={**os.environ, **env, "host": "not-nginx's", "FRONT": "x"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert rendered == fill(NGINX_TEMPLATE.read_text(encoding="utf-8"), env)
    assert "proxy_set_header Host $host;" in rendered


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_the_shell_entry_still_writes_the_nginx_configuration(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "run-prod.sh"
    subprocess.run(
        [str(script), "nginx-config", str(tmp_path), "127.0.0.1", "8081", "6000", "6001"], check=True
    )
    conf = (tmp_path / "nginx.conf").read_text(encoding="utf-8")
    user = "www-data" if os.geteuid() == 0 and _user_exists("www-data") else None
    assert conf == nginx_conf(tmp_path, "127.0.0.1", 8081, [6000, 6001], user)
    assert (tmp_path / "tmp").is_dir()


# --- supervisord -------------------------------------------------------------------------------------


def test_supervisord_reads_the_configuration_as_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supervisor.datatypes import RestartUnconditionally
    from supervisor.options import ServerOptions

    layout = Layout(tmp_path, replicas=2, restart_delay=0.5)
    found = programs(layout, Services(nginx="/usr/sbin/nginx"), "models/100%.tar.gz")
    text = supervisord_conf(layout, found)
    assert "token-from-the-environment" not in text  # secrets stay in the environment
    (tmp_path / "supervisord.conf").write_text(text, encoding="utf-8")
    monkeypatch.setenv("RASA_API_TOKEN", ENV["RASA_API_TOKEN"])
    options = ServerOptions()  # supervisord's own reading of its configuration
    options.realize(args=["-c", str(tmp_path / "supervisord.conf")])
    (group,) = options.process_group_configs
    assert group.name == "run-prod"
    configs = {c.name: c for c in group.process_configs}
    assert list(configs) == [p.name for p in found]
    launcher = [str(VENV_BIN / "python"), "-m", "bot.ops", "launch"]
    for program in found:
        config = configs[program.name]
        pid_file = str(layout.pid_file(program.name))
        assert shlex.split(config.command) == [*launcher, pid_file, "0.5", "--", *program.argv(ENV)]
        assert config.autorestart is RestartUnconditionally and config.startsecs == 0
        assert config.stopasgroup and config.killasgroup and config.redirect_stderr
        assert config.stdout_logfile == str(layout.log_file(program.name))
        assert config.directory == str(ROOT)
    assert options.nodaemon and options.logfile == str(tmp_path / "supervisord.log")


# --- the launcher ------------------------------------------------------------------------------------


def test_the_launcher_writes_the_pid_and_waits_only_before_a_restart(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids" / "x.pid"
    command = [str(VENV_BIN / "python"), "-m", "bot.ops", "launch", str(pid_file), "1.5", "--"]
    command += ["sh", "-c", "echo $$"]

    def once() -> tuple[float, str]:
        started = time.monotonic()
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return time.monotonic() - started, out.strip()

    first, pid = once()
    assert first < 1.5 and pid_file.read_text().strip() == pid  # the program has the launcher's pid
    again, pid = once()
    assert again >= 1.5 and pid_file.read_text().strip() == pid
