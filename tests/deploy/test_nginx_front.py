"""The nginx front that ``make run-prod`` writes (deploy/nginx.conf.template filled in by
bot/ops/topology.py), checked by ``nginx -t`` and run for real in front of two stand-in backends:
socket.io over WebSocket and plain HTTP are balanced, long-polling and its upgrade stick to one
process, Upgrade headers reach the backend, and query strings (Rasa's ``?token=``) stay out of the
access log. Skipped when nginx is not installed (apt-get install nginx).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.ops.topology import write_nginx_conf

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = json.dumps(
            {
                "port": self.server.server_address[1],
                "path": self.path,
                "upgrade": self.headers.get("Upgrade"),
                "connection": self.headers.get("Connection"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - a Rasa process that dies while handling a message
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[int]]]:
    backends = [ThreadingHTTPServer(("127.0.0.1", 0), _Echo) for _ in range(2)]
    for server in backends:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = [server.server_address[1] for server in backends]
    directory = tmp_path_factory.mktemp("nginx")
    directory.chmod(0o755)
    port = _free_port()
    conf = write_nginx_conf(directory, "127.0.0.1", port, ports)
    args = [str(NGINX), "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf)]
    nginx = subprocess.Popen([*args, "-g", "daemon off;"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", directory, ports
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for server in backends:
            server.shutdown()


def _get(url: str, **headers: str) -> dict[str, object]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as reply:
        return json.loads(reply.read())


def test_long_polling_and_its_upgrade_stay_on_one_process(front: tuple[str, Path, list[int]]) -> None:
    base, _, _ = front
    polled = {_get(f"{base}/socket.io/?EIO=4&transport=polling")["port"] for _ in range(6)}
    polled |= {_get(f"{base}/socket.io/?EIO=4&transport=polling&sid=abc")["port"] for _ in range(3)}
    upgrade = _get(
        f"{base}/socket.io/?EIO=4&transport=websocket&sid=abc", Upgrade="websocket", Connection="Upgrade"
    )
    assert len(polled) == 1
    assert upgrade["port"] in polled


def test_websocket_connections_and_plain_requests_are_balanced(front: tuple[str, Path, list[int]]) -> None:
    base, _, ports = front
    sockets = [
        _get(f"{base}/socket.io/?EIO=4&transport=websocket", Upgrade="websocket", Connection="Upgrade")
        for _ in range(6)
    ]
    assert {reply["port"] for reply in sockets} == set(ports)
    assert {(reply["upgrade"], reply["connection"]) for reply in sockets} == {("websocket", "upgrade")}
    plain = [_get(f"{base}/webhooks/rest/") for _ in range(6)]
    assert {reply["port"] for reply in plain} == set(ports)
    assert {reply["connection"] for reply in plain} == {None}  # keep-alive to the backend, no "close"


def test_query_strings_stay_out_of_the_access_log(front: tuple[str, Path, list[int]]) -> None:
    base, directory, _ = front
    reply = _get(f"{base}/conversations/c1/tracker?token=secret-api-token")
    assert reply["path"] == "/conversations/c1/tracker?token=secret-api-token"  # passed on unchanged
    time.sleep(0.1)
    log = (directory / "access.log").read_text()
    assert "/conversations/c1/tracker" in log
    assert "secret-api-token" not in log


def test_a_rest_message_whose_process_died_gets_the_kind_failure_text(
    front: tuple[str, Path, list[int]],
) -> None:
    from bot.replies import FAILURE_TEXT

    base, _, _ = front
    request = urllib.request.Request(
        f"{base}/webhooks/rest/webhook",
        data=json.dumps({"sender": "s1", "message": "查余额"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=10)
    assert failed.value.code == 503
    assert failed.value.headers["Content-Type"].startswith("application/json")
    assert json.loads(failed.value.read()) == [{"text": FAILURE_TEXT}]


def test_the_rendered_configuration_passes_nginx_t_with_every_process_upstream(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    conf = write_nginx_conf(tmp_path, "127.0.0.1", _free_port(), [6000, 6001, 6002])
    args = [str(NGINX), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)]
    checked = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    text = conf.read_text(encoding="utf-8")
    for port in (6000, 6001, 6002):  # in rasa_any and in rasa_sticky
        assert text.count(f"server 127.0.0.1:{port} max_fails=2 fail_timeout=10s;") == 2
    broken = tmp_path / "broken.conf"
    broken.write_text(text.replace("upstream rasa_sticky {", "upstream rasa_sticky {{"), encoding="utf-8")
    args[-1] = str(broken)
    assert subprocess.run(args, capture_output=True, timeout=30).returncode != 0  # nginx -t does refuse
